"""The one language-aware analyser every backend uses.

Backends store the analyser's terms, so both backends rank alike, and highlighting is done once
by re-analysing a hit passage. A token may carry several terms at one position (its folded form
first, which is the canonical term used in phrases, then further keys); phrase and proximity
queries still work because the alternatives share the position.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence

from archive_search.types import AnalyzedToken

WORD_RE = re.compile(r"[^\W_]+(?:['’ʼ`][^\W_]+)*", re.UNICODE)
_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"’": "", "ʼ": "", "'": "", "`": "", "\u0301": ""})


def fold(word: str) -> str:
    """Case-fold and fold letter variants: ё→е, apostrophe variants removed, accents dropped."""
    w = unicodedata.normalize("NFC", word).casefold().translate(_APOSTROPHES)
    w = w.replace("ё", "е")
    if not w.isascii():
        # Drop combining accents (stress marks, diacritics on Latin transliterations) but keep
        # Cyrillic letters such as й/ї/ў intact by recomposing after removing marks.
        decomposed = unicodedata.normalize("NFD", w)
        kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch in "\u0306\u0308")
        w = unicodedata.normalize("NFC", kept)
    return w


class Analyzer:
    """Turns text into positioned tokens with one or more index terms each."""

    def tokens(self, text: str) -> list[AnalyzedToken]:
        out: list[AnalyzedToken] = []
        for pos, m in enumerate(WORD_RE.finditer(text)):
            terms = self.terms_for(m.group(0))
            out.append(AnalyzedToken(terms=terms, position=pos, start=m.start(), end=m.end()))
        return out

    def terms_for(self, word: str) -> tuple[str, ...]:
        """All index terms of one word; the first is canonical (used in phrases)."""
        return (fold(word),)

    def query_terms(self, word: str) -> tuple[str, ...]:
        """Terms a query word matches; by default the same as the index terms."""
        return self.terms_for(word)


def highlight(
    analyzer: Analyzer, text: str, terms: Iterable[str], *, window: int = 240, max_len: int = 400
) -> str:
    """An HTML-escaped snippet of ``text`` around the best cluster of matching tokens, with <mark>.

    A token is marked when any of its analysed terms is among ``terms``.
    """
    wanted = set(terms)
    spans = [(t.start, t.end) for t in analyzer.tokens(text) if wanted.intersection(t.terms)]
    if not spans:
        return _escape_window(text, 0, min(len(text), max_len), [])
    # choose the window (starting at a match) that holds the most matches
    best_i, best_n = 0, 0
    for i, (s, _) in enumerate(spans):
        n = sum(1 for s2, _ in spans[i:] if s2 - s <= window)
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
