"""The document viewer (``/documents/{id}``, opened at a passage with the query's words marked),
the original's download and page images."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import Markup

from archive_search.errors import (
    ArchiveError,
    NotFoundError,
    RenderError,
)
from ui import documents as docs
from ui.common import (
    SignedIn,
    SignedInForm,
    _failed,
    _here,
    _int_param,
    _not_found,
    _redirect,
    _secure,
    _service,
    _with_notice,
    _work_context,
    render,
    safe_next,
)
from ui.pages import corroboration
from ui.pages.metadata import described

router = APIRouter(include_in_schema=False)


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def document_page(request: Request, principal: SignedIn, document_id: int) -> Response:
    svc = _service(request)
    try:
        meta = svc.document(document_id, principal)
        parts = svc.document_text(document_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    qp = request.query_params
    passage_id = _int_param(qp.get("passage"))
    q = qp.get("q", "")[:4000]
    back = safe_next(qp.get("back")) if qp.get("back") else None
    span = docs.passage_span(svc, document_id, passage_id, principal) if passage_id is not None else None
    svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": "ui-viewer"})
    anchor = f"passage-{span.passage_id}" if span else ""
    found = svc.document_hits(document_id, q, principal) if q.strip() else None
    places = svc.passage_layout(document_id, principal)
    mentions: dict[int, list[Any]] = {}
    for m in svc.entities.in_document(document_id, principal):
        mentions.setdefault(m.passage_id, []).append(m)
    rendered: list[dict[str, Any]] = []
    turns = any("passage_id" in p for p in parts)
    first_page = parts[0].get("page") if parts else None
    for part in parts:
        item = dict(part)
        if turns:
            pid = int(part["passage_id"])
            item["hit"] = span is not None and span.passage_id == pid
            item["html"] = Markup(
                docs.nest(
                    part["text"],
                    [docs.entity_spans(mentions.get(pid, [])), docs.term_spans(found, part["text"])],
                )
            )
        else:
            page_no = part.get("page")
            # passages of single-page text files have no page number: they lie on the only page
            on_this_page = span is not None and (
                span.page == page_no or (span.page is None and page_no == first_page)
            )
            here = [
                (pl.char_start, mentions.get(pl.passage_id, []))
                for pl in places
                if pl.passage_id in mentions
                and (pl.page == page_no or (pl.page is None and page_no == first_page))
            ]
            item["hit"] = on_this_page
            item["html"] = docs.render_page(
                part["text"],
                span=span if on_this_page else None,
                anchor=anchor,
                found=found,
                mentions=here,
            )
        rendered.append(item)
    nav = docs.hit_navigation(document_id, found, places, span, q, back) if found else None
    doc_lang = meta.get("lang") if meta.get("lang") in ("ru", "uk", "be", "en") else None
    corr = (
        corroboration.panel(
            svc, request, principal, meta, span.passage_id, shown=corroboration.PANEL_SIZE, full=False
        )
        if span
        else None
    )
    like_this = svc.similar_documents(document_id, principal, size=5)
    svc.cases.audit.record(
        principal.name,
        "search",
        "document",
        document_id,
        {"similar": True, "passage_id": span.passage_id if span else None, "ui": True},
    )
    return render(
        request,
        "document.html",
        principal=principal,
        doc=meta,
        parts=rendered,
        turns=turns,
        anchor=anchor if span else None,
        doc_lang=doc_lang,
        page_images=docs.has_page_images(str(meta.get("mime") or ""))
        and not turns
        and not (  # a redacted scan's pages come masked by their OCR word boxes; one OCR'd
            # before they were kept is its managers' only (PDF pages come masked too)
            meta.get("mime") != "application/pdf"
            and svc.redactions.is_redacted(document_id)
            and not svc.redactions.sees_unredacted(document_id, principal)
            and not svc.redactions.scan_pages_locatable(document_id)
        ),
        back=back,
        nav=nav,
        entity_count=sum(len(v) for v in mentions.values()),
        passage_id=span.passage_id if span else None,
        q=q,
        corr=corr,
        like_this=like_this,
        doc_cases=svc.cases.list_cases(principal, document_id=document_id),
        can_withdraw=principal.can_manage(str(meta["collection"])),
        here_doc=_here(request),
        **described(svc, document_id, str(meta["collection"]), principal),
        **_work_context(request, principal),
    )


@router.get("/documents/{document_id}/original")
def document_original(request: Request, principal: SignedIn, document_id: int) -> Response:
    try:
        svc = _service(request)
        path, sha, mime, filename = svc.original_path(document_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    except ArchiveError as exc:  # a redacted document's original: its managers only
        return _failed(request, principal, exc)
    svc.cases.audit.record(principal.name, "download", "document", document_id, {"sha256": sha})
    resp = FileResponse(path, media_type=mime, filename=filename, headers={"X-Content-SHA256": sha})
    return _secure(resp, cache="private, no-store")


RENDER_PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="120" viewBox="0 0 600 120">'
    '<rect width="600" height="120" fill="#f4f4f4" stroke="#999"/>'
    '<text x="300" y="66" font-family="sans-serif" font-size="18" text-anchor="middle" fill="#333">'
    "This page could not be shown (it takes too long to render). Download the original.</text></svg>"
)
"""What the viewer shows for a page whose render failed (``render_failed``)."""


@router.get("/documents/{document_id}/pages/{page}.png")
def page_image(request: Request, principal: SignedIn, document_id: int, page: int) -> Response:
    try:
        png = _service(request).page_image(document_id, page, principal)
    except NotFoundError:
        return _not_found(request, principal)
    except RenderError:  # too slow or too big to render: a placeholder in the page's place
        return _secure(Response(RENDER_PLACEHOLDER, status_code=503, media_type="image/svg+xml"))
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    _service(request).cases.audit.record(
        principal.name, "view", "document", document_id, {"part": f"page {page}", "ui": True}
    )
    return _secure(Response(png, media_type="image/png"))


@router.post("/documents/{document_id}/withdraw")
async def document_withdraw(request: Request, principal: SignedInForm, document_id: int) -> Response:
    """Withdraw the document (manage right on its collection; ``search_api/care.py``)."""
    form = await request.form()
    reason = str(form.get("reason", ""))[:2000]
    try:
        _service(request).care.withdraw(document_id, reason, principal)
    except NotFoundError:
        return _not_found(request, principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice("/", "withdrawn"))
