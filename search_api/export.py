"""Evidence bundles: a case file exported as one ZIP, and the check of such a bundle.

Layout of a bundle (``archive-search-bundle/1``)::

    manifest.json          case, exporter, time, every item's citation, notes, documents, files,
                           and the cited documents grouped by source ("sources": copies, re-scans
                           and translations of one source are one entry, the rest "independent");
                           each document's metadata fields and the people, places and
                           organisations it names ("entities"), each passage item's too
    manifest.csv           path, kind, sha256, size, document_id, filename of every other file
    report.pdf             the case for humans (DejaVu Sans, so Cyrillic renders)
    originals/<doc id>-<file name>   each original exactly as received (from the original store)
    text/<doc id>-<file name>.txt    its extracted text, by page or transcript turn

``manifest.json`` lists the SHA-256 and size of every original and derived file (``manifest.csv``
says the same for spreadsheets); an original's hash is also the document SHA-256 of its citations.
The export is written to the audit log with the SHA-256 of ``manifest.json`` and of the ZIP, so
a bundle can be tied to the export that made it. :func:`verify_bundle` re-checks every hash.
Only the items the exporter may see are exported (see ``cases.py``).

Why one module: the bundle writer and ``verify-bundle``'s checks are kept together: the verifier
must check exactly the layout the writer writes (above).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from archive_search.catalog.models import AuditEntry, Document, Page, Passage, StoredFile
from archive_search.errors import ArchiveError
from archive_search.types import Principal
from search_api.audit import canonical_json, entry_hash, entry_public
from search_api.bundle_redaction import Scrubber, load_rule, scrubber_for
from search_api.cases import CaseDetail, CaseItemPublic, CaseService
from search_api.families import FamilyService
from search_api.metadata import ENTITY_COLUMNS, documents_metadata, named_entities
from search_api.redaction import PageMask, mask_for_page, redacted_documents, redaction_summary
from search_api.rendering import redacted_pdf
from search_api.safe_text import csv_cell, csv_uncell
from search_api.withheld import WITHHELD_NOTE, mask_page, restricted_documents, withheld_passages

FORMAT = "archive-search-bundle/1"
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
)
MANIFESTS = ("manifest.json", "manifest.csv")
CSV_FIELDS = ("path", "kind", "sha256", "size", "document_id", "filename")
_CHUNK = 1 << 20


class ExportError(ArchiveError):
    code = "export_failed"
    status = 500


@dataclass(frozen=True)
class ExportResult:
    path: Path
    filename: str
    sha256: str
    manifest_sha256: str
    items: int
    files: int


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _text_name(name: str) -> str:
    """The bundle's name for a document's extracted text: its file name with ``.txt`` in place of
    its extension (``statement.pdf`` → ``statement.txt``; ``notes.txt`` stays ``notes.txt``, not
    ``notes.txt.txt``); the document id in front keeps two of them apart."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem if dot and stem and len(ext) <= 10 else name}.txt"


def _safe_name(name: str, limit: int = 120) -> str:
    n = unicodedata.normalize("NFC", name)
    n = "".join("_" if ch in '/\\:*?"<>|' or unicodedata.category(ch).startswith("C") else ch for ch in n)
    n = n.strip(" .") or "file"
    if len(n) > limit:
        stem, dot, ext = n.rpartition(".")
        n = (stem[: limit - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else n[:limit]
    return n


def timecode(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat()


def _human(dt: datetime | str) -> str:
    """``2026-11-25 08:57:01 UTC`` for the report."""
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def citation_text(item: CaseItemPublic) -> str:
    """One line a lawyer can paste: file, where, language, quoted passage, SHA-256."""
    where = []
    if item.page is not None:
        where.append(f"p. {item.page}")
    if item.time_start is not None:
        where.append(f"{timecode(item.time_start)}–{timecode(item.time_end)}")
    if item.speaker:
        where.append(item.speaker)
    head = item.filename + (f", {', '.join(where)}" if where else "")
    quote = f" «{item.text}»" if item.text else " (whole document)"
    return f"{head} [{item.lang}]{quote} — SHA-256 {item.sha256}"


def _document_text(cases: CaseService, document_id: int, principal: Principal) -> str:
    """The extracted text, by page (paged formats) or by transcript turn; the passages restricted
    away from ``principal`` withheld (``withheld.py``)."""
    with cases.catalog.session() as s:
        doc = s.get(Document, document_id)
        assert doc is not None
        held = withheld_passages(s, document_id, principal)
        pages = list(s.scalars(select(Page).where(Page.document_id == document_id).order_by(Page.number)))
        if pages and doc.doc_type != "transcript":
            single = len(pages) == 1
            texts = [(p.number, mask_page(p.text, p.number, held, single_page=single)) for p in pages]
            if single:
                return texts[0][1].rstrip("\n") + "\n"
            return "".join(f"=== page {n} ===\n{t.rstrip()}\n\n" for n, t in texts)
        passages = list(
            s.scalars(select(Passage).where(Passage.document_id == document_id).order_by(Passage.seq))
        )
    hidden = {w.passage_id for w in held}
    out = []
    for p in passages:
        if p.id in hidden:
            out.append(WITHHELD_NOTE)
            continue
        prefix = ""
        if p.time_start is not None:
            prefix = f"[{timecode(p.time_start)} --> {timecode(p.time_end)}] "
        if p.speaker:
            prefix += f"{p.speaker}: "
        out.append(prefix + p.text)
    return "\n".join(out) + "\n"


# -- the PDF report ------------------------------------------------------------------------------


def find_font(name: str) -> Path:
    for d in FONT_DIRS:
        if (d / name).is_file():
            return d / name
    raise ExportError(
        f"font {name} not found (install fonts-dejavu-core); it is needed for Cyrillic in the report"
    )


def render_report(case: CaseDetail, manifest: dict[str, Any]) -> bytes:
    """A human-readable PDF of the case: metadata, items with citations, notes and file hashes."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    class Report(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("DejaVu", size=8)
            self.cell(
                0,
                6,
                f"Case {case.id} — exported {_human(manifest['exported_at'])} by {manifest['exported_by']}"
                f" — page {self.page_no()}/{{nb}}",
                align="C",
            )

    pdf = Report(format="A4")
    pdf.set_title(f"Case {case.id}: {case.title}")
    pdf.set_author(str(manifest["exported_by"]))
    pdf.set_creator("archive-search")
    pdf.add_font("DejaVu", "", str(find_font("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(find_font("DejaVuSans-Bold.ttf")))
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    width = pdf.epw

    def para(text: str, size: float = 10, bold: bool = False, h: float = 5.2) -> None:
        pdf.set_font("DejaVu", "B" if bold else "", size)
        pdf.multi_cell(width, h, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    para(f"Case file {case.id}: {case.title}", 16, bold=True, h=8)
    pdf.ln(2)
    para(f"Status: {case.status}    Owner: {case.owner}")
    para(f"Created: {_human(case.created_at)}    Updated: {_human(case.updated_at)}")
    para(f"Exported by {manifest['exported_by']} at {_human(manifest['exported_at'])}")
    para(f"Items: {len(case.items)}    Notes: {len(case.notes)}    Bundle format: {FORMAT}")
    if case.description:
        pdf.ln(2)
        para(case.description)

    def where_of(item: CaseItemPublic) -> str:
        where = []
        if item.page is not None:
            where.append(f"page {item.page}")
        if item.time_start is not None:
            where.append(f"{timecode(item.time_start)} – {timecode(item.time_end)}")
        if item.speaker:
            where.append(f"speaker {item.speaker}")
        return ", ".join(where)

    if case.items:  # one row per item, before the items in full
        pdf.ln(3)
        para("Summary", 13, bold=True, h=7)
        pdf.set_font("DejaVu", "", 8.5)
        with pdf.table(col_widths=(6, 44, 18, 16, 16), text_align="LEFT", line_height=4.6) as table:
            table.row(("#", "Document", "Where", "Collection", "Added by"))
            for item in case.items:
                table.row(
                    (
                        str(item.position),
                        item.title or item.filename,
                        where_of(item) or "whole document",
                        item.collection,
                        item.added_by,
                    )
                )
    pdf.ln(3)
    para("Items", 13, bold=True, h=7)
    for item in case.items:
        pdf.ln(1.5)
        where = where_of(item)
        para(
            f"{item.position}. {item.title or item.filename}"
            + (f" — {where}" if where else "")
            + f" [{item.lang}]",
            10.5,
            bold=True,
        )
        if item.title:
            para(f"File: {item.filename}", 8.5)
        if item.text:
            para(f"«{item.text}»", 10)
        else:
            para("(the whole document)", 10)
        para(f"Collection: {item.collection}    Document {item.document_id}    Type: {item.doc_type}", 8.5)
        para(f"Document SHA-256: {item.sha256}", 8.5)
        if item.query:
            para(f"Found by the query: {item.query}", 8.5)
        para(f"Added by {item.added_by} at {_human(item.added_at)}", 8.5)
        if item.note:
            para(f"Note: {item.note}", 9.5)
    if case.notes:
        pdf.ln(3)
        para("Notes", 13, bold=True, h=7)
        for n in case.notes:
            pdf.ln(1)
            para(f"{n.author}, {_human(n.created_at)}", 9, bold=True)
            para(n.text, 10)
    pdf.ln(3)
    para("Files of the bundle (SHA-256)", 13, bold=True, h=7)
    for f in manifest["files"]:
        para(f"{f['path']}  ({f['size']} bytes)", 8.5)
        para(f"    {f['sha256']}", 8)
    para(
        "manifest.json and manifest.csv list the same hashes; `archive verify-bundle BUNDLE.zip` "
        "re-checks them.",
        8,
    )
    return bytes(pdf.output())


# -- building ------------------------------------------------------------------------------------


def _redacted_pdf(
    cases: CaseService,
    zf: zipfile.ZipFile,
    files: list[dict[str, Any]],
    doc: Document,
    name: str,
    scrub: Scrubber | None = None,
) -> str | None:
    """A redacted PDF's pages (or a scanned image's frames) re-rendered as images with the masked
    words and regions blacked out (no text layer), added to the bundle; ``None`` when a page's
    masked words cannot be located."""
    with cases.catalog.session() as s:
        stored = s.scalar(select(StoredFile.sha256).where(StoredFile.id == doc.file_id))

        def mask_of(page: int) -> PageMask:
            own = mask_for_page(s, doc.id, page)
            if scrub is None:
                return own
            rule = scrub.page_mask(s, doc.id, page)  # the case's redaction rule, on this page
            return PageMask(
                words=sorted({*own.words, *rule.words}, key=len, reverse=True),
                required=sorted({*own.required, *rule.required}),
                boxes=own.boxes + rule.boxes,
                unlocatable=own.unlocatable or rule.unlocatable,
            )

        try:
            data = redacted_pdf(cases.store.path_for(str(stored)), mask_of, mime=doc.mime)
        except ArchiveError:
            return None
    path = f"redacted/{doc.id}-{name}.pdf"
    zf.writestr(path, data)
    files.append(
        {
            "path": path,
            "kind": "redacted_pdf",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "document_id": doc.id,
            "filename": doc.filename,
        }
    )
    return path


def build_bundle(
    cases: CaseService, case_id: int, principal: Principal, *, directory: Path | None = None
) -> ExportResult:
    """Write the bundle of a case (the items ``principal`` may see) to a new temporary ZIP file."""
    case = cases.get_case(case_id, principal)
    # withdrawn documents leave the bundle: no original, no text; the manifest counts their items
    withdrawn_items = [i.id for i in case.items if i.withdrawn]
    case = case.model_copy(update={"items": [i for i in case.items if not i.withdrawn]})
    exported_at = datetime.now(UTC).isoformat()
    doc_ids = list(dict.fromkeys(i.document_id for i in case.items))
    with cases.catalog.session() as s:
        docs = {
            d.id: (d, sha, size)
            for d, sha, size in s.execute(
                select(Document, StoredFile.sha256, StoredFile.size)
                .join(StoredFile, StoredFile.id == Document.file_id)
                .where(Document.id.in_(doc_ids))
            ).all()
        }
        # redacted documents (``redaction.py``): their text is masked in the catalog; their
        # original still holds the words, so it stays out of the bundle, and the manifest says
        # who redacted what kind of thing, when and why (never what was masked)
        redacted = redacted_documents(s, doc_ids)
        redactions = redaction_summary(s, doc_ids)
        # documents holding passages restricted away from the exporter: their original holds the
        # words too, so it stays out; the text file withholds the passages (``withheld.py``)
        withheld = {
            d: len(withheld_passages(s, d, principal)) for d in restricted_documents(s, doc_ids, principal)
        }
        # the case's redaction rule (``bundle_redaction.py``), evaluated on today's mentions
        rule = load_rule(s, case.id)
        scrub = scrubber_for(s, rule, doc_ids) if rule is not None else None
    fd, tmp_name = tempfile.mkstemp(prefix=f"case-{case.id}-", suffix=".zip", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    files: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []
    paths: dict[int, tuple[str | None, str]] = {}
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            entity_redacted: set[int] = set()
            for doc_id in doc_ids:
                doc, sha, size = docs[doc_id]
                text_str = _document_text(cases, doc.id, principal)
                if scrub is not None and (
                    doc.id in scrub.documents
                    or scrub.holds(text_str)
                    or scrub.holds(doc.filename)
                    or scrub.holds(doc.title or "")
                ):
                    entity_redacted.add(doc.id)
                    text_str = scrub.text(text_str)
                name = _safe_name(scrub.text(doc.filename) if scrub is not None else doc.filename)
                orig_path: str | None = f"originals/{doc.id}-{name}"
                text_path = f"text/{doc.id}-{_text_name(name)}"
                redacted_pdf_path: str | None = None
                rule_masked = False
                if doc.id in withheld:
                    orig_path = None  # the original (and a PDF rendered from it) holds the words
                elif doc.id in entity_redacted:
                    # the original holds the rule's words; a PDF or scan comes re-rendered with
                    # them (and any redaction) blacked out where every one can be located
                    orig_path = None
                    if doc.mime == "application/pdf" or doc.mime.startswith("image/"):
                        redacted_pdf_path = _redacted_pdf(cases, zf, files, doc, name, scrub)
                        rule_masked = redacted_pdf_path is not None
                elif doc.id in redacted:
                    orig_path = None
                    if doc.mime == "application/pdf" or doc.mime.startswith("image/"):
                        # a scan's frames too, masked by their OCR word boxes (``wordboxes.py``)
                        redacted_pdf_path = _redacted_pdf(cases, zf, files, doc, name)
                else:
                    assert orig_path is not None
                    src = cases.store.path_for(sha)
                    if not src.is_file():
                        raise ExportError(
                            f"the stored original of document {doc.id} (SHA-256 {sha}) is missing from the "
                            "store; restore it from a backup (`archive check` lists every missing original)"
                        )
                    h = hashlib.sha256()
                    with src.open("rb") as fh, zf.open(orig_path, "w", force_zip64=True) as out:
                        while chunk := fh.read(_CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                    if h.hexdigest() != sha:
                        raise ExportError(
                            f"the stored original of document {doc.id} does not match its SHA-256 {sha}; "
                            "run a store verification before exporting"
                        )
                    files.append(
                        {
                            "path": orig_path,
                            "kind": "original",
                            "sha256": sha,
                            "size": size,
                            "document_id": doc.id,
                            "filename": doc.filename,
                        }
                    )
                text = text_str.encode("utf-8")
                zf.writestr(text_path, text)
                text_sha = hashlib.sha256(text).hexdigest()
                files.append(
                    {
                        "path": text_path,
                        "kind": "text",
                        "sha256": text_sha,
                        "size": len(text),
                        "document_id": doc.id,
                        "filename": doc.filename,
                    }
                )
                documents.append(
                    {
                        "document_id": doc.id,
                        "filename": doc.filename,
                        "title": doc.title,
                        "type": doc.doc_type,
                        "mime": doc.mime,
                        "lang": doc.lang,
                        "sha256": sha,
                        "size": size,
                        "original": orig_path,
                        "text": text_path,
                        "text_sha256": text_sha,
                        "redacted": doc.id in redacted,
                        "redacted_pdf": redacted_pdf_path,
                        "withheld_passages": withheld.get(doc.id, 0),
                        "entity_redacted": doc.id in entity_redacted,
                        "rule_masked_pdf": rule_masked,
                    }
                )
                paths[doc.id] = (orig_path, text_path)
            # the people, places and organisations each cited document and passage names, and
            # the documents' metadata fields (issue 18): the items are readable (``get_case``)
            with cases.catalog.session() as s:
                doc_entities = named_entities(
                    s, document_ids=doc_ids, hidden_passages=principal.hidden_passages
                )
                pas_ids = [i.passage_id for i in case.items if i.passage_id is not None]
                pas_entities = named_entities(s, passage_ids=pas_ids) if pas_ids else {}
                doc_meta = documents_metadata(s, doc_ids)
            for d in documents:
                named = doc_entities.get(d["document_id"], {})
                d["entities"] = {c: named.get(c, []) for c in ENTITY_COLUMNS.values()}
                d["metadata"] = doc_meta.get(d["document_id"], {})
            items: list[dict[str, Any]] = [
                {
                    "position": i.position,
                    "item_id": i.id,
                    "document_id": i.document_id,
                    "passage_id": i.passage_id,
                    "filename": i.filename,
                    "title": i.title,
                    "collection": i.collection,
                    "type": i.doc_type,
                    "document_sha256": i.sha256,
                    "original": paths[i.document_id][0],
                    "text_file": paths[i.document_id][1],
                    "page": i.page,
                    "time_start": i.time_start,
                    "time_end": i.time_end,
                    "time_span": (
                        f"{timecode(i.time_start)}–{timecode(i.time_end)}"
                        if i.time_start is not None
                        else None
                    ),
                    "speaker": i.speaker,
                    "lang": i.lang,
                    "passage_text": i.text,
                    "query": i.query,
                    "note": i.note,
                    "added_by": i.added_by,
                    "added_at": _iso(i.added_at),
                    "citation": citation_text(i),
                }
                for i in case.items
            ]
            searches = search_records(cases, case.items)
            for it, case_item in zip(items, case.items, strict=True):
                it["search_audit_id"] = searches.by_item.get(case_item.id)
                if case_item.passage_id is not None:
                    named = pas_entities.get(case_item.passage_id, {})
                    it["entities"] = {c: named.get(c, []) for c in ENTITY_COLUMNS.values()}
            sources = FamilyService(cases.catalog, cases.audit).sources_of(doc_ids, principal)
            notes = [
                {"id": n.id, "author": n.author, "text": n.text, "created_at": _iso(n.created_at)}
                for n in case.notes
            ]
            search_entries = searches.entries
            report_case = case
            if scrub is not None:
                # every text the bundle carries, masked; paths and digests are left as built
                # (the paths were made from the masked names)
                files = [_scrubbed(scrub, f, ("path", "sha256")) for f in files]
                documents = [_scrubbed(scrub, d, _PATH_KEYS) for d in documents]
                items = [_scrubbed(scrub, it, _PATH_KEYS) for it in items]
                notes = [scrub.walk(n) for n in notes]
                sources = scrub.walk(sources)
                # a search record is an audit entry hashed in the chain: left out when it holds
                # a masked word (never altered, so each record carried still verifies)
                kept = [e for e in search_entries if not scrub.holds(json.dumps(e, ensure_ascii=False))]
                kept_ids = {e["id"] for e in kept}
                for it in items:
                    if it.get("search_audit_id") not in kept_ids:
                        it["search_audit_id"] = None
                search_entries = kept
                report_case = _scrubbed_case(scrub, case)
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "case": {
                    "id": case.id,
                    "title": report_case.title,
                    "description": report_case.description,
                    "status": case.status,
                    "owner": case.owner,
                    "created_at": _iso(case.created_at),
                    "updated_at": _iso(case.updated_at),
                },
                "exported_by": principal.name,
                "exported_at": exported_at,
                "items": items,
                "notes": notes,
                "documents": documents,
                "files": files,
                # the audit entries of the searches that found the items, exactly as logged
                "searches": search_entries,
                # one entry per source (document family, issue 19) among the cited documents the
                # exporter may read: copies, re-scans and translations are one source, not several
                "sources": sources,
                "withdrawn_items": withdrawn_items,
                "redactions": redactions,
                "entity_redaction": scrub.manifest_entry() if scrub is not None else None,
            }
            report = render_report(report_case, manifest)
            zf.writestr("report.pdf", report)
            files.append(
                {
                    "path": "report.pdf",
                    "kind": "report",
                    "sha256": hashlib.sha256(report).hexdigest(),
                    "size": len(report),
                    "document_id": None,
                    "filename": None,
                }
            )
            manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
            zf.writestr("manifest.json", manifest_bytes)
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\r\n")
            w.writeheader()
            for f in files:
                w.writerow({k: "" if f[k] is None else csv_cell(f[k]) for k in CSV_FIELDS})
            zf.writestr("manifest.csv", buf.getvalue().encode("utf-8"))
        bundle_sha = _sha256_file(tmp)
        manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
        cases.audit.record(
            principal.name,
            "export",
            "case",
            case.id,
            {
                "items": len(case.items),
                "documents": len(documents),
                "manifest_sha256": manifest_sha,
                "bundle_sha256": bundle_sha,
                "entity_redaction": (
                    {"mentions": scrub.mentions, "documents": len(scrub.documents)}
                    if scrub is not None
                    else None
                ),
            },
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return ExportResult(
        path=tmp,
        filename=f"case-{case.id}-{stamp}.zip",
        sha256=bundle_sha,
        manifest_sha256=manifest_sha,
        items=len(case.items),
        files=len(files) + 2,
    )


_PATH_KEYS = (
    "original",
    "text",
    "text_file",
    "redacted_pdf",
    "sha256",
    "text_sha256",
    "document_sha256",
    "search_audit_id",
)
"""Keys of the manifest's documents and items that hold paths and digests, not text."""


def _scrubbed_case(scrub: Scrubber, case: CaseDetail) -> CaseDetail:
    """The case as the report shows it: its free texts masked (the rest is not text)."""

    def opt(v: str | None) -> str | None:
        return None if v is None else scrub.text(v)

    items = [
        i.model_copy(
            update={
                "filename": scrub.text(i.filename),
                "title": opt(i.title),
                "text": opt(i.text),
                "note": opt(i.note),
                "query": opt(i.query),
                "speaker": opt(i.speaker),
            }
        )
        for i in case.items
    ]
    notes = [n.model_copy(update={"text": scrub.text(n.text)}) for n in case.notes]
    return case.model_copy(
        update={
            "title": scrub.text(case.title),
            "description": opt(case.description),
            "items": items,
            "notes": notes,
        }
    )


def _scrubbed(scrub: Scrubber, entry: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    return {k: v if k in keep else scrub.walk(v) for k, v in entry.items()}


@dataclass
class _Searches:
    entries: list[dict[str, Any]]
    by_item: dict[int, int]


SEARCH_LOOKBACK = 500
"""Search entries of an item's author read back from its moment to find the search that found it."""


def search_records(cases: CaseService, items: list[CaseItemPublic]) -> _Searches:
    """The audit entries of the searches that produced the case's items: for an item added with a
    query, the latest ``search`` entry with a search record of the same user for the same query
    text at or before the moment the item was added."""
    entries: dict[int, dict[str, Any]] = {}
    by_item: dict[int, int] = {}
    with cases.catalog.session() as s:
        for it in items:
            if not it.query:
                continue
            rows = s.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.action == "search",
                    AuditEntry.actor == it.added_by,
                    AuditEntry.at <= it.added_at,
                )
                .order_by(AuditEntry.id.desc())
                .limit(SEARCH_LOOKBACK)
            )
            for e in rows:
                details = json.loads(e.details)
                if details.get("q") == it.query and isinstance(details.get("record"), dict):
                    by_item[it.id] = e.id
                    entries.setdefault(e.id, entry_public(e))
                    break
    return _Searches([entries[k] for k in sorted(entries)], by_item)


def check_searches(manifest: dict[str, Any]) -> list[str]:
    """``verify-bundle``'s check of the search records: each entry's hash is recomputed from the
    entry (as the audit log chains it, so the record is exactly what was logged; compare the hash
    with the archive's log, ``archive audit list``), and each item's search is one of them, for
    the item's query."""
    problems: list[str] = []
    searches: dict[Any, dict[str, Any]] = {}
    for e in manifest.get("searches", []):
        try:
            expected = entry_hash(
                str(e["prev_hash"]),
                id=int(e["id"]),
                at=str(e["at"]),
                actor=str(e["actor"]),
                action=str(e["action"]),
                object_type=e["object_type"],
                object_id=e["object_id"],
                details=canonical_json(e["details"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(
                f"search record {e.get('id') if isinstance(e, dict) else e!r}: unreadable ({exc})"
            )
            continue
        if expected != e["hash"]:
            problems.append(f"search record {e['id']}: its hash does not match its content (altered)")
        searches[e["id"]] = e
    for it in manifest.get("items", []):
        ref = it.get("search_audit_id")
        if ref is None:
            continue
        e = searches.get(ref)
        if e is None:
            problems.append(f"item {it.get('position')}: its search record {ref} is not in the bundle")
        elif e["details"].get("q") != it.get("query"):
            problems.append(f"item {it.get('position')}: search record {ref} is of another query")
    return problems


# -- verifying -----------------------------------------------------------------------------------


class _Bundle:
    """Read access to a bundle as a ZIP file or as the folder it was unpacked into."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.is_file():
            self.zip = zipfile.ZipFile(path)

    def names(self) -> list[str]:
        if self.zip is not None:
            return [n for n in self.zip.namelist() if not n.endswith("/")]
        return sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file())

    def chunks(self, name: str) -> Iterator[bytes]:
        if self.zip is not None:
            with self.zip.open(name) as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk
            return
        with (self.path / name).open("rb") as fh2:
            while chunk := fh2.read(_CHUNK):
                yield chunk

    def read(self, name: str) -> bytes:
        return b"".join(self.chunks(name))

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def verify_bundle(path: Path) -> tuple[list[str], int]:
    """Re-check every hash of a bundle; returns (problems, files checked). No problems: intact."""
    problems: list[str] = []
    try:
        bundle = _Bundle(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path}: not a readable ZIP bundle ({exc})"], 0
    checked = 0
    try:
        names = bundle.names()
        present = set(names)
        if "manifest.json" not in present:
            return ["manifest.json is missing"], 0
        try:
            manifest = json.loads(bundle.read("manifest.json"))
            files: list[dict[str, Any]] = list(manifest["files"])
        except (ValueError, KeyError, TypeError, zipfile.BadZipFile, OSError) as exc:
            return [f"manifest.json is unreadable: {exc}"], 0
        if manifest.get("format") != FORMAT:
            problems.append(f"manifest.json: unknown format {manifest.get('format')!r}")
        listed: dict[str, dict[str, Any]] = {}
        for f in files:
            p = str(f.get("path", ""))
            if not p or p.startswith("/") or ".." in p.split("/") or "\\" in p:
                problems.append(f"{p!r}: not a path inside the bundle")
                continue
            if p in listed:
                problems.append(f"{p}: listed twice in manifest.json")
            listed[p] = f
            if p not in present:
                problems.append(f"{p}: missing from the bundle")
                continue
            h = hashlib.sha256()
            size = 0
            try:
                for chunk in bundle.chunks(p):
                    h.update(chunk)
                    size += len(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                problems.append(f"{p}: unreadable ({exc})")
                continue
            checked += 1
            if h.hexdigest() != f.get("sha256"):
                problems.append(
                    f"{p}: SHA-256 {h.hexdigest()} does not match the manifest's {f.get('sha256')}"
                )
            elif size != f.get("size"):
                problems.append(f"{p}: {size} bytes, the manifest says {f.get('size')}")
        for n in names:
            if n not in listed and n not in MANIFESTS:
                problems.append(f"{n}: not listed in manifest.json")
        redacted_ids = {r.get("document_id") for r in manifest.get("redactions", []) if isinstance(r, dict)}
        for d in manifest.get("documents", []):
            if d.get("entity_redacted") is True and (
                d.get("original") is not None
                or (d.get("redacted_pdf") is not None and d.get("rule_masked_pdf") is not True)
            ):
                problems.append(
                    f"document {d.get('document_id')}: masked by the case's rule, yet its original is in "
                    "the bundle"
                )
            if d.get("entity_redacted") is True and d.get("redacted") is not True:
                if str(d.get("text")) not in listed:
                    problems.append(f"document {d.get('document_id')}: its masked text is not listed")
                continue
            withheld = d.get("withheld_passages")
            if isinstance(withheld, int) and not isinstance(withheld, bool) and withheld > 0:
                # passages restricted away from the exporter: no original (it holds their words),
                # the text withholds them
                if d.get("original") is not None or any(
                    f.get("kind") == "original" and f.get("document_id") == d.get("document_id")
                    for f in listed.values()
                ):
                    problems.append(
                        f"document {d.get('document_id')}: passages withheld, yet its original is in "
                        "the bundle"
                    )
                if str(d.get("text")) not in listed:
                    problems.append(f"document {d.get('document_id')}: its text is not listed")
                if d.get("redacted") is not True:
                    continue
            if d.get("redacted") is True or d.get("document_id") in redacted_ids:
                # a redacted document comes without its original (it holds the masked words)
                if d.get("original") is not None or any(
                    f.get("kind") == "original" and f.get("document_id") == d.get("document_id")
                    for f in listed.values()
                ):
                    problems.append(
                        f"document {d.get('document_id')}: redacted, yet its original is in the bundle"
                    )
                if d.get("document_id") not in redacted_ids or d.get("redacted") is not True:
                    problems.append(f"document {d.get('document_id')}: its redaction is not recorded")
                if str(d.get("text")) not in listed:
                    problems.append(f"document {d.get('document_id')}: its redacted text is not listed")
                continue
            entry = listed.get(str(d.get("original")))
            if entry is None or entry.get("sha256") != d.get("sha256"):
                problems.append(
                    f"document {d.get('document_id')}: its original is not listed "
                    f"with its SHA-256 {d.get('sha256')}"
                )
        docs = {d.get("document_id"): d for d in manifest.get("documents", [])}
        for it in manifest.get("items", []):
            d = docs.get(it.get("document_id"))
            if d is None or d.get("sha256") != it.get("document_sha256"):
                problems.append(
                    f"item {it.get('position')}: cites SHA-256 {it.get('document_sha256')} "
                    "that no original of the bundle has"
                )
        problems.extend(check_searches(manifest))
        if "manifest.csv" not in present:
            problems.append("manifest.csv is missing")
        else:
            try:
                rows = list(csv.DictReader(io.StringIO(bundle.read("manifest.csv").decode("utf-8"))))
                csv_files = {csv_uncell(r["path"]): (r["sha256"], r["size"]) for r in rows}
            except (ValueError, KeyError, zipfile.BadZipFile, OSError) as exc:
                problems.append(f"manifest.csv is unreadable: {exc}")
            else:
                json_files = {p: (str(f.get("sha256")), str(f.get("size"))) for p, f in listed.items()}
                for p in sorted(set(csv_files) | set(json_files)):
                    if csv_files.get(p) != json_files.get(p):
                        problems.append(f"{p}: manifest.csv and manifest.json disagree")
    finally:
        bundle.close()
    return problems, checked
