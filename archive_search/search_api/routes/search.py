"""``GET /search``: one query in the query language, with filters, facets and paging."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from archive_search.search_api.audit import search_details
from archive_search.search_api.deps import PrincipalDep, ServiceDep
from archive_search.search_api.http_errors import ERRORS
from archive_search.search_api.limits import within
from archive_search.types import SearchRequest, SearchResponse

router = APIRouter(responses=ERRORS, tags=["search"])


@router.get("/search", response_model=SearchResponse)
async def search(
    svc: ServiceDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(max_length=4000, description="Query in the query language")] = "",
    mode: Annotated[Literal["hybrid", "keyword", "semantic"], Query()] = "hybrid",
    lang: Annotated[list[str] | None, Query(description="Language filter (repeatable)")] = None,
    collection: Annotated[list[str] | None, Query(description="Collection filter (repeatable)")] = None,
    type: Annotated[list[str] | None, Query(description="Document type filter (repeatable)")] = None,
    tag: Annotated[list[str] | None, Query(description="Tag filter (repeatable)")] = None,
    date_from: Annotated[date | None, Query()] = None,
    date_to: Annotated[date | None, Query()] = None,
    speaker: Annotated[list[str] | None, Query(description="Transcript speaker (repeatable)")] = None,
    group: Annotated[
        Literal["document", "passage"],
        Query(description="document: one hit per document with its best passages; passage: each passage"),
    ] = "document",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 10,
    collapse: Annotated[
        Literal["none", "family"],
        Query(
            description="family: further hits of one document family (copies, re-scans, translations) "
            'on the page are folded into its first hit ("1 of 4 in this family")'
        ),
    ] = "none",
) -> SearchResponse:
    """Search passages; hits carry provenance and a highlighted snippet; facets count matches."""
    req = SearchRequest(
        q=q,
        mode=mode,
        lang=lang or [],
        collections=collection or [],
        types=type or [],
        tags=tag or [],
        date_from=date_from,
        date_to=date_to,
        speakers=speaker or [],
        group=group,
        page=page,
        size=size,
    )
    res = await within(svc.settings.request_timeout_s, svc.search, req, principal)
    if collapse == "family":
        res = svc.families.collapse_search(res, principal)
    svc.cases.audit.record(principal.name, "search", None, None, search_details(req, res.total))
    return res
