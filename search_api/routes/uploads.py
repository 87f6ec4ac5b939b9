"""``POST /documents``: ingest one uploaded file; it is keyword-searchable when the call returns."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from archive_search.catalog.db import COLLECTION_NAME_PATTERN
from archive_search.errors import ForbiddenError
from archive_search.types import JobReport
from search_api.deps import PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS

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
