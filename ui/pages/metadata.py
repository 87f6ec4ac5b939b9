"""The document viewer's "described" box (issue 18): the people, places and organisations the
document names (links to their entity pages) and its metadata fields, with a form for staff who
may write to its collection (``search_api/metadata.py``). Kept apart from the viewer's page so
that the viewer template only includes ``_document_described.html``. Also the page of a
collection's field definitions (``/collections/{name}/fields``), where its managers edit them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import ArchiveError, NotFoundError
from archive_search.types import Principal
from search_api.metadata import FieldUpdate, MetadataSet
from ui.common import (
    SignedIn,
    SignedInForm,
    _do,
    _failed,
    _flash,
    _not_found,
    _redirect,
    _service,
    render,
)

router = APIRouter(include_in_schema=False)
ENTITY_GROUPS = (("person", "facet_person"), ("place", "facet_place"), ("org", "facet_organisation"))
"""Entity type → heading message and search facet of the box's lists."""


def described(svc: Any, document_id: int, collection: str, principal: Principal) -> dict[str, Any]:
    """Context of ``_document_described.html`` for a document the caller may read."""
    named = svc.metadata.document_entities(document_id, principal)
    groups = [(key, [e for e in named if e.type == etype]) for etype, key in ENTITY_GROUPS]
    meta = svc.metadata.get(document_id, principal)
    can_describe = principal.role in ("admin", "editor") and principal.can_write(collection)
    return {
        "named_groups": [(key, ents) for key, ents in groups if ents],
        "doc_fields": meta.fields,
        "can_describe": can_describe and bool(meta.fields),
    }


@router.post("/documents/{document_id}/metadata")
async def document_metadata_form(request: Request, principal: SignedInForm, document_id: int) -> Response:
    """Save the metadata form of the viewer: every field of the collection, an empty one cleared;
    a multiple entity field takes values separated by ``;``."""
    svc = _service(request)
    form = await request.form()
    try:
        fields = svc.metadata.get(document_id, principal).fields
        values: dict[str, Any] = {}
        for f in fields:
            key = f"field.{f.name}"
            if f.multiple and f.type == "select":
                values[f.name] = [str(v) for v in form.getlist(key) if str(v).strip()]
            elif f.multiple:
                values[f.name] = [v.strip() for v in str(form.get(key, "")).split(";") if v.strip()]
            else:
                raw = str(form.get(key, "")).strip()
                values[f.name] = raw or None
        if values:
            svc.metadata.set_values(document_id, MetadataSet(values=values), principal)
    except NotFoundError:
        return _not_found(request, principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(f"/documents/{document_id}#described")


@router.get("/collections/{collection}/fields", response_class=HTMLResponse)
def fields_page(request: Request, principal: SignedIn, collection: str) -> Response:
    """A collection's metadata fields; its managers (and admins) edit each definition."""
    svc = _service(request)
    try:
        fields = svc.metadata.list_fields(collection, principal)
    except NotFoundError:
        return _not_found(request, principal)
    can_manage = principal.is_admin or principal.can_manage(collection)
    return render(
        request,
        "fields.html",
        principal=principal,
        collection=collection,
        fields=fields,
        can_manage=can_manage,
        **_flash(request),
    )


@router.post("/collections/{collection}/fields/{field}")
async def field_edit_form(request: Request, principal: SignedInForm, collection: str, field: str) -> Response:
    """Save one field's definition: label, description, required, options (one per line) and
    ``multiple`` (``FieldUpdate``; the service refuses what would orphan stored values)."""
    svc = _service(request)
    form = await request.form()

    def do() -> None:
        current = next((f for f in svc.metadata.list_fields(collection, principal) if f.name == field), None)
        if current is None:
            raise NotFoundError(f"field {field!r} not found in collection {collection!r}")
        options = None
        if current.type == "select":
            options = [o.strip() for o in str(form.get("options", "")).splitlines() if o.strip()]
        body = FieldUpdate(
            label=str(form.get("label", "")).strip() or current.label,
            description=str(form.get("description", ""))[:2000],
            required=form.get("required") == "1",
            multiple=(form.get("multiple") == "1") if current.type in ("select", "entity") else None,
            options=options,
            type=None,
        )
        svc.metadata.update_field(collection, field, body, principal)

    target = f"/collections/{quote(collection, safe='')}/fields#field-{quote(field, safe='')}"
    return _do(request, principal, target, "field_saved", do)
