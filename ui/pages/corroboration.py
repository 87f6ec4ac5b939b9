"""The corroboration panel (issue 21, item 3): passages of other documents that tell the same thing
as the passage opened in the viewer, grouped by source family, each with its match strength
(label and score), title, date, language and the people named, and "add to case with a note"
that stays on the page and keeps how the item was found ("similar to passage X of Y").

The viewer (``documents.py``) shows the first :data:`PANEL_SIZE` entries in its side panel
(``_corroboration.html``); "more" opens ``/documents/{id}/corroboration?passage=…``, the same
partial at full width, :data:`PAGE_STEP` entries at a time up to the API's page size (100), each
"more" a plain link (no JavaScript). Everything is read through ``ArchiveService.corroborate``,
which returns only what the caller may read (``search_api/corroboration.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import NotFoundError
from archive_search.types import Principal, SimilarOptions
from search_api.service import ArchiveService
from ui import documents as docs
from ui.common import SignedIn, _int_param, _not_found, _service, _translator, _work_context, render

router = APIRouter(include_in_schema=False)

PANEL_SIZE = 10
"""Entries in the viewer's side panel before "more"."""
PAGE_STEP = 20
"""Entries the full page shows at first and adds with each "more"."""
_NOTICE_PARAMS = ("notice", "n", "case", "added")


def _clean(request: Request) -> str:
    """This page's address without a previous notice (the place to come back to after adding)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOTICE_PARAMS]
    return request.url.path + (f"?{urlencode(params)}" if params else "")


def panel(
    svc: ArchiveService,
    request: Request,
    principal: Principal,
    doc: dict[str, Any],
    passage_id: int,
    *,
    shown: int,
    full: bool,
) -> dict[str, Any]:
    """What ``_corroboration.html`` shows for the passage ``passage_id`` of ``doc``: the first
    ``shown`` entries grouped by source (independent first), whether there are more, and where
    "more" and "add to case" lead."""
    limit = min(shown + 1, svc.settings.max_page_size)
    out = svc.corroborate(passage_id, principal, SimilarOptions(size=limit))
    hits = out["hits"]
    more = len(hits) > shown
    hits = hits[:shown]
    ranked = list(enumerate(hits, start=1))  # the rank stays the entry's number and anchor
    independent = [(i, h) for i, h in ranked if h.source is None or h.source.relation != "same_source"]
    same = [(i, h) for i, h in ranked if h.source is not None and h.source.relation == "same_source"]
    title = str(doc.get("title") or doc.get("filename") or "")
    title = title if len(title) <= 80 else title[:79].rstrip() + "…"
    t = _translator(request)
    page_url = f"/documents/{doc['id']}/corroboration"
    next_shown = min(shown + PAGE_STEP, svc.settings.max_page_size) if full else PAGE_STEP
    return {
        "passage_id": passage_id,
        "method": out["method"],
        "groups": [g for g in (("independent", independent), ("same_source", same)) if g[1]],
        "count": len(hits),
        "independent_sources": len(independent),
        "same_source": len(same),
        "more_url": (
            f"{page_url}?{urlencode({'passage': passage_id, 'shown': next_shown})}#corr-entry-{shown + 1}"
            if more and shown < svc.settings.max_page_size
            else None
        ),
        "full": full,
        "found_by": t("corr_found_by", passage=passage_id, document=doc["id"], title=title),
        "back_here": _clean(request),
        "added": request.query_params.get("added", ""),
    }


@router.get("/documents/{document_id}/corroboration", response_class=HTMLResponse)
def corroboration_page(request: Request, principal: SignedIn, document_id: int) -> Response:
    """Every similar passage of one passage of a document (``?passage=``), ``shown`` at a time."""
    svc = _service(request)
    qp = request.query_params
    passage_id = _int_param(qp.get("passage"))
    try:
        meta = svc.document(document_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    span = docs.passage_span(svc, document_id, passage_id, principal) if passage_id is not None else None
    if span is None:
        return _not_found(request, principal)
    shown = max(1, min(_int_param(qp.get("shown")) or PAGE_STEP, svc.settings.max_page_size))
    corr = panel(svc, request, principal, meta, span.passage_id, shown=shown, full=True)
    svc.cases.audit.record(
        principal.name,
        "search",
        "passage",
        span.passage_id,
        {"similar": True, "hits": corr["count"], "ui": True},
    )
    return render(
        request,
        "corroboration.html",
        principal=principal,
        doc=meta,
        corr=corr,
        passage=svc.passage(span.passage_id, principal),
        **_work_context(request, principal),
    )
