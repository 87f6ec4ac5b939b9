"""``/documents/{id}`` and below: metadata, text, the original, page images, similar documents.

Uploads (``POST /documents``) are in ``uploads.py``; the cases holding a document in ``cases.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response

from search_api.deps import Id, PageSize, PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS
from search_api.routes.passages import SimilarResponse

router = APIRouter(responses=ERRORS)


@router.get("/documents/{document_id:int}", tags=["documents"])
def document(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """A document's metadata, with the SHA-256 of its original."""
    meta = svc.document(document_id, principal)
    svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": "metadata"})
    return meta


@router.get("/documents/{document_id:int}/text", tags=["documents"])
def document_text(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Extracted text by page, or by transcript turn."""
    parts = svc.document_text(document_id, principal)
    svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": "text"})
    return {"document_id": str(document_id), "parts": parts}


@router.get(
    "/documents/{document_id:int}/original",
    tags=["documents"],
    response_class=FileResponse,
    responses={200: {"description": "The original bytes, exactly as received"}},
)
def original(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> FileResponse:
    """The original file, byte for byte, with its SHA-256 in the ``X-Content-SHA256`` header."""
    path, sha, mime, filename = svc.original_path(document_id, principal)
    svc.cases.audit.record(principal.name, "download", "document", document_id, {"sha256": sha})
    return FileResponse(path, media_type=mime, filename=filename, headers={"X-Content-SHA256": sha})


@router.get("/documents/{document_id:int}/similar", response_model=SimilarResponse, tags=["corroboration"])
def similar_documents(
    document_id: Id,
    svc: ServiceDep,
    principal: PrincipalDep,
    size: PageSize = 10,
    group: Annotated[
        Literal["family", "none"],
        Query(description="family: one entry per source family, labelled; none: one entry per document"),
    ] = "family",
) -> dict[str, Any]:
    """More like this document: the best passage of each similar document (or source family)."""
    out = svc.similar_documents(document_id, principal, size=size, by_family=group == "family")
    svc.cases.audit.record(
        principal.name, "search", "document", document_id, {"similar": True, "hits": len(out["hits"])}
    )
    return out


@router.get("/documents/{document_id}/family", tags=["corroboration"])
def document_family(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """The document's family (copies, re-scans, translations) among the documents you may read:
    the provenance chain, oldest first (date in the metadata or the text, then ingestion time;
    collection; who added it), and the links with their kind, score and status."""
    out = svc.families.family(document_id, principal)
    svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": "family"})
    return out


@router.get(
    "/documents/{document_id:int}/pages/{page:int}",
    tags=["documents"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The rendered page"}},
)
def page_image(
    document_id: Id,
    page: Annotated[int, Path(ge=1, le=100_000)],
    svc: ServiceDep,
    principal: PrincipalDep,
    dpi: Annotated[int, Query(ge=30, le=300)] = 110,
) -> Response:
    """A page of a PDF or scan rendered as PNG (for the viewer)."""
    png = svc.page_image(document_id, page, principal, dpi=dpi)
    svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": f"page {page}"})
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
