"""Saved searches: list with "N new", save the current search, open one, what is new since last
viewed, delete (``SavedSearches``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import (
    ArchiveError,
    NotFoundError,
)
from ui.common import (
    SignedIn,
    SignedInForm,
    _failed,
    _flash,
    _not_found,
    _redirect,
    _service,
    _with_notice,
    render,
)

router = APIRouter(include_in_schema=False)


SAVED_PARAMS = {
    "lang": "lang",
    "collection": "collections",
    "type": "types",
    "tag": "tags",
    "person": "persons",
    "place": "places",
    "organisation": "orgs",
    "meta": "meta",
}
"""The search page's repeatable parameters a saved search keeps: form field → saved key."""
SAVED_DATES = ("date_from", "date_to")


@router.get("/saved", response_class=HTMLResponse)
def saved_page(request: Request, principal: SignedIn) -> Response:
    try:
        rows = _service(request).saved.list(principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return render(request, "saved.html", principal=principal, saved=rows, **_flash(request))


@router.post("/saved")
async def saved_create(request: Request, principal: SignedInForm) -> Response:
    form = await request.form()
    q = str(form.get("q", ""))[:4000]
    name = str(form.get("name", "")).strip() or q or "search"
    mode = str(form.get("mode", "hybrid"))
    params: dict[str, Any] = {"mode": mode if mode in ("hybrid", "keyword", "semantic") else "hybrid"}
    for field, key in SAVED_PARAMS.items():
        params[key] = [str(v)[:500] for v in form.getlist(field) if str(v)][:50]
    for key in SAVED_DATES:
        params[key] = str(form.get(key, "")).strip()[:10] or None
    try:
        _service(request).saved.create(principal, name[:200], q, params)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice("/saved", "saved"))


@router.post("/saved/{saved_id}/delete")
def saved_delete(request: Request, principal: SignedInForm, saved_id: int) -> Response:
    try:
        _service(request).saved.delete(principal, saved_id)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice("/saved", "deleted"))


def saved_search_url(row: dict[str, Any]) -> str:
    """The search page's URL for a saved search."""
    params: list[tuple[str, str]] = [("q", str(row.get("query", "")))]
    p = row.get("params") or {}
    if p.get("mode") and p["mode"] != "hybrid":
        params.append(("mode", str(p["mode"])))
    for field, key in SAVED_PARAMS.items():
        params += [(field, str(v)) for v in p.get(key) or []]
    params += [(name, str(p[name])) for name in SAVED_DATES if p.get(name)]
    return "/?" + urlencode(params)


@router.get("/saved/{saved_id}", response_class=HTMLResponse)
def saved_open(request: Request, principal: SignedIn, saved_id: int) -> Response:
    rows = {r["id"]: r for r in _service(request).saved.list(principal)}
    row = rows.get(str(saved_id))
    if row is None:
        return _not_found(request, principal)
    return _redirect(saved_search_url(row))


@router.get("/saved/{saved_id}/new", response_class=HTMLResponse)
def saved_new(request: Request, principal: SignedIn, saved_id: int) -> Response:
    """What is new since last viewed (marks it seen)."""
    svc = _service(request)
    try:
        row = next((r for r in svc.saved.list(principal) if r["id"] == str(saved_id)), None)
        if row is None:
            raise NotFoundError(f"saved search {saved_id} not found")
        res = svc.saved.run_new(principal, saved_id, size=50)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return render(
        request, "saved_new.html", principal=principal, row=row, resp=res, search_url=saved_search_url(row)
    )
