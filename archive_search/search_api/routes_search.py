"""Search routes beyond ``GET /search``: passages and their position, corroboration (similar
passages and documents), page images, batch search and saved searches.

No ``from __future__ import annotations`` here: the dependencies are created inside
:func:`search_router` (to avoid importing ``app.py`` at module level) and FastAPI must see them.
"""

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response
from pydantic import BaseModel, Field

from archive_search.search_api.batch import (
    SYNC_LIMIT,
    BatchOptions,
    Entry,
    check_entries,
    entries_from_csv,
    results_csv,
    run_batch,
)
from archive_search.types import MAX_ID, Hit, Principal, SearchResponse

MAX_CSV_BYTES = 5 * 1024 * 1024
JobStatus = Literal["queued", "running", "done", "failed"]


class PassagePublic(BaseModel):
    id: str
    document_id: str
    collection: str
    filename: str
    seq: int
    text: str
    lang: str
    page: int | None = Field(description="Page of the passage (paged formats)")
    char_start: int = Field(description="Offset of the passage in the page's text (GET /documents/{id}/text)")
    char_end: int
    time_start: float | None
    time_end: float | None
    speaker: str | None
    previous_id: str | None
    next_id: str | None


class SimilarResponse(BaseModel):
    method: Literal["vector", "keyword"] = Field(
        description="vector: nearest embeddings (any language); keyword: shared terms (no embedding yet)"
    )
    hits: list[Hit]


class BatchQuery(BaseModel):
    id: str | None = Field(default=None, max_length=200)
    text: str = Field(min_length=1, max_length=500)


class BatchRequest(BaseModel):
    queries: list[BatchQuery] | None = Field(default=None, description="Entries with ids")
    names: list[str] | None = Field(default=None, description="Or a plain list of names/phrases")
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


class SavedSearchCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    query: str = Field(max_length=4000)
    mode: Literal["hybrid", "keyword", "semantic"] = "hybrid"
    lang: list[str] = []
    collection: list[str] = []
    type: list[str] = []
    tag: list[str] = []
    speaker: list[str] = []


class SavedSearchPublic(BaseModel):
    id: str
    name: str
    query: str
    params: dict[str, Any]
    created_at: str
    last_viewed_at: str
    new_documents: int = Field(description="Matching documents ingested since it was last viewed")


def search_router() -> APIRouter:
    """The router; include it under ``/api/v1``."""
    from archive_search.search_api.app import ERRORS, get_principal, get_service
    from archive_search.search_api.service import ArchiveService

    Svc = Annotated[ArchiveService, Depends(get_service)]
    Who = Annotated[Principal, Depends(get_principal)]
    r = APIRouter(responses=ERRORS)

    @r.get("/passages/{passage_id}", response_model=PassagePublic, tags=["documents"])
    def passage(
        passage_id: Annotated[int, Path(ge=1, le=MAX_ID)], svc: Svc, principal: Who
    ) -> dict[str, Any]:
        """A passage and where it sits: page and character span in the page text, or time span."""
        out = svc.passage(passage_id, principal)
        svc.cases.audit.record(principal.name, "view", "passage", passage_id, {"part": "passage"})
        return out

    @r.get("/passages/{passage_id}/similar", response_model=SimilarResponse, tags=["corroboration"])
    def similar_passages(
        passage_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        svc: Svc,
        principal: Who,
        size: Annotated[int, Query(ge=1, le=100)] = 10,
        exclude: Annotated[
            Literal["source", "document", "none"],
            Query(description="source: leave out the passage's document and copies of the same file"),
        ] = "source",
        lang: Annotated[list[str] | None, Query(description="Only these languages (repeatable)")] = None,
    ) -> dict[str, Any]:
        """Passages of other documents that describe the same thing, in any language (corroboration)."""
        out = svc.similar_passages(passage_id, principal, size=size, exclude=exclude, lang=lang)
        svc.cases.audit.record(
            principal.name, "search", "passage", passage_id, {"similar": True, "hits": len(out["hits"])}
        )
        return out

    @r.get("/documents/{document_id}/similar", response_model=SimilarResponse, tags=["corroboration"])
    def similar_documents(
        document_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        svc: Svc,
        principal: Who,
        size: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        """More like this document: the best passage of each similar document."""
        out = svc.similar_documents(document_id, principal, size=size)
        svc.cases.audit.record(
            principal.name, "search", "document", document_id, {"similar": True, "hits": len(out["hits"])}
        )
        return out

    @r.get(
        "/documents/{document_id}/pages/{page}",
        tags=["documents"],
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "The rendered page"}},
    )
    def page_image(
        document_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        page: Annotated[int, Path(ge=1, le=100_000)],
        svc: Svc,
        principal: Who,
        dpi: Annotated[int, Query(ge=30, le=300)] = 110,
    ) -> Response:
        """A page of a PDF or scan rendered as PNG (for the viewer)."""
        png = svc.page_image(document_id, page, principal, dpi=dpi)
        svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": f"page {page}"})
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

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

    @r.post("/search/batch", response_model=BatchResponse, tags=["batch"])
    def batch(body: BatchRequest, svc: Svc, principal: Who, response: Response) -> BatchResponse:
        """Many queries at once (e.g. a list of names): per entry the number of matching documents
        and the top ones, name variants included. Up to 100 entries are answered at once; longer
        lists run as a job (202) polled at ``/search/batch/{job_id}``."""
        out = _respond(svc, principal, body.entries(), body.options())
        if out.job_id is not None:
            response.status_code = 202
        return out

    @r.post("/search/batch/csv", response_model=BatchResponse, tags=["batch"])
    def batch_csv(
        svc: Svc,
        principal: Who,
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

    @r.get("/search/batch/{job_id}", response_model=BatchResponse, tags=["batch"])
    def batch_job(job_id: Annotated[int, Path(ge=1, le=MAX_ID)], svc: Svc, principal: Who) -> BatchResponse:
        """Progress of a batch job, with its results once done."""
        job = svc.batch.get(job_id, principal)
        results = None
        if job.status == "done" and job.results is not None:
            results = [BatchEntryResult(**x) for x in job.results if isinstance(x, dict)]
        return BatchResponse(
            job_id=str(job.id),
            status=cast(JobStatus, job.status),
            total=job.total,
            done=job.done,
            error=job.error,
            results=results,
        )

    @r.get(
        "/search/batch/{job_id}/csv",
        tags=["batch"],
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}, "description": "One row per entry and hit"}},
    )
    def batch_job_csv(job_id: Annotated[int, Path(ge=1, le=MAX_ID)], svc: Svc, principal: Who) -> Response:
        """A finished batch job's results as CSV (UTF-8 with BOM, for spreadsheets)."""
        job = svc.batch.get(job_id, principal)
        if job.status != "done" or job.results is None:
            from archive_search.errors import ConflictError

            raise ConflictError(f"the job is {job.status}, not done")
        body = "\ufeff" + results_csv([x for x in job.results if isinstance(x, dict)])
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="batch-{job.id}.csv"'},
        )

    @r.get("/saved-searches", response_model=list[SavedSearchPublic], tags=["saved searches"])
    def saved_list(svc: Svc, principal: Who) -> list[dict[str, Any]]:
        """Your saved searches, each with the number of new matching documents."""
        return svc.saved.list(principal)

    @r.post("/saved-searches", response_model=SavedSearchPublic, status_code=201, tags=["saved searches"])
    def saved_create(body: SavedSearchCreate, svc: Svc, principal: Who) -> dict[str, Any]:
        """Save a query with its filters."""
        params = {
            "mode": body.mode,
            "lang": body.lang,
            "collections": body.collection,
            "types": body.type,
            "tags": body.tag,
            "speakers": body.speaker,
        }
        return svc.saved.create(principal, body.name, body.query, params)

    @r.delete("/saved-searches/{saved_id}", status_code=204, tags=["saved searches"])
    def saved_delete(saved_id: Annotated[int, Path(ge=1, le=MAX_ID)], svc: Svc, principal: Who) -> Response:
        """Delete a saved search."""
        svc.saved.delete(principal, saved_id)
        return Response(status_code=204)

    @r.get("/saved-searches/{saved_id}/results", response_model=SearchResponse, tags=["saved searches"])
    def saved_run(
        saved_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        svc: Svc,
        principal: Who,
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> SearchResponse:
        """Run a saved search."""
        out = svc.saved.run(principal, saved_id, page=page, size=size)
        svc.cases.audit.record(principal.name, "search", "saved_search", saved_id, {"total": out.total})
        return out

    @r.get("/saved-searches/{saved_id}/new", response_model=SearchResponse, tags=["saved searches"])
    def saved_new(
        saved_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        svc: Svc,
        principal: Who,
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> SearchResponse:
        """What is new since you last looked: matching documents ingested after that; marks them seen."""
        out = svc.saved.run_new(principal, saved_id, page=page, size=size)
        svc.cases.audit.record(
            principal.name, "search", "saved_search", saved_id, {"new": True, "total": out.total}
        )
        return out

    return r
