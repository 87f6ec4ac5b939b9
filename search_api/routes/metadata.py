"""Structured metadata (``search_api/metadata.py``): typed fields per collection (defined by its
managers) and their values per document (filled by staff who may write to the collection)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import Response

from search_api.deps import Id, PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS
from search_api.metadata import (
    FIELD_NAME_PATTERN,
    DocumentMetadataPublic,
    FieldCreate,
    FieldPublic,
    FieldUpdate,
    MetadataApply,
    MetadataApplyResult,
    MetadataSet,
    NamedEntity,
)

router = APIRouter(responses=ERRORS, tags=["metadata"])
CollectionName = Annotated[str, Path(min_length=1, max_length=200)]
FieldName = Annotated[str, Path(pattern=FIELD_NAME_PATTERN, min_length=1, max_length=40)]


@router.get("/collections/{collection}/fields", response_model=list[FieldPublic])
def list_fields(collection: CollectionName, svc: ServiceDep, principal: PrincipalDep) -> list[FieldPublic]:
    """The metadata fields of a collection you may read."""
    return svc.metadata.list_fields(collection, principal)


@router.post("/collections/{collection}/fields", response_model=FieldPublic, status_code=201)
def create_field(
    collection: CollectionName,
    body: Annotated[FieldCreate, Body()],
    svc: ServiceDep,
    principal: PrincipalDep,
) -> FieldPublic:
    """Define a typed field (manage right): text, date, number, select (options) or entity (a
    person, place or organisation); 409 if the collection has a field of that name."""
    return svc.metadata.create_field(collection, body, principal)


@router.patch("/collections/{collection}/fields/{field}", response_model=FieldPublic)
def update_field(
    collection: CollectionName,
    field: FieldName,
    body: Annotated[FieldUpdate, Body()],
    svc: ServiceDep,
    principal: PrincipalDep,
) -> FieldPublic:
    """Change a field's definition (manage right): label, description, required, options of a
    select field (added, reordered; removed only when no document holds them, else 409),
    ``multiple``. The type and the name stay (a type change is a 409); audited."""
    return svc.metadata.update_field(collection, field, body, principal)


@router.delete("/collections/{collection}/fields/{field}", status_code=204)
def delete_field(
    collection: CollectionName, field: FieldName, svc: ServiceDep, principal: PrincipalDep
) -> Response:
    """Delete a field and every value of it (manage right); the index follows."""
    svc.metadata.delete_field(collection, field, principal)
    return Response(status_code=204)


@router.get("/documents/{document_id}/metadata", response_model=DocumentMetadataPublic)
def get_metadata(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> DocumentMetadataPublic:
    """Every field of the document's collection with the document's values."""
    return svc.metadata.get(document_id, principal)


@router.put("/documents/{document_id}/metadata", response_model=DocumentMetadataPublic)
def set_metadata(
    document_id: Id, body: MetadataSet, svc: ServiceDep, principal: PrincipalDep
) -> DocumentMetadataPublic:
    """Set (or clear, with null or []) the named fields of a document (editor or admin with the
    write right on its collection); 400 invalid_metadata when a value does not fit its field."""
    return svc.metadata.set_values(document_id, body, principal)


@router.post("/metadata/apply", response_model=MetadataApplyResult)
def apply_metadata(body: MetadataApply, svc: ServiceDep, principal: PrincipalDep) -> MetadataApplyResult:
    """Set the same values on many documents (bulk edit of selected results), all or nothing."""
    return svc.metadata.apply(body, principal)


@router.get("/documents/{document_id}/entities", response_model=list[NamedEntity])
def document_entities(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> list[NamedEntity]:
    """The people, places and organisations the document names, most mentioned first."""
    return svc.metadata.document_entities(document_id, principal)
