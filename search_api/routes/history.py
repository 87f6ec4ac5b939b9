"""``/searches…``: your search history (the search records of the audit log) and "run again"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from archive_search.types import SearchResponse
from search_api.deps import Id, PrincipalDep, ServiceDep
from search_api.history import HISTORY_MAX
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS, tags=["search history"])


class SearchRecordPublic(BaseModel):
    id: int = Field(description="The search's audit entry id")
    at: str
    q: str
    mode: str | None
    mode_run: str | None = Field(description="The mode that ran (hybrid falls back to keyword)")
    group: str | None
    filters: dict[str, Any]
    total: int | None
    hits: int | None = Field(description="Hits served")
    hits_sha256: str | None = Field(description="SHA-256 of the ordered hit list served")
    page: int | None
    size: int | None
    rerun_of: int | None = Field(description="The recorded search this one ran again")
    record: dict[str, Any] = Field(description="The whole search record, as in the audit log")


class SearchChanges(BaseModel):
    total_before: int | None
    total_now: int | None
    same_hits: bool = Field(description="The ordered hit list is the same (same SHA-256)")
    hits_compared: bool = Field(description="The old record lists its hits (records before this did not)")
    new_hits: list[str] = Field(description="document_id:passage_id of hits not in the old list")
    gone_hits: list[str] = Field(description="document_id:passage_id of old hits no longer found")
    reordered: bool
    access_changed: bool = Field(description="The collections you can read changed")
    index_changed: bool = Field(description="The backend or analyser changed")
    embedder_changed: bool


class RerunPublic(BaseModel):
    before: SearchRecordPublic
    now: SearchRecordPublic
    changes: SearchChanges
    results: SearchResponse


@router.get("/searches", response_model=list[SearchRecordPublic])
def history_list(
    svc: ServiceDep,
    principal: PrincipalDep,
    size: Annotated[int, Query(ge=1, le=HISTORY_MAX)] = 20,
    before: Annotated[int | None, Query(ge=1, description="Only searches older than this entry id")] = None,
) -> list[dict[str, Any]]:
    """Your searches, newest first, each with its search record."""
    return [h.public() for h in svc.history.list(principal, size=size, before=before)]


@router.get("/searches/{search_id:int}", response_model=SearchRecordPublic)
def history_get(search_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """One of your recorded searches."""
    return svc.history.get(principal, search_id).public()


@router.post("/searches/{search_id:int}/rerun", response_model=RerunPublic)
def history_rerun(search_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Run one of your recorded searches again, with the access you have now; the run is
    recorded, and the answer says what changed since (totals, new and gone hits, access, index,
    embedder)."""
    return svc.history.rerun(principal, search_id)
