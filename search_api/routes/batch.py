"""``/search/batch…``: many queries at once (for example a list of names), answered at once up to
``SYNC_LIMIT`` entries, else run as a job with progress and a CSV download (rules: ``batch.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, File, Form, Response
from pydantic import BaseModel, Field

from archive_search.types import Hit, Principal
from search_api.batch import (
    MAX_ENTRIES,
    MAX_ENTRY_CHARS,
    SYNC_LIMIT,
    BatchOptions,
    Entry,
    check_entries,
    entries_from_csv,
    results_csv,
    run_batch,
)
from search_api.deps import Id, PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS
from search_api.service import ArchiveService

router = APIRouter(responses=ERRORS)
MAX_CSV_BYTES = 5 * 1024 * 1024
JobStatus = Literal["queued", "running", "done", "failed"]


class BatchQuery(BaseModel):
    id: str | None = Field(default=None, max_length=200)
    text: str = Field(min_length=1, max_length=MAX_ENTRY_CHARS)


class BatchRequest(BaseModel):
    queries: list[BatchQuery] | None = Field(
        default=None, max_length=MAX_ENTRIES, description=f"Entries with ids (at most {MAX_ENTRIES} in all)"
    )
    names: list[Annotated[str, Field(min_length=1, max_length=MAX_ENTRY_CHARS)]] | None = Field(
        default=None, max_length=MAX_ENTRIES, description="Or a plain list of names/phrases"
    )
    match: Literal["all", "any", "phrase"] = Field(
        default="all", description="all: every word of the entry in one passage (any order, name variants)"
    )
    size: int = Field(default=3, ge=1, le=20, description="Top documents returned per entry")
    lang: list[str] = []
    collection: list[str] = []
    type: list[str] = []

    def entries(self) -> list[Entry]:
        out = [Entry(id=q.id or str(n), text=q.text) for n, q in enumerate(self.queries or [], start=1)]
        start = len(out)
        out += [Entry(id=str(start + n), text=t) for n, t in enumerate(self.names or [], start=1)]
        return check_entries(out)

    def options(self) -> BatchOptions:
        return BatchOptions(
            match=self.match,
            size=self.size,
            langs=tuple(self.lang),
            collections=tuple(self.collection),
            types=tuple(self.type),
        )


class BatchEntryResult(BaseModel):
    id: str
    text: str
    total: int = Field(description="Documents matching the entry")
    hits: list[Hit]


class BatchResponse(BaseModel):
    job_id: str | None = Field(default=None, description="Set when the list runs as a background job")
    status: Literal["queued", "running", "done", "failed"]
    total: int
    done: int
    error: str | None = None
    results: list[BatchEntryResult] | None = None


QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"model": BatchResponse, "description": f"Over {SYNC_LIMIT} entries: queued as a job (poll job_id)"}
}


def _respond(
    svc: ArchiveService, principal: Principal, entries: list[Entry], opts: BatchOptions
) -> BatchResponse:
    details = {"batch": True, "count": len(entries), "entries": [e.text for e in entries[:1000]]}
    svc.cases.audit.record(principal.name, "search", None, None, {**details, **opts.to_json()})
    if len(entries) <= SYNC_LIMIT:
        results = run_batch(svc, entries, principal, opts)
        return BatchResponse(
            status="done",
            total=len(entries),
            done=len(entries),
            results=[BatchEntryResult(**x) for x in results],
        )
    job_id = svc.batch.submit(principal, entries, opts)
    return BatchResponse(job_id=str(job_id), status="queued", total=len(entries), done=0)


@router.post("/search/batch", response_model=BatchResponse, tags=["batch"], responses=QUEUED)
def batch(body: BatchRequest, svc: ServiceDep, principal: PrincipalDep, response: Response) -> BatchResponse:
    """Many queries at once (e.g. a list of names): per entry the number of matching documents
    and the top ones, name variants included. Up to 100 entries are answered at once; longer
    lists run as a job (202) polled at ``/search/batch/{job_id}``."""
    out = _respond(svc, principal, body.entries(), body.options())
    if out.job_id is not None:
        response.status_code = 202
    return out


@router.post("/search/batch/csv", response_model=BatchResponse, tags=["batch"], responses=QUEUED)
def batch_csv(
    svc: ServiceDep,
    principal: PrincipalDep,
    response: Response,
    file: Annotated[
        bytes,
        File(description="CSV: a `name` (or `text`) column and optional `id`, or one name per line"),
    ],
    match: Annotated[Literal["all", "any", "phrase"], Form()] = "all",
    size: Annotated[int, Form(ge=1, le=20)] = 3,
) -> BatchResponse:
    """Batch search from a CSV upload."""
    if len(file) > MAX_CSV_BYTES:
        from archive_search.errors import InvalidRequestError

        raise InvalidRequestError(f"the CSV file is larger than {MAX_CSV_BYTES} bytes")
    out = _respond(svc, principal, entries_from_csv(file), BatchOptions(match=match, size=size))
    if out.job_id is not None:
        response.status_code = 202
    return out


@router.get("/search/batch/{job_id:int}", response_model=BatchResponse, tags=["batch"])
def batch_job(job_id: Id, svc: ServiceDep, principal: PrincipalDep) -> BatchResponse:
    """Progress of a batch job, with its results once done."""
    job = svc.batch.get(job_id, principal)
    results = None
    if job.status == "done" and job.results is not None:
        results = [BatchEntryResult(**x) for x in job.results if isinstance(x, dict)]
        svc.cases.audit.record(principal.name, "view", "batch_job", job.id, {"part": "results"})
    return BatchResponse(
        job_id=str(job.id),
        status=cast(JobStatus, job.status),
        total=job.total,
        done=job.done,
        error=job.error,
        results=results,
    )


@router.get(
    "/search/batch/{job_id:int}/csv",
    tags=["batch"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per entry and hit"}},
)
def batch_job_csv(job_id: Id, svc: ServiceDep, principal: PrincipalDep) -> Response:
    """A finished batch job's results as CSV (UTF-8 with BOM, for spreadsheets)."""
    job = svc.batch.get(job_id, principal)
    if job.status != "done" or job.results is None:
        from archive_search.errors import ConflictError

        raise ConflictError(f"the job is {job.status}, not done")
    body = "\ufeff" + results_csv([x for x in job.results if isinstance(x, dict)])
    svc.cases.audit.record(principal.name, "view", "batch_job", job.id, {"part": "csv"})
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="batch-{job.id}.csv"'},
    )
