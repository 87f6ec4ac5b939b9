"""Redaction (issue 20, part 2): staff mask a name or a passage of a document, or every mention
of an entity, so that readers never see it.

The model (``docs/security.md``, "Redaction"):

- **What is masked is masked in the catalog**: every stored text that readers are served from —
  passages, page texts, the title and file name, an e-mail's sender, recipients and subject, the
  free-text metadata values (``docs/metadata.md``) — has each redacted character replaced by
  ``█`` (same length, so every offset stays valid). Every
  read path (search hits, snippets and highlights, the viewer, similar passages, entity pages,
  suggestions, hit exports, case files and bundles) reads those texts, so none can show what was
  redacted, for anyone. The search index is rewritten without the old text on both backends
  (``purge_documents`` rewrites the keyword index and overwrites vectors, then the masked
  passages are indexed again and re-embedded), so searching for a redacted word finds nothing —
  administrators included.
- **Who sees the unredacted text**: administrators and the managers of the document's collection
  (those who may redact), through the redaction list (``GET /documents/{id}/redactions``: each
  span with the text it masked) and the original file and page images. Everyone else who may read
  the document is refused its original and page images (``document_redacted``), which still hold
  the words; the stored original is never changed.
- **Recorded**: who, when, why and how many spans in the audit log — never the masked text (the
  audit log is append-only and outlives a purge). The masked text is kept only in the spans
  (``redaction_spans.original``), which a purge deletes and lifting a redaction puts back.
- **Entity redaction** masks every spelling seen of the entity in every document (administrators:
  it reaches collections of all managers); entity mentions inside masked text are deleted and an
  entity left without mentions disappears from entity pages, facets and suggestions.

Why one module: redacting, lifting (overlapping redactions in any order) and the page masks all
work on the same spans and the same list of stored texts; they must agree character by character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from archive_search.catalog.models import (
    Collection,
    Document,
    DocumentFingerprint,
    EmailHeader,
    Entity,
    EntityKey,
    EntityMention,
    FamilyLsh,
    Page,
    Passage,
    Redaction,
    RedactionRegion,
    RedactionSpan,
    StoredFile,
)
from archive_search.catalog.models_metadata import DocumentMetadata, MetadataField
from archive_search.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError
from archive_search.types import Principal
from index import indexer
from ingest import wordboxes
from ingest.ocr_boxes import page_redaction_spans
from search_api.access import managed_document

if TYPE_CHECKING:
    from search_api.service import ArchiveService

MASK = "█"
"""What each redacted character becomes: not a word character, so no analyser makes a term of it."""
MAX_REASON = 2000
MAX_TEXT = 500
MAX_SPANS = 100_000
"""Most spans one redaction may mask (an entity mentioned everywhere): beyond, redact per collection."""

_DOC_FIELDS: dict[str, tuple[Any, str]] = {
    "title": (Document, "title"),
    "filename": (Document, "filename"),
    "email_sender": (EmailHeader, "sender"),
    "email_recipients": (EmailHeader, "recipients"),
    "email_subject": (EmailHeader, "subject"),
}
"""Targets whose ``target_id`` is the document: (model, attribute)."""


def pattern_for(phrase: str) -> re.Pattern[str]:
    """Every occurrence of ``phrase`` as whole words, any case, any whitespace between its words
    (a name wrapped over two lines of a page is still the name)."""
    words = phrase.split()
    if not words:
        raise InvalidRequestError("the text to redact is empty")
    body = r"\s+".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def ranges_of(pattern: re.Pattern[str], value: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in pattern.finditer(value)]


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def mask(value: str, ranges: Sequence[tuple[int, int]]) -> str:
    """``value`` with every character inside ``ranges`` replaced by ``MASK`` (whitespace too:
    the length of each word is not shown, only the span's)."""
    chars = list(value)
    for a, b in ranges:
        for i in range(max(0, a), min(len(chars), b)):
            chars[i] = MASK
    return "".join(chars)


@dataclass(frozen=True)
class PageMask:
    """Words to black out on a page image, and those that must be found on the page's text layer;
    on a scanned page, the boxes to black out (fractions of the page: OCR word boxes of the masked
    words and redacted regions) and whether some masked word has no box (then the image is refused)."""

    words: list[str]
    required: list[str]
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    unlocatable: bool = False


@dataclass
class _Target:
    kind: str
    target_id: int
    document_id: int
    value: str


class RedactionService:
    """Redact, list and lift redactions over one ``ArchiveService``."""

    def __init__(self, service: ArchiveService) -> None:
        self.service = service
        self.catalog = service.catalog
        self.audit = service.accounts.audit

    # -- access ------------------------------------------------------------------------------

    def _managed(self, s: Session, document_id: int, principal: Principal) -> tuple[Document, str]:
        doc, col = managed_document(s, document_id, principal, "redacting")
        if doc.purged_at is not None:
            raise ConflictError(f"document {document_id} was purged")
        return doc, col

    def sees_unredacted(self, document_id: int, principal: Principal) -> bool:
        """Administrators and the managers of the document's collection."""
        if principal.is_admin:
            return True
        with self.catalog.session() as s:
            col = s.scalar(
                select(Collection.name)
                .join(Document, Document.collection_id == Collection.id)
                .where(Document.id == document_id)
            )
        return col is not None and principal.can_manage(col)

    def is_redacted(self, document_id: int) -> bool:
        with self.catalog.session() as s:
            return bool(redacted_documents(s, [document_id]))

    def check_original(self, document_id: int, principal: Principal) -> None:
        """Refuse the original and page images of a redacted document to those who may not see
        the unredacted text (they still hold the words)."""
        if self.is_redacted(document_id) and not self.sees_unredacted(document_id, principal):
            raise ForbiddenError(
                f"document {document_id} is redacted: its original and page images are for the "
                "collection's managers; read its (redacted) text",
                code="document_redacted",
            )

    def page_mask(self, document_id: int, page: int, principal: Principal) -> PageMask | None:
        """What to black out on a page image of a redacted document for this principal (``None``:
        nothing — not redacted, or one who sees the unredacted text): every word any span of the
        document masked, and those words of the spans on this page that must be found on its
        text layer (a word not found there may be in the picture: the image is refused)."""
        if not self.is_redacted(document_id) or self.sees_unredacted(document_id, principal):
            return None
        with self.catalog.session() as s:
            return mask_for_page(s, document_id, page)

    def scan_pages_locatable(self, document_id: int) -> bool:
        """Whether every page of a redacted document has its masked words located (on a scanned
        page: by its OCR word boxes), so that its page images can be served masked."""
        with self.catalog.session() as s:
            numbers = s.scalars(select(Page.number).where(Page.document_id == document_id)).all()
            return not any(mask_for_page(s, document_id, n).unlocatable for n in numbers)

    # -- targets -----------------------------------------------------------------------------

    @staticmethod
    def _targets(s: Session, document_ids: Sequence[int]) -> list[_Target]:
        """Every stored text of these documents that readers are served from."""
        out: list[_Target] = []
        ids = sorted(set(document_ids))
        for p in s.scalars(select(Passage).where(Passage.document_id.in_(ids)).order_by(Passage.id)):
            out.append(_Target("passage", p.id, p.document_id, p.text))
        for pg in s.scalars(select(Page).where(Page.document_id.in_(ids)).order_by(Page.id)):
            out.append(_Target("page", pg.id, pg.document_id, pg.text))
        for d in s.scalars(select(Document).where(Document.id.in_(ids))):
            out.append(_Target("filename", d.id, d.id, d.filename))
            if d.title:
                out.append(_Target("title", d.id, d.id, d.title))
        for h in s.scalars(select(EmailHeader).where(EmailHeader.document_id.in_(ids))):
            out.append(_Target("email_sender", h.document_id, h.document_id, h.sender))
            out.append(_Target("email_recipients", h.document_id, h.document_id, h.recipients))
            out.append(_Target("email_subject", h.document_id, h.document_id, h.subject))
        free_text = (
            select(DocumentMetadata)
            .join(MetadataField, DocumentMetadata.field_id == MetadataField.id)
            .where(DocumentMetadata.document_id.in_(ids), MetadataField.type == "text")
            .order_by(DocumentMetadata.id)
        )
        for m in s.scalars(free_text):  # a metadata text value is served like the title
            out.append(_Target("metadata", m.id, m.document_id, m.value))
        return out

    @staticmethod
    def _read(s: Session, kind: str, target_id: int) -> str | None:
        if kind == "passage":
            return s.scalar(select(Passage.text).where(Passage.id == target_id))
        if kind == "page":
            return s.scalar(select(Page.text).where(Page.id == target_id))
        if kind == "metadata":
            return s.scalar(select(DocumentMetadata.value).where(DocumentMetadata.id == target_id))
        model, attr = _DOC_FIELDS[kind]
        key = Document.id if model is Document else EmailHeader.document_id
        value = s.scalar(select(getattr(model, attr)).where(key == target_id))
        return None if value is None else str(value)

    @staticmethod
    def _write(s: Session, kind: str, target_id: int, value: str) -> None:
        if kind == "passage":
            s.execute(update(Passage).where(Passage.id == target_id).values(text=value))
        elif kind == "page":
            s.execute(update(Page).where(Page.id == target_id).values(text=value))
        elif kind == "metadata":
            s.execute(update(DocumentMetadata).where(DocumentMetadata.id == target_id).values(value=value))
        else:
            model, attr = _DOC_FIELDS[kind]
            key = Document.id if model is Document else EmailHeader.document_id
            s.execute(update(model).where(key == target_id).values({attr: value}))

    # -- redact --------------------------------------------------------------------------------

    def redact_document(
        self,
        document_id: int,
        principal: Principal,
        *,
        reason: str,
        phrase: str | None = None,
        passage_id: int | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[str, Any]:
        """Redact in one document (manage right): every occurrence of ``phrase``, or a passage
        (``start``/``end``: a span of it; the same words are masked wherever the document's page
        texts and overlapping passages hold them)."""
        reason = self._reason(reason)
        if (phrase is None) == (passage_id is None):
            raise InvalidRequestError("give either the text to redact or a passage")
        with self.catalog.session() as s:
            doc, col = self._managed(s, document_id, principal)
            if passage_id is not None:
                p = s.get(Passage, passage_id)
                if p is None or p.document_id != doc.id:
                    raise NotFoundError(f"passage {passage_id} not found in document {document_id}")
                a = 0 if start is None else start
                b = len(p.text) if end is None else end
                if not 0 <= a < b <= len(p.text):
                    raise InvalidRequestError(f"the span must lie within the passage (0-{len(p.text)})")
                chosen = p.text[a:b]
                if not chosen.replace(MASK, "").strip():
                    raise ConflictError("that span is redacted already")
                pattern = _span_pattern(p.text, a, b)
                kind = "passage"
                extra = {(p.id, a, b)}
                fields = _field_patterns(chosen, [doc.title or "", doc.filename])
            else:
                assert phrase is not None
                if len(phrase) > MAX_TEXT:
                    raise InvalidRequestError(f"at most {MAX_TEXT} characters of text to redact")
                pattern = pattern_for(phrase)
                kind = "text"
                extra = set()
                fields = []
            found = self._mask(s, [doc.id], [pattern], extra, fields)
            if not found:
                raise ConflictError("the text was not found in the document (or is redacted already)")
            red = Redaction(
                kind=kind, document_id=doc.id, reason=reason, created_by=principal.name, created_at=_now()
            )
            s.add(red)
            s.flush()
            self._store_spans(s, red.id, found)
            details = {
                "kind": kind,
                "reason": reason,
                "collection": col,
                "spans": len(found),
                "passage_id": passage_id,
            }
            self.audit.record(principal.name, "document.redact", "document", doc.id, details, session=s)
            rid = red.id
        self._reindex([document_id], rewrite=True)
        self.service.care.drop_exports([document_id])  # stored bundles hold the unredacted text
        return self.get(rid, principal)

    def redact_region(
        self,
        document_id: int,
        principal: Principal,
        *,
        reason: str,
        page: int,
        x: float,
        y: float,
        w: float,
        h: float,
    ) -> dict[str, Any]:
        """Redact a rectangle of a scanned page (manage right; ``x``, ``y``, ``w``, ``h`` are
        fractions of the page, from its top left corner): the region is blacked out in the page's
        images even where OCR recognised nothing (a signature, a photograph), and every word whose
        OCR box touches it is masked in the texts (the page's, its passages') like a span."""
        reason = self._reason(reason)
        if not (0 <= x < 1 and 0 <= y < 1 and w > 0 and h > 0):
            raise InvalidRequestError("the region must start on the page: 0 <= x, y < 1; 0 < w, h")
        w, h = min(w, 1 - x), min(h, 1 - y)  # clipped to the page
        with self.catalog.session() as s:
            doc, col = self._managed(s, document_id, principal)
            if not (doc.mime == "application/pdf" or doc.mime.startswith("image/")):
                raise ConflictError(f"document {document_id} has no page images to redact a region of")
            pg = s.scalar(select(Page).where(Page.document_id == doc.id, Page.number == page))
            if pg is None:
                raise NotFoundError(f"page {page} not found in document {document_id}")
            exact_pages: set[tuple[int, int, int]] = set()
            exact: set[tuple[int, int, int]] = set()
            words: wordboxes.PageWords | None = None
            if pg.method == "ocr":
                words = wordboxes.from_json(pg.word_boxes, len(pg.text))
                if words is None:
                    raise ConflictError(
                        f"page {page} was OCR'd without word positions, so the words inside the region "
                        "cannot be found; run `archive documents ocr-boxes` first"
                    )
            elif pg.method == "text-layer" and doc.mime == "application/pdf" and pg.text.strip():
                words, layer = self._text_layer_words(s, doc, pg)
                # every text-layer word under the rectangle must be placed in the page text, or
                # the image would be blacked out while the text kept the word
                if words is None or sum(_touches(b, words, x, y, w, h) for b in layer) > sum(
                    _touches(r[2:], words, x, y, w, h) for r in words.rows
                ):
                    raise ConflictError(
                        f"some words of page {page} inside the region cannot be placed in its text; "
                        "redact them as text"
                    )
            if words is not None:
                for r in words.rows:
                    if _touches(r[2:], words, x, y, w, h):
                        exact_pages.add((pg.id, r[0], r[1]))
                for p in s.scalars(
                    select(Passage).where(Passage.document_id == doc.id, Passage.page == page)
                ):
                    for _, a, b in exact_pages:
                        a2, b2 = max(a, p.char_start) - p.char_start, min(b, p.char_end) - p.char_start
                        if a2 < b2:
                            exact.add((p.id, a2, b2))
            elif pg.text.strip():
                # a page with text but no way to place it (not OCR'd, not a PDF's text layer):
                # the region would black out pixels while the text kept the words
                raise ConflictError(f"the words of page {page} cannot be placed on it; redact them as text")
            # words masked already by another redaction get spans too: lifting that one hands
            # their characters over to this one, and they stay masked while the region stands
            found = (
                self._mask(s, [doc.id], [], exact, exact_pages=exact_pages, keep_masked=True)
                if exact_pages
                else []
            )
            red = Redaction(
                kind="region", document_id=doc.id, reason=reason, created_by=principal.name, created_at=_now()
            )
            s.add(red)
            s.flush()
            s.add(RedactionRegion(redaction_id=red.id, document_id=doc.id, page=page, x=x, y=y, w=w, h=h))
            self._store_spans(s, red.id, found)
            details = {
                "kind": "region",
                "reason": reason,
                "collection": col,
                "page": page,
                "region": [round(v, 4) for v in (x, y, w, h)],
                "spans": len(found),
            }
            self.audit.record(principal.name, "document.redact", "document", doc.id, details, session=s)
            rid = red.id
        self._reindex([document_id], rewrite=bool(found))
        self.service.care.drop_exports([document_id])  # stored bundles hold the page unmasked
        return self.get(rid, principal)

    def _text_layer_words(
        self, s: Session, doc: Document, pg: Page
    ) -> tuple[wordboxes.PageWords | None, list[list[int]]]:
        """A text-layer PDF page's words with their boxes (``wordboxes.text_layer_words``),
        aligned to the page text as it was before any redaction (the masked characters put back
        from the spans in memory), so that a word masked already is found too."""
        sha = s.scalar(select(StoredFile.sha256).where(StoredFile.id == doc.file_id))
        found = wordboxes.text_layer_words(
            self.service.store.checked_path(str(sha), what=f"document {doc.id}"), pg.number
        )
        if found is None:
            return None, []
        spans = page_redaction_spans(s, pg.id)
        aligned = wordboxes.align(wordboxes.unredacted_text(pg.text, spans), found)
        words = wordboxes.from_json(wordboxes.checked(aligned, len(pg.text)), len(pg.text))
        return words, found.boxes

    def redact_entity(self, entity_id: int, principal: Principal, *, reason: str) -> dict[str, Any]:
        """Redact every spelling of an entity in every document that mentions it (admins)."""
        if not principal.is_admin:
            raise ForbiddenError(
                "redacting an entity everywhere changes documents of every collection; admins only"
            )
        reason = self._reason(reason)
        with self.catalog.session() as s:
            ent = s.get(Entity, entity_id)
            if ent is None:
                raise NotFoundError(f"entity {entity_id} not found")
            rows = s.execute(
                select(EntityMention.document_id, EntityMention.surface)
                .join(Document, Document.id == EntityMention.document_id)
                .where(EntityMention.entity_id == entity_id, Document.purged_at.is_(None))
            ).all()
            if not rows:
                raise ConflictError(f"entity {entity_id} has no mention left to redact")
            surfaces: dict[int, set[str]] = {}
            for doc_id, surface in rows:
                surfaces.setdefault(doc_id, set()).add(surface)
            every = sorted({x for v in surfaces.values() for x in v}, key=len, reverse=True)
            patterns = [pattern_for(x) for x in every if x.split()]
            found = self._mask(s, sorted(surfaces), patterns, set())
            red = Redaction(
                kind="entity", entity_id=ent.id, reason=reason, created_by=principal.name, created_at=_now()
            )
            s.add(red)
            s.flush()
            self._store_spans(s, red.id, found)
            docs = sorted({t.document_id for t, _ in found})
            details = {
                "kind": "entity",
                "entity_type": ent.type,
                "reason": reason,
                "spans": len(found),
                "documents": docs,
            }
            self.audit.record(principal.name, "entity.redact", "entity", ent.id, details, session=s)
            rid = red.id
        self._reindex(docs, rewrite=True)
        self.service.care.drop_exports(docs)
        return self.get(rid, principal)

    @staticmethod
    def _reason(reason: str) -> str:
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON:
            raise InvalidRequestError(f"a reason of 1-{MAX_REASON} characters is required")
        return reason

    def _mask(
        self,
        s: Session,
        document_ids: Sequence[int],
        patterns: Sequence[re.Pattern[str]],
        exact: set[tuple[int, int, int]],
        field_patterns: Sequence[re.Pattern[str]] = (),
        exact_pages: set[tuple[int, int, int]] | None = None,
        keep_masked: bool = False,
    ) -> list[tuple[_Target, list[tuple[int, int, str]]]]:
        """Mask every match of ``patterns`` (and the ``exact`` passage spans) in the documents'
        texts; returns each changed target with its (start, end, original) spans."""
        if s.get_bind().dialect.name == "sqlite":
            s.execute(text("PRAGMA secure_delete=ON"))  # the old text's pages are zeroed when freed
        out: list[tuple[_Target, list[tuple[int, int, str]]]] = []
        touched_passages: dict[int, list[tuple[int, int]]] = {}
        count = 0
        for t in self._targets(s, document_ids):
            ranges = [r for pat in patterns for r in ranges_of(pat, t.value)]
            if t.kind in _DOC_FIELDS or t.kind == "metadata":
                ranges += [r for pat in field_patterns for r in ranges_of(pat, t.value)]
            ranges += [(a, b) for pid, a, b in exact if t.kind == "passage" and pid == t.target_id]
            ranges += [(a, b) for pid, a, b in exact_pages or () if t.kind == "page" and pid == t.target_id]
            ranges = [
                r for r in merge_ranges(ranges) if keep_masked or t.value[r[0] : r[1]].replace(MASK, "")
            ]
            if not ranges:
                continue
            count += len(ranges)
            if count > MAX_SPANS:
                raise InvalidRequestError(f"more than {MAX_SPANS} spans to redact at once")
            out.append((t, [(a, b, t.value[a:b]) for a, b in ranges]))
            self._write(s, t.kind, t.target_id, mask(t.value, ranges))
            if t.kind == "passage":
                touched_passages[t.target_id] = ranges
        if touched_passages:
            self._drop_mentions(s, touched_passages)
            s.execute(
                update(Passage)
                .where(Passage.id.in_(sorted(touched_passages)))
                .values(embedding=None, embedded_at=None)
            )
        docs = sorted({t.document_id for t, _ in out})
        if docs:  # the family fingerprints hold names and shingles of the text: computed again
            s.execute(delete(FamilyLsh).where(FamilyLsh.document_id.in_(docs)))
            s.execute(delete(DocumentFingerprint).where(DocumentFingerprint.document_id.in_(docs)))
        return out

    @staticmethod
    def _drop_mentions(s: Session, ranges: dict[int, list[tuple[int, int]]]) -> None:
        """Entity mentions inside masked text go, and entities left without any mention."""
        gone: list[int] = []
        entity_ids: set[int] = set()
        for m in s.scalars(select(EntityMention).where(EntityMention.passage_id.in_(sorted(ranges)))):
            if any(m.char_start < b and a < m.char_end for a, b in ranges[m.passage_id]):
                gone.append(m.id)
                entity_ids.add(m.entity_id)
        if not gone:
            return
        s.execute(delete(EntityMention).where(EntityMention.id.in_(gone)))
        left = set(
            s.scalars(select(EntityMention.entity_id).where(EntityMention.entity_id.in_(sorted(entity_ids))))
        )
        orphans = sorted(entity_ids - left)
        if orphans:
            s.execute(delete(EntityKey).where(EntityKey.entity_id.in_(orphans)))
            s.execute(delete(Entity).where(Entity.id.in_(orphans)))

    @staticmethod
    def _store_spans(
        s: Session, redaction_id: int, found: list[tuple[_Target, list[tuple[int, int, str]]]]
    ) -> None:
        for t, spans in found:
            for a, b, original in spans:
                s.add(
                    RedactionSpan(
                        redaction_id=redaction_id,
                        document_id=t.document_id,
                        target=t.kind,
                        target_id=t.target_id,
                        char_start=a,
                        char_end=b,
                        original=original,
                    )
                )

    def _reindex(self, document_ids: Sequence[int], *, rewrite: bool) -> None:
        """Index the documents' passages again; with ``rewrite`` the backend first rewrites its
        files without the old passages (a deleted document's terms stay in segments until then)."""
        ids = sorted(set(document_ids))
        if not ids:
            return
        with self.catalog.session() as s:
            s.execute(update(Passage).where(Passage.document_id.in_(ids)).values(indexed_at=None))
        if rewrite:
            started = _now()
            self.service.backend.purge_documents(ids, lambda: indexer.live_passages(self.catalog))
            indexer.requeue_since(self.catalog, started)
        indexer.index_pending(self.catalog, self.service.backend)

    # -- lift ----------------------------------------------------------------------------------

    def lift(self, redaction_id: int, principal: Principal) -> dict[str, Any]:
        """Undo a redaction: its characters come back wherever no other redaction still covers them."""
        with self.catalog.session() as s:
            red = s.get(Redaction, redaction_id)
            if red is None:
                raise NotFoundError(f"redaction {redaction_id} not found")
            self._may_change(s, red, principal)
            spans = list(s.scalars(select(RedactionSpan).where(RedactionSpan.redaction_id == red.id)))
            by_target: dict[tuple[str, int], list[RedactionSpan]] = {}
            for sp in spans:
                by_target.setdefault((sp.target, sp.target_id), []).append(sp)
            touched: dict[int, None] = {}
            for (kind, tid), mine in by_target.items():
                current = self._read(s, kind, tid)
                if current is None:
                    continue
                others = list(
                    s.scalars(
                        select(RedactionSpan).where(
                            RedactionSpan.target == kind,
                            RedactionSpan.target_id == tid,
                            RedactionSpan.redaction_id != red.id,
                        )
                    )
                )
                chars = list(current)
                for sp in mine:
                    for i in range(sp.char_start, min(sp.char_end, len(chars))):
                        ch = sp.original[i - sp.char_start]
                        covering = [o for o in others if o.char_start <= i < o.char_end]
                        if covering:
                            for o in covering:  # hand the character over to the one still masking it
                                k = i - o.char_start
                                if o.original[k] == MASK and ch != MASK:
                                    o.original = o.original[:k] + ch + o.original[k + 1 :]
                        elif ch != MASK:
                            chars[i] = ch
                self._write(s, kind, tid, "".join(chars))
                touched[mine[0].document_id] = None
                if kind == "passage":
                    s.execute(
                        update(Passage).where(Passage.id == tid).values(embedding=None, embedded_at=None)
                    )
            for (region_doc,) in s.execute(
                select(RedactionRegion.document_id).where(RedactionRegion.redaction_id == red.id)
            ):
                touched[region_doc] = None  # its page images change (the viewer's cache keys on the mask)
            s.execute(delete(RedactionRegion).where(RedactionRegion.redaction_id == red.id))
            docs = list(touched)
            if docs:
                s.execute(delete(FamilyLsh).where(FamilyLsh.document_id.in_(docs)))
                s.execute(delete(DocumentFingerprint).where(DocumentFingerprint.document_id.in_(docs)))
            s.delete(red)
            obj_type, obj_id = (
                ("entity", red.entity_id) if red.kind == "entity" else ("document", red.document_id)
            )
            self.audit.record(
                principal.name,
                "redaction.lift",
                obj_type,
                obj_id,
                {"redaction_id": redaction_id, "kind": red.kind, "documents": docs},
                session=s,
            )
        self._reindex(docs, rewrite=False)
        return {"redaction_id": redaction_id, "lifted": True, "documents": [str(d) for d in docs]}

    def _may_change(self, s: Session, red: Redaction, principal: Principal) -> None:
        if red.kind == "entity" or red.document_id is None:
            if not principal.is_admin:
                raise ForbiddenError("an entity's redaction is lifted by administrators")
            return
        self._managed(s, red.document_id, principal)

    # -- read ----------------------------------------------------------------------------------

    def _visible(self, s: Session, red: Redaction, principal: Principal) -> bool:
        if principal.is_admin:
            return True
        if red.document_id is None:
            return False
        col = s.scalar(
            select(Collection.name)
            .join(Document, Document.collection_id == Collection.id)
            .where(Document.id == red.document_id)
        )
        return col is not None and principal.can_manage(col)

    @staticmethod
    def _public(s: Session, red: Redaction, *, document_id: int | None = None) -> dict[str, Any]:
        q = select(RedactionSpan).where(RedactionSpan.redaction_id == red.id)
        if document_id is not None:
            q = q.where(RedactionSpan.document_id == document_id)
        spans = list(s.scalars(q.order_by(RedactionSpan.document_id, RedactionSpan.target, RedactionSpan.id)))
        return {
            "id": red.id,
            "kind": red.kind,
            "document_id": str(red.document_id) if red.document_id is not None else None,
            "entity_id": red.entity_id,
            "reason": red.reason,
            "created_by": red.created_by,
            "created_at": red.created_at.isoformat(),
            "documents": sorted(
                {str(sp.document_id) for sp in spans}
                | {
                    str(d)
                    for d in s.scalars(
                        select(RedactionRegion.document_id).where(RedactionRegion.redaction_id == red.id)
                    )
                },
                key=int,
            ),
            "spans": [
                {
                    "document_id": str(sp.document_id),
                    "target": sp.target,
                    "target_id": sp.target_id,
                    "start": sp.char_start,
                    "end": sp.char_end,
                    "original": sp.original,
                }
                for sp in spans[:1000]
            ],
            "span_count": len(spans),
            "regions": [
                {"document_id": str(r.document_id), "page": r.page, "x": r.x, "y": r.y, "w": r.w, "h": r.h}
                for r in s.scalars(
                    select(RedactionRegion)
                    .where(RedactionRegion.redaction_id == red.id)
                    .order_by(RedactionRegion.id)
                )
            ],
        }

    def get(self, redaction_id: int, principal: Principal) -> dict[str, Any]:
        with self.catalog.session() as s:
            red = s.get(Redaction, redaction_id)
            if red is None or not self._visible(s, red, principal):
                raise NotFoundError(f"redaction {redaction_id} not found")
            return self._public(s, red)

    def of_document(self, document_id: int, principal: Principal) -> list[dict[str, Any]]:
        """The redactions in a document, with the text each span masked (its managers)."""
        with self.catalog.session() as s:
            self._managed(s, document_id, principal)
            ids = set(
                s.scalars(select(RedactionSpan.redaction_id).where(RedactionSpan.document_id == document_id))
            ) | set(
                s.scalars(
                    select(RedactionRegion.redaction_id).where(RedactionRegion.document_id == document_id)
                )
            )
            reds = s.scalars(select(Redaction).where(Redaction.id.in_(sorted(ids))).order_by(Redaction.id))
            return [self._public(s, r, document_id=document_id) for r in reds]

    def passages(self, document_id: int, principal: Principal, *, preview: int = 80) -> list[dict[str, Any]]:
        """The document's passages to choose from (its managers): id, page and the first words."""
        with self.catalog.session() as s:
            self._managed(s, document_id, principal)
            rows = s.execute(
                select(Passage.id, Passage.seq, Passage.page, Passage.text)
                .where(Passage.document_id == document_id)
                .order_by(Passage.seq)
                .limit(1000)
            ).all()
        return [
            {"id": i, "seq": seq, "page": page, "label": f"{seq + 1}. " + " ".join(t.split())[:preview]}
            for i, seq, page, t in rows
        ]

    def listing(self, principal: Principal) -> list[dict[str, Any]]:
        """Every redaction the principal may see (admins: all; managers: their collections'),
        newest first, without the masked text (open one for that)."""
        out = []
        with self.catalog.session() as s:
            for red in s.scalars(select(Redaction).order_by(Redaction.id.desc()).limit(1000)):
                if self._visible(s, red, principal):
                    pub = self._public(s, red)
                    pub.pop("spans")
                    out.append(pub)
        return out


def mask_for_page(s: Session, document_id: int, page: int) -> PageMask:
    """The words of every span of the document, and those of the spans on page ``page`` (which
    its text layer must locate); for a page whose text came from OCR, the OCR word boxes of the
    spans on it instead (``ingest/wordboxes.py``), and its redacted regions."""
    rows = s.execute(
        select(RedactionSpan.original, RedactionSpan.target, Page.number)
        .join(Page, Page.id == RedactionSpan.target_id, isouter=True)
        .where(RedactionSpan.document_id == document_id)
    ).all()
    words: set[str] = set()
    required: set[str] = set()
    for original, target, number in rows:
        ws = {w for w in re.split(rf"[\s{MASK}]+", original) if w}
        words |= ws
        if target == "page" and number == page:
            required |= ws
    regions = [
        (r.x, r.y, r.x + r.w, r.y + r.h)
        for r in s.scalars(
            select(RedactionRegion).where(
                RedactionRegion.document_id == document_id, RedactionRegion.page == page
            )
        )
    ]
    pg = s.scalar(select(Page).where(Page.document_id == document_id, Page.number == page))
    if pg is None or pg.method != "ocr":
        return PageMask(words=sorted(words, key=len, reverse=True), required=sorted(required), boxes=regions)
    # a scanned page: its text is not on a text layer; the OCR word boxes locate the masked words
    ranges, originals = page_spans(s, pg)
    boxes, located = wordboxes.boxes_for(wordboxes.from_json(pg.word_boxes, len(pg.text)), ranges, originals)
    return PageMask(
        words=sorted(words, key=len, reverse=True),
        required=[],
        boxes=regions + boxes,
        unlocatable=not located,
    )


def page_spans(s: Session, pg: Page) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """The masked ranges of a page's text (its own spans, and those of passages cut from it,
    moved to page offsets) and the character that stood at each masked offset."""
    ranges: list[tuple[int, int]] = []
    originals: dict[int, str] = {}

    def add(a: int, b: int, original: str) -> None:
        ranges.append((a, b))
        for i, ch in enumerate(original[: b - a]):
            if originals.get(a + i, MASK) == MASK:
                originals[a + i] = ch

    for sp in s.scalars(
        select(RedactionSpan).where(RedactionSpan.target == "page", RedactionSpan.target_id == pg.id)
    ):
        add(sp.char_start, sp.char_end, sp.original)
    passage_rows = s.execute(
        select(RedactionSpan, Passage.char_start)
        .join(Passage, Passage.id == RedactionSpan.target_id)
        .where(
            RedactionSpan.target == "passage",
            RedactionSpan.document_id == pg.document_id,
            Passage.page == pg.number,
        )
    ).all()
    for sp, start in passage_rows:
        if start is not None:
            add(start + sp.char_start, start + sp.char_end, sp.original)
    return merge_ranges(ranges), originals


def redacted_documents(s: Session, document_ids: Sequence[int]) -> set[int]:
    """Those of the documents with a masked span or a redacted page region."""
    ids = sorted(set(document_ids))
    if not ids:
        return set()
    spans = s.scalars(select(RedactionSpan.document_id).where(RedactionSpan.document_id.in_(ids)).distinct())
    regions = s.scalars(
        select(RedactionRegion.document_id).where(RedactionRegion.document_id.in_(ids)).distinct()
    )
    return set(spans) | set(regions)


def redaction_summary(s: Session, document_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Who redacted what kind, when and why, in these documents (for a bundle's manifest:
    never the masked text)."""
    ids = sorted(set(document_ids))
    if not ids:
        return []
    rows = s.execute(
        select(Redaction, RedactionSpan.document_id, RedactionSpan.target)
        .join(RedactionSpan, RedactionSpan.redaction_id == Redaction.id)
        .where(RedactionSpan.document_id.in_(ids))
        .order_by(Redaction.id)
    ).all()
    out: dict[tuple[int, int], dict[str, Any]] = {}

    def entry(red: Redaction, doc_id: int) -> dict[str, Any]:
        return out.setdefault(
            (red.id, doc_id),
            {
                "redaction_id": red.id,
                "document_id": doc_id,
                "kind": red.kind,
                "reason": red.reason,
                "redacted_by": red.created_by,
                "redacted_at": red.created_at.isoformat(),
                "spans": 0,
                "in": [],
            },
        )

    for red, doc_id, target in rows:
        e = entry(red, doc_id)
        e["spans"] += 1
        if target not in e["in"]:
            e["in"].append(target)
    for red, doc_id, page in s.execute(
        select(Redaction, RedactionRegion.document_id, RedactionRegion.page)
        .join(RedactionRegion, RedactionRegion.redaction_id == Redaction.id)
        .where(RedactionRegion.document_id.in_(ids))
    ).all():
        entry(red, doc_id).setdefault("regions", []).append(page)
    return sorted(out.values(), key=lambda e: (e["redaction_id"], e["document_id"]))


def _field_patterns(chosen: str, fields: Sequence[str]) -> list[re.Pattern[str]]:
    """For a passage span: its lines (a title is often the text's first line), and any field
    (title, file name) whose words all lie inside the span — there the whole field is masked."""
    out = [
        pattern_for(line) for line in chosen.splitlines() if line.split() and line.replace(MASK, "").strip()
    ]
    flat = " ".join(chosen.split()).casefold()
    for value in fields:
        core = " ".join(value.split()).rstrip(" .…").casefold()
        if core and core in flat:
            out.append(pattern_for(value.rstrip(" .…")))
    return out


def _span_pattern(value: str, a: int, b: int) -> re.Pattern[str]:
    """The characters ``value[a:b]`` wherever else the document holds them (its page text, an
    overlapping passage), with the same word boundaries as where they were chosen."""
    chosen = value[a:b]
    body = r"\s+".join(re.escape(w) for w in chosen.split())
    lead = r"(?<!\w)" if a == 0 or not value[a - 1].isalnum() else ""
    tail = r"(?!\w)" if b >= len(value) or not value[b].isalnum() else ""
    return re.compile(lead + body + tail, re.IGNORECASE)


def _touches(box: Sequence[int], words: wordboxes.PageWords, x: float, y: float, w: float, h: float) -> bool:
    """Whether a word's box (pixels of ``words``' image) overlaps the region (fractions)."""
    x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
    return bool(
        x0 < (x + w) * words.width
        and x * words.width < x1
        and y0 < (y + h) * words.height
        and y * words.height < y1
    )


def _now() -> datetime:
    return datetime.now(UTC)
