"""The embedded backend counts a query's documents in its facet pass and reuses that count.

A grouped search asks for facets and then for the number of matching documents; each is a full
pass over the matches, so the backend computes both in one pass. The reused count must always be
the count of the index as it is now: any write, delete or clear in between makes it recompute.
"""

from __future__ import annotations

from pathlib import Path

from archive_search.types import IndexPassage
from index.analysis import Analyzer
from index.backend import BoolNode, Filters, QueryNode, TermNode
from index.embedded import EmbeddedBackend

EVERYTHING = Filters(allowed_collections=None)


def passages(first_id: int, n: int, *, per_doc: int, collection: str = "a") -> list[IndexPassage]:
    return [
        IndexPassage(
            passage_id=first_id + i,
            document_id=(first_id + i) // per_doc,
            collection=collection,
            text=f"свідок бачив колону техніки {first_id + i}"
            if i % 2 == 0
            else f"інший текст {first_id + i}",
            lang="uk",
            doc_type="text",
            seq=i % per_doc,
        )
        for i in range(n)
    ]


def documents_by_scan(backend: EmbeddedBackend, node: QueryNode, filters: Filters) -> int:
    hits = backend.keyword_search(node, filters, limit=10_000).hits
    return len({h.document_id for h in hits})


def test_document_count_from_the_facet_pass_follows_every_change(tmp_path: Path) -> None:
    analyzer = Analyzer()
    backend = EmbeddedBackend(tmp_path / "idx", analyzer)
    node = TermNode(analyzer.query_terms("колона"))
    backend.write(passages(0, 200, per_doc=10))  # 100 matching passages in 20 documents
    res = backend.keyword_search(node, EVERYTHING, limit=10, facets=True)
    assert res.total == 100 and res.facets["lang"] == {"uk": 100}
    assert backend.count_documents(node, EVERYTHING) == 20 == documents_by_scan(backend, node, EVERYTHING)

    # filters are part of what is remembered: another filter is another count
    only_b = Filters(allowed_collections=frozenset({"b"}))
    backend.keyword_search(node, only_b, limit=10, facets=True)
    assert backend.count_documents(node, only_b) == 0
    assert backend.count_documents(node, EVERYTHING) == 20

    backend.write(passages(1000, 40, per_doc=4, collection="b"))  # 20 more passages, 10 more documents
    assert backend.count_documents(node, EVERYTHING) == 30 == documents_by_scan(backend, node, EVERYTHING)
    assert backend.count_documents(node, only_b) == 10

    backend.keyword_search(node, EVERYTHING, limit=10, facets=True)
    backend.delete_documents([0, 1, 2])
    assert backend.count_documents(node, EVERYTHING) == 27 == documents_by_scan(backend, node, EVERYTHING)

    other = BoolNode(must=(node,), must_not=(TermNode(analyzer.query_terms("1000")),))
    backend.facet_counts(other, EVERYTHING)
    assert backend.count_documents(other, EVERYTHING) == documents_by_scan(backend, other, EVERYTHING) > 0

    backend.clear()
    assert backend.count_documents(node, EVERYTHING) == 0
    backend.close()
