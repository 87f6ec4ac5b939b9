"""Every backend returns a keyword hit's analysed terms as stored at index time (issue 17, part 3),
for the very text indexed last: a rewritten passage (a masked one) carries its new terms, and after
a purge no stored form holds a word of the old text. Run unchanged on every backend
(``conftest.py``), with the real analyser (the stored form is the analyser's)."""

from __future__ import annotations

from pathlib import Path

from index.analysis import Analyzer, Highlighter, stored_terms
from index.backend import BackendHit, SearchBackend, TermNode
from tests.contract.conftest import OpenBackend
from tests.contract.test_backend_contract import ALL, passage
from tests.search_api.leakscan import needles, scan

NAME = "Шпрундяхов"
TEXT = f"Свідок Олесь {NAME} бачив колону біля мосту. Потім {NAME} рахував машини на переправі."
MASKED = TEXT.replace(NAME, "█" * len(NAME))
OTHER = "Інший свідок бачив колону техніки біля мосту вранці."


def _hits(backend: SearchBackend, an: Analyzer, word: str) -> list[BackendHit]:
    node = TermNode(an.query_terms(word))
    res = backend.keyword_search(node, ALL, limit=10)
    after = backend.keyword_after(node, ALL, after=None, size=10)
    every = list(backend.iter_keyword(node, ALL, chunk=10))
    for other in (after, every):
        assert [(h.passage_id, h.terms) for h in other] == [(h.passage_id, h.terms) for h in res.hits]
    return res.hits


def test_keyword_hits_carry_the_stored_terms_of_the_text_indexed(
    open_backend: OpenBackend, backend_name: str, tmp_path: Path
) -> None:
    an = Analyzer()
    backend = open_backend(analyzer_=an)
    backend.write([passage(1, TEXT, doc=10, lang="uk"), passage(2, OTHER, doc=20, lang="uk")])
    by_id = {h.passage_id: h for h in _hits(backend, an, "колону")}
    assert set(by_id) == {1, 2}
    for pid, text in ((1, TEXT), (2, OTHER)):
        assert by_id[pid].terms == stored_terms(an, text, an.tokens(text))
    # the snippet from the stored terms is the snippet of analysing the passage
    terms = set(an.query_terms(NAME))
    assert Highlighter(an, terms).snippet(TEXT, by_id[1].terms) == Highlighter(an, terms).snippet(TEXT)
    assert f"<mark>{NAME}</mark>" in Highlighter(an, terms).snippet(TEXT, by_id[1].terms)
    if backend_name == "embedded":
        # the control: the stored terms hold it (compressed: its first letters, as written)
        assert scan(tmp_path / "index", needles(NAME.lower()[:6]))

    # masked: the passage is rewritten, then the index purged of the old copies (as redaction does)
    masked = passage(1, MASKED, doc=10, lang="uk")
    backend.write([masked])
    backend.purge_documents([], lambda: [masked, passage(2, OTHER, doc=20, lang="uk")])
    assert not _hits(backend, an, NAME)
    by_id = {h.passage_id: h for h in _hits(backend, an, "колону")}
    assert by_id[1].terms == stored_terms(an, MASKED, an.tokens(MASKED))
    assert by_id[1].terms is not None and NAME.lower() not in by_id[1].terms
    if backend_name == "embedded":
        assert not scan(tmp_path / "index", needles(NAME.lower()[:6]))


def test_vector_hits_carry_no_terms_and_a_custom_analyser_stores_none(open_backend: OpenBackend) -> None:
    """A vector hit is highlighted by analysing it (nothing to read); an analyser that cuts text
    its own way stores nothing, and its hits are analysed as before."""
    backend = open_backend()  # the contract's PlainAnalyzer: its own tokens
    backend.write([passage(1, TEXT, doc=10), passage(2, OTHER, doc=20)])
    assert all(h.terms is None for h in backend.keyword_search(TermNode(("колону",)), ALL, limit=10).hits)
    from tests.contract.test_backend_contract import vec

    assert all(h.terms is None for h in backend.vector_search(vec(1), ALL, limit=10).hits)
