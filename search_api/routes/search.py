"""``GET /search``: one query in the query language, with filters, facets and paging (a cursor
for deep pages); ``GET /search/export``: every hit of a query, streamed.

Both routes take the same query text and filters; they are declared once, as dependencies
(``QueryDep``, ``WhatDep``), so the two parameter lists cannot drift apart. Every query parameter
sits in a dependency (none on the route itself) because FastAPI lists a route's own parameters
before its dependencies' — this keeps the documented order: query, filters, then paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic.json_schema import SkipJsonSchema

from archive_search.types import MAX_ID, SearchRequest, SearchResponse
from search_api.audit import search_details
from search_api.deps import IsoDate, PageNo, PageSize, PrincipalDep, ServiceDep
from search_api.hits_export import MEDIA_TYPES, export_response
from search_api.http_errors import ERRORS
from search_api.limits import within
from search_api.retrieval import HitListHash

router = APIRouter(responses=ERRORS, tags=["search"])

Repeated = list[str] | SkipJsonSchema[None]
"""A repeatable query parameter (``?lang=uk&lang=ru``); absent means no filter."""


def query_text(
    q: Annotated[str, Query(max_length=4000, description="Query in the query language")] = "",
) -> str:
    return q


def what_to_search(
    mode: Annotated[Literal["hybrid", "keyword", "semantic"], Query()] = "hybrid",
    lang: Annotated[Repeated, Query(description="Language filter (repeatable)")] = None,
    collection: Annotated[Repeated, Query(description="Collection filter (repeatable)")] = None,
    type: Annotated[Repeated, Query(description="Document type filter (repeatable)")] = None,
    tag: Annotated[Repeated, Query(description="Tag filter (repeatable)")] = None,
    date_from: Annotated[IsoDate | None, Query()] = None,
    date_to: Annotated[IsoDate | None, Query()] = None,
    speaker: Annotated[Repeated, Query(description="Transcript speaker (repeatable)")] = None,
    person: Annotated[Repeated, Query(description="Mentions this person (any spelling; repeatable)")] = None,
    place: Annotated[Repeated, Query(description="Mentions this place (any spelling; repeatable)")] = None,
    org: Annotated[Repeated, Query(description="Mentions this organisation (repeatable)")] = None,
    meta: Annotated[
        Repeated,
        Query(description="Metadata field filter NAME=VALUE or NAME=FROM..TO (dates, numbers; repeatable)"),
    ] = None,
) -> dict[str, Any]:
    """The mode and filters shared by search and export, as ``SearchRequest`` fields."""
    return {
        "mode": mode,
        "lang": lang or [],
        "collections": collection or [],
        "types": type or [],
        "tags": tag or [],
        "date_from": date_from,
        "date_to": date_to,
        "speakers": speaker or [],
        "persons": person or [],
        "places": place or [],
        "orgs": org or [],
        "meta": meta or [],
    }


QueryDep = Annotated[str, Depends(query_text)]
WhatDep = Annotated[dict[str, Any], Depends(what_to_search)]


@dataclass(frozen=True)
class Paging:
    """How ``GET /search`` shapes one page of hits."""

    group: Literal["document", "passage"]
    page: int
    size: int
    explain: bool
    cursor: str | None
    collapse: Literal["none", "family"]


def paging(
    group: Annotated[
        Literal["document", "passage"],
        Query(description="document: one hit per document with its best passages; passage: each passage"),
    ] = "document",
    page: PageNo = 1,
    size: PageSize = 10,
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
) -> Paging:
    return Paging(group, page, size, explain, cursor, collapse)


@router.get("/search", response_model=SearchResponse)
async def search(
    svc: ServiceDep,
    principal: PrincipalDep,
    q: QueryDep,
    what: WhatDep,
    shape: Annotated[Paging, Depends(paging)],
) -> SearchResponse:
    """Search passages; hits carry provenance and a highlighted snippet; facets count matches."""
    req = SearchRequest(
        q=q,
        **what,
        group=shape.group,
        page=shape.page,
        size=shape.size,
        cursor=shape.cursor,
        explain=shape.explain,
    )
    res = await within(svc.settings.request_timeout_s, svc.search, req, principal)
    if shape.collapse == "family":
        res = svc.families.collapse_search(res, principal)
    record = svc.retrieval.search_record(
        req, principal, mode=res.mode, total=res.total, hits=HitListHash(res.hits)
    )
    svc.cases.audit.record(
        principal.name, "search", None, None, {**search_details(req, res.total), "record": record}
    )
    return res


def export_format(
    format: Annotated[Literal["csv", "jsonl", "xlsx"], Query()] = "csv",
) -> Literal["csv", "jsonl", "xlsx"]:
    return format


@dataclass(frozen=True)
class ExportShape:
    """Which hits an export lists, whether it explains them, and which case's redaction rule
    masks it."""

    group: Literal["document", "passage"]
    explain: bool
    redact_case: int | None = None


def export_shape(
    group: Annotated[
        Literal["document", "passage"],
        Query(description="passage: every matching passage; document: each document's best passage"),
    ] = "passage",
    explain: Annotated[bool, Query(description="Add a column saying how each query word matched")] = False,
    redact_case: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ID,
            description="Mask the export with this case's redaction rule, as its bundles are",
        ),
    ] = None,
) -> ExportShape:
    return ExportShape(group, explain, redact_case)


@router.get(
    "/search/export",
    response_class=StreamingResponse,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "every hit"}},
)
def export(
    svc: ServiceDep,
    principal: PrincipalDep,
    q: QueryDep,
    format: Annotated[Literal["csv", "jsonl", "xlsx"], Depends(export_format)],
    what: WhatDep,
    shape: Annotated[ExportShape, Depends(export_shape)],
) -> StreamingResponse:
    """Every hit of a search (no page limit), streamed as CSV, JSON Lines or XLSX with provenance;
    the first line says what was searched, how many hits, and whether the list is exhaustive."""
    req = SearchRequest(q=q, **what, group=shape.group, explain=shape.explain)
    return export_response(svc, principal, req, format, redact_case=shape.redact_case)
