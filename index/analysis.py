"""The one language-aware analyser every backend uses.

Backends store the analyser's terms, so both backends rank alike. Highlighting reads the terms
each word of a passage got at index time (``stored_terms``, kept in both backends beside the
index); a passage without them (a custom analyser, a text changed since) is re-analysed. A token
may carry several terms at one position; phrase and proximity queries still work because the
alternatives share the position, and phrases use the first (canonical) term of each token.

Terms of one word (a document's language is not known per word: archives mix languages):

* canonical (first): the lemma, so that phrases match inflected variants. Russian/Ukrainian:
  the most probable normal form from the pymorphy3 dictionary that knows the word (letters
  decide which dictionaries are asked; Russian first when both know it, the Ukrainian lemmas
  are added); a Cyrillic word no dictionary knows (Belarusian, rare names, typos): a light
  Belarusian/East-Slavic stem (``morph.be_stem``); Latin: the Snowball English stem; anything
  else (numbers, mixed scripts): the folded form. It depends on the word alone, never on its
  neighbours, so a phrase typed in the same forms as the text always matches.
* the folded surface form (``fold``), so exact forms still score and prefix/fuzzy queries (which
  work on the query's first term, the surface form) match what was written;
* the other dictionary lemmas (homonyms: стали → стать, сталь; both dictionaries: мене);
* for likely names, transliteration keys (``~`` + skeleton, see ``translit``) of the surface
  form (a Latin word: its romanisation and English readings) and, for a Cyrillic word, of its
  canonical term (the dictionary lemma, or the stem of a word no dictionary knows), so
  Кадыров/Kadyrov/Кадыраў and Лондана/Лондон/London meet. A likely name is a
  capitalised word inside a sentence, or at a sentence start when a dictionary reads it as a
  name or none knows it.

``query_terms`` gives a query word its surface form first, then the same lemmas, and always its
transliteration keys (a user types names in lower case too). Terms are cached per word.
"""

from __future__ import annotations

import bisect
import functools
import html
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from rapidfuzz.distance import OSA

from archive_search.types import AnalyzedToken
from index import morph
from index.translit import translit_keys

WORD_RE = re.compile(r"[^\W_]+(?:['’ʼ`][^\W_]+)*", re.UNICODE)
_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"’": "", "ʼ": "", "'": "", "`": "", "\u0301": ""})
_TO_ASCII_APOSTROPHE = str.maketrans({"’": "'", "ʼ": "'", "`": "'", "\u02bb": "'", "\u0301": ""})
# Latin letters that OCR and careless typing put inside Cyrillic words (мiнiстэрства)
_HOMOGLYPHS = str.maketrans("aceiopxyýëï", "асеіорхуўёї")
_CACHE_SIZE = 100_000
"""Distinct words whose terms are kept (per cache); a cache hit costs well under a microsecond,
a miss a few dictionary look-ups (~10 µs with the C DAWG of ``dawg2``, ~70 µs without)."""

ANALYZER_VERSION = "3"
"""Bumped whenever the terms of a word change: an index built by another version must be rebuilt
(phrases use the canonical term, which was the folded form in version 1 and is the lemma now;
version 3 changed the transliteration keys: one vowel class, English readings, stem keys)."""


def _has_cyrillic(w: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in w)


def _fix_homoglyphs(w: str) -> str:
    """Latin look-alikes inside an otherwise Cyrillic (lower-case) word become Cyrillic."""
    if w.isascii() or not _has_cyrillic(w):
        return w
    return w.translate(_HOMOGLYPHS)


def fold(word: str) -> str:
    """Case-fold and fold letter variants: ё→е, apostrophe variants removed, accents dropped,
    Latin look-alike letters inside Cyrillic words made Cyrillic."""
    w = _fix_homoglyphs(unicodedata.normalize("NFC", word).casefold()).translate(_APOSTROPHES)
    w = w.replace("ё", "е")
    if not w.isascii():
        # Drop combining accents (stress marks, diacritics on Latin transliterations) but keep
        # Cyrillic letters such as й/ї/ў intact by recomposing after removing marks.
        decomposed = unicodedata.normalize("NFD", w)
        kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch in "\u0306\u0308")
        w = unicodedata.normalize("NFC", kept)
    return w


def morph_form(word: str) -> str:
    """The form the morphology sees: lower case, stress marks dropped, ё kept (pymorphy3 uses it),
    every apostrophe variant as ``'`` (what pymorphy3's Ukrainian dictionary expects: м'ясо)."""
    w = unicodedata.normalize("NFC", word.casefold().translate(_TO_ASCII_APOSTROPHE))
    return _fix_homoglyphs(w)


def _dedupe(terms: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in terms if t))


class _Lemmas(NamedTuple):
    terms: tuple[str, ...]
    """Lemma-equivalent terms, canonical first."""
    dictionary: bool
    """Dictionary lemmas (real words), not stems."""
    name_like: bool
    """A dictionary reading is a proper name, or the word is Cyrillic and no dictionary knows it."""


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _lemmas(word: str) -> _Lemmas:
    m = morph_form(word)
    if morph.is_cyrillic(m):
        lemmas, _, proper = morph.cyrillic_lemmas(m)
        if lemmas:
            return _Lemmas(_dedupe(fold(x) for x in lemmas), True, proper)
        return _Lemmas((morph.be_stem(fold(m)),), False, True)
    if m.endswith("'s"):  # English possessive
        m = m[:-2]
    m = m.replace("'", "")
    if m.isascii() and m.isalpha():
        return _Lemmas((morph.english_stem(m),), False, False)
    return _Lemmas((), False, False)


def _keys(word: str, lem: _Lemmas) -> tuple[str, ...]:
    """Keys of the surface form and of the lemma (dictionary words) or the stem (Cyrillic words
    no dictionary knows: Belarusian and rare names, so that Лондана meets Лондон and London)."""
    w = word[:-2] if word.endswith(("'s", "’s")) else word
    stem = translit_keys(lem.terms[0]) if lem.terms and _has_cyrillic(w) else ()
    return _dedupe([*translit_keys(w), *stem])


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _index_terms(word: str, sentence_initial: bool = False) -> tuple[str, ...]:
    lem = _lemmas(word)
    surface = fold(word)
    # transliteration keys for likely names: capitalised inside a sentence, or capitalised at a
    # sentence start and a dictionary reads it as a name (or no dictionary knows the word)
    named = word[:1].isupper() and (not sentence_initial or lem.name_like)
    keys = _keys(word, lem) if named else ()
    return _dedupe([*lem.terms[:1], surface, *lem.terms[1:], *keys])


@functools.lru_cache(maxsize=_CACHE_SIZE // 10)
def _query_terms(word: str) -> tuple[str, ...]:
    lem = _lemmas(word)
    return _dedupe([fold(word), *lem.terms, *_keys(word, lem)])


_OPENERS = frozenset(" \t\u00a0«„“\"'‘(—–-*•")
_ENDERS = frozenset(".!?…\n\r")


def _sentence_initial(text: str, start: int) -> bool:
    """Whether the word at ``start`` begins a sentence (or a line), skipping spaces and openers."""
    i = start - 1
    while i >= 0 and text[i] in _OPENERS:
        i -= 1
    return i < 0 or text[i] in _ENDERS


class Analyzer:
    """Turns text into positioned tokens with one or more index terms each.

    A subclass may override ``terms_for`` alone; ``tokens`` and ``query_terms`` then use it.
    """

    def tokens(self, text: str) -> list[AnalyzedToken]:
        if type(self).terms_for is not Analyzer.terms_for:
            return [
                AnalyzedToken(terms=self.terms_for(m.group(0)), position=pos, start=m.start(), end=m.end())
                for pos, m in enumerate(WORD_RE.finditer(text))
            ]
        out: list[AnalyzedToken] = []
        for pos, m in enumerate(WORD_RE.finditer(text)):
            word, start = m.group(0), m.start()
            initial = word[:1].isupper() and _sentence_initial(text, start)
            out.append(AnalyzedToken(_index_terms(word, initial), pos, start, m.end()))
        return out

    def terms_for(self, word: str) -> tuple[str, ...]:
        """All index terms of one word (taken as inside a sentence); the first is canonical
        (used in phrases)."""
        return _index_terms(word)

    def query_terms(self, word: str) -> tuple[str, ...]:
        """Terms a query word matches: its folded surface form first (prefix and fuzzy queries
        work on the first term), then its lemmas and its transliteration keys."""
        if type(self).terms_for is not Analyzer.terms_for:
            return self.terms_for(word)
        return _query_terms(word)


def within_edits(a: str, b: str, k: int) -> bool:
    """Whether ``a`` and ``b`` are at most ``k`` edits apart (insertions, deletions,
    substitutions and transpositions of neighbours: optimal string alignment, as tantivy's fuzzy
    queries count them)."""
    if abs(len(a) - len(b)) > k:
        return False
    return bool(OSA.distance(a, b, score_cutoff=k) <= k)


STORED_TERMS_VERSION = "t1"
"""The layout of ``stored_terms``: a stored form of another layout is not read (re-analysed)."""
_GROUP_SEP = "\x1e"
_TERM_SEP = "\x1f"


def _word_key(text: str, match: re.Match[str]) -> tuple[str, bool]:
    word = match.group(0)
    return word, word[:1].isupper() and _sentence_initial(text, match.start())


def _text_check(text: str) -> str:
    return f"{STORED_TERMS_VERSION}:{len(text)}:{zlib.crc32(text.encode('utf-8', 'surrogatepass')):08x}"


def stored_terms(analyzer: Analyzer, text: str, tokens: Sequence[AnalyzedToken]) -> str | None:
    """What the highlighter needs of ``text``'s analysis, stored beside the index at index time so
    that a snippet is a look-up rather than an analysis (issue 17, part 3): the analysed terms of
    each distinct word of the passage (the word and whether it begins a sentence), in the order
    the words first occur, after the text's length and CRC-32 (a stored form is read only for the
    very text it was made from). The words themselves and their offsets are not stored: the
    highlighter finds them again with ``WORD_RE``, a regular expression, not an analysis.

    ``tokens`` are ``analyzer.tokens(text)`` (the indexer has them already). ``None`` when the
    analyser cuts text its own way (then the highlighter re-analyses, as before)."""
    if type(analyzer).tokens is not Analyzer.tokens:
        return None
    groups: dict[tuple[str, bool], tuple[str, ...]] = {}
    matches = WORD_RE.finditer(text)
    for tok in tokens:
        m = next(matches, None)
        if m is None or (m.start(), m.end()) != (tok.start, tok.end):
            return None
        key = _word_key(text, m)
        seen = groups.get(key)
        if seen is None:
            if any(_GROUP_SEP in t or _TERM_SEP in t for t in tok.terms):
                return None
            groups[key] = tok.terms
        elif seen != tok.terms:
            return None
    if next(matches, None) is not None:
        return None
    return _GROUP_SEP.join([_text_check(text), *(_TERM_SEP.join(t) for t in groups.values())])


class Highlighter:
    """Marks one query's matches in the passages of a result page.

    A token is marked when any of its analysed terms is among ``terms``, or when its folded
    surface form is within the allowed edits of a ``fuzzy`` term (the OCR-tolerant matches of a
    query). The decision is memoised per word (and whether it begins a sentence) for the life of
    the highlighter, so the ~40 passages of a page analyse each distinct word once, and no token
    objects are built: the snippets are exactly those of re-analysing each passage, at a fraction
    of the cost (``docs/benchmarks.md``, "Speed at 100k and 1M passages").
    """

    def __init__(
        self,
        analyzer: Analyzer,
        terms: Iterable[str],
        *,
        window: int = 240,
        max_len: int = 400,
        fuzzy: dict[str, int] | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.wanted = frozenset(terms)
        self.window = window
        self.max_len = max_len
        self.fuzzy = dict(fuzzy or {})
        self._fast = type(analyzer).terms_for is Analyzer.terms_for
        self._word_memo: dict[tuple[str, bool], bool] = {}
        self._fuzzy_memo: dict[str, bool] = {}

    def _fuzzy_match(self, surface: str) -> bool:
        hit = self._fuzzy_memo.get(surface)
        if hit is None:
            folded = fold(surface)
            hit = any(within_edits(folded, t, k) for t, k in self.fuzzy.items())
            self._fuzzy_memo[surface] = hit
        return hit

    def _stored_spans(self, text: str, stored: str) -> list[tuple[int, int]] | None:
        """The spans from the terms stored at index time (``stored_terms``); ``None`` when they
        were not made from this text."""
        groups = stored.split(_GROUP_SEP)
        if groups[0] != _text_check(text):
            return None
        wanted, fuzzy, memo = self.wanted, bool(self.fuzzy), self._word_memo
        order: dict[tuple[str, bool], int] = {}
        learnt: dict[tuple[str, bool], bool] = {}
        out: list[tuple[int, int]] = []
        for m in WORD_RE.finditer(text):
            key = _word_key(text, m)
            g = order.get(key)
            if g is None:
                g = order[key] = len(order) + 1
            hit = memo.get(key)
            if hit is None:
                hit = learnt.get(key)
            if hit is None:
                if g >= len(groups):
                    return None
                terms = groups[g].split(_TERM_SEP) if groups[g] else ()
                hit = not wanted.isdisjoint(terms) or (fuzzy and self._fuzzy_match(key[0]))
                learnt[key] = hit
            if hit:
                out.append((m.start(), m.end()))
        if len(order) + 1 != len(groups):
            return None
        memo.update(learnt)
        return out

    def spans(self, text: str, stored: str | None = None) -> list[tuple[int, int]]:
        """Character spans of the matching tokens of ``text``, in order. ``stored``: the terms
        stored for ``text`` at index time (``stored_terms``), read instead of analysing it; a
        stored form that was not made from this text is ignored."""
        wanted, fuzzy = self.wanted, bool(self.fuzzy)
        if not wanted and not fuzzy:
            return []
        if stored:
            found = self._stored_spans(text, stored)
            if found is not None:
                return found
        out: list[tuple[int, int]] = []
        if not self._fast:  # an analyser with its own terms_for: its tokens decide
            for tok in self.analyzer.tokens(text):
                if wanted.intersection(tok.terms) or (fuzzy and self._fuzzy_match(text[tok.start : tok.end])):
                    out.append((tok.start, tok.end))
            return out
        memo = self._word_memo
        for m in WORD_RE.finditer(text):
            key = _word_key(text, m)  # the same key as the stored terms' (they share the memo)
            hit = memo.get(key)
            if hit is None:
                word, initial = key
                hit = not wanted.isdisjoint(_index_terms(word, initial)) or (
                    fuzzy and self._fuzzy_match(word)
                )
                memo[key] = hit
            if hit:
                out.append((m.start(), m.end()))
        return out

    def snippet(self, text: str, stored: str | None = None) -> str:
        """An HTML-escaped snippet of ``text`` around the best cluster of matches, with <mark>
        (``stored``: as for ``spans``)."""
        spans = self.spans(text, stored)
        max_len, window = self.max_len, self.window
        if not spans:
            return _escape_window(text, 0, min(len(text), max_len), [])
        # choose the window (starting at a match) that holds the most matches
        starts = [s for s, _ in spans]
        best_i, best_n = 0, 0
        for i, s in enumerate(starts):
            n = bisect.bisect_right(starts, s + window, lo=i) - i
            if n > best_n:
                best_i, best_n = i, n
        anchor = spans[best_i][0]
        start = max(0, anchor - max_len // 4)
        # begin at a word boundary
        if start > 0:
            sp = text.rfind(" ", 0, start)
            start = sp + 1 if sp >= 0 and start - sp < 40 else start
        end = min(len(text), start + max_len)
        if end < len(text):
            sp = text.rfind(" ", start, end)
            end = sp if sp > start + max_len // 2 else end
        inside = [(s, e) for s, e in spans if s >= start and e <= end]
        return _escape_window(text, start, end, inside)


def highlight(
    analyzer: Analyzer,
    text: str,
    terms: Iterable[str],
    *,
    window: int = 240,
    max_len: int = 400,
    fuzzy: dict[str, int] | None = None,
) -> str:
    """An HTML-escaped snippet of ``text`` around the best cluster of matching tokens, with <mark>.

    A token is marked when any of its analysed terms is among ``terms``, or when its first term
    is within the allowed edits of a ``fuzzy`` term (the OCR-tolerant matches of a query).
    For many passages of one query, build one ``Highlighter`` and call its ``snippet``.
    """
    return Highlighter(analyzer, terms, window=window, max_len=max_len, fuzzy=fuzzy).snippet(text)


def _escape_window(text: str, start: int, end: int, spans: Sequence[tuple[int, int]]) -> str:
    parts: list[str] = []
    if start > 0:
        parts.append("… ")
    cur = start
    for s, e in spans:
        parts.append(html.escape(text[cur:s], quote=False))
        parts.append("<mark>" + html.escape(text[s:e], quote=False) + "</mark>")
        cur = e
    parts.append(html.escape(text[cur:end], quote=False))
    if end < len(text):
        parts.append(" …")
    return _SPACES.sub(" ", "".join(parts)).strip()


MatchKind = str
"""``exact``, ``lemma``, ``transliteration`` or ``misspelling`` (see ``match_kind``)."""


def sentence_initial(text: str, start: int) -> bool:
    """Whether the word at ``start`` of ``text`` begins a sentence (its capital says nothing of
    whether it is a name)."""
    return _sentence_initial(text, start)


def match_kind(
    query_word: str, word: str, *, sentence_initial: bool = False, edits: int = 0
) -> MatchKind | None:
    """How a word of a passage matches a query word, the strongest way first: ``exact`` (the same
    folded form), ``lemma`` (another form of the same word: a shared lemma or stem),
    ``transliteration`` (a name's spelling in another script: a shared transliteration key), or
    ``misspelling`` (within ``edits`` edits of the query word: the OCR tolerance of rare words);
    ``None`` when it does not match."""
    q, w = fold(query_word), fold(word)
    if q == w:
        return "exact"
    qlem, wlem = _lemmas(query_word), _lemmas(word)
    if {q, *qlem.terms} & {w, *wlem.terms}:
        return "lemma"
    if set(_keys(query_word, qlem)) & set(_index_terms(word, sentence_initial)):
        return "transliteration"
    if edits and within_edits(w, q, edits):
        return "misspelling"
    return None


def edit_distance(a: str, b: str) -> int:
    """Edits between two folded words (as ``within_edits`` counts them)."""
    return int(OSA.distance(fold(a), fold(b)))


def explain_matches(
    query_words: Sequence[str], text: str, fuzzy: dict[str, int] | None = None
) -> list[dict[str, object]]:
    """For each query word, how it matched ``text`` (the strongest way) and the forms that
    matched: ``[{"word", "how", "matched": [...], "edits"?}]``; query words that did not match
    are left out. ``fuzzy`` maps a query word's folded form to the edits it was allowed."""
    order = {"exact": 0, "lemma": 1, "transliteration": 2, "misspelling": 3}
    fuzzy = fuzzy or {}
    out: list[dict[str, object]] = []
    words = [
        (m.group(0), m.group(0)[:1].isupper() and _sentence_initial(text, m.start()))
        for m in WORD_RE.finditer(text)
    ]
    for qw in dict.fromkeys(query_words):
        best: str | None = None
        forms: dict[str, None] = {}
        edits = fuzzy.get(fold(qw), 0)
        seen: set[tuple[str, bool]] = set()
        for word, initial in words:
            if (word, initial) in seen:
                continue
            seen.add((word, initial))
            kind = match_kind(qw, word, sentence_initial=initial, edits=edits)
            if kind is None:
                continue
            if best is None or order[kind] < order[best]:
                best, forms = kind, {}
            if kind == best:
                forms[word] = None
        if best is None:
            continue
        entry: dict[str, object] = {"word": qw, "how": best, "matched": list(forms)[:5]}
        if best == "misspelling":
            entry["edits"] = min(edit_distance(qw, f) for f in forms)
        out.append(entry)
    return out
