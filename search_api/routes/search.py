"""``GET /search``: one query in the query language, with filters, facets and paging (a cursor
for deep pages); ``GET /search/export``: every hit of a query, streamed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic.json_schema import SkipJsonSchema

from archive_search.types import SearchRequest, SearchResponse
from search_api.audit import search_details
from search_api.deps import IsoDate, PrincipalDep, ServiceDep
from search_api.hits_export import MEDIA_TYPES, export_response
from search_api.http_errors import ERRORS
from search_api.limits import within
from search_api.retrieval import HitListHash

router = APIRouter(responses=ERRORS, tags=["search"])


@router.get("/search", response_model=SearchResponse)
async def search(
    svc: ServiceDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(max_length=4000, description="Query in the query language")] = "",
    mode: Annotated[Literal["hybrid", "keyword", "semantic"], Query()] = "hybrid",
    lang: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Language filter (repeatable)")
    ] = None,
    collection: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Collection filter (repeatable)")
    ] = None,
    type: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Document type filter (repeatable)")
    ] = None,
    tag: Annotated[list[str] | SkipJsonSchema[None], Query(description="Tag filter (repeatable)")] = None,
    date_from: Annotated[IsoDate | None, Query()] = None,
    date_to: Annotated[IsoDate | None, Query()] = None,
    speaker: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Transcript speaker (repeatable)")
    ] = None,
    person: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Mentions this person (any spelling; repeatable)")
    ] = None,
    place: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Mentions this place (any spelling)")
    ] = None,
    org: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Mentions this organisation (repeatable)")
    ] = None,
    meta: Annotated[
        list[str] | SkipJsonSchema[None],
        Query(description="Metadata field filter NAME=VALUE or NAME=FROM..TO (dates, numbers; repeatable)"),
    ] = None,
    group: Annotated[
        Literal["document", "passage"],
        Query(description="document: one hit per document with its best passages; passage: each passage"),
    ] = "document",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 10,
    explain: Annotated[bool, Query(description="Say per hit how each query word matched")] = False,
    cursor: Annotated[
        str | None,
        Query(
            max_length=500, description="next_cursor of the previous page (group=passage, keyword/semantic)"
        ),
    ] = None,
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
        persons=person or [],
        places=place or [],
        orgs=org or [],
        meta=meta or [],
        group=group,
        page=page,
        size=size,
        cursor=cursor,
        explain=explain,
    )
    res = await within(svc.settings.request_timeout_s, svc.search, req, principal)
    if collapse == "family":
        res = svc.families.collapse_search(res, principal)
    record = svc.retrieval.search_record(
        req, principal, mode=res.mode, total=res.total, hits=HitListHash(res.hits)
    )
    svc.cases.audit.record(
        principal.name, "search", None, None, {**search_details(req, res.total), "record": record}
    )
    return res


@router.get(
    "/search/export",
    response_class=StreamingResponse,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "every hit"}},
)
def export(
    svc: ServiceDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(max_length=4000, description="Query in the query language")] = "",
    format: Annotated[Literal["csv", "jsonl", "xlsx"], Query()] = "csv",
    mode: Annotated[Literal["hybrid", "keyword", "semantic"], Query()] = "hybrid",
    lang: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Language filter (repeatable)")
    ] = None,
    collection: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Collection filter (repeatable)")
    ] = None,
    type: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Document type filter (repeatable)")
    ] = None,
    tag: Annotated[list[str] | SkipJsonSchema[None], Query(description="Tag filter (repeatable)")] = None,
    date_from: Annotated[IsoDate | None, Query()] = None,
    date_to: Annotated[IsoDate | None, Query()] = None,
    speaker: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Transcript speaker (repeatable)")
    ] = None,
    person: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Mentions this person (repeatable)")
    ] = None,
    place: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Mentions this place (repeatable)")
    ] = None,
    org: Annotated[
        list[str] | SkipJsonSchema[None], Query(description="Mentions this organisation (repeatable)")
    ] = None,
    meta: Annotated[
        list[str] | SkipJsonSchema[None],
        Query(description="Metadata field filter NAME=VALUE or NAME=FROM..TO (dates, numbers; repeatable)"),
    ] = None,
    group: Annotated[
        Literal["document", "passage"],
        Query(description="passage: every matching passage; document: each document's best passage"),
    ] = "passage",
    explain: Annotated[bool, Query(description="Add a column saying how each query word matched")] = False,
) -> StreamingResponse:
    """Every hit of a search (no page limit), streamed as CSV, JSON Lines or XLSX with provenance;
    the first line says what was searched, how many hits, and whether the list is exhaustive."""
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
        persons=person or [],
        places=place or [],
        orgs=org or [],
        meta=meta or [],
        group=group,
        explain=explain,
    )
    return export_response(svc, principal, req, format)
