"""The exact requests the OpenSearch backend sends, and what a live node makes of them.

Request bodies are built by pure functions of ``index.opensearch`` and compared
with the shapes of the OpenSearch documentation (create index, ``_bulk``, query DSL, ``knn`` with
``filter``, ``_aliases``). The backend class is driven through a real ``opensearchpy.OpenSearch``
client whose transport records each request (serialised as it would go on the wire) and answers
with canned responses of the documented shapes; nothing here decides what the backend does. These
tests need no cluster.

The last tests run on the session's live OpenSearch node (``live_opensearch`` in
``tests/conftest.py``: ``ARCHIVE_OPENSEARCH_URL`` or a node the session starts; never skipped): the
index analyser's tokens through ``_analyze``, and matches, rankings and scores of every query shape
compared with the embedded backend. The behaviour of the whole backend on a live node is the
contract suite's (``tests/contract``); the service on OpenSearch + PostgreSQL runs the end-to-end
tests marked ``all_stacks`` and ``tests/index/test_opensearch_access.py``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

pytest.importorskip("opensearchpy")

from opensearchpy import Transport
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, NotFoundError, TransportError

from archive_search.errors import BackendError
from archive_search.types import AnalyzedToken, IndexPassage
from index import opensearch as osb
from index.analysis import ANALYZER_VERSION, Analyzer
from index.backend import (
    BoolNode,
    Filters,
    PhraseNode,
    RankStats,
    SearchBackend,
    TermNode,
)


class PlainAnalyzer(Analyzer):
    """One folded term per word, positions in order (like the contract suite's pinned analyser)."""

    def tokens(self, text: str) -> list[AnalyzedToken]:
        return [
            AnalyzedToken(self.terms_for(m.group(0)), pos, m.start(), m.end())
            for pos, m in enumerate(re.finditer(r"[^\W_]+(?:['’ʼ`][^\W_]+)*", text))
        ]

    def terms_for(self, word: str) -> tuple[str, ...]:
        return (word.casefold().replace("ё", "е"),)

    def query_terms(self, word: str) -> tuple[str, ...]:
        return self.terms_for(word)


ALL = Filters(allowed_collections=None)
ALIAS = "t-passages"


# -- a recording transport -----------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any]
    body: str | None
    ignore: tuple[int, ...]

    @property
    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)

    @property
    def ndjson(self) -> list[Any]:
        assert self.body is not None and self.body.endswith("\n")
        return [json.loads(line) for line in self.body.splitlines()]


Responder = Callable[[Call], Any]


@dataclass
class Server:
    """Canned answers by (method, path regex); records every call. The first match answers."""

    routes: list[tuple[str, str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def on(self, method: str, pattern: str, answer: Any) -> Server:
        self.routes.insert(0, (method, pattern, answer))
        return self

    def __call__(self, call: Call) -> Any:
        self.calls.append(call)
        for method, pattern, answer in self.routes:
            if method == call.method and re.fullmatch(pattern, call.path):
                if isinstance(answer, BaseException):
                    raise answer
                return answer(call) if callable(answer) else answer
        raise AssertionError(f"unexpected request {call.method} {call.path}")

    def find(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.fullmatch(pattern, c.path)]


class RecordingTransport(Transport):
    """The client's transport with the network replaced by ``responder`` (bodies serialised by the
    client's own serializer, exactly what would be sent)."""

    def __init__(self, hosts: Any, *, responder: Responder, **kwargs: Any) -> None:
        super().__init__(hosts, **kwargs)
        self.responder = responder

    def perform_request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: Any = None,
        body: Any = None,
        timeout: Any = None,
        ignore: Any = (),
        headers: Any = None,
    ) -> Any:
        text = None if body is None else self.serializer.dumps(body)
        return self.responder(Call(method, url, dict(params or {}), text, tuple(ignore)))


def existing_index_server(dim: int | None = 4) -> Server:
    """A cluster where ``t-passages-1`` exists behind the alias, built by this schema."""
    props = osb.mappings(dim)
    return (
        Server()
        .on("GET", f"/_alias/{ALIAS}", {f"{ALIAS}-1": {"aliases": {ALIAS: {}}}})
        .on("GET", f"/{ALIAS}/_mapping", {f"{ALIAS}-1": {"mappings": props}})
        .on("GET", r"/_cat/indices/.*", [{"index": f"{ALIAS}-1"}])
    )


def make_backend(server: Server, analyzer: Analyzer | None = None, **kw: Any) -> osb.OpenSearchBackend:
    return osb.OpenSearchBackend(
        "http://localhost:9200",
        analyzer or PlainAnalyzer(),
        index=ALIAS,
        transport_class=RecordingTransport,
        responder=server,
        **kw,
    )


def passage(pid: int, text: str, **kw: Any) -> IndexPassage:
    base: dict[str, Any] = {
        "document_id": pid * 10,
        "collection": "a",
        "lang": "en",
        "doc_type": "text",
        "seq": 0,
    }
    base.update(kw)
    return IndexPassage(passage_id=pid, text=text, **base)


def search_response(hits: list[tuple[int, int, float]], total: int, aggs: Any = None) -> dict[str, Any]:
    """The documented ``_search`` response shape."""
    out: dict[str, Any] = {
        "took": 1,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": total, "relation": "eq"},
            "max_score": hits[0][2] if hits else None,
            "hits": [
                {
                    "_index": f"{ALIAS}-1",
                    "_id": str(pid),
                    "_score": score,
                    "_source": {"passage_id": pid, "document_id": doc},
                    "sort": [score, pid],
                }
                for pid, doc, score in hits
            ],
        },
    }
    if aggs is not None:
        out["aggregations"] = aggs
    return out


# -- index settings and mappings -----------------------------------------------------------------


def test_index_body_settings_and_mappings() -> None:
    body = osb.index_body(384, shards=1, replicas=1, alias="archive-passages")
    idx = body["settings"]["index"]
    assert idx["number_of_shards"] == 1
    assert idx["auto_expand_replicas"] == "0-1"
    assert idx["knn"] is True
    assert idx["translog"] == {"durability": "request"}
    assert idx["refresh_interval"] == "1s" and idx["max_result_window"] == 100_000
    # BM25 without the index's own document frequencies: the query brings the readable set's idf
    sim = idx["similarity"]["archive_bm25"]
    assert sim["type"] == "scripted" and sim["discount_overlaps"] is False
    bm25 = "query.boost * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * doc.length / avgdl))"
    assert bm25 in sim["script"]["source"]
    assert "term.docFreq" not in sim["script"]["source"]
    analysis = body["settings"]["analysis"]
    assert analysis["tokenizer"]["archive_whitespace"] == {"type": "whitespace", "max_token_length": 4096}
    assert analysis["filter"]["archive_alternatives"] == {
        "type": "pattern_capture",
        "preserve_original": False,
        "patterns": ["([^|]+)"],
    }
    assert analysis["filter"]["archive_gaps"] == {"type": "stop", "stopwords": ["|"], "ignore_case": False}
    assert analysis["analyzer"]["archive_terms"] == {
        "type": "custom",
        "tokenizer": "archive_whitespace",
        "filter": ["archive_alternatives", "archive_gaps"],
    }
    assert analysis["analyzer"]["archive_query"]["filter"] == []
    m = body["mappings"]
    assert m["dynamic"] == "strict"
    assert m["_meta"] == {
        "archive_search_schema": osb.SCHEMA_VERSION,
        "archive_search_analyzer": ANALYZER_VERSION,
    }
    assert m["_source"] == {"excludes": ["body", "vector"]}
    props = m["properties"]
    assert {k: v["type"] for k, v in props.items()} == {
        "passage_id": "long",
        "document_id": "long",
        "collection": "keyword",
        "lang": "keyword",
        "doc_type": "keyword",
        "tags": "keyword",
        "day": "integer",
        "year": "integer",
        "added": "long",
        "speaker": "keyword",
        "person": "keyword",
        "place": "keyword",
        "org": "keyword",
        "meta": "keyword",
        "body": "text",
        "terms": "keyword",
        "vector": "knn_vector",
    }
    # the snippets' stored terms: in _source only, neither searchable nor in doc values
    assert props["terms"] == {"type": "keyword", "index": False, "doc_values": False}
    assert props["body"] == {
        "type": "text",
        "analyzer": "archive_terms",
        "search_analyzer": "archive_query",
        "similarity": "archive_bm25",
        "index_options": "positions",
        "norms": True,
    }
    assert props["vector"] == {
        "type": "knn_vector",
        "dimension": 384,
        "method": {
            "name": "hnsw",
            "engine": "lucene",
            "space_type": "cosinesimil",
            "parameters": {"m": 16, "ef_construction": 200},
        },
    }
    assert body["aliases"] == {"archive-passages": {}}
    # the body is plain JSON (what PUT /{index} sends)
    assert json.loads(json.dumps(body)) == body


def test_index_body_without_dimension_or_replicas() -> None:
    body = osb.index_body(None, shards=3, replicas=0)
    assert "vector" not in body["mappings"]["properties"]
    assert body["settings"]["index"]["number_of_replicas"] == 0
    assert "auto_expand_replicas" not in body["settings"]["index"]
    assert body["settings"]["index"]["number_of_shards"] == 3
    assert "aliases" not in body


# -- the token encoding --------------------------------------------------------------------------


def decode_like_archive_terms(encoded: str) -> list[tuple[int, str]]:
    """(position, term) as the ``archive_terms`` chain yields them, following the Lucene classes'
    documented behaviour: WhitespaceTokenizer (position increment 1 per token),
    PatternCaptureGroupTokenFilter without preserve_original (the first capture replaces the token,
    further captures get position increment 0; no match keeps the token), StopFilter (a removed
    token's increment is added to the next token's)."""
    out: list[tuple[int, str]] = []
    pos = -1
    pending = 0
    for token in encoded.split():
        parts = re.findall(r"[^|]+", token) or [token]
        pending += 1
        if parts == ["|"] or token == "|":
            continue  # stopped: leaves its increment to the next token
        pos += pending
        pending = 0
        out.extend((pos, p) for p in parts)
    return out


def flat(tokens: list[AnalyzedToken]) -> list[tuple[int, str]]:
    return [(t.position, term) for t in tokens for term in t.terms]


def test_encoding_keeps_terms_and_positions_of_the_project_analyzer() -> None:
    an = Analyzer()
    text = "Кадыров и Kadyrov: стали на площади Ёлка, архіў Міністэрства м’ясо 1991 года"
    tokens = an.tokens(text)
    assert any(len(t.terms) > 1 for t in tokens)  # several terms at one position exist here
    encoded = osb.encode_tokens(tokens)
    assert len(encoded.split()) == len(tokens)  # one whitespace word per position
    assert decode_like_archive_terms(encoded) == flat(tokens)
    # canonical term first at each position: phrases use it
    first = [w.split("|")[0] for w in encoded.split()]
    assert first == [t.terms[0] for t in tokens]


def test_encoding_of_alternatives_gaps_and_merged_positions() -> None:
    tokens = [
        AnalyzedToken(("городской", "gorodskoj"), 0, 0, 9),
        AnalyzedToken(("архив", "arhiv"), 1, 10, 15),
        AnalyzedToken(("фонд",), 4, 20, 24),  # positions 2 and 3 hold nothing
        AnalyzedToken(("fond", "фонд"), 4, 20, 24),  # a second token at the same position merges
    ]
    encoded = osb.encode_tokens(tokens)
    assert encoded == "городской|gorodskoj архив|arhiv | | фонд|fond"
    assert decode_like_archive_terms(encoded) == [
        (0, "городской"),
        (0, "gorodskoj"),
        (1, "архив"),
        (1, "arhiv"),
        (4, "фонд"),
        (4, "fond"),
    ]


def test_clean_term_is_applied_alike_at_index_and_query_time() -> None:
    assert osb.clean_term("a|b c\u00a0d") == "a_b_c_d"
    long = "x" * 1000
    assert osb.clean_term(long) == "x" * osb.MAX_TERM_CHARS
    tokens = [AnalyzedToken(("a|b", long), 0, 0, 1)]
    assert osb.encode_tokens(tokens) == "a_b|" + "x" * osb.MAX_TERM_CHARS
    q = osb.compile_query(TermNode(("a|b",)))
    assert q == {"term": {"body": {"value": "a_b"}}}


def test_document_fields() -> None:
    p = passage(
        7,
        "Ёлка у архива",
        document_id=15,
        collection="c",
        lang="ru",
        doc_type="scan",
        tags=["photo", "winter", "photo"],
        doc_date=date(1991, 3, 15),
        vector=[0.5, -0.5, 0.0, 1.0],
        speaker="Иванов И.",
        added_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    doc = osb.to_document(p, PlainAnalyzer())
    assert doc == {
        "passage_id": 7,
        "document_id": 15,
        "collection": "c",
        "lang": "ru",
        "doc_type": "scan",
        "tags": ["photo", "winter"],
        "day": (date(1991, 3, 15) - date(1970, 1, 1)).days,
        "year": 1991,
        "added": int(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()) * 1000,  # milliseconds
        "speaker": "иванов и.",
        "body": "елка у архива",
        "vector": [0.5, -0.5, 0.0, 1.0],
    }
    undated = osb.to_document(passage(8, "x"), PlainAnalyzer())
    assert undated["day"] == -(10**9) and undated["year"] == -(10**9) and undated["added"] == 0
    assert "vector" not in undated and "speaker" not in undated
    # a naive timestamp is UTC (as in the embedded backend)
    naive = osb.to_document(passage(9, "x", added_at=datetime(1970, 1, 1, 0, 1)), PlainAnalyzer())
    assert naive["added"] == 60_000  # milliseconds


# -- query DSL -----------------------------------------------------------------------------------


def test_term_node_single_and_alternatives() -> None:
    assert osb.compile_query(TermNode(("архив",))) == {"term": {"body": {"value": "архив"}}}
    assert osb.compile_query(TermNode(("colour", "color"))) == {
        "dis_max": {
            "queries": [
                {"term": {"body": {"value": "colour"}}},
                {"term": {"body": {"value": "color"}}},
            ],
            "tie_breaker": 0.1,
        }
    }
    assert osb.compile_query(TermNode(())) == {"match_none": {}}


def test_term_node_prefix_on_first_term_only() -> None:
    assert osb.compile_query(TermNode(("arh",), prefix=True)) == {
        "prefix": {"body": {"value": "arh", "rewrite": "constant_score"}}
    }
    q = osb.compile_query(TermNode(("арх", "~arh"), prefix=True))
    assert q["dis_max"]["queries"] == [
        {"prefix": {"body": {"value": "арх", "rewrite": "constant_score"}}},
        {"term": {"body": {"value": "~arh"}}},
    ]


def test_term_node_fuzzy() -> None:
    q = osb.compile_query(TermNode(("protocol", "protokol"), fuzzy=1))
    assert q == {
        "dis_max": {
            "queries": [
                {"term": {"body": {"value": "protocol"}}},
                {
                    "fuzzy": {
                        "body": {
                            "value": "protocol",
                            "fuzziness": 1,
                            "prefix_length": 0,
                            "transpositions": True,
                            "rewrite": "constant_score",
                            "boost": 0.3,
                        }
                    }
                },
                {"term": {"body": {"value": "protokol"}}},
            ],
            "tie_breaker": 0.1,
        }
    }
    # Lucene allows at most 2 edits
    q3 = osb.compile_query(TermNode(("protocol",), fuzzy=3))
    assert q3["dis_max"]["queries"][1]["fuzzy"]["body"]["fuzziness"] == 2
    # short words are not fuzzy (as in the embedded backend)
    assert osb.compile_query(TermNode(("дом",), fuzzy=1)) == {"term": {"body": {"value": "дом"}}}


def test_phrase_node_uses_canonical_terms_with_slop() -> None:
    node = PhraseNode((("gorodskoj", "городской"), ("arhiv", "архив")), slop=2)
    assert osb.compile_query(node) == {
        "match_phrase": {"body": {"query": "gorodskoj arhiv", "slop": 2, "analyzer": "archive_query"}}
    }
    assert osb.compile_query(PhraseNode((("один",),))) == {"term": {"body": {"value": "один"}}}
    assert osb.compile_query(PhraseNode(())) == {"match_none": {}}


def test_bool_node_semantics() -> None:
    a, b, c = TermNode(("apple",)), TermNode(("banana",)), TermNode(("cherry",))
    ta, tb, tc = (osb.compile_query(x) for x in (a, b, c))
    # only should clauses: one must match
    assert osb.compile_query(BoolNode(should=(a, b))) == {
        "bool": {"should": [ta, tb], "minimum_should_match": 1}
    }
    # with must clauses the should clauses only score
    assert osb.compile_query(BoolNode(must=(a,), should=(c,))) == {"bool": {"must": [ta], "should": [tc]}}
    assert osb.compile_query(BoolNode(must=(a, b), must_not=(c,))) == {
        "bool": {"must": [ta, tb], "must_not": [tc]}
    }
    # pure negation: everything but (match_all scores 1.0 like tantivy's all_query)
    assert osb.compile_query(BoolNode(must_not=(c,))) == {
        "bool": {"must": [{"match_all": {}}], "must_not": [tc]}
    }
    assert osb.compile_query(BoolNode(should=(a,), must_not=(c,))) == {
        "bool": {"should": [ta], "minimum_should_match": 1, "must_not": [tc]}
    }
    # nested
    nested = BoolNode(must=(BoolNode(should=(b, c)),), must_not=(a,))
    assert osb.compile_query(nested) == {
        "bool": {"must": [{"bool": {"should": [tb, tc], "minimum_should_match": 1}}], "must_not": [ta]}
    }
    assert osb.compile_query(BoolNode()) == {"match_none": {}}


def test_filter_clauses() -> None:
    f = Filters(
        allowed_collections=frozenset({"a", "c"}),
        collections=("a", "b"),
        langs=("ru", "en"),
        types=("scan",),
        tags=("minutes", "council"),
        date_from=date(1991, 1, 1),
        date_to=date(1995, 1, 1),
    )
    assert osb.filter_clauses(f) == [
        {"terms": {"collection": ["a"]}},
        {"terms": {"lang": ["en", "ru"]}},
        {"terms": {"doc_type": ["scan"]}},
        {"terms": {"tags": ["council", "minutes"]}},
        {"range": {"day": {"gte": 7670, "lte": 9131}}},
    ]
    # open-ended date ranges exclude undated passages (day = -1e9), as the embedded backend does
    assert osb.filter_clauses(Filters(allowed_collections=None, date_to=date(1970, 1, 2))) == [
        {"range": {"day": {"gte": -(10**9) + 1, "lte": 1}}}
    ]
    assert osb.filter_clauses(Filters(allowed_collections=None, date_from=date(1970, 1, 1))) == [
        {"range": {"day": {"gte": 0, "lte": 10**9}}}
    ]
    assert osb.filter_clauses(ALL) == []
    assert osb.filter_clauses(Filters(allowed_collections=frozenset({"b", "a"}))) == [
        {"terms": {"collection": ["a", "b"]}}
    ]
    # the access filter allows nothing: no query at all
    assert osb.filter_clauses(Filters()) is None
    assert osb.filter_clauses(Filters(allowed_collections=frozenset({"a"}), collections=("b",))) is None


def test_search_body_with_filters_pagination_and_facets() -> None:
    f = Filters(allowed_collections=frozenset({"a"}), langs=("ru",))
    body = osb.search_body(TermNode(("архив",)), f, limit=10, offset=20, facets=True)
    assert body == {
        "query": {
            "bool": {
                "must": [{"term": {"body": {"value": "архив"}}}],
                "filter": [{"terms": {"collection": ["a"]}}, {"terms": {"lang": ["ru"]}}],
            }
        },
        "from": 20,
        "size": 10,
        "track_total_hits": True,
        "track_scores": True,
        "sort": [{"_score": {"order": "desc"}}, {"passage_id": {"order": "asc"}}],
        "_source": ["passage_id", "document_id", "terms"],
        "aggs": {
            "lang": {"terms": {"field": "lang", "size": 200}},
            "collection": {"terms": {"field": "collection", "size": 200}},
            "type": {"terms": {"field": "doc_type", "size": 200}},
            "tag": {"terms": {"field": "tags", "size": 200}},
            "person": {"terms": {"field": "person", "size": 200}},
            "place": {"terms": {"field": "place", "size": 200}},
            "organisation": {"terms": {"field": "org", "size": 200}},
            "meta": {"terms": {"field": "meta", "size": 1000}},
            "date": {"terms": {"field": "year", "size": 500}},
        },
    }
    unfiltered = osb.search_body(None, ALL, limit=0)
    assert unfiltered is not None
    assert unfiltered["query"] == {"match_all": {}}
    assert unfiltered["size"] == 0 and "aggs" not in unfiltered
    assert osb.search_body(TermNode(("x",)), Filters(), limit=10) is None


def test_knn_body_filter_inside_the_knn_query() -> None:
    f = Filters(allowed_collections=frozenset({"small"}), tags=("x",))
    body = osb.knn_body([0.1, 0.2, 0.3], f, limit=5)
    assert body == {
        "size": 5,
        "_source": ["passage_id", "document_id"],
        "query": {
            "knn": {
                "vector": {
                    "vector": [0.1, 0.2, 0.3],
                    "k": 128,
                    "filter": {
                        "bool": {"filter": [{"terms": {"collection": ["small"]}}, {"terms": {"tags": ["x"]}}]}
                    },
                }
            }
        },
    }
    assert "post_filter" not in body
    unfiltered = osb.knn_body([1.0], ALL, limit=20_000)
    assert unfiltered is not None
    assert unfiltered["size"] == 10_000 and unfiltered["query"]["knn"]["vector"]["k"] == 10_000
    assert "filter" not in unfiltered["query"]["knn"]["vector"]
    assert osb.knn_body([1.0], Filters(), limit=5) is None


def test_alias_swap_is_one_atomic_request() -> None:
    assert osb.alias_swap_actions("archive-passages", ["archive-passages-3"], "archive-passages-4") == {
        "actions": [
            {"remove": {"index": "archive-passages-3", "alias": "archive-passages"}},
            {"add": {"index": "archive-passages-4", "alias": "archive-passages"}},
        ]
    }


def test_cosine_from_lucene_score() -> None:
    assert osb.cosine_from_score(1.0) == 1.0
    assert osb.cosine_from_score(0.5) == 0.0
    assert osb.cosine_from_score(0.0) == -1.0


# -- the backend's requests through the client ---------------------------------------------------


def test_backend_implements_the_protocol() -> None:
    b = make_backend(Server())
    assert isinstance(b, SearchBackend)
    assert b.name == "opensearch"
    assert b.alias == ALIAS
    assert osb.OpenSearchBackend("http://x:9200", PlainAnalyzer(), index_prefix="arc").alias == "arc-passages"
    with pytest.raises(BackendError, match="invalid OpenSearch index name"):
        osb.OpenSearchBackend("http://x:9200", PlainAnalyzer(), index="Archive/x")


def test_first_use_creates_the_index_behind_the_alias() -> None:
    server = (
        Server()
        .on("GET", f"/_alias/{ALIAS}", {"error": f"alias [{ALIAS}] missing", "status": 404})
        .on("GET", r"/_cat/indices/.*", [])
        .on("PUT", f"/{ALIAS}-1", {"acknowledged": True, "shards_acknowledged": True, "index": f"{ALIAS}-1"})
        .on("GET", f"/{ALIAS}/_mapping", {f"{ALIAS}-1": {"mappings": osb.mappings(16)}})
        .on("POST", f"/{ALIAS}/_count", {"count": 0})
    )
    b = make_backend(server, dim=16)
    assert b.count(ALL) == 0
    assert [(c.method, c.path) for c in server.calls] == [
        ("GET", f"/_alias/{ALIAS}"),
        ("GET", f"/_cat/indices/{ALIAS}-*"),
        ("PUT", f"/{ALIAS}-1"),
        ("GET", f"/{ALIAS}/_mapping"),
        ("POST", f"/{ALIAS}/_count"),
    ]
    assert server.calls[0].ignore == (404,)
    assert server.calls[1].params == {"format": "json", "h": "index"}
    assert server.calls[2].json == osb.index_body(16, shards=1, replicas=1, alias=ALIAS)
    assert server.calls[4].json == {"query": {"match_all": {}}}
    b.count(ALL)  # the index is created once
    assert len(server.find("PUT", ".*")) == 1


def test_an_index_of_another_schema_version_is_refused() -> None:
    old = osb.mappings(None)
    old["_meta"] = {"archive_search_schema": 0}
    server = existing_index_server().on("GET", f"/{ALIAS}/_mapping", {f"{ALIAS}-1": {"mappings": old}})
    with pytest.raises(BackendError, match="run `archive reindex`"):
        make_backend(server).count(ALL)


def test_write_sends_one_bulk_that_refreshes() -> None:
    server = existing_index_server(dim=4).on("POST", "/_bulk", {"took": 3, "errors": False, "items": []})
    b = make_backend(server)
    ps = [
        passage(1, "Архив думы", collection="a", lang="ru", tags=["council"], vector=[1.0, 0.0, 0.0, 0.0]),
        passage(2, "no vector", collection="b", doc_date=date(1970, 1, 11)),
    ]
    b.write(ps)
    (bulk,) = server.find("POST", "/_bulk")
    assert bulk.params == {"refresh": "true", "timeout": osb.BULK_SHARD_TIMEOUT}
    assert bulk.ndjson == [
        {"index": {"_index": ALIAS, "_id": "1"}},
        {
            "passage_id": 1,
            "document_id": 10,
            "collection": "a",
            "lang": "ru",
            "doc_type": "text",
            "tags": ["council"],
            "day": -(10**9),
            "year": -(10**9),
            "added": 0,
            "body": "архив думы",
            "vector": [1.0, 0.0, 0.0, 0.0],
        },
        {"index": {"_index": ALIAS, "_id": "2"}},
        {
            "passage_id": 2,
            "document_id": 20,
            "collection": "b",
            "lang": "en",
            "doc_type": "text",
            "tags": [],
            "day": 10,
            "year": 1970,
            "added": 0,
            "body": "no vector",
        },
    ]
    assert not server.find("PUT", r".*/_mapping")  # the vector field exists already
    b.write([])
    assert len(server.find("POST", "/_bulk")) == 1


def test_first_vector_adds_the_vector_field() -> None:
    server = existing_index_server(dim=None).on("POST", "/_bulk", {"took": 1, "errors": False, "items": []})
    server.on("PUT", f"/{ALIAS}/_mapping", {"acknowledged": True})
    b = make_backend(server)
    b.write([passage(1, "x", vector=[0.0, 1.0, 0.0])])
    (put,) = server.find("PUT", f"/{ALIAS}/_mapping")
    assert put.json == {"properties": {"vector": osb.vector_mapping(3)}}
    assert server.calls.index(put) < server.calls.index(server.find("POST", "/_bulk")[0])


def test_bulk_item_failures_raise_after_the_others_are_written() -> None:
    response = {
        "took": 2,
        "errors": True,
        "items": [
            {"index": {"_index": f"{ALIAS}-1", "_id": "1", "status": 201, "result": "created"}},
            {
                "index": {
                    "_index": f"{ALIAS}-1",
                    "_id": "2",
                    "status": 400,
                    "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [day]"},
                }
            },
            {"index": {"_index": f"{ALIAS}-1", "_id": "4", "status": 200, "result": "updated"}},
        ],
    }
    server = existing_index_server(dim=2).on("POST", "/_bulk", response)
    b = make_backend(server)
    ps = [
        passage(1, "one", vector=[1.0, 0.0]),
        passage(2, "two", vector=[0.0, 1.0]),
        passage(3, "three", vector=[1.0, 0.0, 0.0]),  # wrong dimension: rejected before sending
        passage(4, "four"),
        passage(5, "five", vector=[0.0, 0.0]),  # zero vector: no cosine
    ]
    with pytest.raises(BackendError) as err:
        b.write(ps)
    msg = err.value.message
    assert "ids [2, 3, 5]" in msg and "the others were written" in msg
    assert "2: 400: failed to parse field [day]" in msg
    assert "3: vector dimension 3 does not match the index (2)" in msg
    (bulk,) = server.find("POST", "/_bulk")
    sent = [line["index"]["_id"] for line in bulk.ndjson if "index" in line]
    assert sent == ["1", "2", "4"]


def test_bulk_failures_parser() -> None:
    assert osb.bulk_failures({"errors": False, "items": [{"index": {"_id": "1", "status": 201}}]}) == {}
    got = osb.bulk_failures(
        {
            "errors": True,
            "items": [
                {"index": {"_id": "9", "status": 429, "error": {"type": "es_rejected_execution_exception"}}},
                {"index": {"_id": "10", "status": 201}},
            ],
        }
    )
    assert got == {9: "429: es_rejected_execution_exception"}


def test_bulk_chunks_split_by_count_and_size() -> None:
    docs = [{"passage_id": i, "body": "x" * 100} for i in range(10)]
    assert [len(c) for c in osb.bulk_chunks(docs, max_docs=4)] == [4, 4, 2]
    assert [len(c) for c in osb.bulk_chunks(docs, max_bytes=400)] == [2, 2, 2, 2, 2]
    assert [d["passage_id"] for c in osb.bulk_chunks(docs, max_docs=3) for d in c] == list(range(10))


def test_delete_documents_by_query() -> None:
    server = existing_index_server().on(
        "POST", f"/{ALIAS}/_delete_by_query", {"deleted": 2, "version_conflicts": 0, "failures": []}
    )
    b = make_backend(server)
    b.delete_documents([10, 999, 10])
    (call,) = server.find("POST", f"/{ALIAS}/_delete_by_query")
    assert call.params == {"refresh": "true", "conflicts": "proceed"}
    assert call.json == {"query": {"terms": {"document_id": [10, 999]}}}
    b.delete_documents([])
    assert len(server.find("POST", r".*_delete_by_query")) == 1


def test_delete_failures_raise() -> None:
    server = existing_index_server().on(
        "POST", f"/{ALIAS}/_delete_by_query", {"deleted": 0, "failures": [{"cause": {"type": "x"}}]}
    )
    with pytest.raises(BackendError, match="delete failed"):
        make_backend(server).delete_documents([1])


def test_keyword_search_request_and_result() -> None:
    aggs = {
        "lang": {"buckets": [{"key": "ru", "doc_count": 2}]},
        "collection": {"buckets": [{"key": "a", "doc_count": 2}]},
        "type": {"buckets": [{"key": "pdf", "doc_count": 2}]},
        "tag": {"buckets": [{"key": "council", "doc_count": 2}, {"key": "minutes", "doc_count": 1}]},
        "date": {"buckets": [{"key": 1991, "doc_count": 1}, {"key": -(10**9), "doc_count": 1}]},
    }
    server = existing_index_server().on(
        "POST", f"/{ALIAS}/_search", search_response([(2, 10, 3.5), (1, 10, 2.25)], 2, aggs)
    )
    b = make_backend(server)
    f = Filters(allowed_collections=frozenset({"a"}))
    res = b.keyword_search(TermNode(("архив",)), f, limit=5, offset=0, facets=True)
    assert [(h.passage_id, h.document_id, h.score) for h in res.hits] == [(2, 10, 3.5), (1, 10, 2.25)]
    assert res.total == 2
    assert res.facets == {
        "lang": {"ru": 2},
        "collection": {"a": 2},
        "type": {"pdf": 2},
        "tag": {"council": 2, "minutes": 1},
        "date": {"1991": 1},  # undated passages are not a year
        "person": {},
        "place": {},
        "organisation": {},
        "meta": {},
    }
    # first the ranking statistics over the readable set, then the search that carries them
    stats_call, call = server.find("POST", f"/{ALIAS}/_search")
    assert stats_call.json == osb.stats_body(TermNode(("архив",)), f)
    assert stats_call.json["query"] == {"bool": {"filter": [{"terms": {"collection": ["a"]}}]}}
    stats = RankStats(num_docs=2, doc_freq={"архив": 0})  # the mock's answer: 2 hits, no "df" buckets
    assert call.json == osb.search_body(TermNode(("архив",)), f, limit=5, offset=0, facets=True, stats=stats)
    assert call.json["query"]["bool"]["must"][0]["term"]["body"]["boost"] == round(stats.idf("архив"), 6)
    assert call.params == {"allow_partial_search_results": "false"}


def test_several_shards_use_dfs_for_index_wide_statistics() -> None:
    server = existing_index_server().on("POST", f"/{ALIAS}/_search", search_response([], 0))
    b = make_backend(server, shards=3)
    b.keyword_search(TermNode(("x",)), ALL, limit=5)
    b.vector_search([1.0, 0.0, 0.0, 0.0], ALL, limit=5)
    _stats, kw, vec = server.find("POST", f"/{ALIAS}/_search")
    assert kw.params["search_type"] == "dfs_query_then_fetch"
    assert "search_type" not in vec.params


def test_empty_access_set_sends_nothing() -> None:
    server = Server()  # any request would fail the test
    b = make_backend(server)
    nothing = Filters(allowed_collections=frozenset())
    res = b.keyword_search(TermNode(("x",)), nothing, limit=10, facets=True)
    assert res.hits == [] and res.total == 0 and res.facets == osb.empty_facets()
    assert b.vector_search([1.0, 0.0], nothing, limit=10).hits == []
    assert b.facet_counts(None, nothing) == osb.empty_facets()
    assert b.count(nothing) == 0
    assert b.count(Filters(allowed_collections=frozenset({"a"}), collections=("b",))) == 0
    assert server.calls == []


def test_vector_search_request_and_cosine_scores() -> None:
    server = existing_index_server(dim=4).on(
        "POST", f"/{ALIAS}/_search", search_response([(3, 30, 1.0), (5, 50, 0.75)], 2)
    )
    b = make_backend(server)
    f = Filters(allowed_collections=frozenset({"a"}), date_from=date(1990, 1, 1))
    res = b.vector_search([0.0, 1.0, 0.0, 0.0], f, limit=2)
    assert [(h.passage_id, h.document_id, h.score) for h in res.hits] == [(3, 30, 1.0), (5, 50, 0.5)]
    assert res.total == 2
    (call,) = server.find("POST", f"/{ALIAS}/_search")
    assert call.json == osb.knn_body([0.0, 1.0, 0.0, 0.0], f, limit=2)
    knn = call.json["query"]["knn"]["vector"]
    assert knn["filter"] == {
        "bool": {
            "filter": [{"terms": {"collection": ["a"]}}, {"range": {"day": {"gte": 7305, "lte": 10**9}}}]
        }
    }
    with pytest.raises(BackendError, match="dimension 3"):
        b.vector_search([1.0, 0.0, 0.0], ALL, limit=2)


def test_vector_search_without_vector_field_is_empty() -> None:
    server = existing_index_server(dim=None)
    b = make_backend(server)
    assert b.vector_search([1.0, 0.0], ALL, limit=5).hits == []
    assert not server.find("POST", r".*_search")


def test_facet_counts_count_and_has_vectors_requests() -> None:
    server = (
        existing_index_server()
        .on("POST", f"/{ALIAS}/_search", search_response([], 3, {}))
        .on("POST", f"/{ALIAS}/_count", {"count": 3, "_shards": {"total": 1, "successful": 1, "failed": 0}})
    )
    b = make_backend(server)
    f = Filters(allowed_collections=None, types=("pdf",))
    assert b.facet_counts(BoolNode(must_not=(TermNode(("x",)),)), f) == osb.empty_facets()
    (facets,) = server.find("POST", f"/{ALIAS}/_search")
    assert facets.json == {
        "query": {
            "bool": {
                "must": [
                    {"bool": {"must": [{"match_all": {}}], "must_not": [osb.compile_query(TermNode(("x",)))]}}
                ],
                "filter": [{"terms": {"doc_type": ["pdf"]}}],
            }
        },
        "size": 0,
        "track_total_hits": False,
        "aggs": osb.facet_aggs(),
    }
    assert b.count(f) == 3
    assert b.has_vectors() is True
    count, has = server.find("POST", f"/{ALIAS}/_count")
    assert count.json == {
        "query": {"bool": {"must": [{"match_all": {}}], "filter": [{"terms": {"doc_type": ["pdf"]}}]}}
    }
    assert has.json == {"query": {"exists": {"field": "vector"}}}


def test_clear_builds_a_new_index_and_swaps_the_alias() -> None:
    server = (
        existing_index_server(dim=4)
        .on(
            "GET",
            r"/_cat/indices/.*",
            [{"index": f"{ALIAS}-1"}, {"index": f"{ALIAS}-7"}, {"index": f"{ALIAS}-x"}],
        )
        .on("GET", f"/_alias/{ALIAS}", {f"{ALIAS}-7": {"aliases": {ALIAS: {}}}})
        .on("PUT", f"/{ALIAS}-8", {"acknowledged": True})
        .on("POST", "/_aliases", {"acknowledged": True})
        .on("DELETE", f"/{ALIAS}-7", {"acknowledged": True})
    )
    b = make_backend(server, dim=4)
    b.clear()
    assert [(c.method, c.path) for c in server.calls] == [
        ("GET", f"/_alias/{ALIAS}"),
        ("GET", f"/_cat/indices/{ALIAS}-*"),
        ("PUT", f"/{ALIAS}-8"),
        ("POST", "/_aliases"),
        ("DELETE", f"/{ALIAS}-7"),
    ]
    assert server.calls[2].json == osb.index_body(4, shards=1, replicas=1)  # no alias yet
    assert server.calls[3].json == {
        "actions": [
            {"remove": {"index": f"{ALIAS}-7", "alias": ALIAS}},
            {"add": {"index": f"{ALIAS}-8", "alias": ALIAS}},
        ]
    }


def test_clear_without_dimension_leaves_the_vector_field_to_the_first_vector() -> None:
    server = (
        existing_index_server(dim=4)
        .on("PUT", f"/{ALIAS}-2", {"acknowledged": True})
        .on("POST", "/_aliases", {"acknowledged": True})
        .on("DELETE", f"/{ALIAS}-1", {"acknowledged": True})
    )
    b = make_backend(server)
    b.clear()
    (put,) = server.find("PUT", f"/{ALIAS}-2")
    assert "vector" not in put.json["mappings"]["properties"]


def test_drop_deletes_every_numbered_index() -> None:
    server = (
        Server()
        .on(
            "GET",
            r"/_cat/indices/.*",
            [{"index": f"{ALIAS}-2"}, {"index": f"{ALIAS}-10"}, {"index": f"{ALIAS}-x"}],
        )
        .on("DELETE", r"/.*", {"acknowledged": True})
    )
    make_backend(server).drop()
    assert [(c.method, c.path) for c in server.calls] == [
        ("GET", f"/_cat/indices/{ALIAS}-*"),
        ("DELETE", f"/{ALIAS}-10,{ALIAS}-2"),
    ]


def test_health_ok_degraded_and_red() -> None:
    health = {"cluster_name": "c", "status": "green", "number_of_nodes": 3, "unassigned_shards": 0}
    server = (
        existing_index_server()
        .on("GET", "/_cluster/health", health)
        .on("GET", f"/_cluster/health/{ALIAS}-1", health)
        .on("POST", f"/{ALIAS}/_count", {"count": 8})
    )
    h = make_backend(server).health()
    assert h["status"] == "ok" and h["cluster_health"] == "green" and h["nodes"] == 3
    assert h["backend"] == "opensearch" and h["index"] == f"{ALIAS}-1" and h["index_health"] == "green"
    assert h["passages"] == 8 and h["vectors"] == 8
    # a node down: replicas unassigned, everything still answers, but the state is reported
    yellow = {**health, "status": "yellow", "number_of_nodes": 2, "unassigned_shards": 1}
    server.on("GET", "/_cluster/health", yellow).on("GET", f"/_cluster/health/{ALIAS}-1", yellow)
    h = make_backend(server).health()
    assert str(h["status"]).startswith("degraded: ") and "yellow" in str(h["status"])
    assert h["cluster_health"] == "yellow" and h["passages"] == 8
    # another index of the cluster is yellow or red, this one green: reported, but not degraded
    server.on("GET", f"/_cluster/health/{ALIAS}-1", health)
    h = make_backend(server).health()
    assert h["status"] == "ok" and h["cluster_health"] == "yellow" and h["index_health"] == "green"
    server.on("GET", f"/_cluster/health/{ALIAS}-1", {**health, "status": "red"})
    h = make_backend(server).health()
    assert str(h["status"]).startswith("error: ") and "red" in str(h["status"])


# -- errors --------------------------------------------------------------------------------------


def test_transport_error_becomes_backend_error() -> None:
    info = {
        "error": {
            "root_cause": [{"type": "query_shard_exception", "reason": "failed to create query"}],
            "type": "search_phase_execution_exception",
            "reason": "all shards failed",
        },
        "status": 400,
    }
    server = existing_index_server().on(
        "POST", f"/{ALIAS}/_search", TransportError(400, "search_phase_execution_exception", info)
    )
    with pytest.raises(BackendError) as err:
        make_backend(server).keyword_search(TermNode(("x",)), ALL, limit=5)
    assert err.value.code == "backend_error" and err.value.status == 503
    assert "ranking statistics failed" in err.value.message  # the first request of a keyword search
    assert "HTTP 400 query_shard_exception: failed to create query" in err.value.message
    assert isinstance(err.value.__cause__, TransportError)


def test_not_found_and_connection_errors_become_backend_errors() -> None:
    server = existing_index_server().on(
        "POST",
        f"/{ALIAS}/_count",
        NotFoundError(404, "index_not_found_exception", {"error": "no such index"}),
    )
    with pytest.raises(BackendError, match="HTTP 404 no such index"):
        make_backend(server).count(ALL)
    down = Server().on(
        "GET", f"/_alias/{ALIAS}", OSConnectionError("N/A", "connection refused", OSError("refused"))
    )
    b = make_backend(down)
    with pytest.raises(BackendError, match="cannot reach OpenSearch"):
        b.write([passage(1, "x")])
    slow = Server().on(
        "GET", f"/_alias/{ALIAS}", ConnectionTimeout("TIMEOUT", "timed out", TimeoutError("30s"))
    )
    with pytest.raises(BackendError, match="did not answer in time"):
        make_backend(slow).count(ALL)
    down.on("GET", "/_cluster/health", OSConnectionError("N/A", "connection refused", OSError("refused")))
    h = b.health()  # health reports, never raises
    assert str(h["status"]).startswith("error: ") and "cannot reach OpenSearch" in str(h["status"])
    assert h["cluster_health"] == "unreachable"


def test_shard_failures_are_not_silent() -> None:
    resp = search_response([(1, 10, 1.0)], 1)
    resp["_shards"] = {"total": 2, "successful": 1, "failed": 1}
    server = existing_index_server().on("POST", f"/{ALIAS}/_search", resp)
    with pytest.raises(BackendError, match="1 of 2 shards"):
        make_backend(server).keyword_search(None, ALL, limit=5)


def test_close_closes_the_owned_client() -> None:
    b = make_backend(Server())
    b.close()
    b.close()  # twice is harmless


# -- filters and methods added with the speaker / "new since" / grouping work ----------------------


def test_speaker_added_and_document_filters() -> None:
    f = Filters(
        allowed_collections=None,
        speakers=("Иванов И.", "SMITH"),
        added_after=datetime(2024, 1, 1, tzinfo=UTC),
        document_ids=(12, 11, 12),
        exclude_document_ids=(13,),
    )
    after = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1000  # milliseconds
    assert osb.filter_clauses(f) == [
        {"terms": {"speaker": ["smith", "иванов и."]}},
        {"range": {"added": {"gte": after + 1, "lte": 2**62}}},
        {"terms": {"document_id": [11, 12]}},
    ]
    assert osb.exclude_clauses(f) == [{"terms": {"document_id": [13]}}]
    term = osb.compile_query(TermNode(("x",)))
    body = osb.search_body(TermNode(("x",)), f, limit=5)
    assert body is not None
    assert body["query"] == {
        "bool": {
            "must": [term],
            "filter": osb.filter_clauses(f),
            "must_not": [{"terms": {"document_id": [13]}}],
        }
    }
    # exclusion alone still filters, in the knn query too
    only_excl = Filters(allowed_collections=None, exclude_document_ids=(5,))
    assert osb.filtered_query(None, only_excl) == {
        "bool": {"must": [{"match_all": {}}], "must_not": [{"terms": {"document_id": [5]}}]}
    }
    knn = osb.knn_body([1.0, 0.0], only_excl, limit=3)
    assert knn is not None
    assert knn["query"]["knn"]["vector"]["filter"] == {
        "bool": {"must_not": [{"terms": {"document_id": [5]}}]}
    }


def test_count_documents_is_a_cardinality_aggregation() -> None:
    server = existing_index_server().on(
        "POST", f"/{ALIAS}/_search", {**search_response([], 5), "aggregations": {"documents": {"value": 3}}}
    )
    b = make_backend(server)
    f = Filters(allowed_collections=frozenset({"a"}))
    assert b.count_documents(TermNode(("архив",)), f) == 3
    (call,) = server.find("POST", f"/{ALIAS}/_search")
    assert call.json == {
        "query": osb.filtered_query(TermNode(("архив",)), f),
        "size": 0,
        "track_total_hits": False,
        "aggs": {"documents": {"cardinality": {"field": "document_id", "precision_threshold": 40_000}}},
    }
    assert b.count_documents(None, Filters()) == 0
    assert len(server.find("POST", f"/{ALIAS}/_search")) == 1


def test_date_facet_keys() -> None:
    res = {
        "aggregations": {
            "date": {"buckets": [{"key": 2001.0, "doc_count": 2}, {"key": 1990, "doc_count": 1}]}
        }
    }
    facets = osb.parse_facets(res)
    assert facets["date"] == {"1990": 1, "2001": 2}
    assert list(facets["date"]) == ["1990", "2001"]
    assert set(facets) == {"lang", "collection", "type", "tag", "date", "person", "place", "organisation"} | {
        "meta"
    }


def old_schema_server(version: int, analyzer: str | None = None) -> Server:
    old = osb.mappings(4)
    old["_meta"] = {"archive_search_schema": version}
    if analyzer is not None:
        old["_meta"]["archive_search_analyzer"] = analyzer
    return (
        existing_index_server()
        .on("GET", f"/{ALIAS}/_mapping", {f"{ALIAS}-1": {"mappings": old}})
        .on("PUT", f"/{ALIAS}-2", {"acknowledged": True})
        .on("POST", "/_aliases", {"acknowledged": True})
        .on("DELETE", f"/{ALIAS}-1", {"acknowledged": True})
        .on("POST", f"/{ALIAS}/_count", {"count": 0})
    )


def test_needs_rebuild_replaces_an_older_schema_index() -> None:
    server = old_schema_server(osb.SCHEMA_VERSION - 1)
    b = make_backend(server)
    assert b.needs_rebuild() is True
    assert [(c.method, c.path) for c in server.calls][-3:] == [
        ("PUT", f"/{ALIAS}-2"),
        ("POST", "/_aliases"),
        ("DELETE", f"/{ALIAS}-1"),
    ]
    assert b.needs_rebuild() is True  # until acknowledged
    b.rebuilt()
    assert b.needs_rebuild() is False
    assert b.count(ALL) == 0
    # without needs_rebuild() first, the old index is an error, never silently wiped
    other = old_schema_server(osb.SCHEMA_VERSION - 1)
    with pytest.raises(BackendError, match="run `archive reindex`"):
        make_backend(other).count(ALL)
    assert not other.find("DELETE", ".*")


def test_an_index_analysed_by_another_analyser_version_is_rebuilt() -> None:
    """The stored terms are the analyser's output: after an analyser change (new lemmas or
    transliteration keys) the index is as stale as one of an older schema."""
    server = old_schema_server(osb.SCHEMA_VERSION, analyzer=f"{ANALYZER_VERSION}-old")
    b = make_backend(server)
    assert b.needs_rebuild() is True
    assert ("PUT", f"/{ALIAS}-2") in [(c.method, c.path) for c in server.calls]
    current = old_schema_server(osb.SCHEMA_VERSION, analyzer=ANALYZER_VERSION)
    assert make_backend(current).needs_rebuild() is False


def test_an_index_of_a_newer_schema_is_left_alone() -> None:
    server = old_schema_server(osb.SCHEMA_VERSION + 1)
    b = make_backend(server)
    assert b.needs_rebuild() is False
    with pytest.raises(BackendError, match="newer version"):
        b.count(ALL)
    assert not server.find("DELETE", ".*") and not server.find("PUT", ".*")


def test_needs_rebuild_does_not_raise_while_the_cluster_is_down() -> None:
    down = Server().on("GET", f"/_alias/{ALIAS}", OSConnectionError("N/A", "refused", OSError("refused")))
    assert make_backend(down).needs_rebuild() is False


# -- the index analyser and the query shapes on the live node --------------------------------------
#
# The analysis chain of ``index_body`` (whitespace tokenizer → pattern_capture → stop) and the
# queries of ``compile_query`` run on the live OpenSearch node of the session (``live_opensearch``,
# tests/conftest.py): an index created by the backend from ``index_body``, the passages written by
# ``write()``, the index analyser's tokens read back through ``_analyze``, and every query sent
# through ``keyword_search`` — so OpenSearch's REST layer (DSL parsing, analyser settings) is
# covered too. Tokens, matches, rankings and scores are compared with the embedded backend
# (tantivy) on the same passages and queries.


@pytest.fixture
def live_backend(
    live_opensearch: str, request: pytest.FixtureRequest
) -> Callable[[Analyzer], osb.OpenSearchBackend]:
    """Opens OpenSearch backends on fresh indices of the live node; dropped after the test."""
    import uuid

    opened: list[osb.OpenSearchBackend] = []

    def open_(analyzer: Analyzer) -> osb.OpenSearchBackend:
        b = osb.OpenSearchBackend(live_opensearch, analyzer, index=f"test-ranking-{uuid.uuid4().hex[:12]}")
        opened.append(b)
        return b

    def close() -> None:
        for b in opened:
            b.drop()
            b.close()

    request.addfinalizer(close)
    return open_


def _analyzed(backend: osb.OpenSearchBackend, text: str) -> list[tuple[int, str]]:
    """(position, term) of the index analyser ``archive_terms`` on the live node."""
    res = backend._request(
        "POST",
        f"/{backend.alias}/_analyze",
        body={"analyzer": "archive_terms", "text": text},
        what="analyze",
    )
    return [(int(t["position"]), str(t["token"])) for t in res["tokens"]]


def _compare_with_tantivy(
    live_backend: Callable[[Analyzer], osb.OpenSearchBackend],
    tmp_path: Any,
    analyzer: Analyzer,
    passages: list[IndexPassage],
    queries: list[Any],
) -> None:
    from index.embedded import EmbeddedBackend

    live = live_backend(analyzer)
    live.write(passages)
    for p in passages:  # OpenSearch sees the analyser's terms at the analyser's positions
        assert _analyzed(live, osb.encode_tokens(analyzer.tokens(p.text))) == [
            (t.position, term) for t in analyzer.tokens(p.text) for term in t.terms
        ]
    emb = EmbeddedBackend(tmp_path / "emb", analyzer)
    emb.write(passages)
    for q in queries:
        want = {h.passage_id: h.score for h in emb.keyword_search(q, ALL, limit=1000).hits}
        got = {h.passage_id: h.score for h in live.keyword_search(q, ALL, limit=1000).hits}
        assert set(got) == set(want), q
        sloppy = isinstance(q, PhraseNode) and q.slop > 0
        if sloppy:  # Lucene weighs a sloppy match 1/(distance+1), tantivy counts it as 1
            assert all(got[k] <= want[k] * 1.0001 for k in got), q
        else:
            assert got == pytest.approx(want, rel=1e-3), q

        if not sloppy:
            assert _ranking(got) == _ranking(want), q
    emb.close()


def _ranking(scores: dict[int, float]) -> list[int]:
    return sorted(scores, key=lambda k: (-round(scores[k], 4), k))


def test_opensearch_matches_and_ranks_like_tantivy_plain(
    live_backend: Callable[[Analyzer], osb.OpenSearchBackend], tmp_path: Any
) -> None:
    an = PlainAnalyzer()
    texts = [
        "river bank stone wall",
        "river river stone wall",
        "field bank stone wall",
        "quick brown fox",
        "quick red brown fox",
        "quick red old brown fox",
        "apple banana",
        "apple cherry",
        "banana cherry",
        "apple banana cherry",
        "archival records",
        "the architecture",
        "march of time",
        "archive box",
        "archiv box",
        "orchard box",
    ]
    texts += [
        "Архив городской думы хранит протоколы заседаний",
        "Протоколы заседаний думы за 1991 год, архив",
        "Міська рада ухвалила рішення про архів",
        "Гарадскі архіў захоўвае дакументы і пратаколы",
        "The city archive keeps the council minutes",
        "Interview transcript about the flood of 1993",
        "Ёлка на площади у архива, зима",
        "Letters from the mayor, undated archive box",
    ]
    ps = [passage(i + 1, t) for i, t in enumerate(texts)]

    def t(w: str, **kw: Any) -> TermNode:
        return TermNode(an.query_terms(w), **kw)

    def ph(s: str, slop: int = 0) -> PhraseNode:
        return PhraseNode(tuple(an.query_terms(w) for w in s.split()), slop=slop)

    queries = [
        t("архив"),
        t("протоколы"),
        t("river"),
        t("archive"),
        t("the"),
        TermNode(("colour", "color", "archive")),
        t("arch", prefix=True),
        t("арх", prefix=True),
        TermNode(("archive",), fuzzy=1),
        TermNode(("orchardd",), fuzzy=1),
        ph("quick brown"),
        ph("quick brown", 1),
        ph("quick brown", 2),
        ph("council minutes"),
        ph("city archive keeps"),
        BoolNode(must=(t("apple"), t("banana"))),
        BoolNode(should=(t("apple"), t("banana"), t("cherry"))),
        BoolNode(must=(t("apple"),), should=(t("cherry"),)),
        BoolNode(must_not=(t("cherry"),)),
        BoolNode(must=(BoolNode(should=(t("banana"), t("cherry"))),), must_not=(t("apple"),)),
        BoolNode(should=(t("archive"), ph("stone wall"), t("arch", prefix=True))),
        BoolNode(),
    ]
    _compare_with_tantivy(live_backend, tmp_path, an, ps, queries)


def test_opensearch_matches_and_ranks_like_tantivy_project_analyzer(
    live_backend: Callable[[Analyzer], osb.OpenSearchBackend], tmp_path: Any
) -> None:
    """Several terms at one position (lemmas, surface forms, transliteration keys): every word and
    every pair of words as a phrase, as the contract's project-analyser test does."""
    an = Analyzer()
    texts = [
        "Архив городской думы хранит протоколы заседаний",
        "Гарадскі архіў захоўвае дакументы і пратаколы",
        "Кадыров заявил, что Kadyrov и Кадыраў — одно лицо; стали говорить о стали.",
        "Міністэрства ўнутраных спраў адмовіла ў рэгістрацыі праваабарончай арганізацыі.",
        "М’ясо та хліб: свідчення мешканців Маріуполя, записані у 2022 році.",
        "Memorial's archive of interviews: the witnesses were interviewed in 1999 and 2001.",
    ]
    ps = [passage(i + 1, text) for i, text in enumerate(texts)]
    queries: list[Any] = []
    for text in texts:
        ws = [text[tok.start : tok.end] for tok in an.tokens(text)]
        queries += [TermNode(an.query_terms(w)) for w in ws]
        queries += [PhraseNode((an.query_terms(a), an.query_terms(b))) for a, b in itertools.pairwise(ws)]
        queries += [BoolNode(should=tuple(TermNode(an.query_terms(w)) for w in ws[:4]))]
        queries += [TermNode(an.query_terms(ws[0]), prefix=True), TermNode(an.query_terms(ws[1]), fuzzy=1)]
    assert any(len(tok.terms) > 1 for p in ps for tok in an.tokens(p.text))
    _compare_with_tantivy(live_backend, tmp_path, an, ps, queries)
