"""Analysed terms stored at index time (issue 17, part 3): a snippet is a look-up, not an analysis.

``stored_terms`` keeps, per passage, the terms of each distinct word as the analyser gave them at
index time; ``Highlighter`` reads them instead of analysing the passage. Checked here against the
definition (``tests/index/test_highlighter.reference_snippet``: analyse every token) on real
multilingual text, with the analyser's caches emptied first so that any analysis would show: the
marks are byte-identical and no word is analysed. A stored form made from another text (a passage
changed since, a masked one) or damaged is never read: the passage is analysed as before.
"""

from __future__ import annotations

import re

import pytest

from archive_search.types import AnalyzedToken
from index.analysis import Analyzer, Highlighter, _index_terms, _lemmas, stored_terms
from tests.index.test_highlighter import passages, query_terms, reference_snippet

QUERIES = [
    ("права человека", {}),
    ("право людини на свободу", {}),
    ("правы чалавека", {}),
    ("human rights freedom", {}),
    ("Інтерв’юер Свідок Загальної", {}),
    ("свобода", {"свобода": 1}),
    ("достоинство", {"достоинство": 2}),
    ("и в на", {}),
    ("Zahalnoi Deklaratsii", {}),  # Latin spellings of Cyrillic words: transliteration keys
]


def _stored(analyzer: Analyzer, texts: list[str]) -> list[str]:
    out = []
    for text in texts:
        s = stored_terms(analyzer, text, analyzer.tokens(text))
        assert s is not None
        out.append(s)
    return out


@pytest.mark.parametrize(("query", "fuzzy"), QUERIES)
def test_stored_terms_give_the_same_marks_without_analysing(query: str, fuzzy: dict[str, int]) -> None:
    analyzer = Analyzer()
    texts = passages()
    stored = _stored(analyzer, texts)
    terms = query_terms(analyzer, query)
    want = [reference_snippet(analyzer, t, terms, fuzzy) for t in texts]
    _index_terms.cache_clear()
    _lemmas.cache_clear()
    hl = Highlighter(analyzer, terms, fuzzy=fuzzy)
    got = [hl.snippet(t, s) for t, s in zip(texts, stored, strict=True)]
    assert _index_terms.cache_info().currsize == 0 and _lemmas.cache_info().currsize == 0  # nothing analysed
    assert got == want
    if query != "Zahalnoi Deklaratsii":
        assert sum("<mark>" in g for g in got) > 0


def test_the_stored_path_and_the_analysing_path_share_one_page() -> None:
    """Passages with and without stored terms on one page (semantic hits carry none): the
    highlighter's per-word memo is the same either way."""
    analyzer = Analyzer()
    texts = passages()
    stored = _stored(analyzer, texts)
    terms = query_terms(analyzer, "права людини свобода")
    want = [reference_snippet(analyzer, t, terms, {}) for t in texts]
    hl = Highlighter(analyzer, terms)
    got = [hl.snippet(t, s if i % 2 else None) for i, (t, s) in enumerate(zip(texts, stored, strict=True))]
    assert got == want


def test_a_stored_form_of_another_text_is_never_read() -> None:
    analyzer = Analyzer()
    text = "Свідок Олесь Шпрундяхов бачив колону біля мосту. Шпрундяхов рахував машини."
    masked = text.replace("Шпрундяхов", "██████████")  # a redaction: same length, other words
    assert len(masked) == len(text)
    stored = stored_terms(analyzer, text, analyzer.tokens(text))
    assert stored is not None and "шпрундяхов" in stored
    terms = query_terms(analyzer, "Шпрундяхов колона")
    hl = Highlighter(analyzer, terms)
    # the old text's terms would mark the mask's neighbours wrongly: they are not read
    assert hl.snippet(masked, stored) == reference_snippet(analyzer, masked, terms, {})
    assert "Шпрундяхов" not in hl.snippet(masked, stored)
    # a damaged stored form (a word's terms missing, another layout) is not read either
    groups = stored.split("\x1e")
    for bad in ("\x1e".join(groups[:-1]), "\x1e".join([*groups, "x"]), "t0" + stored[2:], "", "garbage"):
        fresh = Highlighter(analyzer, terms)
        assert fresh.snippet(text, bad) == reference_snippet(analyzer, text, terms, {})


def test_the_same_word_as_a_sentence_start_and_inside_a_sentence() -> None:
    """A capitalised word is a name inside a sentence (transliteration keys) but perhaps not at a
    sentence start: the two are stored apart, as the analyser tells them apart."""
    analyzer = Analyzer()
    text = "Надія прийшла. Ми мали Надія і Надію. Надія!"
    stored = stored_terms(analyzer, text, analyzer.tokens(text))
    assert stored is not None
    for query in ("Nadiia", "надія", "Nadia"):
        terms = query_terms(analyzer, query)
        assert Highlighter(analyzer, terms).snippet(text, stored) == reference_snippet(
            analyzer, text, terms, {}
        )


def test_an_analyser_with_its_own_terms_and_one_with_its_own_tokens() -> None:
    class Upper(Analyzer):
        def terms_for(self, word: str) -> tuple[str, ...]:
            return (word.upper(),)

    class Split(Analyzer):  # cuts text its own way: its tokens are not the highlighter's words
        def tokens(self, text: str) -> list[AnalyzedToken]:
            return [
                AnalyzedToken((m.group(0),), i, m.start(), m.end())
                for i, m in enumerate(re.finditer(r"\S+", text))
            ]

    text = "Свобода слова и свобода собраний"
    up = Upper()
    stored = stored_terms(up, text, up.tokens(text))
    assert stored is not None
    assert Highlighter(up, {"СВОБОДА"}).snippet(text, stored) == (
        "<mark>Свобода</mark> слова и <mark>свобода</mark> собраний"
    )
    split = Split()
    assert stored_terms(split, text, split.tokens(text)) is None
    # tokens that are not the text's words (another analyser's) are not stored
    punctuated = "Свобода, слова и свобода собраний."
    assert stored_terms(Analyzer(), punctuated, split.tokens(punctuated)) is None
    assert stored_terms(Analyzer(), punctuated, Analyzer().tokens(punctuated)[:-1]) is None
