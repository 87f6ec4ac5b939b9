"""Batch search: pasted names or a CSV; up to ``SYNC_LIMIT`` entries at once, more as a job with
progress and a CSV of its results (``search_api/batch.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import (
    ArchiveError,
    ConflictError,
    InvalidRequestError,
)
from search_api.batch import (
    SYNC_LIMIT,
    BatchOptions,
    Entry,
    check_entries,
    entries_from_csv,
    results_csv,
    run_batch,
)
from ui.common import (
    SignedIn,
    SignedInForm,
    _not_found,
    _redirect,
    _secure,
    _service,
    _translator,
    render,
)

router = APIRouter(include_in_schema=False)


MAX_BATCH_TEXT = 1_000_000


MAX_CSV_BYTES = 5 * 1024 * 1024


def _entries_from_text(text: str) -> list[Entry]:
    lines = [ln.strip() for ln in text.splitlines()]
    return [Entry(id=str(n), text=ln[:500]) for n, ln in enumerate((x for x in lines if x), start=1)]


@router.get("/batch", response_class=HTMLResponse)
def batch_page(request: Request, principal: SignedIn) -> Response:
    return render(
        request,
        "batch.html",
        principal=principal,
        results=None,
        names="",
        match="all",
        error=None,
        sync_limit=SYNC_LIMIT,
    )


@router.post("/batch", response_class=HTMLResponse)
async def batch_submit(request: Request, principal: SignedInForm) -> Response:
    form = await request.form()
    svc = _service(request)
    t = _translator(request)
    names = str(form.get("names", ""))[:MAX_BATCH_TEXT]
    match = str(form.get("match", "all"))
    match = match if match in ("all", "any", "phrase") else "all"
    upload = form.get("file")
    try:
        entries: list[Entry] = []
        if isinstance(upload, UploadFile) or hasattr(upload, "read"):
            data = await upload.read(MAX_CSV_BYTES + 1)  # type: ignore[union-attr]
            if len(data) > MAX_CSV_BYTES:
                raise InvalidRequestError(t("csv_too_large"))
            if data.strip():
                entries = entries_from_csv(data)
        if not entries:
            entries = check_entries(_entries_from_text(names))
        opts = BatchOptions(match=match, size=3)  # type: ignore[arg-type]
    except ArchiveError as exc:
        return render(
            request,
            "batch.html",
            principal=principal,
            status=exc.status,
            results=None,
            names=names,
            match=match,
            error=exc.message,
            sync_limit=SYNC_LIMIT,
        )
    details = {"batch": True, "count": len(entries), "entries": [e.text for e in entries[:1000]], "ui": True}
    svc.cases.audit.record(principal.name, "search", None, None, {**details, **opts.to_json()})
    if str(form.get("format", "")) == "csv" and len(entries) <= SYNC_LIMIT:
        return _csv_response(run_batch(svc, entries, principal, opts), "batch.csv")
    if len(entries) > SYNC_LIMIT:
        job_id = svc.batch.submit(principal, entries, opts)
        return _redirect(f"/batch/jobs/{job_id}")
    results = run_batch(svc, entries, principal, opts)
    return render(
        request,
        "batch.html",
        principal=principal,
        results=results,
        names=names or "\n".join(e.text for e in entries),
        match=match,
        error=None,
        sync_limit=SYNC_LIMIT,
    )


def _csv_response(results: list[dict[str, Any]], filename: str) -> Response:
    body = "\ufeff" + results_csv(results)
    return _secure(
        Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        ),
        cache="private, no-store",
    )


@router.get("/batch/jobs/{job_id}", response_class=HTMLResponse)
def batch_job_page(request: Request, principal: SignedIn, job_id: int) -> Response:
    try:
        job = _service(request).batch.get(job_id, principal)
    except ArchiveError:
        return _not_found(request, principal)
    results = None
    if job.status == "done" and job.results is not None:
        results = [x for x in job.results if isinstance(x, dict)]
        _service(request).cases.audit.record(
            principal.name, "view", "batch_job", job.id, {"part": "results", "ui": True}
        )
    return render(
        request,
        "batch_job.html",
        principal=principal,
        job=job,
        results=results,
        refresh=job.status in ("queued", "running"),
    )


@router.get("/batch/jobs/{job_id}/results.csv")
def batch_job_csv(request: Request, principal: SignedIn, job_id: int) -> Response:
    try:
        job = _service(request).batch.get(job_id, principal)
        if job.status != "done" or job.results is None:
            raise ConflictError(f"the job is {job.status}")
    except ArchiveError:
        return _not_found(request, principal)
    audit = _service(request).cases.audit
    audit.record(principal.name, "view", "batch_job", job.id, {"part": "csv", "ui": True})
    return _csv_response([x for x in job.results if isinstance(x, dict)], f"batch-{job.id}.csv")
