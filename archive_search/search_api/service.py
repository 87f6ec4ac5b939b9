"""The service layer: what the HTTP API, the command line and the UI call.

It owns the catalog, the original store, the backend and the embedder, turns a search request
into backend queries with the principal's access filter inside them, fuses keyword and vector
candidates (reciprocal rank fusion), and hydrates hits with provenance and highlighted snippets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Collection, Document, IngestItem, Page, Passage, StoredFile
from archive_search.catalog.store import OriginalStore
from archive_search.errors import InvalidRequestError, NotFoundError
from archive_search.index import indexer
from archive_search.index.analysis import Analyzer, highlight
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
from archive_search.ingest.lang import detect_language
from archive_search.ingest.pipeline import Ingestor, Progress
from archive_search.ingest.registry import Limits
from archive_search.search_api.auth import Accounts
from archive_search.search_api.query import Node, Or, ParsedQuery, Phrase, Word, parse_query
from archive_search.settings import Settings
from archive_search.types import Hit, JobReport, Principal, SearchRequest, SearchResponse

RRF_K = 60
HYBRID_CANDIDATES = 100


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
        self._embedder: Embedder | None = None
        self._embedder_loaded = False
        self._embedder_lock = threading.Lock()

    # -- components --------------------------------------------------------------------------

    def embedder(self) -> Embedder | None:
        """The configured embedder, loaded on first use (``None`` when disabled)."""
        with self._embedder_lock:
            if not self._embedder_loaded:
                self._embedder = make_embedder(self.settings.embedder)
                self._embedder_loaded = True
            return self._embedder

    def close(self) -> None:
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
    ) -> JobReport:
        """Ingest files into the catalog, then make them keyword-searchable before returning."""
        ingestor = Ingestor(
            self.catalog,
            self.store,
            limits=Limits(max_pages=self.settings.max_pdf_pages),
            passage_chars=self.settings.passage_chars,
            max_file_bytes=self.settings.max_file_bytes,
        )
        report = ingestor.ingest(paths, collection or self.settings.default_collection, progress=progress)
        indexer.index_pending(self.catalog, self.backend, progress=index_progress)
        return report

    def index_pending(self) -> int:
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
            "documents": documents,
            "collections": collections,
            "passages": counts["passages"],
            "pending_index": counts["pending_index"],
            "pending_embedding": counts["pending_embedding"] if self.settings.embedder != "none" else 0,
            "embedder": indexer.recorded_embedder(self.catalog),
            "configured_embedder": self.settings.embedder,
            "backend": self.backend.health(),
        }

    # -- search ------------------------------------------------------------------------------

    def _compile(self, node: Node) -> QueryNode:
        if isinstance(node, Word):
            return TermNode(self.analyzer.query_terms(node.text), prefix=node.prefix)
        if isinstance(node, Phrase):
            words = tuple(t.terms for t in self.analyzer.tokens(node.text))
            if not words:
                return BoolNode()
            return PhraseNode(words, slop=node.slop)
        if isinstance(node, Or):
            return BoolNode(should=tuple(self._compile(n) for n in node.items))
        return BoolNode(
            must=tuple(self._compile(n) for n in node.must),
            should=tuple(self._compile(n) for n in node.should),
            must_not=tuple(self._compile(n) for n in node.must_not),
        )

    def _highlight_terms(self, parsed: ParsedQuery) -> set[str]:
        terms: set[str] = set()
        for w in parsed.words():
            for tok in self.analyzer.tokens(w):
                terms.update(tok.terms)
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
        )

    def search(self, req: SearchRequest, principal: Principal) -> SearchResponse:
        """Run one search for ``principal``; only collections it may read are ever touched."""
        t0 = time.perf_counter()
        if req.page < 1:
            raise InvalidRequestError("page must be 1 or more")
        if not 1 <= req.size <= self.settings.max_page_size:
            raise InvalidRequestError(f"size must be between 1 and {self.settings.max_page_size}")
        parsed = parse_query(req.q)
        filters = self._filters(req, parsed, principal)
        node = self._compile(parsed.root) if parsed.root is not None else None
        offset = (req.page - 1) * req.size
        words = parsed.words()
        sem_text = " ".join(words)
        mode = req.mode
        embedder = self.embedder() if mode != "keyword" and sem_text else None
        if mode != "keyword" and (embedder is None or not self.backend.has_vectors()):
            if mode == "semantic" and sem_text:
                raise InvalidRequestError(
                    "semantic search is not available: no embedder configured or no passage embedded yet",
                    code="semantic_unavailable",
                )
            mode = "keyword"
        if not sem_text:
            mode = "keyword"

        facets: dict[str, dict[str, int]]
        if mode == "keyword":
            res = self.backend.keyword_search(node, filters, limit=req.size, offset=offset, facets=True)
            page_hits, total, facets = res.hits, res.total, res.facets
        else:
            assert embedder is not None
            depth = max(HYBRID_CANDIDATES, offset + req.size)
            qvec = embedder.embed_query(sem_text)
            vec = self.backend.vector_search(qvec.tolist(), filters, limit=depth)
            if mode == "semantic":
                fused = vec.hits
                total = len(vec.hits)
                facets = self._facets_of(fused)
            else:
                kw = self.backend.keyword_search(node, filters, limit=depth, facets=True)
                fused = rrf([kw.hits, vec.hits])
                total = max(kw.total, len(fused))
                facets = kw.facets
            page_hits = fused[offset : offset + req.size]
        hits = self._hydrate(page_hits, self._highlight_terms(parsed), principal)
        return SearchResponse(
            total=total,
            took_ms=int((time.perf_counter() - t0) * 1000),
            hits=hits,
            facets={k: facets.get(k, {}) for k in FACET_FIELDS},
            mode=mode,
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

    def _hydrate(self, hits: list[BackendHit], terms: set[str], principal: Principal) -> list[Hit]:
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
                    snippet=highlight(self.analyzer, p.text, terms),
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


def rrf(rankings: list[list[BackendHit]], k: int = RRF_K) -> list[BackendHit]:
    """Reciprocal rank fusion: score = sum over rankings of 1 / (k + rank)."""
    scores: dict[int, float] = {}
    first: dict[int, BackendHit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.passage_id] = scores.get(hit.passage_id, 0.0) + 1.0 / (k + rank)
            first.setdefault(hit.passage_id, hit)
    ordered = sorted(scores, key=lambda pid: (-scores[pid], pid))
    return [replace(first[pid], score=scores[pid]) for pid in ordered]
