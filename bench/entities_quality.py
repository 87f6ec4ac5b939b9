"""Entity extraction: precision, recall and F1 per type and language on the annotated dev set
(``bench/entities/devset.jsonl``, how it was made: bench/README.md), the extraction cost per
passage, and the effect on ingestion speed.

    PYTHONPATH=$PWD .venv/bin/python bench/entities_quality.py quality [--json out.json] [--errors]
    PYTHONPATH=$PWD .venv/bin/python bench/entities_quality.py quality --set archive --split tune|heldout
    PYTHONPATH=$PWD .venv/bin/python bench/entities_quality.py cost [--passages 2000]
    PYTHONPATH=$PWD .venv/bin/python bench/entities_quality.py ingest [--docs 123] [--rounds 2]

**quality**: a predicted mention counts when its type and its character span equal a gold one
(exact); ``overlap`` also reports the looser match (same type, spans overlap), each gold mention
matched at most once. Types person, place, org on the NTREX part; phone, email, docnum (and the
units among org) on the written part.

**cost**: ``extract_mentions`` over passages cut from the NTREX-128 documents of the four languages
(``ingest/passages.py``, 800 characters), after one warm-up pass (dictionaries loaded), in this
process: milliseconds per passage and per 1,000 characters.

**ingest**: the NTREX-128 documents of the four languages as text files ingested with
``ARCHIVE_ENTITIES`` on and off (embedder none, SQLite, embedded backend, the sandbox as
configured), alternating, each into a fresh data folder; seconds until keyword-searchable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from ingest.entities import extract_mentions
from ingest.normalize import normalize_text
from ingest.split import split_spans

HERE = Path(__file__).parent
DEVSET = HERE / "entities" / "devset.jsonl"
ARCHIVE_SET = HERE / "entities" / "archive_set.jsonl"
NTREX = Path("/work/shared/data/ntrex128-ru-uk-be-en")
LANGS = ("ru", "uk", "be", "en")
TYPES = ("person", "place", "org", "phone", "email", "docnum")


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 3), "r": round(r, 3), "f1": round(f, 3), "gold": tp + fn, "pred": tp + fp}


def quality(show_errors: bool, which: str = "dev", split: str = "all") -> dict[str, object]:
    path = ARCHIVE_SET if which == "archive" else DEVSET
    rows = [json.loads(x) for x in path.open(encoding="utf-8")]
    if split != "all":
        rows = [r for r in rows if r.get("split") == split]
    counts: dict[str, Counter[tuple[str, str, str]]] = {"exact": Counter(), "overlap": Counter()}
    for row in rows:
        text, lang = row["text"], row["lang"]
        gold = [(t, s, e) for t, s, e, _ in row["entities"]]
        pred = [(m.type, m.start, m.end) for m in extract_mentions(text, lang)]
        if row["source"] == "ntrex128":  # the news part is annotated for the named types only
            pred = [p for p in pred if p[0] in ("person", "place", "org")]
        elif row["source"] == "written-archive":  # annotated for persons and places only
            pred = [p for p in pred if p[0] in ("person", "place")]
        for mode in ("exact", "overlap"):
            left = list(gold)
            for t, s, e in pred:
                hit = next(
                    (
                        g
                        for g in left
                        if g[0] == t
                        and ((g[1], g[2]) == (s, e) if mode == "exact" else g[1] < e and s < g[2])
                    ),
                    None,
                )
                if hit is not None:
                    left.remove(hit)
                    counts[mode][(lang, t, "tp")] += 1
                else:
                    counts[mode][(lang, t, "fp")] += 1
                    if show_errors and mode == "exact":
                        print(f"FP {lang} {t:<7} {text[s:e]!r:<40} | {text[:90]}")
            for t, s, e in left:
                counts[mode][(lang, t, "fn")] += 1
                if show_errors and mode == "exact":
                    print(f"FN {lang} {t:<7} {text[s:e]!r:<40} | {text[:90]}")
    out: dict[str, object] = {"passages": len(rows), "gold_mentions": sum(len(r["entities"]) for r in rows)}
    for mode, c in counts.items():
        table: dict[str, dict[str, object]] = {}
        for lang in (*LANGS, "all"):
            for t in (*TYPES, "all"):
                langs = LANGS if lang == "all" else (lang,)
                types = TYPES if t == "all" else (t,)
                tp = sum(c[(la, ty, "tp")] for la in langs for ty in types)
                fp = sum(c[(la, ty, "fp")] for la in langs for ty in types)
                fn = sum(c[(la, ty, "fn")] for la in langs for ty in types)
                if tp + fp + fn:
                    table.setdefault(lang, {})[t] = _prf(tp, fp, fn)
        out[mode] = table
    return out


def _ntrex_passages(limit: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for lang in LANGS:
        for line in (NTREX / f"corpus.{lang}.jsonl").open(encoding="utf-8"):
            text = normalize_text(json.loads(line)["text"])
            out += [(text[s:e], lang) for s, e in split_spans(text, 800)]
    # interleave the languages, then cut
    by_lang = {la: [p for p in out if p[1] == la] for la in LANGS}
    mixed = [p for group in zip(*by_lang.values(), strict=False) for p in group]
    return mixed[:limit]


def cost(n: int) -> dict[str, object]:
    passages = _ntrex_passages(n)
    for text, lang in passages[:200]:  # warm-up: dictionaries loaded, caches filled as in a worker
        extract_mentions(text, lang)
    times: dict[str, list[float]] = {la: [] for la in LANGS}
    chars: Counter[str] = Counter()
    mentions: Counter[str] = Counter()
    for text, lang in passages:
        t0 = time.perf_counter()
        found = extract_mentions(text, lang)
        times[lang].append(time.perf_counter() - t0)
        chars[lang] += len(text)
        mentions[lang] += len(found)
    res: dict[str, object] = {}
    for lang, ts in times.items():
        res[lang] = {
            "passages": len(ts),
            "ms_per_passage_mean": round(1000 * sum(ts) / len(ts), 3),
            "ms_per_passage_median": round(1000 * statistics.median(ts), 3),
            "ms_per_1000_chars": round(1000 * sum(ts) / chars[lang] * 1000, 3),
            "mentions_per_passage": round(mentions[lang] / len(ts), 2),
        }
    return res


def ingest(n_docs: int, rounds: int) -> dict[str, object]:
    from archive_search.settings import Settings
    from search_api.service import ArchiveService

    src = Path(tempfile.mkdtemp(prefix="ent-src-"))
    n = 0
    for lang in LANGS:
        for i, line in enumerate((NTREX / f"corpus.{lang}.jsonl").open(encoding="utf-8")):
            if i >= n_docs:
                break
            (src / f"{lang}-{i:03d}.txt").write_text(json.loads(line)["text"], "utf-8")
            n += 1
    results: dict[str, list[float]] = {"entities_on": [], "entities_off": []}
    passages = mentions = 0
    for r in range(rounds):
        for flag in (True, False) if r % 2 == 0 else (False, True):
            with tempfile.TemporaryDirectory(prefix="ent-ingest-") as tmp:
                settings = Settings(
                    data_dir=Path(tmp),
                    database_url=f"sqlite:///{tmp}/c.sqlite3",
                    embedder="none",
                    entities=flag,
                )  # type: ignore[call-arg]
                svc = ArchiveService(settings)
                t0 = time.perf_counter()
                report = svc.ingest([src], "bench")
                took = time.perf_counter() - t0
                assert all(f.outcome == "ok" for f in report.files)
                if flag:
                    from sqlalchemy import func, select

                    from archive_search.catalog.models import EntityMention, Passage

                    with svc.catalog.session() as s:
                        passages = int(s.scalar(select(func.count(Passage.id))) or 0)
                        mentions = int(s.scalar(select(func.count(EntityMention.id))) or 0)
                svc.close()
            results["entities_on" if flag else "entities_off"].append(round(took, 2))
    on, off = statistics.median(results["entities_on"]), statistics.median(results["entities_off"])
    return {
        "files": n,
        "passages": passages,
        "mentions": mentions,
        "seconds": results,
        "median_on_s": on,
        "median_off_s": off,
        "slowdown": round(on / off, 3),
        "ingest_workers": os.environ.get("ARCHIVE_INGEST_WORKERS", "default"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["quality", "cost", "ingest"])
    ap.add_argument("--errors", action="store_true")
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--docs", type=int, default=123)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--set", dest="which", choices=["dev", "archive"], default="dev")
    ap.add_argument("--split", choices=["all", "tune", "heldout"], default="all")
    a = ap.parse_args()
    if a.what == "quality":
        res = quality(a.errors, a.which, a.split)
    elif a.what == "cost":
        res = cost(a.passages)
    else:
        res = ingest(a.docs, a.rounds)
    res["machine"] = f"{platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}"
    text = json.dumps(res, ensure_ascii=False, indent=1)
    if a.json:
        Path(a.json).write_text(text + "\n", "utf-8")
    if a.what == "quality":
        for mode in ("exact", "overlap"):
            print(mode)
            table = res[mode]
            assert isinstance(table, dict)
            for lang, row in table.items():
                print(
                    f"  {lang:<4}",
                    "  ".join(
                        f"{t}: P {v['p']:.2f} R {v['r']:.2f} F1 {v['f1']:.2f} ({v['gold']})"
                        for t, v in row.items()
                    ),
                )
    else:
        print(text)


if __name__ == "__main__":
    main()
