"""``/entities…``: people, places, organisations (and phones, e-mails, document numbers) across
spellings; the rules are in ``search_api/entities.py``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from search_api.deps import Id, PrincipalDep, ServiceDep
from search_api.entities import (
    EntityDetail,
    EntityMerge,
    EntityPublic,
    EntityRename,
    EntitySplit,
)
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS, tags=["entities"])


@router.get("/entities", response_model=list[EntityPublic])
def list_entities(
    svc: ServiceDep,
    principal: PrincipalDep,
    type: Annotated[
        Literal["person", "place", "org", "phone", "email", "docnum"] | None, Query(description="Entity type")
    ] = None,
    q: Annotated[str | None, Query(max_length=300, description="A name in any spelling")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[EntityPublic]:
    """Entities mentioned in documents you may read, most mentioned first (counts over those)."""
    return svc.entities.list_entities(principal, etype=type, q=q, limit=limit)


@router.get("/entities/{entity_id}", response_model=EntityDetail)
def get_entity(entity_id: Id, svc: ServiceDep, principal: PrincipalDep) -> EntityDetail:
    """One entity: its spellings, the documents and passages that mention it, co-occurring
    entities and a timeline by document date — over the documents you may read (404 if none)."""
    return svc.entities.get_entity(entity_id, principal)


@router.patch("/entities/{entity_id}", response_model=EntityPublic)
def rename_entity(
    entity_id: Id, body: EntityRename, svc: ServiceDep, principal: PrincipalDep
) -> EntityPublic:
    """Rename an entity (admin; audited)."""
    return svc.entities.rename(entity_id, body, principal)


@router.post("/entities/{entity_id}/merge", response_model=EntityPublic)
def merge_entities(
    entity_id: Id, body: EntityMerge, svc: ServiceDep, principal: PrincipalDep
) -> EntityPublic:
    """Merge the entities ``ids`` into this one (admin; audited; filters and facets follow)."""
    return svc.entities.merge(entity_id, body, principal)


@router.post("/entities/{entity_id}/split", response_model=EntityPublic)
def split_entity(entity_id: Id, body: EntitySplit, svc: ServiceDep, principal: PrincipalDep) -> EntityPublic:
    """Move the mentions spelt as one of ``aliases`` to a new entity, returned (admin; audited)."""
    return svc.entities.split(entity_id, body, principal)
