"""The OpenSearch backend: the same ``SearchBackend`` contract as the embedded one, on a cluster.

Design (``docs/opensearch.md`` explains it at length):

* One index ``{alias}-{n}`` behind the alias ``{alias}`` (default ``archive-passages``); the
  service creates it on first use, ``clear()`` builds a fresh one and swaps the alias atomically.
* OpenSearch analyses text itself and has no pre-tokenised input, so the shared analyser's tokens
  are *encoded* into the field value: one whitespace-separated word per position, the terms of a
  position joined by ``|`` (canonical first), ``|`` alone for a skipped position. The index
  analyser (whitespace tokenizer → ``pattern_capture`` ``([^|]+)`` → ``stop ["|"]``) decodes it:
  ``pattern_capture`` emits every alternative at the *same* position (position increment 0), and
  the stop filter turns a lone ``|`` into a position gap. So the field ``body`` holds exactly the
  terms and positions tantivy holds in the embedded backend: term queries match any alternative,
  phrases line up on positions. Query terms are never analysed (``term``/``prefix``/``fuzzy``
  queries; phrases use a plain whitespace search analyser).
* BM25 with tantivy's k1/b and factor ``k1 + 1``, overlapping tokens counted in the field length
  as tantivy does (``discount_overlaps: false``), as a scripted similarity *without* the index's
  document frequencies: a keyword search first counts, over the passages the principal may read,
  the passages and each scored term's passages (``stats_body``), and every term carries that idf
  as its boost, so a score says nothing about unreadable collections (issue 22). Scores are on
  the embedded backend's scale.
* Vectors: ``knn_vector`` with the Lucene engine's HNSW (cosine), filters *inside* the k-NN query.

Every request body is built by a pure function of this module, so the tests check the exact
requests without a server; the class only sends them through ``client.transport.perform_request``
and maps OpenSearch's exceptions to ``BackendError``.

Why one module: one class, the backend, whose every method depends on the index mapping and the
token encoding defined here (``SCHEMA_VERSION``): request bodies, bulk writes, ``search_after``
pages and the ranking statistics change together when the mapping does;
``tests/index/test_opensearch_requests.py`` pins the request bodies it builds.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from archive_search.errors import BackendError, IndexWriteError, QuerySyntaxError
from archive_search.types import AnalyzedToken, IndexPassage
from index.analysis import ANALYZER_VERSION, Analyzer, stored_terms
from index.backend import (
    ENTITY_FACETS,
    META_FIELD,
    NO_DATE,
    BackendHit,
    BackendResult,
    BoolNode,
    Cursor,
    Filters,
    PhraseNode,
    QueryNode,
    RankStats,
    TermNode,
    TotalRelation,
    bounded_total,
    day_number,
    entity_field_values,
    epoch_ms,
    readable_filters,
    scored_terms,
    year_number,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6  # 3 came twice, in two branches (entity fields; the readable-set BM25): both in 4; 5: meta
# 6: ``terms``, the analysed terms of each word for the snippets (issue 17)
"""Stored in the mapping's ``_meta``; an index of another version must be rebuilt (``archive reindex``)."""

# same encodings as the embedded backend: days since 1970-01-01 and the year (no date = -1e9),
# the moment a document was added in seconds since the epoch (none = 0)
_MAX_DAY = 10**9
_MAX_ADDED = 2**62

# BM25 as tantivy computes it
BM25_K1 = 1.2
BM25_B = 0.75
TIE_BREAKER = 0.1
"""``dis_max`` tie-breaker over a word's alternative terms (the embedded backend's value)."""
FUZZY_BOOST = 0.3
MAX_FUZZY = 2
"""Lucene's largest edit distance."""

# token encoding
ALT_SEP = "|"
GAP = "|"
"""A position that holds no term (removed by the ``stop`` filter, leaving a position gap)."""
MAX_TERM_CHARS = 255
MAX_TOKEN_CHARS = 4096
"""The index tokenizer's ``max_token_length``; an encoded position never exceeds it."""

# k-NN
KNN_FIELD = "vector"
KNN_MAX_K = 10_000
"""OpenSearch's largest ``k``."""
MAX_RESULT_WINDOW = 100_000
"""Deepest ``from + size`` of a keyword search (OpenSearch's default is 10,000)."""
KNN_MIN_K = 128
"""Candidates asked of the HNSW search at least (the Lucene engine's ``ef_search`` is ``k``)."""
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200

FACET_FIELDS: dict[str, str] = {
    "lang": "lang",
    "collection": "collection",
    "type": "doc_type",
    "tag": "tags",
    **ENTITY_FACETS,
    "meta": META_FIELD,
}
"""Facet name → keyword field (the embedded backend's names); ``date`` counts passages per year."""
FACET_SIZE = 200
META_FACET_SIZE = 1000
"""Metadata values counted by the ``meta`` facet (all fields together)."""
DATE_FACET_SIZE = 500
FACET_NAMES: tuple[str, ...] = (*FACET_FIELDS, "date")
CARDINALITY_PRECISION = 40_000
"""``cardinality`` counts are exact in practice below this many distinct documents (OpenSearch's maximum)."""
SOURCE_FIELDS = ["passage_id", "document_id"]
TERMS_FIELD = "terms"
"""The passage's analysed terms for the snippets (``index.analysis.stored_terms``): kept in
``_source`` only (neither indexed nor in doc values), returned with keyword hits."""
KEYWORD_SOURCE_FIELDS = [*SOURCE_FIELDS, TERMS_FIELD]
SAMPLE_AGG = "sample"
"""The ``sampler`` aggregation that holds a bounded search's facets and document count."""

BULK_MAX_DOCS = 1000
BULK_MAX_BYTES = 8 * 1024 * 1024
DELETE_CHUNK = 10_000
DELETE_ATTEMPTS = 3

# failures of a node (see "Failures and recovery" in docs/opensearch.md)
WRITE_ATTEMPTS = 6
"""Rounds of a bulk write: items that failed transiently are sent again, with backoff."""
RETRY_BACKOFF_S = 0.5
"""Wait before the second round, doubled each round up to ``MAX_BACKOFF_S`` (0.5+1+2+4+8 s)."""
MAX_BACKOFF_S = 8.0
BULK_SHARD_TIMEOUT = "20s"
"""How long a bulk request waits for an unavailable primary (OpenSearch's default is 1 min, more
than the client's timeout): a replica is promoted within seconds of a node's loss."""
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSIENT_ERROR_TYPES = frozenset(
    {
        "unavailable_shards_exception",
        "no_shard_available_action_exception",
        "primary_missing_action_exception",
        "node_not_connected_exception",
        "node_disconnected_exception",
        "node_closed_exception",
        "connect_transport_exception",
        "receive_timeout_transport_exception",
        "es_rejected_execution_exception",
        "rejected_execution_exception",
        "circuit_breaking_exception",
        "process_cluster_event_timeout_exception",
        "shard_not_in_primary_mode_exception",
        "retry_on_primary_exception",
        "retry_on_replica_exception",
        "index_shard_closed_exception",
    }
)
"""Item errors that a node's loss or overload causes; the item is sent again (``_id`` is the
passage id, so a repeated write replaces the passage, never duplicates it)."""
CLUSTER_HEALTH = ("green", "yellow", "red", "unreachable")

_WS = re.compile(r"\s")
_INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,200}")


# -- index settings and mappings -------------------------------------------------------------------


def analysis_settings() -> dict[str, Any]:
    """The index analyser that decodes the encoded tokens, and the plain search analyser."""
    return {
        "tokenizer": {"archive_whitespace": {"type": "whitespace", "max_token_length": MAX_TOKEN_CHARS}},
        "filter": {
            "archive_alternatives": {
                "type": "pattern_capture",
                "preserve_original": False,
                "patterns": ["([^|]+)"],
            },
            "archive_gaps": {"type": "stop", "stopwords": [GAP], "ignore_case": False},
        },
        "analyzer": {
            "archive_terms": {
                "type": "custom",
                "tokenizer": "archive_whitespace",
                "filter": ["archive_alternatives", "archive_gaps"],
            },
            "archive_query": {"type": "custom", "tokenizer": "archive_whitespace", "filter": []},
        },
    }


def vector_mapping(dim: int) -> dict[str, Any]:
    """The ``knn_vector`` field: Lucene HNSW, cosine (filters run inside the k-NN search)."""
    return {
        "type": "knn_vector",
        "dimension": dim,
        "method": {
            "name": "hnsw",
            "engine": "lucene",
            "space_type": "cosinesimil",
            "parameters": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
        },
    }


def mappings(dim: int | None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "passage_id": {"type": "long"},
        "document_id": {"type": "long"},
        "collection": {"type": "keyword"},
        "lang": {"type": "keyword"},
        "doc_type": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "day": {"type": "integer"},
        "year": {"type": "integer"},
        "added": {"type": "long"},
        "speaker": {"type": "keyword"},
        "person": {"type": "keyword"},
        "place": {"type": "keyword"},
        "org": {"type": "keyword"},
        META_FIELD: {"type": "keyword"},
        TERMS_FIELD: {"type": "keyword", "index": False, "doc_values": False},
        "body": {
            "type": "text",
            "analyzer": "archive_terms",
            "search_analyzer": "archive_query",
            "similarity": "archive_bm25",
            "index_options": "positions",
            "norms": True,
        },
    }
    if dim is not None:
        props[KNN_FIELD] = vector_mapping(dim)
    return {
        "dynamic": "strict",
        "_meta": {"archive_search_schema": SCHEMA_VERSION, "archive_search_analyzer": ANALYZER_VERSION},
        # the catalog is the source of truth: the encoded terms and the vector are not kept in
        # _source (smaller index, faster fetch); ``archive reindex`` rebuilds from the catalog
        "_source": {"excludes": ["body", KNN_FIELD]},
        "properties": props,
    }


BM25_SCRIPT = (
    "double tf = doc.freq; double avgdl = field.sumTotalTermFreq / (double) field.docCount; "
    f"return query.boost * tf * {BM25_K1 + 1} / "
    f"(tf + {BM25_K1} * ({1 - BM25_B} + {BM25_B} * doc.length / avgdl));"
)
"""BM25 without its idf: the query carries the idf over the readable set as each term's boost
(``compile_query``). OpenSearch's own idf counts every passage of the index, whatever the
access filter, and would tell a user about collections they may not read (issue 22);
``dfs_query_then_fetch`` only makes that count index-wide across shards."""


def similarity_settings() -> dict[str, Any]:
    return {
        "archive_bm25": {
            "type": "scripted",
            "script": {"source": BM25_SCRIPT},
            "discount_overlaps": False,
        }
    }


def index_body(
    dim: int | None, *, shards: int = 1, replicas: int = 1, alias: str | None = None
) -> dict[str, Any]:
    """The body of ``PUT /{index}``: settings, mappings and (on first creation) the alias."""
    index: dict[str, Any] = {
        "number_of_shards": shards,
        "knn": True,
        "refresh_interval": "1s",
        "max_result_window": MAX_RESULT_WINDOW,
        "translog": {"durability": "request"},
        "similarity": similarity_settings(),
    }
    if replicas > 0:
        index["auto_expand_replicas"] = f"0-{replicas}"
    else:
        index["number_of_replicas"] = 0
    body: dict[str, Any] = {
        "settings": {"index": index, "analysis": analysis_settings()},
        "mappings": mappings(dim),
    }
    if alias is not None:
        body["aliases"] = {alias: {}}
    return body


def alias_swap_actions(alias: str, old: Sequence[str], new: str) -> dict[str, Any]:
    """One ``POST /_aliases`` body: the alias leaves the old indices and reaches the new one atomically."""
    actions: list[dict[str, Any]] = [{"remove": {"index": o, "alias": alias}} for o in old]
    actions.append({"add": {"index": new, "alias": alias}})
    return {"actions": actions}


# -- token encoding --------------------------------------------------------------------------------


def clean_term(term: str) -> str:
    """A term as it is stored and queried: no whitespace, no ``|``, at most ``MAX_TERM_CHARS``.

    The shared analyser never produces such characters; the same function runs at index and
    query time, so a term still matches itself.
    """
    return _WS.sub("_", term.replace(ALT_SEP, "_"))[:MAX_TERM_CHARS]


def encode_tokens(tokens: Iterable[AnalyzedToken]) -> str:
    """The analyser's tokens as the text of ``body`` (decoded by the ``archive_terms`` analyser).

    One word per position, alternatives joined by ``|`` (the first token's first term first, the
    canonical term), a lone ``|`` for each position no token holds. Tokens at one position merge.
    """
    by_pos: dict[int, list[str]] = {}
    for tok in tokens:
        terms = by_pos.setdefault(tok.position, [])
        for t in tok.terms:
            c = clean_term(t)
            if c and c not in terms:
                terms.append(c)
    words: list[str] = []
    expected = 0
    for pos in sorted(by_pos):
        terms = by_pos[pos]
        if not terms:
            continue
        words.extend([GAP] * max(0, pos - expected))
        word = terms[0]
        for t in terms[1:]:
            if len(word) + 1 + len(t) > MAX_TOKEN_CHARS:
                break
            word += ALT_SEP + t
        words.append(word)
        expected = pos + 1
    return " ".join(words)


def to_document(p: IndexPassage, analyzer: Analyzer) -> dict[str, Any]:
    tokens = analyzer.tokens(p.text)
    doc: dict[str, Any] = {
        "passage_id": p.passage_id,
        "document_id": p.document_id,
        "collection": p.collection,
        "lang": p.lang,
        "doc_type": p.doc_type,
        "tags": sorted(set(p.tags)),
        "day": day_number(p.doc_date),
        "year": year_number(p.doc_date),
        "added": epoch_ms(p.added_at),
        "body": encode_tokens(tokens),
    }
    stored = stored_terms(analyzer, p.text, tokens)
    if stored is not None:
        doc[TERMS_FIELD] = stored
    if p.speaker:
        doc["speaker"] = p.speaker.casefold()
    for fld, ids in entity_field_values(p.entities).items():
        if ids:
            doc[fld] = ids
    if p.vector is not None:
        doc[KNN_FIELD] = [float(x) for x in p.vector]
    return doc


def vector_problem(vector: Sequence[float], dim: int | None) -> str | None:
    """Why OpenSearch would reject this vector (checked before sending), or ``None``."""
    if dim is not None and len(vector) != dim:
        return f"vector dimension {len(vector)} does not match the index ({dim})"
    if not all(math.isfinite(x) for x in vector):
        return "vector holds a non-finite value"
    if not any(vector):
        return "a zero vector has no cosine similarity"
    return None


def bulk_lines(index: str, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``_bulk`` action and source lines: an ``index`` (create or replace) per passage."""
    lines: list[dict[str, Any]] = []
    for d in docs:
        lines.append({"index": {"_index": index, "_id": str(d["passage_id"])}})
        lines.append(d)
    return lines


def ndjson(lines: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)


def bulk_chunks(
    docs: Sequence[dict[str, Any]], *, max_docs: int = BULK_MAX_DOCS, max_bytes: int = BULK_MAX_BYTES
) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for d in docs:
        n = len(json.dumps(d, ensure_ascii=False)) + 64
        if chunk and (len(chunk) >= max_docs or size + n > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(d)
        size += n
    if chunk:
        yield chunk


def bulk_item_errors(response: dict[str, Any]) -> dict[int, tuple[int, str, str]]:
    """Passage id → ``(status, error type, reason)`` for every item a ``_bulk`` response reports
    as failed."""
    failed: dict[int, tuple[int, str, str]] = {}
    if not response.get("errors"):
        return failed
    for item in response.get("items", []):
        op: dict[str, Any] = next(iter(item.values()), {}) if isinstance(item, dict) else {}
        err = op.get("error")
        status = int(op.get("status", 200))
        if err is None and status < 300:
            continue
        kind = str(err.get("type") or "") if isinstance(err, dict) else ""
        reason = (err.get("reason") or err.get("type")) if isinstance(err, dict) else str(err)
        try:
            failed[int(str(op.get("_id")))] = (status, kind, str(reason))
        except (TypeError, ValueError):
            failed[-1] = (status, kind, str(reason))
    return failed


def bulk_failures(response: dict[str, Any]) -> dict[int, str]:
    """Passage id → ``"status: reason"`` for every item a ``_bulk`` response reports as failed."""
    return {pid: f"{status}: {reason}" for pid, (status, _, reason) in bulk_item_errors(response).items()}


def transient_item(status: int, kind: str) -> bool:
    """Whether a failed bulk item is worth sending again: overload (429), an unavailable shard or
    node (5xx, or a transport error type), as a node's loss causes until a replica takes over."""
    return status in TRANSIENT_STATUS or kind in TRANSIENT_ERROR_TYPES


def transient_error(exc: BaseException | None) -> bool:
    """Whether a failed request (an opensearch-py exception) is worth repeating: no node answered,
    a timeout, or 429/502/503/504."""
    from opensearchpy.exceptions import ConnectionError as OSConnectionError
    from opensearchpy.exceptions import TransportError

    if isinstance(exc, OSConnectionError):  # includes ConnectionTimeout
        return True
    if isinstance(exc, TransportError):
        return isinstance(exc.status_code, int) and exc.status_code in TRANSIENT_STATUS - {500}
    return False


def split_urls(url: str) -> list[str]:
    """The nodes of ``ARCHIVE_OPENSEARCH_URL``: one URL or several, comma-separated (nodes of one
    cluster; requests go round-robin and a node that does not answer is skipped)."""
    urls = [u.strip() for u in url.split(",") if u.strip()]
    if not urls:
        raise BackendError("ARCHIVE_OPENSEARCH_URL names no OpenSearch node")
    return urls


# -- queries ---------------------------------------------------------------------------------------

MATCH_ALL: dict[str, Any] = {"match_all": {}}
MATCH_NONE: dict[str, Any] = {"match_none": {}}


def compile_query(node: QueryNode, stats: RankStats | None = None) -> dict[str, Any]:
    """The query model as OpenSearch query DSL, clause for clause like the embedded backend.

    With ``stats`` every scored term (a phrase: its words) carries its idf over the readable set
    as its boost: the index's similarity (``similarity_settings``) multiplies the boost by BM25's
    term-frequency part and uses no document frequency of its own."""
    if isinstance(node, TermNode):
        return _term(node, stats)
    if isinstance(node, PhraseNode):
        return _phrase(node, stats)
    return _bool(node, stats)


def _idf_boost(terms: Sequence[str], stats: RankStats | None, *, share: int = 1) -> dict[str, float]:
    return {} if stats is None else {"boost": round(sum(stats.idf(t) for t in terms) / share, 6)}


def _term(node: TermNode, stats: RankStats | None = None) -> dict[str, Any]:
    subs: list[dict[str, Any]] = []
    for i, raw in enumerate(node.terms):
        term = clean_term(raw)
        if not term:
            continue
        if node.prefix and i == 0:
            subs.append({"prefix": {"body": {"value": term, "rewrite": "constant_score"}}})
        elif node.fuzzy and i == 0 and len(term) > 3:
            subs.append({"term": {"body": {"value": term, **_idf_boost([raw], stats)}}})
            subs.append(
                {
                    "fuzzy": {
                        "body": {
                            "value": term,
                            "fuzziness": min(node.fuzzy, MAX_FUZZY),
                            "prefix_length": 0,
                            "transpositions": True,
                            "rewrite": "constant_score",
                            "boost": FUZZY_BOOST,
                        }
                    }
                }
            )
        else:
            subs.append({"term": {"body": {"value": term, **_idf_boost([raw], stats)}}})
    if not subs:
        return MATCH_NONE
    query = subs[0] if len(subs) == 1 else {"dis_max": {"queries": subs, "tie_breaker": TIE_BREAKER}}
    if node.boost == 1.0:
        return query
    return {"bool": {"should": [query], "boost": node.boost}}


def _phrase(node: PhraseNode, stats: RankStats | None = None) -> dict[str, Any]:
    if not node.words or any(not w for w in node.words):
        return MATCH_NONE
    if len(node.words) == 1:
        return _term(TermNode(node.words[0]), stats)
    # alternatives share their position: the canonical (first) term of each word forms the phrase
    words = [clean_term(w[0]) for w in node.words]
    if not all(words):
        return MATCH_NONE
    return {
        "match_phrase": {
            "body": {
                "query": " ".join(words),
                "slop": node.slop,
                "analyzer": "archive_query",
                # the scripted similarity is summed over a phrase's terms: each carries the
                # mean idf, so the phrase scores with the summed idf, as in tantivy
                **_idf_boost([w[0] for w in node.words], stats, share=len(node.words)),
            }
        }
    }


def _bool(node: BoolNode, stats: RankStats | None = None) -> dict[str, Any]:
    must = [compile_query(n, stats) for n in node.must]
    should = [compile_query(n, stats) for n in node.should]
    must_not = [compile_query(n) for n in node.must_not]
    if not (must or should or must_not):
        return MATCH_NONE  # an empty boolean matches nothing (as in tantivy)
    if must_not and not must and not should:
        must = [MATCH_ALL]  # pure negation: everything but (scored 1.0, as the embedded all_query)
    out: dict[str, Any] = {}
    if must:
        out["must"] = must
    if should:
        out["should"] = should
        if not must:
            out["minimum_should_match"] = 1
    if must_not:
        out["must_not"] = must_not
    return {"bool": out}


def filter_clauses(f: Filters) -> list[dict[str, Any]] | None:
    """Filter clauses (no scoring); ``None`` when the filters can match nothing.

    ``exclude_document_ids`` is not among them: see ``exclude_clauses``."""
    out: list[dict[str, Any]] = []
    cols = f.effective_collections()
    if cols is not None:
        if not cols:
            return None
        out.append({"terms": {"collection": sorted(cols)}})
    if f.langs:
        out.append({"terms": {"lang": sorted(set(f.langs))}})
    if f.types:
        out.append({"terms": {"doc_type": sorted(set(f.types))}})
    if f.tags:
        out.append({"terms": {"tags": sorted(set(f.tags))}})
    if f.date_from is not None or f.date_to is not None:
        lo = day_number(f.date_from) if f.date_from is not None else NO_DATE + 1
        hi = day_number(f.date_to) if f.date_to is not None else _MAX_DAY
        out.append({"range": {"day": {"gte": lo, "lte": hi}}})
    if f.speakers:
        out.append({"terms": {"speaker": sorted({sp.casefold() for sp in f.speakers})}})
    if f.added_after is not None:
        out.append({"range": {"added": {"gte": epoch_ms(f.added_after) + 1, "lte": _MAX_ADDED}}})
    if f.document_ids:
        out.append({"terms": {"document_id": sorted(set(f.document_ids))}})
    for group in f.entities:
        per_field = [{"terms": {fld: ids}} for fld, ids in entity_field_values(list(group)).items() if ids]
        if not per_field:
            return None
        out.append(
            per_field[0]
            if len(per_field) == 1
            else {"bool": {"should": per_field, "minimum_should_match": 1}}
        )
    return out


def exclude_clauses(f: Filters) -> list[dict[str, Any]]:
    """``must_not`` clauses of the filters."""
    out: list[dict[str, Any]] = []
    excluded = f.excluded_documents()
    if excluded:
        out.append({"terms": {"document_id": list(excluded)}})
    hidden = f.excluded_passages()
    if hidden:  # passage-level confidentiality: inside the query, like the documents
        out.append({"terms": {"passage_id": list(hidden)}})
    return out


def filter_query(f: Filters) -> dict[str, Any] | None:
    """All the filters as one non-scoring ``bool`` (``{}`` when there are none, ``None`` when
    nothing can match)."""
    clauses = filter_clauses(f)
    if clauses is None:
        return None
    out: dict[str, Any] = {}
    if clauses:
        out["filter"] = clauses
    excluded = exclude_clauses(f)
    if excluded:
        out["must_not"] = excluded
    return {"bool": out} if out else {}


def filtered_query(
    node: QueryNode | None, f: Filters, stats: RankStats | None = None
) -> dict[str, Any] | None:
    """The query with the filters in ``bool.filter``; ``None`` when nothing can match."""
    filt = filter_query(f)
    if filt is None:
        return None
    base = compile_query(node, stats) if node is not None else MATCH_ALL
    if not filt:
        return base
    return {"bool": {"must": [base], **filt["bool"]}}


def facet_aggs() -> dict[str, Any]:
    aggs: dict[str, Any] = {
        name: {"terms": {"field": fld, "size": META_FACET_SIZE if name == "meta" else FACET_SIZE}}
        for name, fld in FACET_FIELDS.items()
    }
    aggs["date"] = {"terms": {"field": "year", "size": DATE_FACET_SIZE}}
    return aggs


def search_body(
    node: QueryNode | None,
    f: Filters,
    *,
    limit: int,
    offset: int = 0,
    facets: bool = False,
    stats: RankStats | None = None,
    exact_up_to: int | None = None,
) -> dict[str, Any] | None:
    """The ``_search`` body of a keyword search; ``None`` when the filters allow nothing.

    With ``exact_up_to`` the hits are counted up to that many (``track_total_hits``) and the
    facets, with the distinct documents, are counted inside a ``sampler`` aggregation over the
    best ``exact_up_to`` matches of each shard: all of them when no more match."""
    query = filtered_query(node, f, stats)
    if query is None:
        return None
    body: dict[str, Any] = {
        "query": query,
        "from": max(offset, 0),
        "size": max(limit, 0),
        "track_total_hits": True if exact_up_to is None else exact_up_to,
        "track_scores": True,
        # ties in a stable order, whichever shard copy answers: pages never overlap
        "sort": [{"_score": {"order": "desc"}}, {"passage_id": {"order": "asc"}}],
        "_source": KEYWORD_SOURCE_FIELDS,
    }
    if facets and exact_up_to is None:
        body["aggs"] = facet_aggs()
    elif facets:
        documents = {"cardinality": {"field": "document_id", "precision_threshold": CARDINALITY_PRECISION}}
        body["aggs"] = {
            SAMPLE_AGG: {
                "sampler": {"shard_size": exact_up_to},
                "aggs": {**facet_aggs(), "documents": documents},
            }
        }
    return body


def stats_body(node: QueryNode | None, f: Filters) -> dict[str, Any] | None:
    """The ``_search`` body that counts the ranking statistics of a keyword search over the
    passages the principal may read (``readable_filters``): the passages (``hits.total``) and,
    per scored term, the passages holding it (a ``filters`` aggregation). ``None``: nothing is
    readable."""
    scope = filter_query(readable_filters(f))
    if scope is None:
        return None
    terms = sorted(scored_terms(node))
    body: dict[str, Any] = {"query": scope or MATCH_ALL, "size": 0, "track_total_hits": True}
    if terms:
        per_term = {str(i): {"term": {"body": {"value": clean_term(t)}}} for i, t in enumerate(terms)}
        body["aggs"] = {"df": {"filters": {"filters": per_term}}}
    return body


def parse_stats(node: QueryNode | None, res: dict[str, Any]) -> RankStats:
    terms = sorted(scored_terms(node))
    buckets = res.get("aggregations", {}).get("df", {}).get("buckets", {})
    df = {t: int(buckets.get(str(i), {}).get("doc_count", 0)) for i, t in enumerate(terms)}
    return RankStats(num_docs=parse_total(res), doc_freq=df)


def facets_body(node: QueryNode | None, f: Filters) -> dict[str, Any] | None:
    query = filtered_query(node, f)
    if query is None:
        return None
    return {"query": query, "size": 0, "track_total_hits": False, "aggs": facet_aggs()}


def documents_body(node: QueryNode | None, f: Filters) -> dict[str, Any] | None:
    """Distinct documents among the matching passages: a ``cardinality`` aggregation."""
    query = filtered_query(node, f)
    if query is None:
        return None
    agg = {"cardinality": {"field": "document_id", "precision_threshold": CARDINALITY_PRECISION}}
    return {"query": query, "size": 0, "track_total_hits": False, "aggs": {"documents": agg}}


def count_body(f: Filters) -> dict[str, Any] | None:
    query = filtered_query(None, f)
    return None if query is None else {"query": query}


def knn_body(vector: Sequence[float], f: Filters, *, limit: int) -> dict[str, Any] | None:
    """The ``_search`` body of a vector search, the filters *inside* the ``knn`` query (efficient
    filtering: Lucene searches the HNSW graph for allowed passages only, or scans them exactly when
    few are allowed), never a ``post_filter``. ``None`` when the filters allow nothing."""
    filt = filter_query(f)
    if filt is None:
        return None
    size = min(max(limit, 0), KNN_MAX_K)
    knn: dict[str, Any] = {"vector": [float(x) for x in vector], "k": min(max(size, KNN_MIN_K), KNN_MAX_K)}
    if filt:
        knn["filter"] = filt
    return {"size": size, "_source": SOURCE_FIELDS, "query": {"knn": {KNN_FIELD: knn}}}


def cosine_from_score(score: float) -> float:
    """The Lucene engine scores cosine as ``(1 + cos) / 2``; the embedded backend returns ``cos``."""
    return 2.0 * score - 1.0


def parse_hits(response: dict[str, Any], *, vector: bool = False) -> list[BackendHit]:
    hits: list[BackendHit] = []
    for h in response.get("hits", {}).get("hits", []):
        src = h.get("_source") or {}
        score = h.get("_score")
        if score is None:
            score = (h.get("sort") or [0.0])[0]
        s = float(score)
        pid = int(src.get("passage_id", h.get("_id")))
        stored = src.get(TERMS_FIELD)
        terms = stored if isinstance(stored, str) else None
        hits.append(BackendHit(pid, int(src["document_id"]), cosine_from_score(s) if vector else s, terms))
    return hits


def parse_total(response: dict[str, Any]) -> int:
    total = response.get("hits", {}).get("total", 0)
    return int(total["value"]) if isinstance(total, dict) else int(total)


def parse_bounded_total(response: dict[str, Any], exact_up_to: int | None) -> tuple[int, TotalRelation]:
    """(total, relation) of a search counted up to ``exact_up_to``: OpenSearch's own relation,
    the value cut to the bound (a shard may count a little past it before it stops)."""
    total = response.get("hits", {}).get("total", 0)
    value = parse_total(response)
    if isinstance(total, dict) and total.get("relation") == "gte":
        return (value if exact_up_to is None else min(value, exact_up_to)), "gte"
    return bounded_total(value, exact_up_to)


def parse_facets(response: dict[str, Any]) -> dict[str, dict[str, int]]:
    aggs = response.get("aggregations") or {}
    if SAMPLE_AGG in aggs:  # a bounded search's facets, inside its sampler
        aggs = aggs[SAMPLE_AGG]
    out = {
        name: {_bucket_key(b["key"]): int(b["doc_count"]) for b in aggs.get(name, {}).get("buckets", [])}
        for name in FACET_NAMES
    }
    # years in order, undated passages left out (as the embedded backend does)
    out["date"] = dict(sorted((k, v) for k, v in out["date"].items() if k != str(NO_DATE)))
    return out


def _bucket_key(key: object) -> str:
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def empty_facets() -> dict[str, dict[str, int]]:
    return {name: {} for name in FACET_NAMES}


def describe_error(exc: Exception) -> str:
    """A short, readable text for an opensearch-py exception (status, type and root-cause reason)."""
    from opensearchpy.exceptions import ConnectionError as OSConnectionError
    from opensearchpy.exceptions import ConnectionTimeout, TransportError

    if isinstance(exc, ConnectionTimeout):
        return f"OpenSearch did not answer in time: {exc.info}"
    if isinstance(exc, OSConnectionError):
        return f"cannot reach OpenSearch: {exc.info}"
    if isinstance(exc, TransportError):
        info = exc.info
        reason = ""
        if isinstance(info, dict) and isinstance(info.get("error"), dict):
            err = info["error"]
            root = (err.get("root_cause") or [err])[0]
            reason = f"{root.get('type', '')}: {root.get('reason', '')}".strip(": ")
        elif isinstance(info, dict) and "error" in info:
            reason = str(info["error"])
        return f"HTTP {exc.status_code} {reason or exc.error}".strip()
    return f"{type(exc).__name__}: {exc}"


_QUERY_REFUSALS = ("too_complex_to_determinize_exception", "too_many_clauses", "too_many_nested_clauses")


def _refused_query(exc: BaseException | None) -> bool:
    """Whether OpenSearch refused a search for the size of the user's query (not for a fault of
    the request this module built): automata or clause counts beyond its limits."""
    from opensearchpy.exceptions import TransportError

    if not isinstance(exc, TransportError) or exc.status_code != 400:
        return False
    text = json.dumps(exc.info, default=str).lower() if exc.info is not None else str(exc).lower()
    return any(k in text for k in _QUERY_REFUSALS) or "maxclausecount" in text


T = TypeVar("T")


class OpenSearchBackend:
    """``SearchBackend`` on an OpenSearch cluster (2.4 or later; see ``docs/opensearch.md``).

    ``index`` names the alias directly (the contract suite uses one per test); otherwise the alias
    is ``{index_prefix}-passages``. ``dim`` fixes the vector dimension up front; without it the
    vector field is added to the mapping when the first vector is written. ``client`` replaces the
    ``opensearchpy.OpenSearch`` client built from ``url`` (tests); ``client_options`` go to it.
    ``url`` may name several nodes, comma-separated: the client spreads requests over them and
    retries a request on another node when one does not answer. Bulk writes send items that failed
    transiently again (``write_attempts`` rounds, backoff from ``retry_backoff_s``).
    """

    name = "opensearch"

    def __init__(
        self,
        url: str,
        analyzer: Analyzer,
        *,
        index_prefix: str = "archive",
        index: str | None = None,
        dim: int | None = None,
        shards: int = 1,
        replicas: int = 1,
        timeout: float = 30.0,
        write_attempts: int = WRITE_ATTEMPTS,
        retry_backoff_s: float = RETRY_BACKOFF_S,
        client: Any = None,
        **client_options: Any,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.urls = split_urls(url)
        self.write_attempts = max(1, write_attempts)
        self.retry_backoff_s = retry_backoff_s
        self._write_index: str | None = None
        """The index a re-index fills before the alias moves to it (``begin_rebuild``)."""
        self.analyzer = analyzer
        self.alias = index or f"{index_prefix}-passages"
        if not _INDEX_NAME.fullmatch(self.alias):
            raise BackendError(
                f"invalid OpenSearch index name {self.alias!r}: lower-case letters, digits, '-', '_', '.'"
            )
        self.shards = shards
        self.replicas = replicas
        self._configured_dim = dim
        self._dim = dim
        self._vector_mapped = False
        self._lock = threading.RLock()
        self._ready = False
        self._rebuild_needed = False
        self._owns_client = client is None
        if client is None:
            try:
                from opensearchpy import OpenSearch
            except ImportError as exc:  # pragma: no cover - depends on the installation
                raise BackendError(
                    "ARCHIVE_BACKEND=opensearch needs the opensearch-py package (pip install opensearch-py)"
                ) from exc
            # a request that meets a dead node (connection refused, timeout, 502/503/504) is sent
            # to the next node of the list; that node is left alone for a while
            options: dict[str, Any] = {
                "timeout": timeout,
                "max_retries": max(3, len(self.urls)),
                "retry_on_timeout": True,
            }
            options.update(client_options)
            client = OpenSearch(hosts=self.urls, **options)
        self.client = client

    # -- transport -----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        ignore: tuple[int, ...] = (),
        what: str,
    ) -> Any:
        """One REST call; every OpenSearch exception becomes a ``BackendError``."""
        from opensearchpy.exceptions import OpenSearchException

        try:
            # the client's timeout given explicitly: otherwise opensearch-py takes a ``timeout``
            # query parameter (``_bulk``'s wait for a shard) for its own socket timeout
            return self.client.transport.perform_request(
                method, path, params=params or None, body=body, ignore=ignore, timeout=self.timeout
            )
        except OpenSearchException as exc:
            raise BackendError(f"OpenSearch {what} failed ({self.alias}): {describe_error(exc)}") from exc

    def _index_pattern(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.alias) + r"-(\d+)")

    def _aliased_indices(self) -> list[str]:
        res = self._request("GET", f"/_alias/{self.alias}", ignore=(404,), what="alias lookup")
        if not isinstance(res, dict) or res.get("status") == 404:
            return []
        return sorted(k for k, v in res.items() if isinstance(v, dict) and "aliases" in v)

    def _next_index(self) -> str:
        """``{alias}-{n}`` with n above every existing one (leftovers of a failed swap included)."""
        res = self._request(
            "GET",
            f"/_cat/indices/{self.alias}-*",
            params={"format": "json", "h": "index"},
            ignore=(404,),
            what="index listing",
        )
        names = [str(row.get("index")) for row in res] if isinstance(res, list) else []
        pat = self._index_pattern()
        numbers = [int(m.group(1)) for name in names if (m := pat.fullmatch(name))]
        return f"{self.alias}-{max(numbers, default=0) + 1}"

    def _read_mapping(self) -> tuple[int | None, str | None]:
        """Learn the vector dimension from the mapping; returns the index's schema version and the
        version of the analyser whose terms it stores."""
        res = self._request("GET", f"/{self.alias}/_mapping", what="mapping lookup")
        version: int | None = None
        analyzer: str | None = None
        for mapping in (res or {}).values():
            m = mapping.get("mappings", {})
            meta = m.get("_meta") or {}
            v = meta.get("archive_search_schema")
            version = v if isinstance(v, int) else None
            a = meta.get("archive_search_analyzer")
            analyzer = a if isinstance(a, str) else None
            if version != SCHEMA_VERSION or analyzer != ANALYZER_VERSION:
                return version, analyzer
            vec = m.get("properties", {}).get(KNN_FIELD)
            if vec is not None:
                mapped = int(vec["dimension"])
                if self._configured_dim is not None and self._configured_dim != mapped:
                    raise BackendError(
                        f"OpenSearch index {self.alias} holds {mapped}-dimensional vectors, "
                        f"not {self._configured_dim}"
                    )
                self._dim = mapped
                self._vector_mapped = True
        return version, analyzer

    def _ensure(self, *, may_rebuild: bool = False) -> None:
        """Create the index behind the alias on first use; learn the vector dimension.

        An index of an older schema version is replaced by an empty one only when ``may_rebuild``
        (``needs_rebuild()``, whose caller then re-indexes from the catalog); otherwise it is an
        error, as is an index written by a newer version of the service.
        """
        with self._lock:
            if self._ready:
                return
            if not self._aliased_indices():
                name = self._next_index()
                body = index_body(self._dim, shards=self.shards, replicas=self.replicas, alias=self.alias)
                res = self._request("PUT", f"/{name}", body=body, ignore=(400,), what="index creation")
                # another process may have created it meanwhile; anything else is an error
                if isinstance(res, dict) and "error" in res and not self._aliased_indices():
                    raise BackendError(f"OpenSearch index creation failed ({name}): {res['error']}")
            version, analyzer = self._read_mapping()
            # an index of another analyser stores other terms: as stale as an older schema
            if version != SCHEMA_VERSION or analyzer != ANALYZER_VERSION:
                if version is not None and version > SCHEMA_VERSION:
                    raise BackendError(
                        f"OpenSearch index {self.alias} was written by a newer version of the service "
                        f"(schema {version}, this one knows {SCHEMA_VERSION})"
                    )
                if not may_rebuild:
                    raise BackendError(
                        f"OpenSearch index {self.alias} has schema version {version} (analyser {analyzer}), "
                        f"this version needs {SCHEMA_VERSION} (analyser {ANALYZER_VERSION}): restart the "
                        "service or run `archive reindex` to rebuild it"
                    )
                log.warning(
                    "OpenSearch index %s has schema %s (analyser %s): replacing it by an empty one",
                    self.alias,
                    version,
                    analyzer,
                )
                self.clear()
                self._rebuild_needed = True
            self._ready = True

    def _ensure_vector_field(self, dim: int) -> None:
        with self._lock:
            if self._vector_mapped:
                return
            if self._write_index is None:
                self._read_mapping()  # another process may have added it
                if self._vector_mapped:
                    return
            self._request(
                "PUT",
                f"/{self._write_index or self.alias}/_mapping",
                body={"properties": {KNN_FIELD: vector_mapping(dim)}},
                what="vector mapping",
            )
            self._dim = dim
            self._vector_mapped = True

    def _vectors_ready(self) -> bool:
        with self._lock:
            if not self._vector_mapped:
                self._read_mapping()
            return self._vector_mapped

    def _search(self, body: dict[str, Any], what: str) -> dict[str, Any]:
        params: dict[str, Any] = {"allow_partial_search_results": "false"}
        if self.shards > 1 and "knn" not in body.get("query", {}):
            params["search_type"] = "dfs_query_then_fetch"  # index-wide BM25 statistics
        try:
            res: dict[str, Any] = self._request(
                "POST", f"/{self.alias}/_search", params=params, body=body, what=what
            )
        except BackendError as exc:
            if _refused_query(exc.__cause__):
                raise QuerySyntaxError(f"the query is too complex to run: {exc.message}") from exc
            raise
        _check_complete(res, what)
        return res

    # -- writing -------------------------------------------------------------------------------

    def write(self, passages: Sequence[IndexPassage]) -> None:
        """Index (create or replace) passages; searchable and durable when it returns.

        Each bulk request uses ``refresh=true`` (the shards it touched are refreshed before it
        returns; ``wait_for`` would idle until the next scheduled refresh, up to
        ``refresh_interval``, on every call); the index's ``translog.durability: request`` fsyncs
        before acknowledging. Items that fail transiently (a lost node, an unavailable
        shard, 429, no node answering) are sent again for ``write_attempts`` rounds with backoff.
        Passages that finally fail are reported together in one ``IndexWriteError`` with a code per
        passage; the others are written.
        """
        if not passages:
            return
        self._ensure()
        failed: dict[int, tuple[str, str]] = {}
        with_vec = [p for p in passages if p.vector is not None]
        if with_vec and not self._vector_mapped:
            first_ok = next((p for p in with_vec if vector_problem(p.vector or [], self._dim) is None), None)
            if first_ok is not None:
                self._ensure_vector_field(self._dim or len(first_ok.vector or []))
        docs: list[dict[str, Any]] = []
        for p in passages:
            problem = None if p.vector is None else vector_problem(p.vector, self._dim)
            if problem is not None:
                failed[p.passage_id] = ("invalid_vector", problem)
                continue
            docs.append(to_document(p, self.analyzer))
        failed.update(self._bulk(docs))
        if failed:
            ids = sorted(failed)
            sample = "; ".join(f"{i}: {failed[i][1]}" for i in ids[:3])
            codes = sorted({code for code, _ in failed.values()})
            raise IndexWriteError(
                f"OpenSearch rejected {len(ids)} of {len(passages)} passages (ids {ids[:50]}"
                f"{' …' if len(ids) > 50 else ''}; {', '.join(codes)}); the others were written. "
                f"First reasons: {sample}",
                failed,
            )

    def _bulk(self, docs: Sequence[dict[str, Any]]) -> dict[int, tuple[str, str]]:
        """Send documents with ``_bulk``, again and again for the items that failed transiently;
        returns passage id → ``(code, reason)`` of those that finally failed."""
        failed: dict[int, tuple[str, str]] = {}
        target = self._write_index or self.alias
        pending = list(docs)
        for attempt in range(self.write_attempts):
            if attempt:
                time.sleep(min(self.retry_backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
            again: list[dict[str, Any]] = []
            reasons: dict[int, str] = {}
            for chunk in bulk_chunks(pending):
                try:
                    res = self._request(
                        "POST",
                        "/_bulk",
                        params={"refresh": "true", "timeout": BULK_SHARD_TIMEOUT},
                        body=ndjson(bulk_lines(target, chunk)),
                        what="bulk write",
                    )
                except BackendError as exc:
                    if not transient_error(exc.__cause__):
                        for d in chunk:
                            failed[int(d["passage_id"])] = ("index_rejected", exc.message)
                        continue
                    again.extend(chunk)  # ``_id`` is the passage id: a repeat replaces, never adds
                    reasons.update((int(d["passage_id"]), exc.message) for d in chunk)
                    continue
                errors = bulk_item_errors(res)
                for d in chunk:
                    pid = int(d["passage_id"])
                    if pid not in errors:
                        continue
                    status, kind, reason = errors[pid]
                    if transient_item(status, kind):
                        again.append(d)
                        reasons[pid] = f"{status}: {kind or reason}: {reason}"
                    else:
                        failed[pid] = ("index_rejected", f"{status}: {reason}")
            if again and attempt + 1 < self.write_attempts:
                log.warning(
                    "OpenSearch bulk write (%s): %d passages failed transiently, sending them again: %s",
                    target,
                    len(again),
                    next(iter(reasons.values())),
                )
            pending = again
            if not pending:
                break
        for d in pending:
            pid = int(d["passage_id"])
            failed[pid] = (
                "index_unavailable",
                f"still failing after {self.write_attempts} attempts: {reasons.get(pid, '')}",
            )
        return failed

    def delete_documents(self, document_ids: Sequence[int]) -> None:
        ids = sorted({int(i) for i in document_ids})
        if not ids:
            return
        self._ensure()
        for start in range(0, len(ids), DELETE_CHUNK):
            body = delete_body(ids[start : start + DELETE_CHUNK])
            for _attempt in range(DELETE_ATTEMPTS):
                res = self._request(
                    "POST",
                    f"/{self.alias}/_delete_by_query",
                    params={"refresh": "true", "conflicts": "proceed"},
                    body=body,
                    what="delete",
                )
                if res.get("failures"):
                    raise BackendError(f"OpenSearch delete failed ({self.alias}): {res['failures'][:3]}")
                if not res.get("version_conflicts"):
                    break
            else:
                raise BackendError(
                    f"OpenSearch delete kept meeting concurrent writes ({self.alias}); try again"
                )

    def purge_documents(
        self, document_ids: Sequence[int], passages: Callable[[], Iterable[IndexPassage]]
    ) -> None:
        """Delete the documents (searches stop finding them at once), then build a new index
        beside the live one from ``passages()``, move the alias to it and delete the old index,
        whose segments and translog still hold the deleted documents (soft deletes are kept for
        replica recovery, so a force merge does not reliably drop them). Passages written by other
        processes meanwhile went to the old index: the caller writes them again."""
        gone = {int(i) for i in document_ids}
        self.delete_documents(sorted(gone))
        self.begin_rebuild(keep_vectors=True)
        try:
            batch: list[IndexPassage] = []
            for p in passages():
                if p.document_id in gone:
                    continue
                batch.append(p)
                if len(batch) >= 500:
                    self.write(batch)
                    batch = []
            self.write(batch)
        except BaseException:
            self.abort_rebuild()
            raise
        self.finish_rebuild()

    def clear(self) -> None:
        """A fresh empty index behind the alias (atomic swap), then the old one is deleted."""
        with self._lock:
            old = self._aliased_indices()
            new = self._next_index()
            # the configured dimension only: a re-index may bring another embedder's vectors
            dim = self._configured_dim
            self._request(
                "PUT",
                f"/{new}",
                body=index_body(dim, shards=self.shards, replicas=self.replicas),
                what="index creation",
            )
            self._request(
                "POST", "/_aliases", body=alias_swap_actions(self.alias, old, new), what="alias swap"
            )
            if old:
                self._request("DELETE", "/" + ",".join(old), ignore=(404,), what="old index deletion")
            self._dim = dim
            self._vector_mapped = dim is not None
            self._ready = True

    def begin_rebuild(self, *, keep_vectors: bool = True) -> str:
        """Create a new index beside the live one, not behind the alias yet: this backend's
        writes go there until ``finish_rebuild()`` (or ``abort_rebuild()``), while every search
        still reads the old index through the alias. Returns the new index's name.

        ``keep_vectors``: the new index gets the old one's vector dimension (so that processes
        which learnt it keep writing vectors after the swap); otherwise only the configured one."""
        with self._lock:
            self._ensure()
            if self._write_index is not None:
                raise BackendError(f"a re-index of {self.alias} is already under way ({self._write_index})")
            new = self._next_index()
            dim = self._dim if keep_vectors and self._vector_mapped else self._configured_dim
            self._request(
                "PUT",
                f"/{new}",
                body=index_body(dim, shards=self.shards, replicas=self.replicas),
                what="index creation",
            )
            self._write_index = new
            self._dim = dim
            self._vector_mapped = dim is not None
            return new

    def finish_rebuild(self) -> None:
        """Move the alias to the rebuilt index in one ``_aliases`` request (atomic: a search sees
        the old or the new index, never none and never an empty one), then delete the old one."""
        with self._lock:
            new = self._write_index
            if new is None:
                raise BackendError(f"no re-index of {self.alias} is under way")
            old = [i for i in self._aliased_indices() if i != new]
            # the new index is complete: make its writes searchable before readers move to it
            self._request("POST", f"/{new}/_refresh", what="refresh")
            self._request(
                "POST", "/_aliases", body=alias_swap_actions(self.alias, old, new), what="alias swap"
            )
            self._write_index = None
            if old:
                self._request("DELETE", "/" + ",".join(old), ignore=(404,), what="old index deletion")
            self._ready = True

    def abort_rebuild(self) -> None:
        """Give up a re-index: delete the new index; the alias never left the old one."""
        with self._lock:
            new, self._write_index = self._write_index, None
            self._ready = False  # learn the live index's vector mapping again
            self._vector_mapped = False
            self._dim = self._configured_dim
            if new is not None:
                _quietly(lambda: self._request("DELETE", f"/{new}", ignore=(404,), what="index deletion"))

    def drop(self) -> None:
        """Delete the alias and every ``{alias}-{n}`` index (not in the protocol: for tests and
        operators who retire an installation; ``clear()`` always leaves an empty index behind)."""
        with self._lock:
            res = self._request(
                "GET",
                f"/_cat/indices/{self.alias}-*",
                params={"format": "json", "h": "index"},
                ignore=(404,),
                what="index listing",
            )
            pat = self._index_pattern()
            names = sorted(
                {str(r.get("index")) for r in res if pat.fullmatch(str(r.get("index")))}
                if isinstance(res, list)
                else set()
            )
            if names:
                self._request("DELETE", "/" + ",".join(names), ignore=(404,), what="index deletion")
            self._ready = False
            self._vector_mapped = False
            self._dim = self._configured_dim

    # -- searching -----------------------------------------------------------------------------

    def keyword_search(
        self,
        query: QueryNode | None,
        filters: Filters,
        *,
        limit: int,
        offset: int = 0,
        facets: bool = False,
        exact_up_to: int | None = None,
    ) -> BackendResult:
        stats: RankStats | None = None
        if limit > 0 and query is not None:  # scores from the readable set's statistics (issue 22)
            sbody = stats_body(query, filters)
            if sbody is None:
                return BackendResult(
                    hits=[],
                    total=0,
                    facets=empty_facets() if facets else {},
                    documents=0 if facets and exact_up_to is not None else None,
                )
            self._ensure()
            stats = parse_stats(query, self._search(sbody, "ranking statistics"))
        body = search_body(
            query, filters, limit=limit, offset=offset, facets=facets, stats=stats, exact_up_to=exact_up_to
        )
        bounded_facets = facets and exact_up_to is not None
        if body is None:  # the access filter allows nothing: not even asked
            return BackendResult(
                hits=[],
                total=0,
                facets=empty_facets() if facets else {},
                documents=0 if bounded_facets else None,
            )
        self._ensure()
        res = self._search(body, "keyword search")
        total, relation = parse_bounded_total(res, exact_up_to)
        out = BackendResult(hits=parse_hits(res), total=total, total_relation=relation)
        if facets:
            out.facets = parse_facets(res)
        if bounded_facets:
            sample = (res.get("aggregations") or {}).get(SAMPLE_AGG) or {}
            out.documents = int((sample.get("documents") or {}).get("value", 0))
            # the sampler took every match unless more matched than it takes per shard
            out.facets_approximate = relation == "gte"
        return out

    def keyword_after(
        self, query: QueryNode | None, filters: Filters, *, after: Cursor | None, size: int
    ) -> list[BackendHit]:
        body = search_body(query, filters, limit=size)
        if body is None or size <= 0:
            return []
        body["track_total_hits"] = False
        if after is not None:
            del body["from"]
            body["search_after"] = [after.score, after.passage_id]
        self._ensure()
        return parse_hits(self._search(body, "keyword search"))

    def iter_keyword(
        self, query: QueryNode | None, filters: Filters, *, chunk: int = 1000
    ) -> Iterator[BackendHit]:
        after: Cursor | None = None
        position = 0
        while True:
            page = self.keyword_after(query, filters, after=after, size=chunk)
            yield from page
            if len(page) < chunk:
                return
            position += len(page)
            after = Cursor(page[-1].score, page[-1].passage_id, position)

    def vector_search(self, vector: Sequence[float], filters: Filters, *, limit: int) -> BackendResult:
        body = knn_body(vector, filters, limit=limit)
        if body is None or limit <= 0 or not any(vector):
            return BackendResult(hits=[], total=0)
        self._ensure()
        if not self._vectors_ready():
            return BackendResult(hits=[], total=0)
        if self._dim is not None and len(vector) != self._dim:
            raise BackendError(f"query vector dimension {len(vector)} does not match the index ({self._dim})")
        res = self._search(body, "vector search")
        hits = parse_hits(res, vector=True)
        return BackendResult(hits=hits, total=len(hits))

    def facet_counts(self, query: QueryNode | None, filters: Filters) -> dict[str, dict[str, int]]:
        body = facets_body(query, filters)
        if body is None:
            return empty_facets()
        self._ensure()
        return parse_facets(self._search(body, "facet counts"))

    def _count(self, body: dict[str, Any], what: str) -> int:
        self._ensure()
        res = self._request("POST", f"/{self.alias}/_count", body=body, what=what)
        _check_complete(res, what)
        return int(res.get("count", 0))

    def count(self, filters: Filters) -> int:
        body = count_body(filters)
        return 0 if body is None else self._count(body, "count")

    def count_documents(self, query: QueryNode | None, filters: Filters) -> int:
        """Distinct documents with a matching passage (``cardinality``: exact in practice below
        ``CARDINALITY_PRECISION`` documents, HyperLogLog++ above, like tantivy's)."""
        body = documents_body(query, filters)
        if body is None:
            return 0
        self._ensure()
        res = self._search(body, "document count")
        return int(((res.get("aggregations") or {}).get("documents") or {}).get("value", 0))

    def needs_rebuild(self) -> bool:
        """True once when the index had an older schema and was replaced by an empty one.

        An unreachable cluster is logged, not raised: the service starts and reports it in
        ``health()``; every other call raises ``BackendError`` until the cluster answers."""
        try:
            self._ensure(may_rebuild=True)
        except BackendError as exc:
            log.warning("OpenSearch backend not ready: %s", exc.message)
            return False
        return self._rebuild_needed

    def rebuilt(self) -> None:
        self._rebuild_needed = False

    def has_vectors(self) -> bool:
        return self._count(has_vectors_body(), "vector count") > 0

    def health(self) -> dict[str, object]:
        """Never raises. ``status``: ``ok`` (the index is green), ``degraded: …`` (the index is
        yellow: a replica is missing, e.g. a node is down; searches and writes still work) or
        ``error: …`` (the index is red, or no node answers). ``cluster_health`` is the whole
        cluster's: green, yellow, red (other indices may be the cause) or unreachable."""
        base: dict[str, object] = {"backend": self.name, "alias": self.alias}
        try:
            cluster = self._request("GET", "/_cluster/health", what="cluster health")
        except BackendError as exc:
            return {"status": f"error: {exc.message}", **base, "cluster_health": "unreachable"}
        base.update(
            cluster=cluster.get("cluster_name"),
            cluster_health=str(cluster.get("status", "unknown")),
            nodes=cluster.get("number_of_nodes"),
            unassigned_shards=cluster.get("unassigned_shards"),
        )
        try:
            self._ensure()
            indices = self._aliased_indices()
            res = self._request("GET", "/_cluster/health/" + ",".join(indices), what="health")
            status = str(res.get("status", "unknown"))
            out: dict[str, object] = {**base, "index": ",".join(indices), "index_health": status}
            if status == "red":
                return {"status": f"error: OpenSearch index {out['index']} is red", **out}
            out["passages"] = self._count({"query": MATCH_ALL}, "count")
            out["vectors"] = self._count(has_vectors_body(), "vector count")
            if status != "green":
                return {
                    "status": f"degraded: OpenSearch cluster {base['cluster_health']}, index {status} "
                    f"({base['nodes']} nodes, {base['unassigned_shards']} unassigned shards)",
                    **out,
                }
            return {"status": "ok", **out}
        except BackendError as exc:
            return {"status": f"error: {exc.message}", **base}

    def close(self) -> None:
        if self._owns_client:
            _quietly(self.client.close)


def _check_complete(response: dict[str, Any], what: str) -> None:
    """A response that some shards did not answer is an error, never a silently short result."""
    shards = response.get("_shards") or {}
    total = int(shards.get("total") or 0)
    answered = int(shards.get("successful") or 0) + int(shards.get("skipped") or 0)
    failed = int(shards.get("failed") or 0) or (total - answered if total > answered else 0)
    if failed:
        raise BackendError(
            f"OpenSearch {what} failed on {failed} of {total} shards (results would be partial)"
        )
    if response.get("timed_out"):
        raise BackendError(f"OpenSearch {what} timed out (results would be partial)")


def delete_body(document_ids: Sequence[int]) -> dict[str, Any]:
    return {"query": {"terms": {"document_id": list(document_ids)}}}


def has_vectors_body() -> dict[str, Any]:
    return {"query": {"exists": {"field": KNN_FIELD}}}


def _quietly(fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except Exception:  # closing a dead connection is not an error worth raising
        return None
