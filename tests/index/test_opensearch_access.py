"""The access filter is inside the requests OpenSearch executes: on the live node, through the service.

A service on OpenSearch + PostgreSQL (a fresh index on the session's live node, ``live_opensearch``)
holds a collection ``secret`` whose passages match every query below, and collections ``open`` and
``press``. The client's transport is wrapped, so the tests see each request as the node receives it:

* for a reader of ``open`` and ``press``, every ``_search`` and ``_count`` carries the collection
  filter *inside* the query — ``bool.filter`` of keyword searches, of the facet aggregations and of
  the document count, ``filter`` inside ``knn`` for vector searches — and none has a ``post_filter``;
  the answers (hits, totals, facets, similar passages) hold nothing of ``secret``, although an
  administrator's same searches find it in the same index;
* a user with no grant gets total 0, no hits, no facets and no similar passages in every mode, and
  the backend sends no request at all.

Vectors come from a deterministic word-hash embedder (``tests/test_vector_saves.HashEmbedder``), so
the near-duplicate secret passage is the nearest neighbour of the open one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from archive_search.errors import NotFoundError
from archive_search.types import LOCAL_ADMIN, Principal, SearchRequest, SearchResponse, SimilarOptions
from index.backend import Filters, TermNode
from index.opensearch import has_vectors_body
from search_api.service import ArchiveService
from tests.conftest import stack_settings
from tests.index.test_vector_saves import HashEmbedder

TEXTS = {
    "secret": {
        "secret-statement.txt": "Свідок бачив колону техніки біля мосту вранці, зоряноцвіт цвів.",
        "secret-report.txt": "Колона техніки стояла біля мосту, свідок рахував машини.",
    },
    "open": {"open-statement.txt": "Свідок бачив колону техніки біля мосту вранці."},
    "press": {"press-article.txt": "Журналіст писав про колону техніки на околиці міста."},
}
READER = Principal(name="reader", readable=frozenset({"open", "press"}), writable=frozenset(), role="viewer")
NOBODY = Principal(name="nobody", readable=frozenset(), writable=frozenset(), role="viewer")
QUERIES = ("колону техніки біля мосту", "свідок", "колон*", '"біля мосту"')
MODES = ("keyword", "semantic", "hybrid")


@dataclass
class Recorded:
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def searches(self) -> list[dict[str, Any]]:
        """Bodies of the ``_search`` and ``_count`` requests since the last ``clear()``, but for
        ``has_vectors()``: whether any passage has a vector (semantic search is available) is the
        same answer for every user, and it reads no passage."""
        return [
            b
            for _, path, b in self.calls
            if path.endswith(("/_search", "/_count")) and b != has_vectors_body()
        ]

    def clear(self) -> None:
        self.calls.clear()


@dataclass
class Env:
    service: ArchiveService
    recorded: Recorded
    open_passage: int
    secret_passages: set[int]


@pytest.fixture(scope="module")
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("opensearch-access")
    # the floors are calibrated for multilingual-e5-small; the hash embedder's cosines are not
    svc = ArchiveService(stack_settings("opensearch", tmp, request, semantic_floor=-1, similar_floor=-1))
    assert svc.backend.name == "opensearch"
    svc._embedder, svc._embedder_loaded = HashEmbedder(), True  # type: ignore[assignment]
    ids: dict[str, int] = {}
    for col, files in TEXTS.items():
        folder = tmp / col
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text + "\n", "utf-8")
        report = svc.ingest(sorted(folder.iterdir()), col)
        assert all(f.outcome == "ok" and f.document_id for f in report.files), report.files
        ids.update({Path(f.path).name: int(f.document_id or 0) for f in report.files})
    assert svc.embed_pending() == 4

    recorded = Recorded()
    transport: Any = svc.backend.client.transport  # type: ignore[attr-defined]
    send = transport.perform_request

    def perform_request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        recorded.calls.append((method, url, kwargs.get("body")))
        return send(method, url, *args, **kwargs)

    transport.perform_request = perform_request
    passage_of = {name: [int(h.passage_id) for h in _passages(svc, doc_id)] for name, doc_id in ids.items()}
    yield Env(
        svc,
        recorded,
        passage_of["open-statement.txt"][0],
        {p for name, ps in passage_of.items() if name.startswith("secret") for p in ps},
    )
    svc.close()


def _passages(svc: ArchiveService, document_id: int) -> list[Any]:
    return svc.backend.keyword_search(
        None, Filters(allowed_collections=None, document_ids=(document_id,)), limit=100
    ).hits


def _collection_filter(body: dict[str, Any]) -> list[str]:
    """The collections a request body restricts its query to, wherever the filter sits."""
    assert "post_filter" not in body, body
    query = body["query"]
    if "knn" in query:
        (knn,) = query["knn"].values()
        clauses = knn["filter"]["bool"]["filter"]
    else:
        clauses = query["bool"]["filter"]
    (terms,) = [c["terms"]["collection"] for c in clauses if "collection" in c.get("terms", {})]
    return list(terms)


def _kinds(bodies: list[dict[str, Any]]) -> set[str]:
    kinds = set()
    for b in bodies:
        if "knn" in b["query"]:
            kinds.add("knn")
        aggs = b.get("aggs") or {}
        # a bounded search's facets and document count sit inside its sampler, under the query
        aggs = {**aggs, **((aggs.get("sample") or {}).get("aggs") or {})}
        if "documents" in aggs:
            kinds.add("cardinality")
        if "collection" in aggs:
            kinds.add("facets")
        if "size" in b and b["size"] and "knn" not in b["query"]:
            kinds.add("keyword")
    return kinds


def _search(
    svc: ArchiveService, q: str, mode: str, who: Principal, group: str = "document"
) -> SearchResponse:
    return svc.search(SearchRequest(q=q, mode=mode, group=group, size=50), who)  # type: ignore[arg-type]


def _collections(res: SearchResponse) -> set[str]:
    return {h.collection for h in res.hits} | set(res.facets["collection"])


@pytest.mark.parametrize("mode", MODES)
def test_every_request_of_a_reader_carries_the_access_filter(env: Env, mode: str) -> None:
    svc, recorded = env.service, env.recorded
    kinds: set[str] = set()
    for q in QUERIES:
        for group in ("document", "passage"):
            admin = _search(svc, q, mode, LOCAL_ADMIN, group)
            assert "secret" in _collections(admin), (q, group, admin)  # the index holds secret matches
            recorded.clear()
            res = _search(svc, q, mode, READER, group)
            bodies = recorded.searches()
            assert bodies, "no request reached the node"
            for body in bodies:
                assert _collection_filter(body) == ["open", "press"], body
            kinds |= _kinds(bodies)
            assert res.hits, (q, mode, group)
            assert _collections(res) <= {"open", "press"}, res
            assert not {int(h.passage_id) for h in res.hits} & env.secret_passages
            assert res.total < admin.total or admin.total == 0
    want = {
        "keyword": {"keyword", "facets", "cardinality"},
        "semantic": {"knn"},
        "hybrid": {"keyword", "knn"},
    }
    assert want[mode] <= kinds, kinds


def test_similar_passages_of_a_reader_stay_in_readable_collections(env: Env) -> None:
    svc, recorded = env.service, env.recorded
    admin = svc.similar_passages(env.open_passage, LOCAL_ADMIN, SimilarOptions(exclude="document"))
    assert admin["method"] == "vector"
    assert int(admin["hits"][0].passage_id) in env.secret_passages  # the nearest passage is secret
    recorded.clear()
    res = svc.similar_passages(env.open_passage, READER, SimilarOptions(exclude="document"))
    assert res["method"] == "vector"
    assert res["hits"] and {h.collection for h in res["hits"]} <= {"open", "press"}
    bodies = recorded.searches()
    assert bodies and all("knn" in b["query"] for b in bodies if "size" in b)
    assert all(_collection_filter(b) == ["open", "press"] for b in bodies)


@pytest.mark.parametrize("mode", MODES)
def test_a_user_without_grants_gets_nothing_and_nothing_is_asked(env: Env, mode: str) -> None:
    svc, recorded = env.service, env.recorded
    for q in (*QUERIES, ""):
        recorded.clear()
        res = _search(svc, q, mode, NOBODY)
        assert res.total == 0 and res.hits == [], res
        assert all(v == {} for v in res.facets.values()), res.facets
        assert recorded.searches() == []
    for passage_id in (env.open_passage, *env.secret_passages):
        with pytest.raises(NotFoundError):
            svc.similar_passages(passage_id, NOBODY)
    # the backend itself: an empty access set is answered without asking the node
    recorded.clear()
    nothing = Filters(allowed_collections=frozenset())
    node = TermNode(svc.analyzer.query_terms("колону"))
    assert svc.backend.keyword_search(node, nothing, limit=10, facets=True).total == 0
    assert (
        svc.backend.vector_search(HashEmbedder().embed_query("колону").tolist(), nothing, limit=10).hits == []
    )
    assert svc.backend.count_documents(node, nothing) == 0
    assert all(v == {} for v in svc.backend.facet_counts(node, nothing).values())
    assert recorded.searches() == []
