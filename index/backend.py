"""The backend protocol and its backend-neutral query model.

A query reaches a backend already analysed: terms are the shared analyser's terms, so every
backend matches and ranks the same way. Filters, the access filter included, are part of the
query and are applied inside retrieval, never on the results afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, Protocol, runtime_checkable

from archive_search.types import IndexPassage


@dataclass(frozen=True)
class TermNode:
    """One query word: matches a passage holding any of ``terms`` at one position."""

    terms: tuple[str, ...]
    fuzzy: int = 0
    """Edit distance allowed for the canonical term (0: exact)."""
    prefix: bool = False
    boost: float = 1.0
    """Factor on the word's score (function words of a longer query weigh less)."""


@dataclass(frozen=True)
class PhraseNode:
    """Consecutive words (``slop`` extra positions allowed between them)."""

    words: tuple[tuple[str, ...], ...]
    slop: int = 0


@dataclass(frozen=True)
class BoolNode:
    must: tuple[QueryNode, ...] = ()
    should: tuple[QueryNode, ...] = ()
    must_not: tuple[QueryNode, ...] = ()


QueryNode = TermNode | PhraseNode | BoolNode


@dataclass(frozen=True)
class Filters:
    """Restrictions applied inside retrieval.

    ``allowed_collections`` is the access filter: ``None`` means no restriction (administrators),
    an empty set means nothing may be returned.
    """

    allowed_collections: frozenset[str] | None = frozenset()
    collections: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    speakers: tuple[str, ...] = ()
    """Transcript speakers (matched case-insensitively)."""
    added_after: datetime | None = None
    """Only documents that entered the archive after this moment."""
    document_ids: tuple[int, ...] = ()
    exclude_document_ids: tuple[int, ...] = ()
    entities: tuple[tuple[str, ...], ...] = ()
    """Entity and metadata filters: each a set of ``person:ID``/``place:ID``/``org:ID``/
    ``meta:FIELD_ID=VALUE`` values of which the passage must carry one (the sets are and-ed)."""
    hidden_document_ids: frozenset[int] = frozenset()
    """Part of the access filter: restricted documents the caller may not read (excluded inside
    retrieval, as ``exclude_document_ids`` are)."""

    hidden_passage_ids: frozenset[int] = frozenset()
    """Part of the access filter: restricted passages the caller may not read (excluded inside
    retrieval by passage id, on both backends)."""

    def excluded_passages(self) -> tuple[int, ...]:
        """Passages no hit may be: the restricted ones hidden from the caller."""
        return tuple(sorted(self.hidden_passage_ids))

    def excluded_documents(self) -> tuple[int, ...]:
        """Documents no hit may come from: the requested exclusions and the hidden ones."""
        if not self.hidden_document_ids:
            return self.exclude_document_ids
        return tuple(sorted(set(self.exclude_document_ids) | self.hidden_document_ids))

    def effective_collections(self) -> frozenset[str] | None:
        """Collections that may match: the requested ones within the allowed ones."""
        if self.allowed_collections is None:
            return frozenset(self.collections) if self.collections else None
        if self.collections:
            return self.allowed_collections.intersection(self.collections)
        return self.allowed_collections


NO_DATE = -(10**9)
"""Stored for passages whose document has no date (excluded by any date filter)."""
_EPOCH = date(1970, 1, 1)


def day_number(d: date | None) -> int:
    """A document date as days since 1970-01-01, the encoding every backend stores."""
    return NO_DATE if d is None else (d - _EPOCH).days


def year_number(d: date | None) -> int:
    """The year of a document date (the ``date`` facet), ``NO_DATE`` when there is none."""
    return NO_DATE if d is None else d.year


def epoch_ms(t: datetime | None) -> int:
    """When a document entered the archive, in milliseconds (saved searches' "new since")."""
    if t is None:
        return 0
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)


FACET_FIELDS: tuple[str, ...] = (
    "lang",
    "collection",
    "type",
    "tag",
    "date",
    "person",
    "place",
    "organisation",
    "meta",
)
"""Facets of a search; ``date`` counts passages per year of the document's date; ``person``,
``place`` and ``organisation`` count passages per entity id (the service shows the names);
``meta`` counts passages per metadata value ``FIELD_ID=VALUE`` (the service names the fields)."""

ENTITY_FACETS: dict[str, str] = {"person": "person", "place": "place", "organisation": "org"}
"""Entity facet → index field; the field holds entity ids, the value ``org:12`` is in ``org``."""


META_FIELD = "meta"
"""Index field of a document's structured metadata (issue 18, part 4): one keyword value
``FIELD_ID=VALUE`` per value, on every passage of the document; an ``IndexPassage`` carries them
among its ``entities`` as ``meta:FIELD_ID=VALUE``, so that filters and facets treat them alike."""
LABEL_FIELDS: tuple[str, ...] = (*ENTITY_FACETS.values(), META_FIELD)
"""Keyword fields filled from ``IndexPassage.entities`` (entity ids and metadata values)."""


def entity_field_values(values: list[str]) -> dict[str, list[str]]:
    """``["person:3", "org:9", "meta:4=x"]`` → ``{"person": ["3"], "place": [], "org": ["9"],
    "meta": ["4=x"]}``."""
    out: dict[str, list[str]] = {f: [] for f in LABEL_FIELDS}
    for v in values:
        kind, _, ident = v.partition(":")
        if kind in out and ident:
            out[kind].append(ident)
    return out


@dataclass(frozen=True)
class BackendHit:
    passage_id: int
    document_id: int
    score: float
    terms: str | None = field(default=None, compare=False, repr=False)
    """The passage's analysed terms as stored at index time (``index.analysis.stored_terms``),
    where the backend returns them with a keyword hit: the snippet is then a look-up, not an
    analysis. Not part of a hit's identity."""


TotalRelation = Literal["eq", "gte"]
"""``eq``: a count is exact; ``gte``: counting stopped at the search's bound, at least that many."""


@dataclass
class BackendResult:
    hits: list[BackendHit]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    total_relation: TotalRelation = "eq"
    """``gte`` when the search was bounded (``exact_up_to``) and more passages match: ``total``
    is then the bound itself (as Elasticsearch's ``track_total_hits``)."""
    facets_approximate: bool = False
    """The facets (and ``documents``) were counted over a bounded part of the matches only (a
    bounded search with more matches than its bound); exact otherwise."""
    documents: int | None = None
    """With ``facets`` and ``exact_up_to``: distinct documents among the passages the facets
    counted (exact when ``facets_approximate`` is false, a lower bound otherwise)."""


@dataclass(frozen=True)
class Cursor:
    """Where a page of keyword hits ends, to ask for the hits after it (search-after).

    Hits are ordered by score (descending), then by ``passage_id`` (ascending) on OpenSearch,
    which pages by ``search_after`` on exactly these two values; the embedded backend orders ties
    by their position in the index and resumes at ``position``, after checking that the hit before
    it is still (``score``, ``passage_id``) (``CursorStaleError`` when the index changed)."""

    score: float
    passage_id: int
    position: int
    """How many hits come before the next one."""


@runtime_checkable
class SearchBackend(Protocol):
    """What every search backend provides. One contract test suite runs against each."""

    name: str

    def write(self, passages: Sequence[IndexPassage]) -> None:
        """Add or replace passages (by ``passage_id``); durable when it returns."""

    def delete_documents(self, document_ids: Sequence[int]) -> None:
        """Remove every passage of these documents."""

    def purge_documents(
        self, document_ids: Sequence[int], passages: Callable[[], Iterable[IndexPassage]]
    ) -> None:
        """Remove every passage of these documents and leave none of their text in the backend's
        files (``passages()`` yields every other passage, for a backend that must rewrite them)."""

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
        """BM25 search over analysed terms (``None``: every passage), filters applied inside retrieval.

        ``exact_up_to`` bounds the counting (``None``: everything exact): with ``N`` matches
        counted exactly up to ``N``, beyond which ``total`` is ``N`` and ``total_relation``
        ``gte``; the facets and ``documents`` are then counted over a bounded part (about ``N``)
        of the matches and marked ``facets_approximate``. Only what ``filters`` allow is ever
        counted. The hits are the same either way."""

    def keyword_after(
        self, query: QueryNode | None, filters: Filters, *, after: Cursor | None, size: int
    ) -> list[BackendHit]:
        """The ``size`` keyword hits after ``after`` (from the first with ``None``), in the order of
        ``Cursor``; deep pages cost no more than the first."""

    def iter_keyword(
        self, query: QueryNode | None, filters: Filters, *, chunk: int = 1000
    ) -> Iterator[BackendHit]:
        """Every keyword hit, in the order of ``Cursor``, fetched ``chunk`` at a time from one
        view of the index (an export: memory does not grow with the number of hits)."""

    def vector_search(self, vector: Sequence[float], filters: Filters, *, limit: int) -> BackendResult:
        """Nearest passages by cosine similarity, filters applied inside retrieval."""

    def facet_counts(self, query: QueryNode | None, filters: Filters) -> dict[str, dict[str, int]]:
        """Facet counts over the passages that match (or over all allowed passages)."""

    def count(self, filters: Filters) -> int:
        """Number of passages visible under these filters."""

    def count_documents(self, query: QueryNode | None, filters: Filters) -> int:
        """Number of distinct documents with a passage matching the query under the filters."""

    def needs_rebuild(self) -> bool:
        """True when the backend's stored data was discarded (for example after a schema change)
        and must be rebuilt from the catalog."""

    def rebuilt(self) -> None:
        """Acknowledge that the rebuild was done."""

    def has_vectors(self) -> bool:
        """Whether any passage vectors are stored."""

    def clear(self) -> None:
        """Remove everything (used by ``archive reindex``)."""

    def health(self) -> dict[str, object]:
        """A small dict with at least ``status`` ("ok" or an error text)."""

    def close(self) -> None:
        """Release files and connections."""


@runtime_checkable
class BufferedVectors(Protocol):
    """A backend that keeps vectors in memory between saves (the embedded backend's HNSW graph),
    so a crash can lose the unsaved ones; the indexer saves them and finds the lost ones."""

    def flush_vectors(self) -> None:
        """Save the vectors written since the last save."""

    def discard_unsaved_vectors(self) -> None:
        """Forget unsaved vectors without saving (another writer's files are newer)."""

    def missing_vectors(self, embedded_ids: Iterable[int]) -> list[int]:
        """Of passages the catalog says have a vector, those this backend does not hold."""


@runtime_checkable
class RebuildsBeside(Protocol):
    """A backend that can build a new index beside the live one and switch to it in one step
    (OpenSearch, with an alias), so searches go on while ``archive reindex`` runs."""

    def begin_rebuild(self, *, keep_vectors: bool = True) -> str:
        """Create the new index; writes go to it from now on. Returns its name."""

    def finish_rebuild(self) -> None:
        """Point searches at the new index and drop the old one."""

    def abort_rebuild(self) -> None:
        """Drop the new index; the old one stays live."""


# -- ranking statistics over the readable set ------------------------------------------------------

BM25_K1 = 1.2
BM25_B = 0.75


def bounded_total(matches: int, exact_up_to: int | None) -> tuple[int, TotalRelation]:
    """A count reported under a bound: exact up to ``exact_up_to``, the bound itself beyond it."""
    if exact_up_to is not None and matches > exact_up_to:
        return exact_up_to, "gte"
    return matches, "eq"


def bm25_idf(doc_freq: int, num_docs: int) -> float:
    """BM25's idf (tantivy's and Lucene's formula) for ``doc_freq`` matches among ``num_docs``."""
    return math.log(1.0 + (num_docs - doc_freq + 0.5) / (doc_freq + 0.5))


def readable_filters(f: Filters) -> Filters:
    """The statistics scope of a search: every passage the principal may read, and nothing else.

    Document frequencies and the passage count behind a keyword score are counted here, so a
    score says nothing about collections the principal cannot read (issue 22). The request's own
    narrowing filters (language, dates, ...) are left out: they do not change a passage's score."""
    return Filters(allowed_collections=f.allowed_collections)


def scored_terms(node: QueryNode | None) -> set[str]:
    """The terms whose document frequency enters a score: exact terms and phrase words (prefix and
    fuzzy expansions score a constant, so they need none)."""
    out: set[str] = set()
    if node is None:
        return out
    if isinstance(node, TermNode):
        for i, term in enumerate(node.terms):
            if not (node.prefix and i == 0):
                out.add(term)
    elif isinstance(node, PhraseNode):
        if len(node.words) == 1:
            return scored_terms(TermNode(node.words[0]))
        out.update(w[0] for w in node.words if w)
    else:
        for child in (*node.must, *node.should):  # excluded words score nothing
            out |= scored_terms(child)
    return out


@dataclass(frozen=True)
class RankStats:
    """Ranking statistics of one search, counted over the readable set only."""

    num_docs: int
    doc_freq: dict[str, int]

    def idf(self, term: str) -> float:
        return bm25_idf(self.doc_freq.get(term, 0), self.num_docs)
