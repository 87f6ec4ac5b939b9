"""The service layer: what the HTTP API, the command line and the UI call.

It owns the catalog, the original store, the backend and the embedder, turns a search request
into backend queries with the principal's access filter inside them, fuses keyword and vector
candidates (reciprocal rank fusion), and hydrates hits with provenance and highlighted snippets.
"""

from __future__ import annotations

import logging
import string
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeGuard

import numpy as np
from sqlalchemy import func, select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Collection, Document, IngestItem, Page, Passage, StoredFile
from archive_search.catalog.store import OriginalStore
from archive_search.errors import InvalidRequestError, NotFoundError
from archive_search.index import indexer
from archive_search.index.analysis import Analyzer, Highlighter, fold
from archive_search.index.backend import (
    FACET_FIELDS,
    BackendHit,
    BoolNode,
    Filters,
    PhraseNode,
    QueryNode,
    SearchBackend,
    TermNode,
)
from archive_search.index.embeddings import Embedder, make_embedder
from archive_search.index.factory import make_backend
from archive_search.index.stopwords import is_stop_word
from archive_search.ingest.archives import archive_limits
from archive_search.ingest.lang import detect_language
from archive_search.ingest.pipeline import Ingestor, Progress, ingest_workers
from archive_search.ingest.sandbox import extraction_limits
from archive_search.search_api.auth import Accounts
from archive_search.search_api.batch import BatchRunner
from archive_search.search_api.cases import CaseService
from archive_search.search_api.query import Group, Node, Or, ParsedQuery, Phrase, Word, parse_query
from archive_search.search_api.saved import SavedSearches
from archive_search.settings import Settings
from archive_search.types import Hit, JobReport, PassageRef, Principal, SearchRequest, SearchResponse

log = logging.getLogger(__name__)
FUZZY_MIN_LEN = 5
RARE_TERM_MAX = 20
"""A query word with at most this many exact passage matches also matches close misspellings."""
MAX_CANDIDATES = 2000
"""Most passages ranked for one grouped search page."""
MAX_RESULT_WINDOW = 1000
"""Deepest result reachable by paging (page × size), as in Elasticsearch's max_result_window."""
MORE_PASSAGES = 3
MAX_RENDER_PIXELS = 12_000_000


class ArchiveService:
    """One instance per process; thread-safe for searches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(settings.catalog_url)
        self.store = OriginalStore(settings.originals_dir)
        self.analyzer = Analyzer()
        self.backend: SearchBackend = make_backend(settings, self.analyzer)
        self.accounts = Accounts(self.catalog, settings)
        self.batch = BatchRunner(self)
        self.saved = SavedSearches(self)
        self.cases = CaseService(self.catalog, self.store, self.backend, self.accounts.audit)
        if self.backend.needs_rebuild():
            log.warning("the search index was discarded (format change); rebuilding it from the catalog")
            indexer.reindex(self.catalog, self.backend)
            self.backend.rebuilt()
        self._vectors_checked = False
        self._embedder: Embedder | None = None
        self._embedder_loaded = False
        self._embedder_lock = threading.Lock()

    # -- components --------------------------------------------------------------------------

    def embedder(self) -> Embedder | None:
        """The configured embedder, loaded on first use (``None`` when disabled)."""
        with self._embedder_lock:
            if not self._embedder_loaded:
                self._embedder = make_embedder(
                    self.settings.embedder,
                    cache_dir=self.settings.model_cache_dir or self.settings.data_dir / "models",
                )
                self._embedder_loaded = True
            return self._embedder

    def close(self) -> None:
        self.batch.stop()
        self.backend.close()
        self.catalog.close()

    # -- ingestion and indexing --------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[Path],
        collection: str | None = None,
        *,
        progress: Progress | None = None,
        index_progress: indexer.Progress | None = None,
        password: str | None = None,
    ) -> JobReport:
        """Ingest files into the catalog, then make them keyword-searchable before returning.
        ``password`` opens encrypted PDFs; it is neither logged nor stored."""
        ingestor = self.ingestor(password=password)
        report = ingestor.ingest(paths, collection or self.settings.default_collection, progress=progress)
        self._check_vectors()
        indexer.index_pending(self.catalog, self.backend, progress=index_progress)
        return report

    def _check_vectors(self) -> int:
        """Once per opened backend, before this process first writes to it: passages whose
        vectors a crashed writer had not saved yet are marked for indexing again
        (``ARCHIVE_VECTOR_FLUSH_S``). Returns how many."""
        if self._vectors_checked:
            return 0
        self._vectors_checked = True
        n = indexer.requeue_missing_vectors(self.catalog, self.backend)
        if n:
            log.warning("%d passages lost their vectors in the index (crash); indexing them again", n)
        return n

    def ingestor(self, *, password: str | None = None) -> Ingestor:
        """The ingestor as configured (also used by ``archive worker`` for queued items)."""
        return Ingestor(
            self.catalog,
            self.store,
            limits=extraction_limits(self.settings),
            passage_chars=self.settings.passage_chars,
            max_file_bytes=self.settings.max_file_bytes,
            archive_limits=archive_limits(self.settings),
            workers=ingest_workers(self.settings),
            password=password,
        )

    def reopen_backend(self) -> None:
        """Open the backend afresh: a worker that became the single writer of an embedded index
        must start from what the previous writer left (``ingest/queue.py``)."""
        discard = getattr(self.backend, "discard_unsaved_vectors", None)
        if discard is not None:  # another writer may have saved since: never overwrite its files
            discard()
        self.backend.close()
        self.backend = self.cases.backend = make_backend(self.settings, self.analyzer)
        self._vectors_checked = False

    def index_pending(self) -> int:
        self._check_vectors()
        return indexer.index_pending(self.catalog, self.backend)

    def embed_pending(
        self,
        *,
        limit: int | None = None,
        progress: indexer.Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        emb = self.embedder()
        if emb is None:
            return 0
        if self._check_vectors():
            indexer.index_pending(self.catalog, self.backend)
        return indexer.embed_pending(
            self.catalog,
            self.backend,
            emb,
            batch=self.settings.embed_batch_size,
            limit=limit,
            progress=progress,
            should_stop=should_stop,
        )

    def reindex(self, *, drop_embeddings: bool = False, progress: indexer.Progress | None = None) -> int:
        return indexer.reindex(self.catalog, self.backend, drop_embeddings=drop_embeddings, progress=progress)

    def status(self) -> dict[str, Any]:
        with self.catalog.session() as s:
            outcomes = dict(
                s.execute(
                    select(IngestItem.state, func.count(IngestItem.id)).group_by(IngestItem.state)
                ).all()
            )
            documents = s.scalar(select(func.count(Document.id))) or 0
            collections = s.scalar(select(func.count(Collection.id))) or 0
        counts = indexer.pending_counts(self.catalog)
        return {
            "files": {k: int(outcomes.get(k, 0)) for k in ("ok", "failed", "skipped")},
            "queue": {k: int(outcomes.get(k, 0)) for k in ("queued", "running")},
            "documents": documents,
            "collections": collections,
            "passages": counts["passages"],
            "pending_index": counts["pending_index"],
            # passages whose last write to the backend failed, by code (retried on the next run)
            "index_errors": indexer.index_errors(self.catalog),
            "pending_embedding": counts["pending_embedding"] if self.settings.embedder != "none" else 0,
            "embedder": indexer.recorded_embedder(self.catalog),
            "configured_embedder": self.settings.embedder,
            "backend": self.backend.health(),
        }

    # -- search ------------------------------------------------------------------------------

    def _fuzziness(self, term: str, filters: Filters) -> int:
        """Edits allowed for a query term: OCR damage ("пытнам" for "пыткам") is tolerated for
        rare terms only — a term with few exact matches among the passages the caller may read
        (counted under the same filters, so other collections never influence it). 1 edit from
        5 letters, 2 from 9; fuzzy matches rank below exact ones (the backend boosts them 0.3)."""
        if len(term) < FUZZY_MIN_LEN or not any(ch.isalpha() for ch in term):
            return 0
        exact = self.backend.keyword_search(TermNode((term,)), filters, limit=0).total
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
            collections=tuple(dict.fromkeys([*req.collections, *f.get("collection", [])])),
            langs=tuple(dict.fromkeys([*req.lang, *f.get("lang", [])])),
            types=tuple(dict.fromkeys([*req.types, *f.get("type", [])])),
            tags=tuple(dict.fromkeys([*req.tags, *f.get("tag", [])])),
            date_from=parsed.date_from or req.date_from,
            date_to=parsed.date_to or req.date_to,
            speakers=tuple(dict.fromkeys([*req.speakers, *f.get("speaker", [])])),
            added_after=req.added_after,
        )

    def _effective_mode(self, mode: str, sem_text: str) -> tuple[str, Embedder | None]:
        """The mode that can really run: hybrid falls back to keyword while no vectors exist."""
        if mode == "keyword" or not sem_text:
            return "keyword", None
        embedder = self.embedder()
        if embedder is None or not self.backend.has_vectors():
            if mode == "semantic":
                raise InvalidRequestError(
                    "semantic search is not available: no embedder configured or no passage embedded yet",
                    code="semantic_unavailable",
                )
            return "keyword", None
        return mode, embedder

    def _ranked(
        self,
        mode: str,
        node: QueryNode | None,
        filters: Filters,
        qvec: list[float] | None,
        depth: int,
        *,
        facets: bool,
    ) -> tuple[list[BackendHit], int, dict[str, dict[str, int]]]:
        """The top ``depth`` passages in rank order, the number of matching passages, facets."""
        if mode == "keyword":
            kw = self.backend.keyword_search(node, filters, limit=depth, facets=facets)
            return kw.hits, kw.total, kw.facets
        assert qvec is not None
        cfg = self.settings
        vec = self.backend.vector_search(qvec, filters, limit=max(depth, cfg.hybrid_candidates))
        if mode == "semantic":
            hits = vec.hits[:depth]
            return hits, len(vec.hits), self._facets_of(vec.hits) if facets else {}
        limit = max(depth, cfg.hybrid_candidates)
        kw = self.backend.keyword_search(node, filters, limit=limit, facets=facets)
        fused = rrf(
            [kw.hits, vec.hits],
            weights=[cfg.hybrid_keyword_weight, cfg.hybrid_semantic_weight],
            k=cfg.rrf_k,
        )
        return fused[:depth], max(kw.total, len(fused)), kw.facets

    def search(self, req: SearchRequest, principal: Principal) -> SearchResponse:
        """Run one search for ``principal``; only collections it may read are ever touched.

        With ``group="document"`` (the default) each hit is the best passage of one document and
        carries up to three more of its matching passages; ``total`` counts documents. With
        ``group="passage"`` hits are passages and ``total`` counts passages.
        """
        t0 = time.perf_counter()
        if req.page < 1:
            raise InvalidRequestError("page must be 1 or more")
        if not 1 <= req.size <= self.settings.max_page_size:
            raise InvalidRequestError(f"size must be between 1 and {self.settings.max_page_size}")
        if req.page * req.size > MAX_RESULT_WINDOW:
            raise InvalidRequestError(f"results beyond the first {MAX_RESULT_WINDOW} cannot be paged to")
        parsed = parse_query(req.q)
        filters = self._filters(req, parsed, principal)
        fuzzy: dict[str, int] = {}
        ranked_root = weigh_function_words(parsed.root, self.settings.function_word_weight)
        node = self._compile(ranked_root, filters, fuzzy) if ranked_root is not None else None
        offset = (req.page - 1) * req.size
        sem_text = " ".join(parsed.words())
        mode, embedder = self._effective_mode(req.mode, sem_text)
        qvec = embedder.embed_query(sem_text).tolist() if embedder is not None else None
        terms = self._highlight_terms(ParsedQuery(ranked_root))

        if req.group == "passage":
            if mode == "keyword":
                res = self.backend.keyword_search(node, filters, limit=req.size, offset=offset, facets=True)
                page_hits, total, facets = res.hits, res.total, res.facets
            else:
                ranked, total, facets = self._ranked(
                    mode, node, filters, qvec, offset + req.size, facets=True
                )
                page_hits = ranked[offset : offset + req.size]
            hits = self._hydrate(page_hits, terms, principal, fuzzy)
        else:
            need = offset + req.size
            depth = min(max(need * 5, 50), MAX_CANDIDATES)
            while True:
                ranked, n_passages, facets = self._ranked(mode, node, filters, qvec, depth, facets=True)
                groups = group_by_document(ranked)
                if len(groups) >= need or len(ranked) < depth or depth >= MAX_CANDIDATES:
                    break
                depth = min(depth * 4, MAX_CANDIDATES)
            if mode == "keyword":
                total = self.backend.count_documents(node, filters)
            else:
                kw_docs = self.backend.count_documents(node, filters) if mode == "hybrid" else 0
                total = max(kw_docs, len(groups))
            page_groups = groups[offset:need]
            best = [g[0] for g in page_groups]
            more = [h for g in page_groups for h in g[1 : 1 + MORE_PASSAGES]]
            hydrated = {int(h.passage_id): h for h in self._hydrate(best + more, terms, principal, fuzzy)}
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
            del n_passages
        return SearchResponse(
            total=total,
            took_ms=int((time.perf_counter() - t0) * 1000),
            hits=hits,
            facets={k: facets.get(k, {}) for k in FACET_FIELDS},
            mode=mode,
            group=req.group,
            query_lang=detect_language(sem_text) if sem_text else None,
        )

    def _facets_of(self, hits: list[BackendHit]) -> dict[str, dict[str, int]]:
        """Facet counts over a candidate list (semantic mode has no boolean match set)."""
        out: dict[str, dict[str, int]] = {k: {} for k in FACET_FIELDS}
        if not hits:
            return out
        with self.catalog.session() as s:
            rows = s.execute(
                select(Passage.lang, Collection.name, Document.doc_type)
                .join(Document, Passage.document_id == Document.id)
                .join(Collection, Document.collection_id == Collection.id)
                .where(Passage.id.in_([h.passage_id for h in hits]))
            ).all()
        for lang, col, typ in rows:
            for key, val in (("lang", lang), ("collection", col), ("type", typ)):
                out[key][val] = out[key].get(val, 0) + 1
        return out

    def _hydrate(
        self,
        hits: list[BackendHit],
        terms: set[str],
        principal: Principal,
        fuzzy: dict[str, int] | None = None,
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
            if not principal.can_read(col):  # defence in depth; retrieval already filtered
                continue
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
                    time_start=p.time_start,
                    time_end=p.time_end,
                    speaker=p.speaker,
                    sha256=sha,
                    snippet=highlighter.snippet(p.text),
                )
            )
        return out

    # -- documents ---------------------------------------------------------------------------

    def _document_row(self, document_id: int, principal: Principal) -> tuple[Document, str, str]:
        """The document, its collection name and SHA-256; a forbidden one is as missing as a missing one."""
        with self.catalog.session() as s:
            row = s.execute(
                select(Document, Collection.name, StoredFile.sha256)
                .join(Collection, Document.collection_id == Collection.id)
                .join(StoredFile, Document.file_id == StoredFile.id)
                .where(Document.id == document_id)
            ).first()
        if row is None or not principal.can_read(row[1]):
            raise NotFoundError(f"document {document_id} not found")
        return row[0], row[1], row[2]

    def document(self, document_id: int, principal: Principal) -> dict[str, Any]:
        doc, col, sha = self._document_row(document_id, principal)
        with self.catalog.session() as s:
            n_passages = s.scalar(select(func.count(Passage.id)).where(Passage.document_id == doc.id)) or 0
            size = s.scalar(select(StoredFile.size).where(StoredFile.sha256 == sha))
        return {
            "id": str(doc.id),
            "filename": doc.filename,
            "title": doc.title,
            "collection": col,
            "type": doc.doc_type,
            "mime": doc.mime,
            "lang": doc.lang,
            "page_count": doc.page_count,
            "date": doc.doc_date.isoformat() if doc.doc_date else None,
            "sha256": sha,
            "size": size,
            "passages": n_passages,
            "created_at": doc.created_at.isoformat(),
        }

    def document_text(self, document_id: int, principal: Principal) -> list[dict[str, Any]]:
        """Extracted text by page (paged formats) or by passage/turn (transcripts, plain text)."""
        doc, _, _ = self._document_row(document_id, principal)
        with self.catalog.session() as s:
            pages = list(s.scalars(select(Page).where(Page.document_id == doc.id).order_by(Page.number)))
            if pages and doc.doc_type != "transcript":
                return [
                    {"page": p.number, "text": p.text, "method": p.method, "confidence": p.confidence}
                    for p in pages
                ]
            passages = list(
                s.scalars(select(Passage).where(Passage.document_id == doc.id).order_by(Passage.seq))
            )
        return [
            {
                "passage_id": str(p.id),
                "page": p.page,
                "time_start": p.time_start,
                "time_end": p.time_end,
                "speaker": p.speaker,
                "text": p.text,
            }
            for p in passages
        ]

    def original_path(self, document_id: int, principal: Principal) -> tuple[Path, str, str, str]:
        """(stored path, SHA-256, MIME type, file name) of a document's original."""
        doc, _, sha = self._document_row(document_id, principal)
        return self.store.path_for(sha), sha, doc.mime, doc.filename

    def passage(self, passage_id: int, principal: Principal) -> dict[str, Any]:
        """One passage with its position: page, character span inside the page's text, time span."""
        with self.catalog.session() as s:
            row = s.execute(
                select(Passage, Document, Collection.name)
                .join(Document, Passage.document_id == Document.id)
                .join(Collection, Document.collection_id == Collection.id)
                .where(Passage.id == passage_id)
            ).first()
            if row is None or not principal.can_read(row[2]):
                raise NotFoundError(f"passage {passage_id} not found")
            p, d, col = row
            neighbours = dict(
                s.execute(
                    select(Passage.seq, Passage.id).where(
                        Passage.document_id == d.id, Passage.seq.in_([p.seq - 1, p.seq + 1])
                    )
                ).all()
            )
        return {
            "id": str(p.id),
            "document_id": str(d.id),
            "collection": col,
            "filename": d.filename,
            "seq": p.seq,
            "text": p.text,
            "lang": p.lang,
            "page": p.page,
            "char_start": p.char_start,
            "char_end": p.char_end,
            "time_start": p.time_start,
            "time_end": p.time_end,
            "speaker": p.speaker,
            "previous_id": str(neighbours[p.seq - 1]) if p.seq - 1 in neighbours else None,
            "next_id": str(neighbours[p.seq + 1]) if p.seq + 1 in neighbours else None,
        }

    def _same_source_documents(self, document_id: int) -> tuple[int, ...]:
        """The document and every other document made from the same original bytes."""
        with self.catalog.session() as s:
            file_id = s.scalar(select(Document.file_id).where(Document.id == document_id))
            return tuple(s.scalars(select(Document.id).where(Document.file_id == file_id)))

    def similar_passages(
        self,
        passage_id: int,
        principal: Principal,
        *,
        size: int = 10,
        exclude: Literal["source", "document", "none"] = "source",
        lang: list[str] | None = None,
    ) -> dict[str, Any]:
        """Passages of other documents that describe the same thing, in any language: nearest by
        embedding (cross-lingual), or by the passage's own terms while it has no embedding yet.
        One passage per document, best first."""
        if not 1 <= size <= self.settings.max_page_size:
            raise InvalidRequestError(f"size must be between 1 and {self.settings.max_page_size}")
        with self.catalog.session() as s:
            row = s.execute(
                select(Passage, Collection.name)
                .join(Document, Passage.document_id == Document.id)
                .join(Collection, Document.collection_id == Collection.id)
                .where(Passage.id == passage_id)
            ).first()
        if row is None or not principal.can_read(row[1]):
            raise NotFoundError(f"passage {passage_id} not found")
        p = row[0]
        if exclude == "source":
            excluded = self._same_source_documents(p.document_id)
        elif exclude == "document":
            excluded = (p.document_id,)
        else:
            excluded = ()
        filters = Filters(
            allowed_collections=principal.readable,
            langs=tuple(lang or ()),
            exclude_document_ids=excluded,
        )
        depth = min(size * 5, MAX_CANDIDATES)
        if p.embedding is not None and self.backend.has_vectors():
            method = "vector"
            vec = np.frombuffer(p.embedding, dtype=np.float32).tolist()
            ranked = [
                h
                for h in self.backend.vector_search(vec, filters, limit=depth + 1).hits
                if h.passage_id != p.id
            ]
        else:
            method = "keyword"
            node = self._more_like_this(p.text)
            ranked = [] if node is None else self.backend.keyword_search(node, filters, limit=depth).hits
        best = [g[0] for g in group_by_document(ranked)][:size]
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

    def similar_documents(self, document_id: int, principal: Principal, *, size: int = 10) -> dict[str, Any]:
        """Documents like this one: nearest to the mean of its passage vectors (or its terms)."""
        doc, _, _ = self._document_row(document_id, principal)
        filters = Filters(
            allowed_collections=principal.readable, exclude_document_ids=self._same_source_documents(doc.id)
        )
        with self.catalog.session() as s:
            rows = s.execute(
                select(Passage.text, Passage.embedding)
                .where(Passage.document_id == doc.id)
                .order_by(Passage.seq)
            ).all()
        vecs = [np.frombuffer(e, dtype=np.float32) for _, e in rows if e is not None]
        depth = min(size * 10, MAX_CANDIDATES)
        if vecs and self.backend.has_vectors():
            method = "vector"
            mean = np.mean(np.stack(vecs), axis=0)
            ranked = self.backend.vector_search(mean.tolist(), filters, limit=depth).hits
        else:
            method = "keyword"
            node = self._more_like_this(" ".join(t for t, _ in rows)[:20000], max_terms=50)
            ranked = [] if node is None else self.backend.keyword_search(node, filters, limit=depth).hits
        best = [g[0] for g in group_by_document(ranked)][:size]
        return {"document_id": str(doc.id), "method": method, "hits": self._hydrate(best, set(), principal)}

    def page_image(self, document_id: int, page: int, principal: Principal, *, dpi: int = 110) -> bytes:
        """A PNG of one page of a PDF or image document."""
        if not 30 <= dpi <= 300:
            raise InvalidRequestError("dpi must be between 30 and 300")
        doc, _, sha = self._document_row(document_id, principal)
        path = self.store.path_for(sha)
        if page < 1:
            raise NotFoundError(f"page {page} not found")
        return render_page_png(path, doc.mime, page, dpi=dpi, max_pixels=MAX_RENDER_PIXELS)

    def collections(self, principal: Principal) -> list[dict[str, Any]]:
        with self.catalog.session() as s:
            rows = s.execute(
                select(Collection.name, Collection.description, func.count(Document.id))
                .join(Document, Document.collection_id == Collection.id, isouter=True)
                .group_by(Collection.id)
                .order_by(Collection.name)
            ).all()
        return [
            {"name": n, "description": d, "documents": int(c)} for n, d, c in rows if principal.can_read(n)
        ]


_PDFIUM_LOCK = threading.Lock()
"""PDFium is not thread-safe, and page-image requests run in the server's thread pool."""


def render_page_png(path: Path, mime: str, page: int, *, dpi: int, max_pixels: int) -> bytes:
    """Render page ``page`` (1-based) of a stored PDF or image to PNG bytes."""
    import io

    from PIL import Image, ImageSequence

    out = io.BytesIO()
    if mime == "application/pdf":
        import pypdfium2 as pdfium

        with _PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(str(path))
            try:
                if page > len(pdf):
                    raise NotFoundError(f"page {page} not found")
                pg = pdf[page - 1]
                w, h = pg.get_size()
                scale = dpi / 72
                if w * h * scale * scale > max_pixels:
                    scale = (max_pixels / (w * h)) ** 0.5
                image = pg.render(scale=scale).to_pil()
                pg.close()
            finally:
                pdf.close()
        image.save(out, format="PNG")
        return out.getvalue()
    if mime.startswith("image/"):
        with Image.open(path) as img:
            for n, frame in enumerate(ImageSequence.Iterator(img), start=1):
                if n == page:
                    f = frame.copy()
                    if f.width * f.height > max_pixels:
                        f.thumbnail((int((max_pixels * f.width / f.height) ** 0.5), 10**6))
                    f.convert("RGB" if f.mode not in ("L", "RGB") else f.mode).save(out, format="PNG")
                    return out.getvalue()
        raise NotFoundError(f"page {page} not found")
    raise NotFoundError("this document has no page images")


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
