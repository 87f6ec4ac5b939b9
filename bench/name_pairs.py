"""Name-variant pairs built from the corpora, for ``analysis_quality.py`` (no hand tuning).

Two sources, both in ``../shared/data``:

* NTREX-128: the four languages are line-aligned (same document id, same line). In each aligned
  line, the capitalised words that do not begin the sentence (names, in running text) of two
  languages are paired when their plain romanisations are mutual best matches and close enough
  (Jaro-Winkler >= ``ALIGN_MIN``). The romanisation is a plain letter-by-letter table written
  here, independent of the transliteration key under test; pairs it cannot align (Уэльса/Wales)
  are left out, so the set measures spelling variants, not exonyms.
* UD treebanks (ru GSD, uk IU, be HSE): PROPN lemmas of two languages are linked the same way
  (mutual best over all PROPN lemmas, closer threshold ``LEMMA_MIN``); a pair is (lemma of one
  language as the query, an inflected form of the other as written, in its sentence).

Every pair is (query word, written word with its sentence, variant type). The split into dev
and held-out is by a hash of the NTREX document id or the UD lemma pair, so it is fixed; the
held-out part was not looked at while the key's rules were designed (only its totals are
printed).

Different names: for false matches, distinct PROPN lemmas of one treebank language are
different names (the pair shares no word); the same is done with NOUN/VERB/ADJ lemmas to measure
what the key costs ordinary words.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import JaroWinkler, Levenshtein

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
NTREX = DATA / "ntrex128-ru-uk-be-en"
TREEBANKS = DATA / "ud-treebanks-ru-uk-be"
TREEBANK_FILES = {"ru": "ru_gsd-ud-test.conllu", "uk": "uk_iu-ud-test.conllu", "be": "be_hse-ud-test.conllu"}
ALIGN_MIN = 0.75
LEMMA_MIN = 0.92
ALIGN_MIN_LEV = 0.5
LEMMA_MIN_LEV = 0.75
"""Also required: normalised Levenshtein similarity of the romanisations (Вена/Венера, Кот/Крот
are different names that Jaro-Winkler alone links)."""
HELD_OUT_SHARE = 1 / 3

_PLAIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "e", "є": "je",
    "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "ji", "й": "j", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ў": "w", "ф": "f",
    "х": "kh", "ц": "c", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e",
    "ю": "ju", "я": "ja",
}  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*")
_ENDERS = '.!?…:;«"“„('


def plain(word: str) -> str:
    """A plain lower-case ASCII romanisation (letter by letter; only to align words)."""
    w = unicodedata.normalize("NFD", word.casefold())
    out = []
    for ch in w:
        if ch in _PLAIN:
            out.append(_PLAIN[ch])
        elif ch.isascii() and ch.isalpha():
            out.append(ch)
        elif ch == "\u0306":  # й, ў after NFD: и/у + breve
            out.append("")
    return "".join(out)


def _is_cyr(w: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in w)


def held_out(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < HELD_OUT_SHARE


def variant_type(a: str, b: str) -> str:
    if "en" in (a, b):
        return "Cyrillic-Latin"
    return "-".join(sorted((a, b), key=["ru", "uk", "be"].index))


@dataclass(frozen=True)
class Pair:
    query: str
    written: str
    sentence: str
    """The written word's sentence (the word is analysed in it, as the index does)."""
    start: int
    kind: str
    source: str
    held_out: bool


def _names_in_line(line: str) -> list[tuple[str, int]]:
    """Capitalised words (not all capitals, 3+ letters) that do not begin a sentence."""
    out = []
    for m in _WORD.finditer(line):
        w = m.group(0)
        if len(w) < 3 or not w[0].isupper() or w.isupper():
            continue
        before = line[: m.start()].rstrip(" \u00a0\t'\"«„“—–-")
        if not before or before[-1] in _ENDERS:
            continue
        out.append((w, m.start()))
    return out


def _mutual_best(xs: list[str], ys: list[str], minimum: float, minimum_lev: float) -> list[tuple[int, int]]:
    px, py = [plain(x) for x in xs], [plain(y) for y in ys]
    sims = [[JaroWinkler.similarity(a, b) for b in py] for a in px]
    out = []
    for i, row in enumerate(sims):
        if not row:
            continue
        j = max(range(len(row)), key=row.__getitem__)
        if row[j] < minimum or Levenshtein.normalized_similarity(px[i], py[j]) < minimum_lev:
            continue
        if max(range(len(sims)), key=lambda k: sims[k][j]) == i:
            out.append((i, j))
    return out


def ntrex_pairs() -> list[Pair]:
    langs = ("ru", "uk", "be", "en")
    docs: dict[str, dict[str, list[str]]] = {}
    for lang in langs:
        for line in (NTREX / f"corpus.{lang}.jsonl").read_text("utf-8").splitlines():
            d = json.loads(line)
            docs.setdefault(d["_id"], {})[lang] = d["text"].splitlines()
    pairs: dict[tuple[str, str], Pair] = {}
    for doc_id, by_lang in docs.items():
        if len({len(v) for v in by_lang.values()}) != 1:
            continue
        ho = held_out("ntrex:" + doc_id)
        for n in range(len(by_lang["en"])):
            words = {lang: _names_in_line(by_lang[lang][n]) for lang in langs}
            for ai, a in enumerate(langs):
                for b in langs[ai + 1 :]:
                    xa = [x for x in words[a] if _is_cyr(x[0])]  # a is never "en"
                    xb = [x for x in words[b] if _is_cyr(x[0]) == (b != "en")]
                    for i, j in _mutual_best(
                        [w for w, _ in xa], [w for w, _ in xb], ALIGN_MIN, ALIGN_MIN_LEV
                    ):
                        (wa, sa), (wb, sb) = xa[i], xb[j]
                        if wa == wb:
                            continue
                        kind = variant_type(a, b)
                        for q, w, line, s in ((wa, wb, by_lang[b][n], sb), (wb, wa, by_lang[a][n], sa)):
                            pairs.setdefault((q, w), Pair(q, w, line, s, kind, "ntrex", ho))
    return list(pairs.values())


def read_conllu(path: Path) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(sentence text, [(form, lemma, upos)])"""
    out: list[tuple[str, list[tuple[str, str, str]]]] = []
    text, toks = "", list[tuple[str, str, str]]()
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("# text = "):
            text = line[len("# text = ") :]
        elif not line.strip():
            if text:
                out.append((text, toks))
            text, toks = "", []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if len(cols) >= 4 and cols[0].isdigit():
                toks.append((cols[1], cols[2], cols[3]))
    return out


def treebank_lemmas(upos: set[str]) -> dict[str, dict[str, list[tuple[str, str, int]]]]:
    """lang -> lemma -> [(form, sentence, start)] for tokens of the given parts of speech."""
    out: dict[str, dict[str, list[tuple[str, str, int]]]] = {}
    for lang, fname in TREEBANK_FILES.items():
        lemmas: dict[str, list[tuple[str, str, int]]] = {}
        for text, toks in read_conllu(TREEBANKS / fname):
            pos = 0
            for form, lemma, up in toks:
                at = text.find(form, pos)
                if at < 0:
                    continue
                pos = at + len(form)
                if up in upos and lemma.isalpha() and len(lemma) >= 4 and _is_cyr(lemma):
                    lemmas.setdefault(lemma, []).append((form, text, at))
        out[lang] = lemmas
    return out


def ud_pairs() -> list[Pair]:
    props = treebank_lemmas({"PROPN"})
    for lang in props:  # names: capitalised lemmas, not acronyms
        props[lang] = {k: v for k, v in props[lang].items() if k[0].isupper() and not k.isupper()}
    pairs: dict[tuple[str, str], Pair] = {}
    langs = ("ru", "uk", "be")
    for ai, a in enumerate(langs):
        for b in langs[ai + 1 :]:
            la, lb = sorted(props[a]), sorted(props[b])
            for i, j in _mutual_best(la, lb, LEMMA_MIN, LEMMA_MIN_LEV):
                if la[i] == lb[j]:
                    continue
                ho = held_out(f"ud:{la[i]}:{lb[j]}")
                for q, written in ((la[i], props[b][lb[j]]), (lb[j], props[a][la[i]])):
                    for form, text, at in written[:3]:
                        pairs.setdefault((q, form), Pair(q, form, text, at, variant_type(a, b), "ud", ho))
    return list(pairs.values())
