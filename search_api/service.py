"""The service layer: what the HTTP API, the command line and the UI call.

It owns the catalog, the original store, the backend and the embedder (the composition root),
and reads documents and passages for a principal. Searches run in ``retrieval.py`` (parse,
compile, rank, fuse, hydrate, highlight).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Collection, Document, Page, Passage, StoredFile
from archive_search.catalog.private import catalog_file_of, secure_data_dir
from archive_search.catalog.store import OriginalStore
from archive_search.errors import ForbiddenError, InvalidRequestError, NotFoundError
from archive_search.settings import Settings
from archive_search.types import MAX_ID, Principal, SimilarOptions
from index import indexer
from index.analysis import Analyzer, Highlighter, fold, match_kind, sentence_initial
from index.backend import (
    BufferedVectors,
    SearchBackend,
)
from index.embeddings import Embedder, make_embedder
from index.factory import make_backend
from ingest.jobs import IngestionJobs
from ingest.render import PageRenderer
from search_api.access import readable_passage
from search_api.audit import DeniedReads
from search_api.auth import Accounts
from search_api.batch import BatchRunner
from search_api.cards import DocumentCard, document_cards
from search_api.care import CareService
from search_api.cases import CaseService
from search_api.corroboration import Corroboration
from search_api.entities import EntityService
from search_api.families import FamilyService
from search_api.history import SearchHistory
from search_api.metadata import MetadataService
from search_api.redaction import RedactionService
from search_api.retrieval import Retrieval
from search_api.saved import SavedSearches
from search_api.tags import TagService
from search_api.uploads import Uploads
from search_api.withheld import mask_page, on_page, withheld_pages, withheld_passages

log = logging.getLogger(__name__)
MAX_RENDER_PIXELS = 12_000_000


MATCH_ORDER = ("exact", "lemma", "transliteration", "misspelling")
"""Ways a word matches, the closest first (``index.analysis.match_kind``)."""


@dataclass(frozen=True)
class HitPassage:
    """A passage of a document that a query matches, where it lies."""

    passage_id: int
    seq: int
    page: int | None


@dataclass(frozen=True)
class PassagePlace:
    """A passage's place in its document: its page and character span in the page's text."""

    passage_id: int
    seq: int
    page: int | None
    char_start: int
    char_end: int


@dataclass(frozen=True)
class DocumentHits:
    """What the viewer needs of a query inside one document: its matching passages in document
    order and the highlighter that marks its words as the result snippets do."""

    passages: list[HitPassage]
    highlighter: Highlighter
    words: tuple[str, ...] = ()
    """The query's words (``explain``'s), for saying how each mark matched."""

    def marks(self, text: str) -> list[tuple[int, int, str | None]]:
        """The query's matches in ``text`` as the result snippets mark them, each with how it
        matched (``exact``, ``lemma``, ``transliteration``, ``misspelling``: the strongest way any
        query word matches it, as ``explain`` says; ``None`` for a prefix's)."""
        out: list[tuple[int, int, str | None]] = []
        for start, end in self.highlighter.spans(text):
            word, initial = text[start:end], sentence_initial(text, start)
            kinds = [
                match_kind(q, word, sentence_initial=initial, edits=self.highlighter.fuzzy.get(fold(q), 0))
                for q in self.words
            ]
            found = [k for k in kinds if k is not None]
            out.append((start, end, min(found, key=MATCH_ORDER.index) if found else None))
        return out


class ArchiveService:
    """One instance per process; thread-safe for searches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # umask 077 and a 0700 data folder before anything is created (docs/security.md, finding 9)
        secure_data_dir(settings.data_dir, catalog_file_of(settings.catalog_url))
        self.catalog = Catalog(settings.catalog_url)
        self.store = OriginalStore(settings.originals_dir)
        self.analyzer = Analyzer()
        self.backend: SearchBackend = make_backend(settings, self.analyzer)
        self.accounts = Accounts(self.catalog, settings)
        self.retrieval = Retrieval(self)
        self.jobs = IngestionJobs(self)
        # entry points of retrieval (``retrieval.py``) and of ingestion and indexing
        # (``ingest/jobs.py``), with their own signatures
        self.search = self.retrieval.search
        self.similar_passages = self.retrieval.similar_passages
        self.ingest = self.jobs.ingest
        self.ingestor = self.jobs.ingestor
        self.index_pending = self.jobs.index_pending
        self.embed_pending = self.jobs.embed_pending
        self.reindex = self.jobs.reindex
        self.status = self.jobs.status
        self.batch = BatchRunner(self)
        self.saved = SavedSearches(self)
        self.history = SearchHistory(self)
        self.cases = CaseService(self.catalog, self.store, self.accounts.audit)
        self.tags = TagService(self.catalog, self.backend, self.accounts.audit)
        self.entities = EntityService(self.catalog, self.backend, self.accounts.audit)
        self.families = FamilyService(self.catalog, self.accounts.audit)
        self.corroboration = Corroboration(self.catalog, self.analyzer)
        self.metadata = MetadataService(self.catalog, lambda: self.backend, self.accounts.audit)
        self.care = CareService(self)
        self.redactions = RedactionService(self)
        self.denied = DeniedReads(self.accounts.audit)
        if self.backend.needs_rebuild():
            log.warning("the search index was discarded (format change); rebuilding it from the catalog")
            indexer.reindex(self.catalog, self.backend)
            self.backend.rebuilt()
        self._embedder: Embedder | None = None
        self._embedder_loaded = False
        self._embedder_lock = threading.Lock()
        self._renderer: PageRenderer | None = None
        self._uploads: Uploads | None = None
        self._renderer_lock = threading.Lock()

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
        if self._renderer is not None:
            self._renderer.close()
        self.backend.close()
        self.catalog.close()

    def reopen_backend(self) -> None:
        """Open the backend afresh: a worker that became the single writer of an embedded index
        must start from what the previous writer left (``ingest/queue.py``)."""
        if isinstance(self.backend, BufferedVectors):  # another writer may have saved since:
            self.backend.discard_unsaved_vectors()  # never overwrite its files
        self.backend.close()
        self.backend = self.tags.backend = self.entities.backend = make_backend(self.settings, self.analyzer)
        self.jobs.backend_reopened()

    # -- documents ---------------------------------------------------------------------------

    def _document_row(self, document_id: int, principal: Principal) -> tuple[Document, str, str]:
        """The document, its collection name and SHA-256; a forbidden one is as missing as a missing one."""
        if not 1 <= document_id <= MAX_ID:  # no such id (and the catalog would raise on it: a 500)
            raise NotFoundError(f"document {document_id} not found")
        with self.catalog.session() as s:
            row = s.execute(
                select(Document, Collection.name, StoredFile.sha256)
                .join(Collection, Document.collection_id == Collection.id)
                .join(StoredFile, Document.file_id == StoredFile.id)
                .where(Document.id == document_id)
            ).first()
        if row is None or not principal.can_read_document(row[1], document_id):
            raise NotFoundError(f"document {document_id} not found")
        if row[0].withdrawn_at is not None:  # said only to those who could read it
            raise NotFoundError(f"document {document_id} was withdrawn", code="document_withdrawn")
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
            "extractor": doc.extractor,
            "extractor_version": doc.extractor_version,
        }

    def document_cards(self, document_ids: list[str], principal: Principal) -> dict[str, DocumentCard]:
        """Date and tags of the readable documents among ``document_ids`` (result cards,
        ``search_api/cards.py``)."""
        return document_cards(self.catalog, document_ids, principal)

    def document_text(self, document_id: int, principal: Principal) -> list[dict[str, Any]]:
        """Extracted text by page (paged formats) or by passage/turn (transcripts, plain text)."""
        doc, _, _ = self._document_row(document_id, principal)
        with self.catalog.session() as s:
            # restricted passages the caller may not read are withheld (``withheld.py``)
            held = withheld_passages(s, doc.id, principal)
            pages = list(s.scalars(select(Page).where(Page.document_id == doc.id).order_by(Page.number)))
            if pages and doc.doc_type != "transcript":
                single = len(pages) == 1
                return [
                    {
                        "page": p.number,
                        "text": mask_page(p.text, p.number, held, single_page=single),
                        "method": p.method,
                        "confidence": p.confidence,
                        "withheld": any(on_page(w, p.number, single) for w in held),
                    }
                    for p in pages
                ]
            passages = list(
                s.scalars(select(Passage).where(Passage.document_id == doc.id).order_by(Passage.seq))
            )
        hidden = {w.passage_id for w in held}
        return [
            {
                "passage_id": str(p.id),
                "page": p.page,
                "time_start": p.time_start,
                "time_end": p.time_end,
                "speaker": None if p.id in hidden else p.speaker,
                "text": "" if p.id in hidden else p.text,
                "withheld": p.id in hidden,
            }
            for p in passages
        ]

    def passage_layout(self, document_id: int, principal: Principal) -> list[PassagePlace]:
        """Where each passage of a readable document lies, in document order (the viewer places
        entity marks and hit links with it)."""
        doc, _, _ = self._document_row(document_id, principal)
        with self.catalog.session() as s:
            rows = s.execute(
                select(Passage.id, Passage.seq, Passage.page, Passage.char_start, Passage.char_end)
                .where(Passage.document_id == doc.id)
                .order_by(Passage.seq)
            )
            return [PassagePlace(i, seq, page, a, b) for i, seq, page, a, b in rows]

    def document_hits(self, document_id: int, q: str, principal: Principal) -> DocumentHits:
        """The passages of one document that the query ``q`` matches, in document order, and the
        highlighter of its snippets (the viewer's hit-to-hit navigation and its marks): the search
        runs on the backend with the access filter inside, like any search."""
        doc, _, _ = self._document_row(document_id, principal)
        ids, highlighter, words = self.retrieval.in_document(q, doc.id, principal)
        rows: list[tuple[int, int, int | None]] = []
        with self.catalog.session() as s:
            for i in range(0, len(ids), 900):
                rows.extend(
                    s.execute(
                        select(Passage.id, Passage.seq, Passage.page).where(
                            Passage.id.in_(ids[i : i + 900]), Passage.document_id == doc.id
                        )
                    )
                )
        rows.sort(key=lambda r: r[1])
        return DocumentHits([HitPassage(i, seq, page) for i, seq, page in rows], highlighter, tuple(words))

    def check_withheld(self, document_id: int, principal: Principal, page: int | None = None) -> None:
        """Refuse the original (``page`` None) or a page image holding a passage withheld from
        ``principal``: the file and the picture still hold its words (``withheld.py``)."""
        with self.catalog.session() as s:
            held = withheld_passages(s, document_id, principal)
            if not held:
                return
            if page is not None:
                numbers = list(s.scalars(select(Page.number).where(Page.document_id == document_id)))
                if page not in withheld_pages(held, numbers or [page]):
                    return
        raise ForbiddenError(
            f"document {document_id} holds a passage restricted to named readers: its original"
            + ("" if page is None else f" and page {page}")
            + " are withheld from you; read its text",
            code="passage_withheld",
        )

    def original_path(self, document_id: int, principal: Principal) -> tuple[Path, str, str, str]:
        """(stored path, SHA-256, MIME type, file name) of a document's original, checked against
        its SHA-256 (``OriginalStore.checked_path``: a missing or changed original is an error
        naming the document, never served)."""
        doc, _, sha = self._document_row(document_id, principal)
        self.redactions.check_original(doc.id, principal)
        self.check_withheld(doc.id, principal)
        path = self.store.checked_path(sha, what=f"document {document_id}")
        return path, sha, doc.mime, doc.filename

    def passage(self, passage_id: int, principal: Principal) -> dict[str, Any]:
        """One passage with its position: page, character span inside the page's text, time span."""
        with self.catalog.session() as s:
            p, d, col = readable_passage(s, passage_id, principal)
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

    def similar_documents(
        self, document_id: int, principal: Principal, *, size: int = 10, by_family: bool = True
    ) -> dict[str, Any]:
        """Documents like this one (``Retrieval.similar_documents``); with ``by_family`` one entry
        per document family, labelled same source or independent (``families.py``)."""
        doc, _, _ = self._document_row(document_id, principal)
        if not by_family:
            return self.retrieval.similar_documents(doc, principal, size=size)
        wider = min(size * 3, self.settings.max_page_size)
        out = self.retrieval.similar_documents(doc, principal, size=max(size, wider))
        return self.families.group_similar(out, doc.id, principal, size=size)

    def similar_by_source(
        self, passage_id: int, principal: Principal, options: SimilarOptions = SimilarOptions()
    ) -> dict[str, Any]:
        """Similar passages (``Retrieval.similar_passages``), one entry per document family,
        labelled "same source (copy / re-scan / translation of …)" or "independent"."""
        wider = min(options.size * 3, self.settings.max_page_size)
        out = self.retrieval.similar_passages(passage_id, principal, options.sized(max(options.size, wider)))
        p = self.passage(passage_id, principal)
        return self.families.group_similar(out, int(p["document_id"]), principal, size=options.size)

    def corroborate(
        self, passage_id: int, principal: Principal, options: SimilarOptions = SimilarOptions()
    ) -> dict[str, Any]:
        """Similar passages (one entry per source family with ``options.by_family``) with each
        entry's document date, the people named and the match strength (``corroboration.py``)."""
        if options.by_family:
            out = self.similar_by_source(passage_id, principal, options)
        else:
            out = self.similar_passages(passage_id, principal, options)
        return self.corroboration.enrich(out, passage_id, principal)

    def page_image(self, document_id: int, page: int, principal: Principal, *, dpi: int = 110) -> bytes:
        """A PNG of one page of a PDF or image document, rendered in a sandbox worker
        (``ingest/render.py``): ``RenderError`` (503 ``render_failed``) past its time or memory."""
        if not 30 <= dpi <= 300:
            raise InvalidRequestError("dpi must be between 30 and 300")
        doc, _, sha = self._document_row(document_id, principal)
        if page < 1:
            raise NotFoundError(f"page {page} not found")
        self.check_withheld(doc.id, principal, page)
        # a redacted document: readers get its pages with the masked words blacked out (located
        # on a PDF's text layer, or by the OCR word boxes of a scanned page) and its redacted
        # regions; a page whose masked words cannot all be located is refused
        mask = self.redactions.page_mask(doc.id, page, principal)
        if mask is not None and mask.unlocatable:
            raise ForbiddenError(
                f"page {page} of document {document_id} is redacted and the masked words cannot all "
                "be located on it (a scan OCR'd without word positions: `archive documents "
                "ocr-boxes`); its image is for the collection's managers",
                code="document_redacted",
            )
        path = self.store.checked_path(sha, what=f"document {document_id}")
        return self.renderer().render(
            path,
            doc.mime,
            page,
            dpi=dpi,
            max_pixels=MAX_RENDER_PIXELS,
            what=f"document {document_id}",
            mask_words=mask.words if mask is not None else (),
            mask_required=mask.required if mask is not None else (),
            mask_boxes=mask.boxes if mask is not None else (),
        )

    @property
    def uploads(self) -> Uploads:
        """This process's upload jobs (the API's ``/uploads`` and the UI's upload page), made at
        first use."""
        with self._renderer_lock:
            if self._uploads is None:
                self._uploads = Uploads(self)
            return self._uploads

    def renderer(self) -> PageRenderer:
        """The page renderer (sandbox workers with ``ARCHIVE_RENDER_*`` limits), made at first use."""
        with self._renderer_lock:
            if self._renderer is None:
                st = self.settings
                self._renderer = PageRenderer(
                    timeout_s=st.render_timeout_s, memory_mb=st.render_memory_mb, cache_mb=st.render_cache_mb
                )
            return self._renderer

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
