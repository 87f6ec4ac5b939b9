"""The page-level highlighter gives exactly the snippets of re-analysing every passage.

``Highlighter`` memoises the match decision per word and builds no token objects; this checks it
against the straightforward definition (analyse the passage, mark tokens whose terms meet the
query's, or whose folded surface is within the fuzzy edits) over real multilingual text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from index.analysis import (
    Analyzer,
    Highlighter,
    _escape_window,
    fold,
    highlight,
    within_edits,
)

SAMPLES = Path(__file__).resolve().parents[2] / "archive_search" / "sample_archive" / "files"


def reference_snippet(
    analyzer: Analyzer,
    text: str,
    terms: set[str],
    fuzzy: dict[str, int],
    window: int = 240,
    max_len: int = 400,
) -> str:
    """The definition: every token analysed, a quadratic search for the densest window."""
    spans = [
        (t.start, t.end)
        for t in analyzer.tokens(text)
        if terms.intersection(t.terms)
        or any(within_edits(fold(text[t.start : t.end]), f, k) for f, k in fuzzy.items())
    ]
    if not spans:
        return _escape_window(text, 0, min(len(text), max_len), [])
    best_i, best_n = 0, 0
    for i, (s, _) in enumerate(spans):
        n = sum(1 for s2, _ in spans[i:] if s2 - s <= window)
        if n > best_n:
            best_i, best_n = i, n
    start = max(0, spans[best_i][0] - max_len // 4)
    if start > 0:
        sp = text.rfind(" ", 0, start)
        start = sp + 1 if sp >= 0 and start - sp < 40 else start
    end = min(len(text), start + max_len)
    if end < len(text):
        sp = text.rfind(" ", start, end)
        end = sp if sp > start + max_len // 2 else end
    return _escape_window(text, start, end, [(s, e) for s, e in spans if s >= start and e <= end])


def passages() -> list[str]:
    out: list[str] = []
    for name in ("udhr-ru.txt", "udhr-uk.txt", "udhr-be.txt", "udhr-en.txt", "interview-uk-sample.txt"):
        text = (SAMPLES / name).read_text("utf-8")
        out += [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 40]
    return out


def query_terms(analyzer: Analyzer, query: str) -> set[str]:
    terms: set[str] = set()
    for tok in analyzer.tokens(query):
        terms.update(tok.terms)
        terms.update(analyzer.query_terms(query[tok.start : tok.end]))
    return terms


@pytest.mark.parametrize(
    ("query", "fuzzy"),
    [
        ("права человека", {}),
        ("право людини на свободу", {}),
        ("правы чалавека", {}),
        ("human rights freedom", {}),
        ("Інтерв’юер Свідок Загальної", {}),
        ("свобода", {"свобода": 1}),
        ("пыткам", {"пыткам": 1}),
        ("достоинство", {"достоинство": 2}),
        ("и в на", {}),
    ],
)
def test_highlighter_matches_the_definition(query: str, fuzzy: dict[str, int]) -> None:
    analyzer = Analyzer()
    texts = passages()
    assert len(texts) > 50
    terms = query_terms(analyzer, query)
    hl = Highlighter(analyzer, terms, fuzzy=fuzzy)  # one for all passages, as a result page uses it
    marked = 0
    for text in texts:
        want = reference_snippet(analyzer, text, terms, fuzzy)
        assert hl.snippet(text) == want
        assert highlight(analyzer, text, terms, fuzzy=fuzzy) == want
        marked += "<mark>" in want
    assert marked > 0  # every query really marks something in these texts


def test_highlighter_with_an_analyser_subclass() -> None:
    """An analyser that overrides ``terms_for`` decides the matches through its own tokens."""

    class Upper(Analyzer):
        def terms_for(self, word: str) -> tuple[str, ...]:
            return (word.upper(),)

    text = "Свобода слова и свобода собраний"
    assert Highlighter(Upper(), {"СВОБОДА"}).snippet(text) == (
        "<mark>Свобода</mark> слова и <mark>свобода</mark> собраний"
    )
