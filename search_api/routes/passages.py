"""``/passages/{id}`` and ``/passages/{id}/similar``: a passage and where it sits; corroboration."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from archive_search.types import Hit, SimilarExclude, SimilarOptions
from search_api.corroboration import CorroborationHit
from search_api.deps import Id, PageSize, PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS)


class PassagePublic(BaseModel):
    id: str
    document_id: str
    collection: str
    filename: str
    seq: int
    text: str
    lang: str
    page: int | None = Field(description="Page of the passage (paged formats)")
    char_start: int = Field(description="Offset of the passage in the page's text (GET /documents/{id}/text)")
    char_end: int
    time_start: float | None
    time_end: float | None
    speaker: str | None
    previous_id: str | None
    next_id: str | None


class SimilarResponse(BaseModel):
    method: Literal["vector", "keyword"] = Field(
        description="vector: nearest embeddings (any language); keyword: shared terms (no embedding yet)"
    )
    hits: list[Hit]
    independent_sources: int | None = Field(
        default=None, description="With group=family: entries labelled independent (distinct sources)"
    )
    same_source: int | None = Field(
        default=None, description="With group=family: entries of the asked passage's own source family"
    )


class CorroborationResponse(SimilarResponse):
    hits: list[CorroborationHit]  # type: ignore[assignment]  # a Hit with date, people, strength


@router.get("/passages/{passage_id:int}", response_model=PassagePublic, tags=["documents"])
def passage(passage_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """A passage and where it sits: page and character span in the page text, or time span."""
    out = svc.passage(passage_id, principal)
    svc.cases.audit.record(principal.name, "view", "passage", passage_id, {"part": "passage"})
    return out


@router.get(
    "/passages/{passage_id:int}/similar", response_model=CorroborationResponse, tags=["corroboration"]
)
def similar_passages(
    passage_id: Id,
    svc: ServiceDep,
    principal: PrincipalDep,
    size: PageSize = 10,
    exclude: Annotated[
        SimilarExclude,
        Query(description="source: leave out the passage's document and copies of the same file"),
    ] = "source",
    lang: Annotated[list[str] | None, Query(description="Only these languages (repeatable)")] = None,
    group: Annotated[
        Literal["family", "none"],
        Query(
            description="family: one entry per source (copies, re-scans and translations folded together, "
            "labelled same source or independent); none: one entry per document"
        ),
    ] = "family",
) -> dict[str, Any]:
    """Passages of other documents that describe the same thing, in any language (corroboration),
    each with its document's date, the people named and the match strength."""
    options = SimilarOptions(size=size, exclude=exclude, lang=tuple(lang or ()), by_family=group == "family")
    out = svc.corroborate(passage_id, principal, options)
    svc.cases.audit.record(
        principal.name, "search", "passage", passage_id, {"similar": True, "hits": len(out["hits"])}
    )
    return out
