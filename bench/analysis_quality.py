"""Analyser quality: morphology recall on the UD treebanks and name-variant recall across scripts.

Morphology (as the treebanks' SOURCE.md proposes): every treebank sentence is analysed as the
index would analyse it; for each gold lemma of a NOUN, PROPN, VERB or ADJ, the query is the lemma
itself; the relevant sentences are those holding any form with that lemma. Recall and precision
of (a) exact folded words — what a plain index does — and (b) the analyser's terms — what
archive search stores and queries (``Analyzer.terms_for`` / ``query_terms``: the same terms the
backends index, so this equals what a keyword search finds, sentence by sentence).

Names: groups of spellings of one name across ru/uk/be and Latin transliterations (built by hand
from names in the corpora: the UDHR and NTREX news texts name few people, so common ones of the
archive's region are added); for every ordered pair (query variant, written variant) in a group,
whether the query's terms meet the written word's terms (capitalised mid-sentence, as names are
in text), and how often a variant meets a name of another group (false matches).

    .venv/bin/python bench/analysis_quality.py
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from name_pairs import NTREX, Pair, ntrex_pairs, read_conllu, treebank_lemmas, ud_pairs  # noqa: E402

from index.analysis import Analyzer, fold  # noqa: E402

TREEBANKS = REPO.parent / "shared" / "data" / "ud-treebanks-ru-uk-be"
UPOS = {"NOUN", "PROPN", "VERB", "ADJ"}
KINDS = ("ru-uk", "ru-be", "uk-be", "Cyrillic-Latin", "all")

NAMES: list[list[str]] = [
    ["Кадыров", "Кадиров", "Кадыраў", "Kadyrov", "Kadyrow", "Qadyrov"],
    ["Александр", "Олександр", "Аляксандр", "Aleksandr", "Oleksandr", "Aliaksandr", "Alexander"],
    ["Лукашенко", "Лукашэнка", "Lukashenko", "Lukaszenka", "Łukaszenka"],
    ["Зеленский", "Зеленський", "Зяленскі", "Zelensky", "Zelenskyi", "Zelenskyy"],
    ["Шевченко", "Shevchenko", "Szewczenko", "Ševčenko"],
    ["Навальный", "Навальний", "Navalny", "Nawalny"],
    ["Тихановская", "Ціханоўская", "Тихановська", "Tsikhanouskaya", "Tikhanovskaya"],
    ["Ковальчук", "Kovalchuk", "Kowalczuk"],
    ["Мариуполь", "Маріуполь", "Mariupol", "Mariupol'"],
    ["Харьков", "Kharkov", "Харків", "Kharkiv"],  # one city: two groups until 2026-11-25
    ["Киев", "Kiev", "Київ", "Kyiv"],
    ["Грозный", "Грозний", "Grozny", "Groznyy"],
    ["Беслан", "Beslan"],
    ["Оленовка", "Оленівка", "Olenivka", "Olenovka"],
    ["Масхадов", "Maskhadov", "Maschadow"],
    ["Сергей", "Сергій", "Сяргей", "Sergei", "Serhiy", "Siarhei"],
]


def morphology(an: Analyzer, lang: str, path: Path, max_lemmas: int = 1500) -> dict[str, float]:
    sents = read_conllu(path)
    sent_terms: list[set[str]] = []
    sent_words: list[set[str]] = []
    by_lemma: dict[str, set[int]] = defaultdict(set)
    t0 = time.perf_counter()
    n_tokens = 0
    for i, (text, toks) in enumerate(sents):
        analysed = an.tokens(text)
        n_tokens += len(analysed)
        sent_terms.append({t for tok in analysed for t in tok.terms})
        sent_words.append({fold(text[tok.start : tok.end]) for tok in analysed})
        for _form, lemma, upos in toks:
            if upos in UPOS and lemma.replace("-", "").isalpha():
                by_lemma[lemma.lower()].add(i)
    secs = time.perf_counter() - t0
    lemmas = sorted(by_lemma)[:max_lemmas]
    rec = {"exact": [0, 0], "analyser": [0, 0]}
    prec = {"exact": [0, 0], "analyser": [0, 0]}
    for lemma in lemmas:
        relevant = by_lemma[lemma]
        q_exact = fold(lemma)
        q_terms = set(an.query_terms(lemma))
        found = {
            "exact": {i for i, ws in enumerate(sent_words) if q_exact in ws},
            "analyser": {i for i, ts in enumerate(sent_terms) if q_terms & ts},
        }
        for k, f in found.items():
            rec[k][0] += len(f & relevant)
            rec[k][1] += len(relevant)
            prec[k][0] += len(f & relevant)
            prec[k][1] += len(f)
    return {
        "sentences": len(sents),
        "lemmas": len(lemmas),
        "recall_exact": rec["exact"][0] / rec["exact"][1],
        "recall_analyser": rec["analyser"][0] / rec["analyser"][1],
        "precision_exact": prec["exact"][0] / max(prec["exact"][1], 1),
        "precision_analyser": prec["analyser"][0] / max(prec["analyser"][1], 1),
        "tokens_per_s_cold": n_tokens / secs,
    }


def names(an: Analyzer) -> dict[str, object]:
    def written(v: str) -> set[str]:
        toks = an.tokens(f"Вчера {v} сказал")  # capitalised mid-sentence, as names are in text
        return set(toks[1].terms) if len(toks) > 1 else set()

    per_group = []
    hits = pairs = 0
    false = false_pairs = 0
    for g, group in enumerate(NAMES):
        g_hits = g_pairs = 0
        for q in group:
            qt = set(an.query_terms(q))
            for w in group:
                if w == q:
                    continue
                g_pairs += 1
                g_hits += bool(qt & written(w))
            for h, other in enumerate(NAMES):
                if h == g:
                    continue
                for w in other:
                    false_pairs += 1
                    false += bool(qt & written(w))
        per_group.append({"name": group[0], "variants": len(group), "recall": g_hits / g_pairs})
        hits += g_hits
        pairs += g_pairs
    return {
        "pairs": pairs,
        "recall": hits / pairs,
        "false_match_rate": false / false_pairs,
        "groups": per_group,
    }


def _keys(terms: tuple[str, ...]) -> set[str]:
    return {t for t in terms if t.startswith("~")}


def corpus_names(an: Analyzer) -> dict[str, dict[str, dict[str, float]]]:
    """Recall of the name pairs built from the corpora (``name_pairs``), per source, split and
    variant type: does the query word's terms meet the written word's, analysed in its sentence?"""
    tokens_cache: dict[str, dict[int, set[str]]] = {}

    def written(p: Pair) -> set[str]:
        toks = tokens_cache.get(p.sentence)
        if toks is None:
            toks = tokens_cache[p.sentence] = {t.start: set(t.terms) for t in an.tokens(p.sentence)}
        return toks.get(p.start, set())

    out: dict[str, dict[str, dict[str, float]]] = {}
    for source, pairs in (("ntrex", ntrex_pairs()), ("ud", ud_pairs())):
        cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for p in pairs:
            hit = bool(set(an.query_terms(p.query)) & written(p))
            split = "held_out" if p.held_out else "dev"
            for cell in (f"{split}/{p.kind}", f"{split}/all"):
                cells[cell][0] += hit
                cells[cell][1] += 1
        out[source] = {k: {"pairs": n, "recall": h / n} for k, (h, n) in sorted(cells.items())}
    return out


def vocabulary(upos: set[str], capitalise: bool) -> dict[str, list[str]]:
    """Distinct treebank lemmas per language (names capitalised, other words in lower case)."""
    return {
        lang: sorted({w if capitalise else w.lower() for w in lemmas if not w.isupper()})
        for lang, lemmas in treebank_lemmas(upos).items()
    }


def english_vocabulary() -> dict[str, list[str]]:
    """Distinct lower-case words (3+ letters) of the NTREX English documents."""
    words: set[str] = set()
    for line in (NTREX / "corpus.en.jsonl").read_text("utf-8").splitlines():
        words.update(w for w in re.findall(r"[a-z]+", json.loads(line)["text"]) if len(w) >= 3)
    return {"en": sorted(words)}


def key_collisions(an: Analyzer, vocab: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Distinct words (lemmas) of one language that meet only through their transliteration keys
    (query terms of one word against the terms the other gets when capitalised in running text;
    pairs whose other terms meet too are not counted): the rate over all pairs, and the share of
    words that meet at least one other."""
    out: dict[str, dict[str, float]] = {}
    examples: dict[str, list[str]] = {}
    for lang, words in vocab.items():
        idx: dict[str, set[int]] = defaultdict(set)
        written = [set(an.terms_for(w[:1].upper() + w[1:])) for w in words]
        for i, terms in enumerate(written):
            for k in _keys(tuple(terms)):
                idx[k].add(i)
        met: set[tuple[int, int]] = set()
        for i, w in enumerate(words):
            q = set(an.query_terms(w))
            for k in _keys(tuple(q)):
                # only the pairs that meet through a key alone (other terms would match anyway)
                met.update(
                    (min(i, j), max(i, j))
                    for j in idx.get(k, ())
                    if j != i and not (q - _keys(tuple(q))) & written[j]
                )
        examples[lang] = [f"{words[i]}/{words[j]}" for i, j in sorted(met)[:: max(1, len(met) // 12)]]
        n = len(words)
        colliding = {i for pair in met for i in pair}
        out[lang] = {
            "words": n,
            "pair_rate": len(met) / max(n * (n - 1) / 2, 1),
            "words_meeting_another": len(colliding) / max(n, 1),
        }
    if "-v" in sys.argv:
        print(examples)
    return out


def main() -> None:
    an = Analyzer()
    out: dict[str, object] = {}
    print("| treebank | sentences | lemmas | recall exact | recall analyser | prec. exact | prec. analyser |")
    print("|---|---|---|---|---|---|---|")
    for lang, fname in (
        ()
        if "--names-only" in sys.argv
        else (
            ("ru", "ru_gsd-ud-test.conllu"),
            ("uk", "uk_iu-ud-test.conllu"),
            ("be", "be_hse-ud-test.conllu"),
        )
    ):
        m = morphology(an, lang, TREEBANKS / fname)
        out[lang] = m
        print(
            f"| {lang} | {m['sentences']} | {m['lemmas']} | {m['recall_exact']:.3f} | "
            f"{m['recall_analyser']:.3f} | {m['precision_exact']:.3f} | {m['precision_analyser']:.3f} |"
        )
    n = names(an)
    out["names"] = n
    print(
        f"\nnames: {n['pairs']} (query, written) variant pairs, recall {n['recall']:.3f}, "
        f"false matches with other names {n['false_match_rate']:.4f}"
    )
    for g in n["groups"]:  # type: ignore[union-attr,attr-defined]
        print(f"  {g['name']:<12} {g['variants']} variants  recall {g['recall']:.2f}")
    c = corpus_names(an)
    out["corpus_names"] = c
    for source, cells in c.items():
        print(f"\n{source} name pairs (recall of query -> written spelling):")
        print("| split | " + " | ".join(KINDS) + " |")
        print("|---|" + "---|" * len(KINDS))
        for split in ("dev", "held_out"):
            row = [cells.get(f"{split}/{k}") for k in KINDS]
            print(
                f"| {split} | "
                + " | ".join(f"{r['recall']:.3f} ({r['pairs']})" if r else "-" for r in row)
                + " |"
            )
    for label, vocab in (
        ("names (PROPN)", vocabulary({"PROPN"}, True)),
        ("ordinary words (NOUN/VERB/ADJ)", vocabulary(UPOS - {"PROPN"}, False)),
        ("ordinary English words (NTREX, lower case)", english_vocabulary()),
    ):
        col = key_collisions(an, vocab)
        out[f"collisions {label}"] = col
        print(f"\nkeys shared by different lemmas, {label}:")
        for lang, m in col.items():
            print(
                f"  {lang}: {m['words']} words, pair rate {m['pair_rate']:.5f}, "
                f"words meeting another {m['words_meeting_another']:.3f}"
            )
    res = REPO / "bench" / "results" / f"analysis-{time.strftime('%Y%m%dT%H%M%S')}.json"
    res.write_text(json.dumps(out, ensure_ascii=False, indent=2), "utf-8")
    print(f"\nwritten {res}")


if __name__ == "__main__":
    main()
