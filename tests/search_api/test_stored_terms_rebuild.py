"""An embedded index of the format before stored terms (schema 6) is rebuilt from the catalog at
the first start (issue 17, part 3): its hits then carry the stored terms, and the snippets are the
same as before."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from archive_search.catalog.models import Passage
from archive_search.types import LOCAL_ADMIN, SearchRequest
from index.analysis import stored_terms
from index.backend import Filters, TermNode
from index.embedded import SCHEMA_VERSION
from search_api.service import ArchiveService
from tests.conftest import make_settings

TEXT = (
    "Свідок Олесь Шпрундяхов бачив колону техніки біля мосту вранці.\n\n"
    "Потім колона поїхала на південь, до переправи через річку Kalmius.\n"
)


def _snippets(svc: ArchiveService, q: str) -> list[str]:
    res = svc.search(SearchRequest(q=q, mode="keyword", group="passage"), LOCAL_ADMIN)
    return [h.snippet for h in res.hits]


def test_an_index_without_stored_terms_is_rebuilt_at_the_first_start(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "witness.txt").write_text(TEXT, "utf-8")
    settings = make_settings(tmp_path / "data", f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    svc = ArchiveService(settings)
    report = svc.ingest([files], "c")
    assert all(f.outcome == "ok" for f in report.files)
    before = {q: _snippets(svc, q) for q in ("колона", "Шпрундяхова", "Кальміус")}
    assert all(before.values()) and all("<mark>" in s for v in before.values() for s in v)
    svc.close()
    (marker,) = (tmp_path / "data").rglob("SCHEMA")
    assert marker.read_text("utf-8") == SCHEMA_VERSION
    marker.write_text("6/analyzer-3", "utf-8")  # as an index written before stored terms

    svc = ArchiveService(settings)
    try:
        assert marker.read_text("utf-8") == SCHEMA_VERSION
        node = TermNode(svc.analyzer.query_terms("колона"))
        hits = svc.backend.keyword_search(node, Filters(allowed_collections=None), limit=10).hits
        assert hits
        with svc.catalog.session() as s:
            texts = dict(s.execute(select(Passage.id, Passage.text)).all())
        for h in hits:
            text = texts[h.passage_id]
            assert h.terms is not None
            assert h.terms == stored_terms(svc.analyzer, text, svc.analyzer.tokens(text))
        assert {q: _snippets(svc, q) for q in before} == before
    finally:
        svc.close()
