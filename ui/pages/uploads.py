"""Uploads: files into a collection the user may write to, as an ingest job whose files' states
the page follows (``search_api/uploads.py``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from archive_search.errors import (
    ForbiddenError,
    NotFoundError,
)
from archive_search.types import Principal
from search_api.uploads import Uploads, stage
from ui.common import (
    SignedIn,
    SignedInForm,
    _failed,
    _not_found,
    _principal,
    _redirect,
    _secure,
    _service,
    _translator,
    render,
)
from ui.i18n import timecode

router = APIRouter(include_in_schema=False)


def writable_collections(request: Request, principal: Principal) -> list[str]:
    """The collections the principal may add to: those that exist first (the picker's default is
    one of them, issue 21), then, for an admin, the configured default collection if it does not
    exist yet (uploading creates it)."""
    svc = _service(request)
    if principal.writable is None:
        existing = sorted(c["name"] for c in svc.collections(principal))
        extra = [svc.settings.default_collection] if svc.settings.default_collection not in existing else []
        return existing + extra
    return sorted(principal.writable)


def existing_collections(request: Request, principal: Principal) -> set[str]:
    return {c["name"] for c in _service(request).collections(principal)}


def _upload_form(
    request: Request,
    principal: Principal,
    cols: list[str],
    chosen: str | None = None,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    """The upload page: ``cols`` to choose from, ``chosen`` preselected, an ``error`` above the form."""
    return render(
        request,
        "upload.html",
        principal=principal,
        collections=cols,
        existing=existing_collections(request, principal),
        chosen=chosen,
        status=status,
        error=error,
    )


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, principal: SignedIn) -> Response:
    cols = writable_collections(request, principal)
    if not cols:
        return _not_found(request, principal)
    return _upload_form(request, principal, cols)


@router.post("/upload", response_class=HTMLResponse)
async def upload_submit(request: Request, principal: SignedInForm) -> Response:
    form = await request.form()
    cols = writable_collections(request, principal)
    target = str(form.get("collection", ""))
    if not cols:
        return _not_found(request, principal)
    if target not in cols or not principal.can_write(target):
        return _failed(
            request, principal, ForbiddenError(f"you may not add documents to collection {target!r}")
        )
    files = [f for f in form.getlist("files") if not isinstance(f, str) and f.filename]
    if not files:
        return _upload_form(
            request, principal, cols, target, status=400, error=_translator(request)("no_files")
        )
    with tempfile.TemporaryDirectory(prefix="archive-ui-upload-") as tmp:
        staged = stage([(f.filename, f.file) for f in files], Path(tmp))  # type: ignore[union-attr]
        # the originals go into the store and one queued item per file into a job; the files are
        # then worked in the background and the job's page follows them (search_api/uploads.py)
        job_id = uploads(request).submit(staged, target, principal)
    return _redirect(f"/upload/jobs/{job_id}")


def uploads(request: Request) -> Uploads:
    """This process's upload jobs (the service's, shared with the API's ``/uploads``)."""
    return _service(request).uploads


def upload_status(request: Request, job_id: int, principal: Principal) -> dict[str, Any]:
    """The job's status with each state's label in the interface language."""
    st = uploads(request).status(job_id, principal)
    t = _translator(request)
    for f in st["files"]:
        f["label"] = (
            t("state_" + f["state"]) if f["state"] in ("queued", "running") else t("outcome_" + f["state"])
        )
        # a file already in the archive is not a new success (issue 21): its own label and colour
        f["css"] = "duplicate" if f["duplicate"] and f["state"] == "ok" else f["state"]
        if f["css"] == "duplicate":
            f["label"] = t("outcome_duplicate")
        # the outcome in the interface language; the service's message (English, technical)
        # stays beside it for staff, with the code
        f["explain"] = t.file_outcome(f["code"])
        # how long it has run (an OCR of many pages takes minutes: the page says it is still alive)
        secs = f.get("elapsed_s")
        f["elapsed"] = (
            ""
            if secs is None
            else t("upload_elapsed" if f["state"] == "running" else "upload_took", time=timecode(secs))
        )
    c = st["counts"]
    st["summary"] = t(
        "upload_state_counts",
        queued=t.num(c["queued"]),
        running=t.num(c["running"]),
        ok=t.num(c["ok"]),
        failed=t.num(c["failed"]),
        skipped=t.num(c["skipped"]),
    )
    st["duplicate_label"] = t("duplicate")
    return st


@router.get("/upload/jobs/{job_id}", response_class=HTMLResponse)
def upload_job_page(request: Request, principal: SignedIn, job_id: int) -> Response:
    """Each file of an upload with its state; the page follows it (app.js polls the JSON)."""
    try:
        st = upload_status(request, job_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    return render(request, "upload_job.html", principal=principal, job=st)


@router.get("/upload/jobs/{job_id}/status.json")
def upload_job_json(request: Request, job_id: int) -> Response:
    """The same as JSON (the uploader's only; 404 otherwise, 401 without a session)."""
    principal = _principal(request)
    if principal is None:
        return _secure(
            JSONResponse({"error": {"code": "unauthorized", "message": "log in"}}, status_code=401)
        )
    try:
        st = upload_status(request, job_id, principal)
    except NotFoundError as exc:
        return _secure(JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=404))
    return _secure(JSONResponse(st), cache="private, no-store")
