"""Search history: your recorded searches (``SearchHistory``), each with its record, opened again
on the search page, or run again with what changed since."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import ArchiveError
from archive_search.types import Principal
from ui.common import SignedIn, SignedInForm, _failed, _int_param, _service, render

router = APIRouter(include_in_schema=False)

HISTORY_PAGE = 50
UI_FILTERS = {
    "lang": "lang",
    "collection": "collection",
    "type": "type",
    "tag": "tag",
    "person": "person",
    "place": "place",
    "org": "organisation",
}
"""A search record's filter names → the search page's parameters."""


def history_search_url(record: dict[str, Any]) -> str:
    """The search page's URL for a recorded search: its query, mode and the filters the page has
    (a speaker filter or passage grouping of an API search is not on the page; "run again" keeps
    them)."""
    params: list[tuple[str, str]] = [("q", str(record.get("q") or ""))]
    if record.get("mode") in ("keyword", "semantic"):
        params.append(("mode", str(record["mode"])))
    filters = record.get("filters") or {}
    for name, ui_name in UI_FILTERS.items():
        params += [(ui_name, str(v)) for v in filters.get(name) or []]
    for name in ("date_from", "date_to"):
        if filters.get(name):
            params.append((name, str(filters[name])))
    return "/?" + urlencode(params)


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, principal: SignedIn) -> Response:
    before = _int_param(request.query_params.get("before"))
    try:
        rows = _service(request).history.list(principal, size=HISTORY_PAGE, before=before)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return render(
        request,
        "history.html",
        principal=principal,
        rows=[{**h.public(), "url": history_search_url(h.record)} for h in rows],
        older=rows[-1].id if len(rows) == HISTORY_PAGE else None,
    )


def _entry_page(request: Request, principal: Principal, search_id: int, *, rerun: bool) -> Response:
    """A recorded search's page; with ``rerun``, run it again (recorded) and show what changed."""
    history = _service(request).history
    try:
        out = history.rerun(principal, search_id) if rerun else None
        row = out["before"] if out is not None else history.get(principal, search_id).public()
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    url = history_search_url(row["record"])
    return render(request, "history_entry.html", principal=principal, row=row, url=url, rerun=out)


@router.get("/history/{search_id}", response_class=HTMLResponse)
def history_entry(request: Request, principal: SignedIn, search_id: int) -> Response:
    return _entry_page(request, principal, search_id, rerun=False)


@router.post("/history/{search_id}/rerun", response_class=HTMLResponse)
def history_rerun(request: Request, principal: SignedInForm, search_id: int) -> Response:
    """Run a recorded search again and show what changed (the run is recorded too)."""
    return _entry_page(request, principal, search_id, rerun=True)
