"""One retrieval path: parse → compile → rank → fuse → hydrate → highlight.

Search, batch search, saved searches (through :meth:`Retrieval.search`) and corroboration
(similar passages and documents) all run here, so that each gets the same query analysis, the
same OCR tolerance, the access filter inside the backend query and the same hydration of hits
with provenance and highlighted snippets. :class:`~search_api.service.ArchiveService`
owns the components and hands them in.

Why one module: it is the one retrieval path (issue 15): parsing, compiling, ranking, fusing,
hydrating and explaining a hit are steps of the same request, and spreading them over modules would
bring back the round trips between modules that this replaced.
"""

from __future__ import annotations

import base64
import hashlib
import json
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

from sqlalchemy import select

from archive_search.catalog.models import (
    Collection,
    Document,
    DocumentTag,
    EmailHeader,
    Entity,
    Passage,
    PassageTag,
    StoredFile,
    Tag,
)
from archive_search.errors import (
    ConflictError,
    EmbedderMismatchError,
    InvalidRequestError,
    QuerySyntaxError,
)
from archive_search.types import (
    Hit,
    MatchExplanation,
    PassageRef,
    Principal,
    SearchRequest,
    SearchResponse,
    SimilarOptions,
)
from index import indexer
from index.analysis import ANALYZER_VERSION, WORD_RE, Highlighter, explain_matches, fold
from index.backend import (
    ENTITY_FACETS,
    FACET_FIELDS,
    BackendHit,
    BackendResult,
    BoolNode,
    Cursor,
    Filters,
    PhraseNode,
    QueryNode,
    TermNode,
    TotalRelation,
)
from index.components import ComponentsView
from index.embeddings import Embedder
from index.stopwords import is_stop_word
from ingest.lang import detect_language
from search_api import metadata
from search_api.access import readable_passage
from search_api.entities import resolve
from search_api.query import Group, Node, Or, ParsedQuery, Phrase, Word, parse_query

FUZZY_MIN_LEN = 5
RARE_TERM_MAX = 20
"""A query word with at most this many exact passage matches also matches close misspellings."""
MAX_CANDIDATES = 2000
"""Most passages ranked for one grouped search page."""
MAX_RESULT_WINDOW = 1000
"""Deepest result reachable by paging (page × size), as in Elasticsearch's max_result_window."""
MORE_PASSAGES = 3
VIEWER_MATCH_LIMIT = 5000
"""Most matching passages of one document the viewer steps through (hit k of n)."""
EXPORT_CHUNK = 1000
"""Passages read from the backend at a time by an export."""
HYDRATE_CHUNK = 500
"""Passages hydrated from the catalog at a time by an export."""
SEMANTIC_POOL = MAX_CANDIDATES
"""Most passages semantic search ranks (those above the floor); semantic results are ranked,
not exhaustive."""
EntryMatch = Literal["all", "any", "phrase"]


@dataclass
class Ranked:
    """The top passages of a mode, and the size and facets of its whole set of hits."""

    hits: list[BackendHit]
    passages: int
    documents: Callable[[], int]
    """Distinct documents among the hits (counted on demand: a full pass for keyword matches)."""
    facets: dict[str, dict[str, int]]
    relation: TotalRelation = "eq"
    """``gte``: more keyword matches than the search counts; ``passages`` and ``documents`` are
    lower bounds (``ARCHIVE_TOTAL_HITS_EXACT_UP_TO``)."""
    facets_approximate: bool = False


class Retrieval(ComponentsView):
    """Thread-safe for searches; reads its owner's components on every use (``ComponentsView``)."""

    # -- search: parse, compile, rank, fuse -------------------------------------------------

    def _fuzziness(self, term: str, filters: Filters) -> int:
        """Edits allowed for a query term: OCR damage ("пытнам" for "пыткам") is tolerated for
        rare terms only — a term with few exact matches among the passages the caller may read
        (counted under the same filters, so other collections never influence it). 1 edit from
        5 letters, 2 from 9; fuzzy matches rank below exact ones (the backend boosts them 0.3)."""
        if len(term) < FUZZY_MIN_LEN or not any(ch.isalpha() for ch in term):
            return 0
        exact = self.backend.keyword_search(
            TermNode((term,)), filters, limit=0, exact_up_to=RARE_TERM_MAX + 1
        ).total
        if exact > RARE_TERM_MAX:
            return 0
        return 2 if len(term) >= 9 else 1

    def _compile(
        self, node: Node, filters: Filters | None = None, fuzzy: dict[str, int] | None = None
    ) -> QueryNode:
        """The backend query of a parsed query; with ``filters``, rare words get OCR tolerance
        (recorded in ``fuzzy`` for highlighting)."""
        if isinstance(node, Word):
            text = node.text
            if not node.prefix:
                # the word as the analyser cuts it: "Фервекс?" → "Фервекс", "мг/125" → two words
                toks = self.analyzer.tokens(text)
                if not toks:
                    return BoolNode()
                if len(toks) > 1:
                    parts = tuple(Word(text[t.start : t.end], weight=node.weight) for t in toks)
                    return BoolNode(should=tuple(self._compile(p, filters, fuzzy) for p in parts))
                text = text[toks[0].start : toks[0].end]
            terms = self.analyzer.query_terms(text)
            edits = 0
            if filters is not None and not node.prefix and terms and node.weight == 1.0:
                edits = self._fuzziness(terms[0], filters)
                if edits and fuzzy is not None:
                    fuzzy[terms[0]] = edits
            return TermNode(terms, prefix=node.prefix, fuzzy=edits, boost=node.weight)
        if isinstance(node, Phrase):
            words = tuple(t.terms for t in self.analyzer.tokens(node.text))
            if not words:
                return BoolNode()
            return PhraseNode(words, slop=node.slop)
        if isinstance(node, Or):
            return BoolNode(should=tuple(self._compile(n, filters, fuzzy) for n in node.items))
        return BoolNode(
            must=tuple(self._compile(n, filters, fuzzy) for n in node.must),
            should=tuple(self._compile(n, filters, fuzzy) for n in node.should),
            # an excluded word is excluded exactly: no fuzzy expansion of exclusions
            must_not=tuple(self._compile(n) for n in node.must_not),
        )

    def _highlight_terms(self, parsed: ParsedQuery) -> set[str]:
        terms: set[str] = set()
        for w in parsed.words(weighted=False):
            for tok in self.analyzer.tokens(w):
                terms.update(tok.terms)
                terms.update(self.analyzer.query_terms(w[tok.start : tok.end]))
        return terms

    def _filters(self, req: SearchRequest, parsed: ParsedQuery, principal: Principal) -> Filters:
        f = parsed.filters
        return Filters(
            allowed_collections=principal.readable,
            hidden_document_ids=principal.hidden_documents,
            hidden_passage_ids=principal.hidden_passages,
            collections=tuple(dict.fromkeys([*req.collections, *f.get("collection", [])])),
            langs=tuple(dict.fromkeys([*req.lang, *f.get("lang", [])])),
            types=tuple(dict.fromkeys([*req.types, *f.get("type", [])])),
            tags=tuple(dict.fromkeys([*req.tags, *f.get("tag", [])])),
            date_from=parsed.date_from or req.date_from,
            date_to=parsed.date_to or req.date_to,
            speakers=tuple(dict.fromkeys([*req.speakers, *f.get("speaker", [])])),
            added_after=req.added_after,
            document_ids=self._addressed(f.get("from", []), f.get("to", [])),
            entities=self._entity_groups(
                {
                    "person": [*req.persons, *f.get("person", [])],
                    "place": [*req.places, *f.get("place", [])],
                    "org": [*req.orgs, *f.get("org", [])],
                }
            )
            + self._meta_groups([*req.meta, *f.get("meta", [])], principal),
        )

    def _meta_groups(self, specs: list[str], principal: Principal) -> tuple[tuple[str, ...], ...]:
        """Metadata filters resolved to index values (``search_api/metadata.py``)."""
        if not specs:
            return ()
        with self.catalog.session() as s:
            return metadata.filter_groups(s, specs, principal)

    def _addressed(self, senders: list[str], recipients: list[str]) -> tuple[int, ...]:
        """The e-mails (and their attachments) matching every ``from:`` and ``to:`` filter: each
        value is a part of the decoded ``Name <address>`` (case-insensitive). ``()`` without such
        filters; ``(0,)``, which no document has, when no e-mail matches."""
        if not senders and not recipients:
            return ()
        query = select(EmailHeader.document_id)
        for value in senders:
            query = query.where(EmailHeader.sender.contains(value.casefold(), autoescape=True))
        for value in recipients:
            query = query.where(EmailHeader.recipients.contains(value.casefold(), autoescape=True))
        with self.catalog.session() as s:
            mails = list(s.scalars(query))
            children = (
                list(s.scalars(select(Document.id).where(Document.parent_id.in_(mails)))) if mails else []
            )
        return tuple(sorted({*mails, *children})) or (0,)

    def _entity_groups(self, names: dict[str, list[str]]) -> tuple[tuple[str, ...], ...]:
        """Entity filter names resolved to entity ids (``search_api/entities.py``)."""
        if not any(names.values()):
            return ()
        with self.catalog.session() as s:
            return tuple(
                resolve(s, etype, name) for etype, values in names.items() for name in dict.fromkeys(values)
            )

    def _effective_mode(self, mode: str, sem_text: str) -> tuple[str, Embedder | None]:
        """The mode that can really run: hybrid falls back to keyword while no vectors exist."""
        if mode == "keyword" or not sem_text:
            return "keyword", None
        embedder = self.embedder()
        if embedder is None or not self.backend.has_vectors():
            if mode == "semantic":  # the archive's state, not the request, is at fault: 409
                raise ConflictError(
                    "semantic search is not available: no embedder configured or no passage embedded yet",
                    code="semantic_unavailable",
                )
            return "keyword", None
        problem = indexer.embedder_problem(self.catalog, embedder)
        if problem is not None:
            # the query vector would be compared with another model's vectors: meaningless scores
            raise EmbedderMismatchError(problem)
        return mode, embedder

    def _gate_applies(self, mode: str) -> bool:
        """Whether the known-word gate (``ARCHIVE_KNOWN_WORD_GATE``) applies to a search in ``mode``:
        hybrid only (a semantic search is the explicit request for passages by meaning, and the
        gated hybrid search's empty state links to it), with the setting on and the Belarusian
        dictionary installed (without it the gate fires on real Belarusian: docs/decisions.md,
        "Known-word gate, round 3")."""
        if mode != "hybrid" or not self.settings.known_word_gate:
            return False
        from search_api.known_words import belarusian_dictionary  # here: never on a keyword search

        return belarusian_dictionary() is not None

    def _no_known_word(self, mode: str, sem_text: str) -> bool:
        """Whether the known-word gate takes this search's meaning-only hits away: a hybrid search
        none of whose words is a known word (``search_api/known_words.py``). Dictionaries and the
        model's vocabulary only: the answer says nothing about what the archive holds."""
        if not self._gate_applies(mode):
            return False
        from search_api.known_words import has_known_word

        return not has_known_word(sem_text)

    def _vector_pool(self, qvec: list[float] | None, filters: Filters, limit: int) -> list[BackendHit]:
        """The nearest passages above the relevance floor (``ARCHIVE_SEMANTIC_FLOOR``): a query
        about nothing the archive holds gets none, instead of every passage in some order. None
        for ``qvec``: a query the known-word gate stopped, no passages."""
        if qvec is None:
            return []
        floor = self._semantic_floor(qvec)
        hits = [h for h in self.backend.vector_search(qvec, filters, limit=limit).hits if h.score >= floor]
        return self._above_passage_background(hits)

    def _above_passage_background(self, hits: list[BackendHit]) -> list[BackendHit]:
        """The hits that also beat their own passage's background by ``ARCHIVE_SEMANTIC_PASSAGE_MARGIN``:
        a short note is close to any query (``search_api/background.py``). The passages' stored
        vectors are read from the catalog, so the rule is the same on both backends."""
        cfg = self.settings
        if not hits or cfg.semantic_floor <= -1 or cfg.semantic_passage_margin <= -1:
            return hits
        embedder = self.embedder()
        if embedder is None:
            return hits
        from search_api.background import passage_backgrounds  # here: numpy, never on a keyword search

        own = passage_backgrounds(self.catalog, embedder, [h.passage_id for h in hits])
        margin = cfg.semantic_passage_margin
        # a passage without a stored vector (being re-embedded) is judged by the query side alone
        return [h for h in hits if h.score >= own.get(h.passage_id, -1.0) + margin]

    def _semantic_floor(self, qvec: list[float]) -> float:
        """The cosine a semantic hit needs: the absolute floor, and (``ARCHIVE_SEMANTIC_MARGIN``) the
        query's background similarity plus the margin (``search_api/background.py``)."""
        cfg = self.settings
        if cfg.semantic_floor <= -1 or cfg.semantic_margin <= -1:
            return cfg.semantic_floor
        embedder = self.embedder()
        if embedder is None:
            return cfg.semantic_floor
        from search_api.background import background  # here: numpy, never on a keyword search

        return max(cfg.semantic_floor, background(embedder, qvec) + cfg.semantic_margin)

    def _ranked(
        self,
        mode: str,
        node: QueryNode | None,
        filters: Filters,
        qvec: list[float] | None,
        depth: int,
        *,
        facets: bool,
        exact_up_to: int | None = None,
    ) -> Ranked:
        """The top ``depth`` passages in rank order, and the size and facets of the whole set of
        hits the mode returns: keyword, the passages matching the query; semantic, the passages
        above the floor; hybrid, the union of both (``docs/decisions.md``). With ``exact_up_to``
        the keyword matches are counted up to that many (``BackendResult.total_relation``).
        Without ``qvec`` in semantic or hybrid mode (the known-word gate), no meaning-only hits:
        semantic, none; hybrid, the keyword hits."""
        if mode == "keyword":
            kw = self.backend.keyword_search(
                node, filters, limit=depth, facets=facets, exact_up_to=exact_up_to
            )
            return Ranked(
                kw.hits,
                kw.total,
                self._documents_of(kw, node, filters),
                kw.facets,
                kw.total_relation,
                kw.facets_approximate,
            )
        cfg = self.settings
        if mode == "semantic":
            pool = self._vector_pool(qvec, filters, SEMANTIC_POOL)
            n_docs = len({h.document_id for h in pool})
            return Ranked(pool[:depth], len(pool), lambda: n_docs, self._facets_of(pool) if facets else {})
        limit = max(depth, cfg.hybrid_candidates)
        pool = self._vector_pool(qvec, filters, limit)
        kw = self.backend.keyword_search(node, filters, limit=limit, facets=facets, exact_up_to=exact_up_to)
        fused = self._fuse(kw.hits, pool)
        extra, extra_docs = self._semantic_only(node, filters, kw, pool)
        merged = kw.facets
        if facets and extra:
            merged = {k: dict(v) for k, v in kw.facets.items()}
            for key, counts in self._facets_of(extra).items():
                bucket = merged.setdefault(key, {})
                for val, n in counts.items():
                    bucket[val] = bucket.get(val, 0) + n
        kw_documents = self._documents_of(kw, node, filters)
        return Ranked(
            fused[:depth],
            kw.total + len(extra),
            lambda: kw_documents() + extra_docs,
            merged,
            kw.total_relation,
            kw.facets_approximate,
        )

    def _documents_of(self, kw: BackendResult, node: QueryNode | None, filters: Filters) -> Callable[[], int]:
        """The distinct documents of a keyword search: counted by its own bounded facet pass, or
        on demand (a pass over every match)."""
        if kw.documents is not None:
            documents = kw.documents
            return lambda: documents
        return lambda: self.backend.count_documents(node, filters)

    def _fuse(self, keyword: list[BackendHit], vector: list[BackendHit]) -> list[BackendHit]:
        """Hybrid fusion of the two rankings (weighted reciprocal rank fusion)."""
        cfg = self.settings
        return rrf(
            [keyword, vector], weights=[cfg.hybrid_keyword_weight, cfg.hybrid_semantic_weight], k=cfg.rrf_k
        )

    def _semantic_only(
        self, node: QueryNode | None, filters: Filters, kw: BackendResult, pool: list[BackendHit]
    ) -> tuple[list[BackendHit], int]:
        """The passages of the vector pool that do not match the keyword query, and the number of
        their documents without any keyword match: what hybrid adds to the keyword hits."""
        matched = {h.passage_id for h in kw.hits}
        unknown = [h for h in pool if h.passage_id not in matched]
        if not unknown:
            return [], 0
        kw_docs = {h.document_id for h in kw.hits}
        if node is not None and kw.total > len(kw.hits):
            # keyword matches beyond the ranked list: look them up among the pool's documents
            docs = tuple(sorted({h.document_id for h in unknown}))
            more = self.backend.keyword_search(
                node, replace(filters, document_ids=docs), limit=MAX_CANDIDATES * 5
            )
            matched |= {h.passage_id for h in more.hits}
            kw_docs |= {h.document_id for h in more.hits}
        extra = [h for h in unknown if h.passage_id not in matched]
        return extra, len({h.document_id for h in extra} - kw_docs)

    def search(self, req: SearchRequest, principal: Principal, *, brief: bool = False) -> SearchResponse:
        """Run one search for ``principal``; only collections it may read are ever touched.

        With ``group="document"`` (the default) each hit is the best passage of one document and
        carries up to three more of its matching passages; ``total`` counts documents. With
        ``group="passage"`` hits are passages and ``total`` counts passages.

        ``brief=True`` answers only what the command line's plain output shows (issue 17, part
        6): no ``query_lang`` (the language detector's models take ~1 s to load) and, with
        ``group="document"``, no further passages in ``more`` (their snippets are most of the
        highlighting); ``matching_passages`` still counts them.
        """
        t0 = time.perf_counter()
        if req.page < 1:
            raise InvalidRequestError("page must be 1 or more")
        if not 1 <= req.size <= self.settings.max_page_size:
            raise InvalidRequestError(f"size must be between 1 and {self.settings.max_page_size}")
        pageable = req.group == "passage" and req.mode in ("keyword", "semantic")
        if req.cursor is not None or (pageable and req.page == 1):
            return self._search_after(req, principal, t0, brief)
        if (req.page - 1) * req.size >= MAX_RESULT_WINDOW:
            # past the window of offset paging: the total and facets of the search, no hits, and
            # a flag saying why (cursor paging with group=passage, or the export, reach every hit)
            first = self.search(replace(req, page=1, size=1), principal, brief=brief)
            took = int((time.perf_counter() - t0) * 1000)
            return first.model_copy(update={"hits": [], "beyond_window": True, "took_ms": took})
        parsed = parse_query(req.q)
        filters = self._filters(req, parsed, principal)
        fuzzy: dict[str, int] = {}
        ranked_root = weigh_function_words(parsed.root, self.settings.function_word_weight)
        node = self._compile(ranked_root, filters, fuzzy) if ranked_root is not None else None
        offset = (req.page - 1) * req.size
        sem_text = " ".join(parsed.words())
        mode, embedder = self._effective_mode(req.mode, sem_text)
        gated = self._no_known_word(mode, sem_text)
        qvec = embedder.embed_query(sem_text).tolist() if embedder is not None and not gated else None
        terms = self._highlight_terms(ParsedQuery(ranked_root))
        why = Why.of_query(ParsedQuery(ranked_root), mode != "keyword") if req.explain else None

        bound = self.settings.total_hits_exact_up_to
        if req.group == "passage":
            if mode == "keyword":
                res = self.backend.keyword_search(
                    node, filters, limit=req.size, offset=offset, facets=True, exact_up_to=bound
                )
                page_hits, total, facets = res.hits, res.total, res.facets
                relation, approximate = res.total_relation, res.facets_approximate
            else:
                r = self._ranked(mode, node, filters, qvec, offset + req.size, facets=True, exact_up_to=bound)
                page_hits, total, facets = r.hits[offset : offset + req.size], r.passages, r.facets
                relation, approximate = r.relation, r.facets_approximate
            hits = self._hydrate(page_hits, terms, principal, fuzzy, why)
        else:
            need = offset + req.size
            depth = min(max(need * 5, 50), MAX_CANDIDATES)
            while True:
                r = self._ranked(mode, node, filters, qvec, depth, facets=True, exact_up_to=bound)
                groups = group_by_document(r.hits)
                if len(groups) >= need or len(r.hits) < depth or depth >= MAX_CANDIDATES:
                    break
                depth = min(depth * 4, MAX_CANDIDATES)
            total, facets = r.documents(), r.facets
            relation, approximate = r.relation, r.facets_approximate
            if relation == "gte":  # both are lower bounds: the documents counted, those ranked
                total = max(total, len(groups))
            page_groups = groups[offset:need]
            best = [g[0] for g in page_groups]
            more = [] if brief else [h for g in page_groups for h in g[1 : 1 + MORE_PASSAGES]]
            hydrated = {
                int(h.passage_id): h for h in self._hydrate(best + more, terms, principal, fuzzy, why)
            }
            hits = []
            for g in page_groups:
                top = hydrated.get(g[0].passage_id)
                if top is None:
                    continue
                top.more = [
                    PassageRef.from_hit(hydrated[h.passage_id])
                    for h in g[1 : 1 + MORE_PASSAGES]
                    if h.passage_id in hydrated
                ]
                top.matching_passages = len(g)
                hits.append(top)
        inside = MAX_RESULT_WINDOW - offset  # a page that straddles the window's end is cut there
        return SearchResponse(
            total=total,
            total_relation=relation,
            facets_approximate=approximate,
            took_ms=int((time.perf_counter() - t0) * 1000),
            hits=hits[:inside],
            facets=self._named_facets({k: facets.get(k, {}) for k in FACET_FIELDS}),
            mode=mode,
            group=req.group,
            query_lang=detect_language(sem_text) if sem_text and not brief else None,
            beyond_window=len(hits) > inside,
            no_known_word=gated,
        )

    def _prepared(
        self, req: SearchRequest, principal: Principal
    ) -> tuple[str, QueryNode | None, Filters, list[float] | None, set[str], dict[str, int], str, Why | None]:
        """(mode, backend query, filters, query vector, highlight terms, fuzzy terms, semantic text,
        what ``explain`` needs)."""
        parsed = parse_query(req.q)
        filters = self._filters(req, parsed, principal)
        fuzzy: dict[str, int] = {}
        ranked_root = weigh_function_words(parsed.root, self.settings.function_word_weight)
        node = self._compile(ranked_root, filters, fuzzy) if ranked_root is not None else None
        sem_text = " ".join(parsed.words())
        mode, embedder = self._effective_mode(req.mode, sem_text)
        gated = self._no_known_word(mode, sem_text)
        qvec = embedder.embed_query(sem_text).tolist() if embedder is not None and not gated else None
        terms = self._highlight_terms(ParsedQuery(ranked_root))
        why = Why.of_query(ParsedQuery(ranked_root), mode != "keyword") if req.explain else None
        return mode, node, filters, qvec, terms, fuzzy, sem_text, why

    def _search_after(
        self, req: SearchRequest, principal: Principal, t0: float, brief: bool = False
    ) -> SearchResponse:
        """Passage hits paged by cursor (search-after on score and passage id), to any depth."""
        if req.group != "passage" or req.mode == "hybrid":
            raise InvalidRequestError(
                "cursor paging needs group=passage and mode=keyword or semantic", code="invalid_cursor"
            )
        after = decode_cursor(req.cursor, req.mode) if req.cursor else None
        mode, node, filters, qvec, terms, fuzzy, sem_text, why = self._prepared(req, principal)
        first = after is None
        facets: dict[str, dict[str, int]] = {}
        bound = self.settings.total_hits_exact_up_to
        relation: TotalRelation = "eq"
        approximate = False
        if mode == "keyword":
            page = self.backend.keyword_after(node, filters, after=after, size=req.size)
            res = self.backend.keyword_search(node, filters, limit=0, facets=first, exact_up_to=bound)
            total, facets, relation = res.total, res.facets, res.total_relation
            approximate = res.facets_approximate
        else:
            pool = self._vector_pool(qvec, filters, SEMANTIC_POOL)
            start = after.position if after is not None else 0
            page = pool[start : start + req.size]
            total = len(pool)
            if first:
                facets = self._facets_of(pool)
        position = (after.position if after is not None else 0) + len(page)
        # a bounded total ("at least") says nothing about where the hits end: a full page goes on
        more = len(page) == req.size and (position < total or relation == "gte")
        next_cursor = (
            encode_cursor(Cursor(page[-1].score, page[-1].passage_id, position), mode) if more else None
        )
        return SearchResponse(
            total=total,
            total_relation=relation,
            facets_approximate=approximate,
            took_ms=int((time.perf_counter() - t0) * 1000),
            hits=self._hydrate(page, terms, principal, fuzzy, why),
            facets=self._named_facets({k: facets.get(k, {}) for k in FACET_FIELDS}),
            mode=mode,
            group="passage",
            query_lang=detect_language(sem_text) if sem_text and not brief else None,
            next_cursor=next_cursor,
            no_known_word=mode != "keyword" and qvec is None,
        )

    def export_hits(self, req: SearchRequest, principal: Principal) -> tuple[ExportInfo, Iterator[Hit]]:
        """Every hit of a search, streamed with provenance (``GET /search/export``): keyword, every
        matching passage; hybrid, the fused ranking and then every other keyword match (the union
        of both, as its total counts); semantic, the passages above the floor (ranked, not
        exhaustive). With ``group=document`` one hit per document, its best passage. Passages are
        read and hydrated a chunk at a time, so memory does not grow with the number of hits
        (``group=document`` remembers the ids of the documents already written)."""
        mode, node, filters, qvec, terms, fuzzy, _, why = self._prepared(req, principal)
        if mode == "keyword":
            total = self.backend.keyword_search(node, filters, limit=0).total
            if req.group == "document":
                total = self.backend.count_documents(node, filters)
            stream: Iterator[BackendHit] = self.backend.iter_keyword(node, filters, chunk=EXPORT_CHUNK)
        else:
            r = self._ranked(mode, node, filters, qvec, MAX_CANDIDATES, facets=False)
            total = r.documents() if req.group == "document" else r.passages
            stream = self._union_stream(mode, node, filters, r.hits)
        info = ExportInfo(mode=mode, total=total, exhaustive=mode != "semantic", group=req.group)
        return info, self._hydrated_stream(stream, req.group, terms, principal, fuzzy, why)

    def _union_stream(
        self, mode: str, node: QueryNode | None, filters: Filters, ranked: list[BackendHit]
    ) -> Iterator[BackendHit]:
        yield from ranked
        if mode != "hybrid" or node is None:
            return
        seen = {h.passage_id for h in ranked}  # bounded: the fused candidates
        for h in self.backend.iter_keyword(node, filters, chunk=EXPORT_CHUNK):
            if h.passage_id not in seen:
                yield h

    def _hydrated_stream(
        self,
        stream: Iterator[BackendHit],
        group: str,
        terms: set[str],
        principal: Principal,
        fuzzy: dict[str, int],
        why: Why | None = None,
    ) -> Iterator[Hit]:
        documents: set[int] = set()
        chunk: list[BackendHit] = []
        for h in stream:
            if group == "document":
                if h.document_id in documents:
                    continue
                documents.add(h.document_id)
            chunk.append(h)
            if len(chunk) >= HYDRATE_CHUNK:
                yield from self._hydrate(chunk, terms, principal, fuzzy, why)
                chunk = []
        if chunk:
            yield from self._hydrate(chunk, terms, principal, fuzzy, why)

    def search_record(
        self, req: SearchRequest, principal: Principal, *, mode: str, total: int, hits: HitListHash
    ) -> dict[str, Any]:
        """What a lawyer can disclose about one search (stored in its audit entry, shipped in case
        bundles): the query, mode, every filter, the collections the user could read, the index
        and analyser, the embedder, the time, the number of hits and a SHA-256 of the ordered list
        of hits served (``document_id:passage_id`` lines), with the first 100 of those ids."""
        parsed_filters = parse_query(req.q).filters
        return {
            "q": req.q,
            "mode": req.mode,
            "mode_run": mode,
            "group": req.group,
            "filters": {
                "lang": list(req.lang),
                "collection": list(req.collections),
                "type": list(req.types),
                "tag": list(req.tags),
                "speaker": list(req.speakers),
                "person": list(req.persons),
                "place": list(req.places),
                "org": list(req.orgs),
                **({"meta": list(req.meta)} if req.meta else {}),
                "date_from": req.date_from.isoformat() if req.date_from else None,
                "date_to": req.date_to.isoformat() if req.date_to else None,
                "in_query": parsed_filters,
            },
            "readable": sorted(principal.readable) if principal.readable is not None else "all",
            "index": {"backend": self.backend.name, "analyzer": ANALYZER_VERSION},
            "embedder": indexer.recorded_embedder(self.catalog) if mode != "keyword" else None,
            "semantic_floor": self.settings.semantic_floor if mode != "keyword" else None,
            "semantic_margin": self.settings.semantic_margin if mode != "keyword" else None,
            "semantic_passage_margin": self.settings.semantic_passage_margin if mode != "keyword" else None,
            "known_word_gate": self._gate_record(req, mode),
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "total": total,
            "hits": hits.count,
            "hits_sha256": hits.hexdigest(),
            "hit_ids": hits.ids,
            "page": req.page if req.cursor is None else None,
            "size": req.size,
            "cursor": req.cursor,
        }

    def _gate_record(self, req: SearchRequest, mode: str) -> dict[str, bool] | None:
        """The known-word gate in a search record: whether it applied to the search (hybrid, the
        setting on, the dictionary installed), and whether it took the search's meaning-only hits
        away (no word of the query is a known word)."""
        if mode == "keyword":
            return None
        if not self._gate_applies(mode):
            return {"on": False, "fired": False}
        try:
            sem_text = " ".join(parse_query(req.q).words())
        except QuerySyntaxError:
            sem_text = ""
        return {"on": True, "fired": self._no_known_word(mode, sem_text)}

    def _named_facets(self, facets: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """Entity facets (counted by id in the backend) keyed by the entities' names; the
        ``meta`` facet as one ``meta.NAME`` facet per metadata field."""
        raw_meta = facets.pop("meta", None) if "meta" in facets else None
        if raw_meta:
            with self.catalog.session() as s:
                facets = {**facets, **metadata.named_facets(s, raw_meta)}
        ids = {int(k) for name in ENTITY_FACETS for k in facets.get(name, {}) if k.isdigit()}
        if not ids:
            return facets
        with self.catalog.session() as s:
            names = dict(s.execute(select(Entity.id, Entity.name).where(Entity.id.in_(sorted(ids)))).all())
        out = dict(facets)
        for fname in ENTITY_FACETS:
            counts = {int(k): n for k, n in facets.get(fname, {}).items() if k.isdigit() and int(k) in names}
            shared = Counter(names[i] for i in counts)
            out[fname] = {
                (names[i] if shared[names[i]] == 1 else f"{names[i]} #{i}"): n for i, n in counts.items()
            }
        return out

    def _facets_of(self, hits: list[BackendHit]) -> dict[str, dict[str, int]]:
        """Facet counts over a list of passages (semantic hits have no boolean match set for the
        backend to aggregate): passages per language, collection, type, tag and year."""
        out: dict[str, dict[str, int]] = {k: {} for k in FACET_FIELDS}
        if not hits:
            return out
        ids = [h.passage_id for h in hits]

        def add(key: str, val: object) -> None:
            if val is not None:
                out[key][str(val)] = out[key].get(str(val), 0) + 1

        with self.catalog.session() as s:
            rows = s.execute(
                select(Passage.id, Passage.lang, Collection.name, Document.doc_type, Document.doc_date)
                .join(Document, Passage.document_id == Document.id)
                .join(Collection, Document.collection_id == Collection.id)
                .where(Passage.id.in_(ids))
            ).all()
            doc_tags = s.execute(
                select(Passage.id, Tag.name)
                .join(DocumentTag, DocumentTag.document_id == Passage.document_id)
                .join(Tag, Tag.id == DocumentTag.tag_id)
                .where(Passage.id.in_(ids))
            ).all()
            passage_tags = s.execute(
                select(PassageTag.passage_id, Tag.name)
                .join(Tag, Tag.id == PassageTag.tag_id)
                .where(PassageTag.passage_id.in_(ids))
            ).all()
        for _, lang, col, typ, day in rows:
            add("lang", lang)
            add("collection", col)
            add("type", typ)
            add("date", day.year if day is not None else None)
        for _, tag in set(doc_tags) | set(passage_tags):
            add("tag", tag)
        with self.catalog.session() as s:
            out["meta"] = metadata.passage_facets(s, ids)
        out["date"] = dict(sorted(out["date"].items()))
        return out

    def _hydrate(
        self,
        hits: list[BackendHit],
        terms: set[str],
        principal: Principal,
        fuzzy: dict[str, int] | None = None,
        why: Why | None = None,
    ) -> list[Hit]:
        if not hits:
            return []
        ids = [h.passage_id for h in hits]
        with self.catalog.session() as s:
            rows = s.execute(
                select(Passage, Document, Collection.name, StoredFile.sha256)
                .join(Document, Passage.document_id == Document.id)
                .join(Collection, Document.collection_id == Collection.id)
                .join(StoredFile, Document.file_id == StoredFile.id)
                .where(Passage.id.in_(ids))
            ).all()
        by_id = {p.id: (p, d, c, sha) for p, d, c, sha in rows}
        highlighter = Highlighter(self.analyzer, terms, fuzzy=fuzzy)  # one per page: words memoised
        out: list[Hit] = []
        for h in hits:
            row = by_id.get(h.passage_id)
            if row is None:  # deleted from the catalog since it was indexed
                continue
            p, d, col, sha = row
            if not principal.can_read_passage(col, d.id, p.id) or d.withdrawn_at is not None:
                continue  # defence in depth; retrieval already filtered
            out.append(
                Hit(
                    document_id=str(d.id),
                    passage_id=str(p.id),
                    score=round(h.score, 6),
                    filename=d.filename,
                    title=d.title,
                    collection=col,
                    lang=p.lang,
                    type=d.doc_type,
                    page=p.page,
                    seq=p.seq,
                    time_start=p.time_start,
                    time_end=p.time_end,
                    speaker=p.speaker,
                    sha256=sha,
                    snippet=highlighter.snippet(p.text, h.terms),
                    explain=why.of(p.text, fuzzy) if why is not None else None,
                )
            )
        return out

    # -- batch entries -----------------------------------------------------------------------

    def entry_node(self, text: str, match: EntryMatch) -> Node | None:
        """The query of a batch entry: plain text, not the query language (names carry
        apostrophes, hyphens, quotes). ``all``: every word, ``any``: any word, ``phrase``: the
        words in a row; each word is cut as the analyser cuts text."""
        tokens = self.analyzer.tokens(text)
        if not tokens:
            return None
        if match == "phrase":
            return Phrase(text)
        words = tuple(Word(text[t.start : t.end]) for t in tokens)
        return Group(must=words) if match == "all" else Group(should=words)

    def search_entry(
        self, text: str, match: EntryMatch, filters: Filters, principal: Principal, *, size: int
    ) -> tuple[int, list[Hit]]:
        """(matching documents, the best passage of each of the top ``size`` documents) for one
        batch entry, compiled as a search is (rare words get the same OCR tolerance)."""
        root = self.entry_node(text, match)
        if root is None:
            return 0, []
        fuzzy: dict[str, int] = {}
        node = self._compile(root, filters, fuzzy)
        res = self.backend.keyword_search(node, filters, limit=max(size * 5, 20))
        best = [g[0] for g in group_by_document(res.hits)][:size]
        terms = {t for tok in self.analyzer.tokens(text) for t in self.analyzer.query_terms(tok.terms[0])}
        terms |= {t for tok in self.analyzer.tokens(text) for t in tok.terms}
        return self.backend.count_documents(node, filters), self._hydrate(best, terms, principal, fuzzy)

    # -- the document viewer -----------------------------------------------------------------

    def in_document(
        self, q: str, document_id: int, principal: Principal, *, limit: int = VIEWER_MATCH_LIMIT
    ) -> tuple[list[int], Highlighter, list[str]]:
        """(ids of this document's passages the query matches, at most ``limit``, unordered; the
        highlighter of the query's snippets; the query's words, for saying how each mark matched) —
        compiled as a search of ``q`` is, with the access
        filter inside the backend query and the document as the only one allowed. A malformed
        query or one with no words matches nothing."""
        try:
            parsed = parse_query(q)
        except QuerySyntaxError:
            return [], Highlighter(self.analyzer, ()), []
        filters = self._filters(SearchRequest(q=q), parsed, principal)
        inside = not filters.document_ids or document_id in filters.document_ids
        filters = replace(filters, document_ids=(document_id,) if inside else (0,))
        fuzzy: dict[str, int] = {}
        ranked_root = weigh_function_words(parsed.root, self.settings.function_word_weight)
        if ranked_root is None:
            return [], Highlighter(self.analyzer, ()), []
        node = self._compile(ranked_root, filters, fuzzy)  # fills ``fuzzy``: the OCR tolerance
        highlighter = Highlighter(self.analyzer, self._highlight_terms(ParsedQuery(ranked_root)), fuzzy=fuzzy)
        ids: list[int] = []
        for h in self.backend.iter_keyword(node, filters, chunk=min(limit, 1000)):
            if h.document_id != document_id:
                continue  # defence in depth; the filter already holds only this document
            ids.append(h.passage_id)
            if len(ids) >= limit:
                break
        return ids, highlighter, Why.of_query(ParsedQuery(ranked_root), False).words

    # -- corroboration -----------------------------------------------------------------------

    def _same_source_documents(self, document_id: int) -> tuple[int, ...]:
        """The document and every other document made from the same original bytes."""
        with self.catalog.session() as s:
            file_id = s.scalar(select(Document.file_id).where(Document.id == document_id))
            return tuple(s.scalars(select(Document.id).where(Document.file_id == file_id)))

    def similar_passages(
        self, passage_id: int, principal: Principal, options: SimilarOptions = SimilarOptions()
    ) -> dict[str, Any]:
        """Passages of other documents that describe the same thing, in any language: nearest by
        embedding (cross-lingual), or by the passage's own terms while it has no embedding yet.
        One passage per document, best first (``options.by_family`` is the service's)."""
        options.check_size(self.settings.max_page_size)
        with self.catalog.session() as s:
            p, _, _ = readable_passage(s, passage_id, principal)
        if options.exclude == "source":
            excluded = self._same_source_documents(p.document_id)
        elif options.exclude == "document":
            excluded = (p.document_id,)
        else:
            excluded = ()
        filters = Filters(
            allowed_collections=principal.readable,
            hidden_document_ids=principal.hidden_documents,
            hidden_passage_ids=principal.hidden_passages,
            langs=options.lang,
            exclude_document_ids=excluded,
        )
        depth = min(options.size * 5, MAX_CANDIDATES)
        if p.embedding is not None and self.backend.has_vectors():
            import numpy as np  # here: a keyword search never needs numpy (issue 17, part 6)

            method = "vector"
            vec = np.frombuffer(p.embedding, dtype=np.float32).tolist()
            floor = self.settings.similar_floor
            ranked = [
                h
                for h in self.backend.vector_search(vec, filters, limit=depth + 1).hits
                if h.passage_id != p.id and h.score >= floor
            ]
        else:
            method = "keyword"
            node = self._more_like_this(p.text)
            ranked = [] if node is None else self.backend.keyword_search(node, filters, limit=depth).hits
        best = [g[0] for g in group_by_document(ranked)][: options.size]
        terms = {t for tok in self.analyzer.tokens(p.text) for t in tok.terms}
        return {
            "passage_id": str(p.id),
            "method": method,
            "hits": self._hydrate(best, terms, principal),
        }

    def _more_like_this(self, text: str, max_terms: int = 30) -> QueryNode | None:
        """A should-query of a text's longer canonical terms (BM25 weighs the rare ones up)."""
        seen: dict[str, None] = {}
        for tok in self.analyzer.tokens(text):
            term = tok.terms[0]
            if len(term) > 3 and not term.isdigit():
                seen.setdefault(term)
        if not seen:
            return None
        return BoolNode(should=tuple(TermNode((t,)) for t in list(seen)[:max_terms]))

    def similar_documents(self, doc: Document, principal: Principal, *, size: int = 10) -> dict[str, Any]:
        """Documents like this one (``doc``, which the caller may read): nearest to the mean of its
        passage vectors (or its terms)."""
        filters = Filters(
            allowed_collections=principal.readable,
            hidden_document_ids=principal.hidden_documents,
            hidden_passage_ids=principal.hidden_passages,
            exclude_document_ids=self._same_source_documents(doc.id),
        )
        with self.catalog.session() as s:
            q = select(Passage.text, Passage.embedding).where(Passage.document_id == doc.id)
            if principal.hidden_passages:  # a withheld passage does not steer the neighbours either
                q = q.where(Passage.id.not_in(sorted(principal.hidden_passages)))
            rows = s.execute(q.order_by(Passage.seq)).all()
        import numpy as np  # here: a keyword search never needs numpy (issue 17, part 6)

        vecs = [np.frombuffer(e, dtype=np.float32) for _, e in rows if e is not None]
        depth = min(size * 10, MAX_CANDIDATES)
        if vecs and self.backend.has_vectors():
            method = "vector"
            mean = np.mean(np.stack(vecs), axis=0)
            ranked = [
                h
                for h in self.backend.vector_search(mean.tolist(), filters, limit=depth).hits
                if h.score >= self.settings.similar_floor
            ]
        else:
            method = "keyword"
            node = self._more_like_this(" ".join(t for t, _ in rows)[:20000], max_terms=50)
            ranked = [] if node is None else self.backend.keyword_search(node, filters, limit=depth).hits
        best = [g[0] for g in group_by_document(ranked)][:size]
        return {"document_id": str(doc.id), "method": method, "hits": self._hydrate(best, set(), principal)}


class HitListHash:
    """A SHA-256 of an ordered list of hits (``document_id:passage_id`` per line), fed a hit at a
    time (an export's list is never held)."""

    KEEP_IDS = 100
    """The first hits' ids kept for the record (``ids``), so that "run again" can say which
    hits are new or gone."""

    def __init__(self, hits: Iterable[Hit] = ()) -> None:
        self._h = hashlib.sha256()
        self.count = 0
        self.ids: list[str] = []
        for h in hits:
            self.add(h)

    def add(self, hit: Hit) -> None:
        line = f"{hit.document_id}:{hit.passage_id}"
        self._h.update(f"{line}\n".encode())
        self.count += 1
        if len(self.ids) < self.KEEP_IDS:
            self.ids.append(line)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


@dataclass(frozen=True)
class Why:
    """What ``explain=true`` needs: the query's words, and whether vectors ranked too."""

    words: list[str]
    semantic: bool
    prefixes: tuple[str, ...] = ()
    """The prefixes of ``word*`` terms: explained as ``prefix`` with the words they opened."""

    @classmethod
    def of_query(cls, parsed: ParsedQuery, semantic: bool) -> Why:
        prefixes = tuple(dict.fromkeys(parsed.prefixes()))
        words = [w for w in parsed.words(weighted=False) if w not in prefixes]
        return cls(words, semantic, prefixes)

    def of(self, text: str, fuzzy: dict[str, int] | None) -> list[MatchExplanation]:
        """How the query's words matched ``text``; ``meaning`` alone when none did (a semantic
        hit that holds none of the words)."""
        found = [MatchExplanation(**e) for e in explain_matches(self.words, text, fuzzy)]  # type: ignore[arg-type]
        if self.prefixes:
            forms = list(dict.fromkeys(m.group(0) for m in WORD_RE.finditer(text)))
            for p in self.prefixes:
                key = fold(p)
                opened = [w for w in forms if fold(w).startswith(key)]
                if opened:
                    found.append(MatchExplanation(word=f"{p}*", how="prefix", matched=opened[:5]))
        if not found and self.semantic:
            return [MatchExplanation(word=None, how="meaning", matched=[])]
        return found


@dataclass(frozen=True)
class ExportInfo:
    """What an export's header says about it."""

    mode: str
    total: int
    exhaustive: bool
    """False for semantic-only results: ranked by meaning above the floor, not every mention."""
    group: str


def encode_cursor(cursor: Cursor, mode: str) -> str:
    raw = json.dumps([mode, cursor.score, cursor.passage_id, cursor.position], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, mode: str) -> Cursor:
    """A cursor of ``encode_cursor`` for the same mode; ``InvalidRequestError`` otherwise."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        cmode, score, pid, position = raw
        cursor = Cursor(float(score), int(pid), int(position))
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError("cursor is not a next_cursor of this API", code="invalid_cursor") from exc
    if cmode != mode or cursor.position < 0:
        raise InvalidRequestError("cursor belongs to another search mode", code="invalid_cursor")
    return cursor


def group_by_document(hits: list[BackendHit]) -> list[list[BackendHit]]:
    """Passages grouped by document, documents in the order of their best passage."""
    groups: dict[int, list[BackendHit]] = {}
    for h in hits:
        groups.setdefault(h.document_id, []).append(h)
    return list(groups.values())


_PUNCTUATION = string.punctuation + "«»„“”‘’…—–"


def weigh_function_words(root: Node | None, weight: float) -> Node | None:
    """The query with its optional function words ("як", "the", "что") reduced to a tie-breaker.

    As Elasticsearch's "common terms" query does with frequent words: a passage must hold at
    least one of the other (content) words, and the function words only add ``weight`` times their
    score among those passages. BM25 gives frequent words a low weight already, but in a long
    question "як/слід/для/у" still add up to outrank the one rare word that matters, and in hybrid
    search a passage matching only "and" would take a keyword rank of its own (measured in
    ``docs/benchmarks.md``). With ``weight`` 0 function words are left out, with 1 the query is
    searched as typed. Only bare optional words of the top-level clause list are function words
    here; phrases, prefixes, ``+required`` and excluded words, ``OR`` groups and a query of
    function words alone are searched as typed.
    """
    if not isinstance(root, Group) or weight == 1.0:
        return root

    def function_word(n: Node) -> TypeGuard[Word]:
        return isinstance(n, Word) and not n.prefix and is_stop_word(fold(n.text.strip(_PUNCTUATION)))

    content = tuple(n for n in root.should if not function_word(n))
    if len(content) == len(root.should) or not (content or root.must):
        return root
    light = () if weight == 0 else tuple(Word(n.text, weight=weight) for n in root.should if function_word(n))
    if root.must:  # the required clauses already demand content
        return Group(should=content + light, must=root.must, must_not=root.must_not)
    required = content[0] if len(content) == 1 else Or(content)
    return Group(should=light, must=(required,), must_not=root.must_not)


def rrf(
    rankings: list[list[BackendHit]], *, weights: Sequence[float] | None = None, k: int = 60
) -> list[BackendHit]:
    """Weighted reciprocal rank fusion: score = sum over rankings of weight / (k + rank).

    Ties are broken by passage id so that a page boundary never shows one passage twice.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    first: dict[int, BackendHit] = {}
    for weight, ranking in zip(weights, rankings, strict=True):
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.passage_id] = scores.get(hit.passage_id, 0.0) + weight / (k + rank)
            first.setdefault(hit.passage_id, hit)
    ordered = sorted(scores, key=lambda pid: (-scores[pid], pid))
    return [replace(first[pid], score=scores[pid]) for pid in ordered]
