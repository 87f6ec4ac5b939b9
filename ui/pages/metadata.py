"""The document viewer's "described" box (issue 18): the people, places and organisations the
document names (links to their entity pages) and its metadata fields, with a form for staff who
may write to its collection (``search_api/metadata.py``). Kept apart from the viewer's page so
that the viewer template only includes ``_document_described.html``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from archive_search.errors import ArchiveError, NotFoundError
from archive_search.types import Principal
from search_api.metadata import MetadataSet
from ui.common import SignedInForm, _failed, _not_found, _redirect, _service

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
