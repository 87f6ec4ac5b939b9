"""``/saved-searches…``: a user's saved queries, run again, and what is new since last viewed."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, BeforeValidator, Field

from archive_search.types import SearchResponse
from search_api.deps import Id, IsoDate, PageNo, PageSize, PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS)


def _date_text(value: object) -> object:
    # in a JSON body pydantic would also take a number (seconds since 1970) for a date
    if value is not None and not isinstance(value, str | date):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


BodyDate = Annotated[IsoDate, BeforeValidator(_date_text)]
"""A date in a JSON body: the string ``YYYY-MM-DD`` only."""


class SavedSearchCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    query: str = Field(max_length=4000)
    mode: Literal["hybrid", "keyword", "semantic"] = "hybrid"
    lang: list[str] = []
    collection: list[str] = []
    type: list[str] = []
    tag: list[str] = []
    speaker: list[str] = []
    person: list[str] = Field(default=[], description="Mentions this person (any spelling), as in search")
    place: list[str] = Field(default=[], description="Mentions this place (any spelling), as in search")
    org: list[str] = Field(default=[], description="Mentions this organisation, as in search")
    meta: list[str] = Field(
        default=[], description="Metadata field filters NAME=VALUE or NAME=FROM..TO, as in search"
    )
    date_from: BodyDate | None = None
    date_to: BodyDate | None = None


class SavedSearchPublic(BaseModel):
    id: str
    name: str
    query: str
    params: dict[str, Any]
    created_at: str
    last_viewed_at: str
    new_documents: int = Field(description="Matching documents ingested since it was last viewed")


@router.get("/saved-searches", response_model=list[SavedSearchPublic], tags=["saved searches"])
def saved_list(svc: ServiceDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Your saved searches, each with the number of new matching documents."""
    return svc.saved.list(principal)


@router.post("/saved-searches", response_model=SavedSearchPublic, status_code=201, tags=["saved searches"])
def saved_create(body: SavedSearchCreate, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Save a query with its filters."""
    params = {
        "mode": body.mode,
        "lang": body.lang,
        "collections": body.collection,
        "types": body.type,
        "tags": body.tag,
        "speakers": body.speaker,
        "persons": body.person,
        "places": body.place,
        "orgs": body.org,
        "meta": body.meta,
        "date_from": body.date_from,
        "date_to": body.date_to,
    }
    return svc.saved.create(principal, body.name, body.query, params)


@router.delete("/saved-searches/{saved_id:int}", status_code=204, tags=["saved searches"])
def saved_delete(saved_id: Id, svc: ServiceDep, principal: PrincipalDep) -> Response:
    """Delete a saved search."""
    svc.saved.delete(principal, saved_id)
    return Response(status_code=204)


@router.get("/saved-searches/{saved_id:int}/results", response_model=SearchResponse, tags=["saved searches"])
def saved_run(
    saved_id: Id,
    svc: ServiceDep,
    principal: PrincipalDep,
    page: PageNo = 1,
    size: PageSize = 10,
) -> SearchResponse:
    """Run a saved search."""
    return svc.saved.run(principal, saved_id, page=page, size=size)


@router.get("/saved-searches/{saved_id:int}/new", response_model=SearchResponse, tags=["saved searches"])
def saved_new(
    saved_id: Id,
    svc: ServiceDep,
    principal: PrincipalDep,
    page: PageNo = 1,
    size: PageSize = 10,
) -> SearchResponse:
    """What is new since you last looked: matching documents ingested after that; marks them seen."""
    return svc.saved.run_new(principal, saved_id, page=page, size=size)
