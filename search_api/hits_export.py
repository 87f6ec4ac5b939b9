"""Every hit of a search as CSV, JSON Lines or XLSX, streamed (``GET /search/export``,
``archive search --all``, the search page's export button).

Each row is one passage (or, with ``group=document``, a document's best passage) with its
provenance: document and passage id, file name, collection, page or time span, speaker,
language, the snippet as plain text, the score and the SHA-256 of the original, the people,
places and organisations the passage names and its document's metadata fields (issue 18). The first line
says what the export is: the query, mode, filters, how many hits, and — for semantic results —
that they are ranked by meaning above the relevance floor, not every mention (``exhaustive``).
Rows are written as they come; the XLSX sheet is streamed into the ZIP, so memory does not grow
with the number of hits.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape

from fastapi.responses import StreamingResponse

from archive_search.errors import NotFoundError
from archive_search.types import Hit, Principal, SearchRequest
from search_api.audit import search_details
from search_api.bundle_redaction import Scrubber, load_rule, scrubber_for
from search_api.metadata import export_annotations
from search_api.retrieval import ExportInfo, HitListHash

if TYPE_CHECKING:
    from search_api.service import ArchiveService

ExportFormat = Literal["csv", "jsonl", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
COLUMNS = (
    "rank",
    "document_id",
    "passage_id",
    "filename",
    "collection",
    "page",
    "time_start",
    "time_end",
    "speaker",
    "lang",
    "score",
    "sha256",
    "snippet",
    "explain",
    "persons",
    "places",
    "organisations",
    "metadata",
)
ANNOTATED = ("persons", "places", "organisations", "metadata")
"""Columns from the catalog: the entities the passage names and its document's metadata fields."""
ANNOTATE_CHUNK = 500
Annotator = Callable[[list[Hit]], dict[int, dict[str, Any]]]
"""Looks up the annotated columns of a chunk of hits, by passage id."""
Extra = dict[str, Any]
_TAGS = re.compile(r"</?mark>")
_FLUSH_BYTES = 64 * 1024
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def plain_snippet(snippet: str) -> str:
    """The snippet without ``<mark>`` and HTML escapes."""
    import html

    return html.unescape(_TAGS.sub("", snippet))


def header(info: ExportInfo, query: dict[str, Any]) -> dict[str, Any]:
    """What the export is, for its first line."""
    note = (
        "every hit of the query"
        if info.exhaustive
        else "semantic results are ranked by meaning above the relevance floor, not exhaustive: "
        "a passage that mentions the words may be missing; use mode=keyword for every mention"
    )
    return {
        "export": "archive-search hits",
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "query": query,
        "mode": info.mode,
        "group": info.group,
        "total": info.total,
        "exhaustive": info.exhaustive,
        "note": note,
    }


def row(rank: int, h: Hit, extra: Extra | None = None) -> list[Any]:
    """A hit as CSV/XLSX cells (entity names joined by ``; ``, metadata as a JSON object)."""
    return [*_base_row(rank, h), *_extra_cells(extra)]


def _extra_cells(extra: Extra | None) -> list[Any]:
    if extra is None:
        return [None] * len(ANNOTATED)
    meta = extra.get("metadata") or {}
    return [
        *("; ".join(extra.get(c) or []) or None for c in ANNOTATED[:3]),
        json.dumps(meta, ensure_ascii=False) if meta else None,
    ]


def _json_row(rank: int, h: Hit, extra: Extra | None) -> dict[str, Any]:
    out = dict(zip(COLUMNS, [*_base_row(rank, h), *([None] * len(ANNOTATED))], strict=True))
    for c in ANNOTATED:
        out[c] = (extra or {}).get(c, {} if c == "metadata" else [])
    return out


def annotated(hits: Iterable[Hit], annotate: Annotator | None) -> Iterator[tuple[Hit, Extra | None]]:
    """The hits with their annotated columns, looked up a chunk at a time."""
    if annotate is None:
        for h in hits:
            yield h, None
        return
    chunk: list[Hit] = []
    for h in hits:
        chunk.append(h)
        if len(chunk) >= ANNOTATE_CHUNK:
            extras = annotate(chunk)
            yield from ((c, extras.get(int(c.passage_id))) for c in chunk)
            chunk = []
    if chunk:
        extras = annotate(chunk)
        yield from ((c, extras.get(int(c.passage_id))) for c in chunk)


def _base_row(rank: int, h: Hit) -> list[Any]:
    return [
        rank,
        h.document_id,
        h.passage_id,
        h.filename,
        h.collection,
        h.page,
        h.time_start,
        h.time_end,
        h.speaker,
        h.lang,
        h.score,
        h.sha256,
        plain_snippet(h.snippet),
        explain_text(h),
    ]


def explain_text(h: Hit) -> str | None:
    """``explain`` as one cell: ``word: how (forms)``, joined by ``; `` (None without explain)."""
    if h.explain is None:
        return None
    parts = []
    for e in h.explain:
        if e.how == "meaning":
            parts.append("meaning only")
            continue
        edits = f", {e.edits} edit{'s' if e.edits != 1 else ''}" if e.edits else ""
        parts.append(f"{e.word}: {e.how} ({', '.join(e.matched)}{edits})")
    return "; ".join(parts)


def stream(
    fmt: ExportFormat,
    head: dict[str, Any],
    hits: Iterable[Hit],
    annotate: Annotator | None = None,
    scrub: Scrubber | None = None,
) -> Iterator[bytes]:
    """The export's bytes, a block at a time; ``annotate`` fills the entity and metadata columns;
    ``scrub`` (a case's redaction rule) masks every text of the first line and of every row."""
    rows = annotated(hits, annotate)
    if scrub is not None:
        head = scrub.walk(head)
    if fmt == "jsonl":
        return _jsonl(head, rows, scrub)
    if fmt == "xlsx":
        return _xlsx(head, rows, scrub)
    return _csv(head, rows, scrub)


UNMASKED = ("sha256",)
"""Cells a case's redaction rule leaves alone (a hash holds no words)."""


def _masked_cells(cells: list[Any], scrub: Scrubber | None) -> list[Any]:
    if scrub is None:
        return cells
    return [v if c in UNMASKED else scrub.walk(v) for c, v in zip(COLUMNS, cells, strict=True)]


def _masked_json(out: dict[str, Any], scrub: Scrubber | None) -> dict[str, Any]:
    if scrub is None:
        return out
    return {k: v if k in UNMASKED else scrub.walk(v) for k, v in out.items()}


def _csv(
    head: dict[str, Any], hits: Iterable[tuple[Hit, Extra | None]], scrub: Scrubber | None = None
) -> Iterator[bytes]:
    buf = io.StringIO()
    w = csv.writer(buf)
    # a comment line first (spreadsheet programs show it as the first row)
    buf.write("\ufeff# " + json.dumps(head, ensure_ascii=False) + "\r\n")
    w.writerow(COLUMNS)
    for n, (h, extra) in enumerate(hits, start=1):
        w.writerow(["" if v is None else v for v in _masked_cells(row(n, h, extra), scrub)])
        if buf.tell() >= _FLUSH_BYTES:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def _jsonl(
    head: dict[str, Any], hits: Iterable[tuple[Hit, Extra | None]], scrub: Scrubber | None = None
) -> Iterator[bytes]:
    out: list[str] = [json.dumps(head, ensure_ascii=False)]
    size = 0
    for n, (h, extra) in enumerate(hits, start=1):
        line = json.dumps(_masked_json(_json_row(n, h, extra), scrub), ensure_ascii=False)
        out.append(line)
        size += len(line)
        if size >= _FLUSH_BYTES:
            yield ("\n".join(out) + "\n").encode("utf-8")
            out, size = [], 0
    if out:
        yield ("\n".join(out) + "\n").encode("utf-8")


class _Sink:
    """A write-only stream collecting bytes, emptied by the generator (a ZIP written to it is
    streamed: zipfile falls back to data descriptors when the output cannot seek)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts = []
        return data


def _cell(ref: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = escape(_XML_BAD.sub("", str(value))[:32767])
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def _col(n: int) -> str:
    name = ""
    while n:
        n, rem = divmod(n - 1, 26)
        name = chr(65 + rem) + name
    return name


def _xlsx_row(r: int, values: Iterable[Any]) -> str:
    cells = "".join(_cell(f"{_col(c)}{r}", v) for c, v in enumerate(values, start=1))
    return f'<row r="{r}">{cells}</row>'


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="hits" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)


def _xlsx(
    head: dict[str, Any], hits: Iterable[tuple[Hit, Extra | None]], scrub: Scrubber | None = None
) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            sheet.write(_xlsx_row(1, [json.dumps(head, ensure_ascii=False)]).encode("utf-8"))
            sheet.write(_xlsx_row(2, COLUMNS).encode("utf-8"))
            for n, (h, extra) in enumerate(hits, start=1):
                sheet.write(_xlsx_row(n + 2, _masked_cells(row(n, h, extra), scrub)).encode("utf-8"))
                if sum(len(p) for p in sink.parts) >= _FLUSH_BYTES:
                    yield sink.take()
            sheet.write(b"</sheetData></worksheet>")
    yield sink.take()


def prepared(
    svc: ArchiveService, principal: Principal, req: SearchRequest, *, redact_case: int | None = None
) -> tuple[ExportInfo, Iterable[Hit], dict[str, Any], Scrubber | None]:
    """The export's hits, first line and masks: with ``redact_case``, the hits are listed once
    first for their documents, over which that case's rule makes the masks (``case_scrubber``),
    then again to be written — as a bundle of those documents would be masked."""
    scrub: Scrubber | None = None
    if redact_case is not None:
        _, first = svc.retrieval.export_hits(req, principal)
        scrub = case_scrubber(svc, principal, redact_case, {int(h.document_id) for h in first})
    info, hits = svc.retrieval.export_hits(req, principal)
    head = header(info, search_details(req, info.total))
    if scrub is not None and redact_case is not None:
        head["entity_redaction"] = {"case_id": redact_case, **scrub.manifest_entry()}
        head["entity_redaction"]["documents"] = len(scrub.documents)
        hits = _widened(svc, principal, redact_case, scrub, hits)
    return info, hits, head, scrub


def export_response(
    svc: ArchiveService,
    principal: Principal,
    req: SearchRequest,
    fmt: ExportFormat,
    *,
    redact_case: int | None = None,
) -> StreamingResponse:
    """The streamed export of ``req`` for ``principal`` (the API route and the UI's button); with
    ``redact_case``, masked by that case's redaction rule as its bundles are (``prepared``)."""
    info, hits, head, scrub = prepared(svc, principal, req, redact_case=redact_case)
    name = f"search-export.{fmt}"
    return StreamingResponse(
        stream(
            fmt,
            head,
            recorded(svc, principal, req, info, fmt, hits, redact_case=redact_case),
            annotator(svc),
            scrub,
        ),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Total-Hits": str(info.total),
            "X-Exhaustive": "true" if info.exhaustive else "false",
        },
    )


def case_scrubber(svc: ArchiveService, principal: Principal, case_id: int, documents: set[int]) -> Scrubber:
    """The masks of ``case_id``'s redaction rule over ``documents`` (the hits' documents), as a
    bundle of them would be masked (``bundle_redaction.scrubber_for``); 404 ``not_found`` unless
    the principal is a member of the case and the case has a rule."""
    with svc.catalog.session() as s:
        svc.cases._case(s, case_id, principal)
        rule = load_rule(s, case_id)
        if rule is None:
            raise NotFoundError(f"case {case_id} has no redaction rule")
        return scrubber_for(s, rule, sorted(documents))


def _widened(
    svc: ArchiveService, principal: Principal, case_id: int, scrub: Scrubber, hits: Iterable[Hit]
) -> Iterator[Hit]:
    """The hits; a document not among those the masks were made for (ingested between the two
    passes over the hits) widens the masks first: they only ever grow."""
    seen = set(scrub.documents)
    known: set[int] = set()
    for h in hits:
        doc = int(h.document_id)
        if doc not in known and doc not in seen:
            wider = case_scrubber(svc, principal, case_id, {doc})
            scrub.patterns = list(dict.fromkeys([*scrub.patterns, *wider.patterns]))
            scrub.keys = scrub.keys | wider.keys
            scrub.documents |= wider.documents
        known.add(doc)
        yield h


def annotator(svc: ArchiveService) -> Annotator:
    """The entity and metadata columns of exported hits, from the catalog (the hits are readable:
    the export's retrieval applied the access filter)."""

    def annotate(hits: list[Hit]) -> dict[int, dict[str, Any]]:
        with svc.catalog.session() as s:
            return export_annotations(s, [(int(h.passage_id), int(h.document_id)) for h in hits])

    return annotate


def recorded(
    svc: ArchiveService,
    principal: Principal,
    req: SearchRequest,
    info: ExportInfo,
    fmt: str,
    hits: Iterable[Hit],
    *,
    redact_case: int | None = None,
) -> Iterator[Hit]:
    """The hits, passed through; when the last has gone (or the stream stops), the export's search
    record, with the hash of every hit written, goes to the audit log."""
    digest = HitListHash()
    complete = False
    try:
        for h in hits:
            digest.add(h)
            yield h
        complete = True
    finally:
        record = svc.retrieval.search_record(req, principal, mode=info.mode, total=info.total, hits=digest)
        details = {
            **search_details(req, info.total),
            "export": fmt,
            "exhaustive": info.exhaustive,
            "complete": complete,
            "record": record,
        }
        if redact_case is not None:
            details["redact_case"] = redact_case
        svc.cases.audit.record(principal.name, "search", None, None, details)
