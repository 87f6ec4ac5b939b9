"""Entities: the list of people, places and organisations mentioned in what the user may read,
and one entity's page (spellings, documents, passages, co-occurring entities, timeline), over
``EntityService`` (``search_api/entities.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import InvalidRequestError, NotFoundError
from ui.common import SignedIn, _not_found, _service, render

router = APIRouter(include_in_schema=False)


@router.get("/entities", response_class=HTMLResponse)
def entities_page(request: Request, principal: SignedIn) -> Response:
    """Entities mentioned in readable documents, most mentioned first; ``q`` (any spelling) and
    ``type`` narrow the list."""
    q = request.query_params.get("q", "")[:300].strip()
    etype = request.query_params.get("type") or None
    try:
        found = _service(request).entities.list_entities(principal, etype=etype, q=q or None, limit=200)
    except InvalidRequestError:
        found, etype = [], None
    return render(request, "entities.html", principal=principal, entities=found, q=q, etype=etype)


@router.get("/entities/{entity_id}", response_class=HTMLResponse)
def entity_page(request: Request, principal: SignedIn, entity_id: int) -> Response:
    """One entity over the documents the user may read (404 when it is mentioned in none)."""
    try:
        ent = _service(request).entities.get_entity(entity_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    facet = {"person": "person", "place": "place", "org": "organisation"}.get(ent.type)
    return render(request, "entity.html", principal=principal, ent=ent, facet=facet)
