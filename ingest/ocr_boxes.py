"""Word boxes for pages OCR'd before they were kept (``archive documents ocr-boxes``).

A scanned page ingested before migration 0028 has its OCR text but no word positions, so a
redaction on it cannot be blacked out in its image (the image is refused instead). This runs the
document's extractor again in a sandbox worker (the same OCR as at ingestion), and aligns the new
OCR words (``wordboxes.align``) to the page text *as stored*: its redacted characters put back
from the redactions' spans first (in memory only), so that a redacted word finds its box. Nothing
but the boxes is written; the page texts, passages and index are not touched. A word whose new
OCR differs from the stored text (another Tesseract version) gets no box, and a redaction over it
keeps its page image refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Document, Page, RedactionSpan, StoredFile
from archive_search.catalog.store import OriginalStore
from archive_search.types import SourceFile
from ingest import wordboxes
from ingest.extractors.base import ExtractionError, Limits, Skip
from ingest.registry import ExtractorRegistry, default_registry
from ingest.sandbox import run_extractor

RENDERABLE = ("application/pdf", "image/")
"""Documents whose pages have images (the viewer's and bundles'): only theirs need boxes."""


def missing(
    catalog: Catalog, document_ids: list[int] | None = None, *, redacted_only: bool = False
) -> list[int]:
    """Documents (not purged, with page images) having an OCR'd page without word boxes."""
    with catalog.session() as s:
        q = (
            select(Page.document_id)
            .join(Document, Document.id == Page.document_id)
            .where(Page.method == "ocr", Page.word_boxes.is_(None), Document.purged_at.is_(None))
            .distinct()
        )
        if document_ids:
            q = q.where(Page.document_id.in_(document_ids))
        if redacted_only:
            q = q.where(Page.document_id.in_(select(RedactionSpan.document_id)))
        ids = sorted(set(s.scalars(q)))
        rows = s.execute(select(Document.id, Document.mime).where(Document.id.in_(ids))).all()
        mimes = {int(i): str(m) for i, m in rows}
    return [i for i in ids if mimes.get(i, "").startswith(RENDERABLE)]


def fill_document(
    catalog: Catalog,
    store: OriginalStore,
    document_id: int,
    limits: Limits,
    registry: ExtractorRegistry | None = None,
) -> dict[str, Any]:
    """OCR the document again and store word boxes on its OCR'd pages that have none; returns
    the counts (pages filled, and masked characters still without a box)."""
    with catalog.session() as s:
        doc = s.get(Document, document_id)
        if doc is None or doc.purged_at is not None:
            return {"document_id": document_id, "error": "not_found"}
        sha = s.scalar(select(StoredFile.sha256).where(StoredFile.id == doc.file_id))
        mime, filename = doc.mime, doc.filename
    extractor = (registry or default_registry()).for_mime(mime)
    path = store.path_for(str(sha))
    if extractor is None or not path.is_file():
        return {"document_id": document_id, "error": "no_extractor" if extractor is None else "no_original"}
    source = SourceFile(filename=filename, sha256=str(sha), size=path.stat().st_size, path=path, mime=mime)
    try:
        ex = run_extractor(extractor, source, replace(limits, passage_chars=None, entities=False))
    except (ExtractionError, Skip) as exc:
        return {"document_id": document_id, "error": exc.code}
    found = {b.page: b.word_boxes for b in ex.blocks if b.method == "ocr" and b.word_boxes is not None}
    filled = unlocated = 0
    with catalog.session() as s:
        pages = s.scalars(
            select(Page).where(
                Page.document_id == document_id, Page.method == "ocr", Page.word_boxes.is_(None)
            )
        ).all()
        for pg in pages:
            wb = found.get(pg.number)
            if wb is None or wb.words is None:
                continue
            spans = page_redaction_spans(s, pg.id)
            aligned = wordboxes.align(wordboxes.unredacted_text(pg.text, spans), wb)
            raw = wordboxes.checked(aligned, len(pg.text))
            if raw is None:
                continue
            pg.word_boxes = raw
            filled += 1
            ranges = [(a, b) for a, b, _ in spans]
            originals = {a + i: ch for a, b, o in spans for i, ch in enumerate(o[: b - a])}
            words = wordboxes.from_json(raw, len(pg.text))
            covered = {i for r in (words.rows if words else []) for i in range(r[0], r[1])}
            unlocated += sum(
                1
                for a, b in ranges
                for i in range(a, b)
                if i not in covered and not originals.get(i, "x").isspace() and originals.get(i) != "█"
            )
    return {"document_id": document_id, "pages": filled, "unlocated_chars": unlocated}


def fill_word_boxes(
    catalog: Catalog,
    store: OriginalStore,
    limits: Limits,
    document_ids: list[int] | None = None,
    *,
    redacted_only: bool = False,
) -> list[dict[str, Any]]:
    """Word boxes for every document (or those given) with OCR'd pages lacking them."""
    return [
        fill_document(catalog, store, d, limits)
        for d in missing(catalog, document_ids, redacted_only=redacted_only)
    ]


def page_redaction_spans(s: Session, page_id: int) -> list[tuple[int, int, str]]:
    """The redaction spans of a page's text: (start, end, the characters they masked) — to put
    them back in memory for aligning words, never to store or serve."""
    return [
        (int(a), int(b), str(o))
        for a, b, o in s.execute(
            select(RedactionSpan.char_start, RedactionSpan.char_end, RedactionSpan.original).where(
                RedactionSpan.target == "page", RedactionSpan.target_id == page_id
            )
        ).all()
    ]
