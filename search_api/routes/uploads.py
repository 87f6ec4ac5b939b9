"""``POST /documents``: ingest one uploaded file; it is keyword-searchable when the call returns.
``POST /uploads``: queue one or more files as an upload job and answer at once (202) with the
job's id; ``GET /uploads/{job_id}``: the job's files with their states, as the UI's upload page
shows them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from archive_search.catalog.db import COLLECTION_NAME_PATTERN
from archive_search.errors import ForbiddenError
from archive_search.types import JobReport
from search_api.deps import Id, PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS
from search_api.uploads import stage

router = APIRouter(responses=ERRORS)


@router.post("/documents", response_model=JobReport, status_code=201, tags=["documents"])
def upload(
    svc: ServiceDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="The file to ingest")],
    collection: Annotated[str | None, Form(pattern=COLLECTION_NAME_PATTERN, max_length=200)] = None,
    password: Annotated[
        str | None, Form(description="Password of an encrypted PDF (neither logged nor stored)")
    ] = None,
) -> JobReport:
    """Ingest one uploaded file; it is keyword-searchable when this returns."""
    target = collection or svc.settings.default_collection
    if not principal.can_write(target):
        raise ForbiddenError(f"you may not add documents to collection {target!r}")
    name = Path(file.filename or "upload").name or "upload"
    with tempfile.TemporaryDirectory(prefix="archive-upload-") as tmp:
        dest = Path(tmp) / name
        with dest.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        report = svc.ingest([dest], target, password=password or None)
    for f in report.files:
        f.path = name
        svc.cases.audit.record(
            principal.name,
            "ingest",
            "document",
            f.document_id,
            {"file": name, "collection": target, "outcome": f.outcome.value, "sha256": f.sha256},
        )
    return report


class UploadFilePublic(BaseModel):
    id: int
    name: str = Field(description="As uploaded; an archive's members as archive.zip!/member")
    state: Literal["queued", "running", "ok", "failed", "skipped"]
    code: str | None = Field(description="Outcome code (failed/skipped), or duplicate")
    message: str | None
    document_id: int | None
    duplicate: bool = Field(description="The same bytes were already a document of the collection")
    elapsed_s: float | None = Field(
        default=None,
        description="Seconds the file has been worked on: so far while running, in all once done; "
        "null while queued",
    )


class UploadJobPublic(BaseModel):
    id: int = Field(description="The upload job's id")
    collection: str
    done: bool = Field(description="Every file has its outcome")
    counts: dict[str, int] = Field(description="Files per state")
    files: list[UploadFilePublic]


@router.post("/uploads", response_model=UploadJobPublic, status_code=202, tags=["documents"])
def upload_job(
    svc: ServiceDep,
    principal: PrincipalDep,
    files: Annotated[list[UploadFile], File(min_length=1, description="The files to ingest (one or more)")],
    collection: Annotated[str | None, Form(pattern=COLLECTION_NAME_PATTERN, max_length=200)] = None,
) -> dict[str, Any]:
    """Queue files as an upload job and answer at once with its id (202): the files are stored,
    then extracted and indexed in the background (or by `archive worker` processes); follow them
    with `GET /uploads/{job_id}`. Each file is audited as it ends."""
    target = collection or svc.settings.default_collection
    if not principal.can_write(target):
        raise ForbiddenError(f"you may not add documents to collection {target!r}")
    with tempfile.TemporaryDirectory(prefix="archive-upload-") as tmp:
        staged = stage([(f.filename, f.file) for f in files], Path(tmp))
        job_id = svc.uploads.submit(staged, target, principal, ui=False)
    return svc.uploads.status(job_id, principal)


@router.get("/uploads/{job_id:int}", response_model=UploadJobPublic, tags=["documents"])
def upload_job_status(job_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Your upload job's files with their states and outcomes (another user's answers 404)."""
    return svc.uploads.status(job_id, principal)
