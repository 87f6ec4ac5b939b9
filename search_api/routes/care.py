"""Duty of care (``search_api/care.py``): withdraw, restore and purge a document, legal holds,
document-level restrictions, retention review."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from archive_search.types import MAX_ID
from search_api.deps import Id, PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS, tags=["duty of care"])
CollectionName = Annotated[str, Path(min_length=1, max_length=200)]


class WithdrawBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why (kept in the audit log)")


class HoldBody(BaseModel):
    on: StrictBool = Field(description="true: put the legal hold; false: lift it")


class RestrictionBody(BaseModel):
    users: list[str] = Field(default_factory=list, max_length=1000)
    groups: list[str] = Field(default_factory=list, max_length=1000)


class RetentionBody(BaseModel):
    days: int | None = Field(default=None, ge=1, le=365_000, description="null: no review period")


@router.get("/documents/{document_id}/care")
def care_state(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Withdrawal, purge, legal hold and restriction state of a document."""
    return svc.care.state(document_id, principal)


@router.post("/documents/{document_id}/withdraw")
def withdraw(document_id: Id, body: WithdrawBody, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Withdraw a document (manage right): out of every search, read and export at once."""
    return svc.care.withdraw(document_id, body.reason, principal)


@router.post("/documents/{document_id}/restore")
def restore(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Undo a withdrawal before the purge (manage right)."""
    return svc.care.restore(document_id, principal)


@router.post("/documents/{document_id}/purge")
def purge(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Delete a withdrawn document's content for good (admin, after the hold period, no legal hold)."""
    return svc.care.purge(document_id, principal)


@router.put("/documents/{document_id}/legal-hold")
def document_hold(
    document_id: Id, body: HoldBody, svc: ServiceDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Put or lift a legal hold on a document (admin): a held document cannot be purged."""
    return svc.care.set_hold(principal, on=body.on, document_id=document_id)


@router.put("/collections/{name}/legal-hold")
def collection_hold(
    name: CollectionName, body: HoldBody, svc: ServiceDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Put or lift a legal hold on a whole collection (admin)."""
    return svc.care.set_hold(principal, on=body.on, collection=name)


@router.put("/documents/{document_id}/restriction")
def restrict(
    document_id: Id, body: RestrictionBody, svc: ServiceDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Restrict a document to these users and groups (manage right); replaces the list."""
    return svc.care.restrict(document_id, principal, users=body.users, groups=body.groups)


@router.delete("/documents/{document_id}/restriction")
def unrestrict(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Lift a document's restriction (manage right)."""
    return svc.care.unrestrict(document_id, principal)


@router.get("/passages/{passage_id}/restriction")
def passage_restriction(passage_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Whether a passage is restricted, and to whom (manage right)."""
    return svc.care.passage_state(passage_id, principal)


@router.put("/passages/{passage_id}/restriction")
def restrict_passage(
    passage_id: Id, body: RestrictionBody, svc: ServiceDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Restrict one passage to these users and groups (manage right); replaces the list. Everyone
    else finds it in no search and reads it as withheld in the document."""
    return svc.care.restrict_passage(passage_id, principal, users=body.users, groups=body.groups)


@router.delete("/passages/{passage_id}/restriction")
def unrestrict_passage(passage_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Lift a passage's restriction (manage right)."""
    return svc.care.unrestrict_passage(passage_id, principal)


@router.get("/documents/{document_id}/restricted-passages")
def restricted_passages(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The restricted passages of a document with their access lists (manage right)."""
    return svc.care.restricted_passages(document_id, principal)


@router.get("/withdrawn")
def withdrawn(svc: ServiceDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Withdrawn documents of the collections you manage (all for admins), with purge dates."""
    return svc.care.withdrawn(principal)


@router.put("/collections/{name}/retention")
def retention(
    name: CollectionName, body: RetentionBody, svc: ServiceDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Set or clear a collection's review period in days (admin)."""
    return svc.care.set_retention(name, body.days, principal)


@router.get("/retention/due")
def retention_due(
    svc: ServiceDep,
    principal: PrincipalDep,
    collection: Annotated[str | None, Query(max_length=200)] = None,
) -> list[dict[str, Any]]:
    """Documents past their collection's review period (collections you manage); nothing is deleted."""
    return svc.care.due_for_review(principal, collection=collection)


# -- redaction (``search_api/redaction.py``) ---------------------------------------------------

Reason = Field(min_length=1, max_length=2000, pattern=r"\S", description="Why (kept in the audit log)")


class PassageSpan(BaseModel):
    id: int = Field(ge=1, le=MAX_ID, description="A passage of the document")
    start: int | None = Field(default=None, ge=0, le=10_000_000, description="First character (default 0)")
    end: int | None = Field(
        default=None, ge=1, le=10_000_000, description="After the last character (default: the end)"
    )


class PageRegion(BaseModel):
    """A rectangle of a page as fractions of its width and height, from the top left corner (a
    rectangle reaching past the page's right or bottom edge is clipped to it)."""

    page: int = Field(ge=1, le=100_000, description="Page (1-based)")
    x: float = Field(ge=0, lt=1, description="Left edge, 0..1 of the page's width")
    y: float = Field(ge=0, lt=1, description="Top edge, 0..1 of the page's height")
    w: float = Field(gt=0, le=1, description="Width, 0..1 of the page's width")
    h: float = Field(gt=0, le=1, description="Height, 0..1 of the page's height")



class RedactBody(BaseModel):
    """Exactly one of ``text`` (every occurrence in the document, whole words, any case),
    ``passage`` (a passage, or a span of it) and ``region`` (a rectangle of a scanned page)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["text"], "properties": {"text": {"type": "string"}}},
                {"required": ["passage"], "properties": {"passage": {"type": "object"}}},
                {"required": ["region"], "properties": {"region": {"type": "object"}}},
            ]
        }
    )

    text: str | None = Field(default=None, min_length=1, max_length=500, pattern=r"\S")
    passage: PassageSpan | None = None
    region: PageRegion | None = None
    reason: str = Reason

    @model_validator(mode="after")
    def _one_target(self) -> RedactBody:
        if sum(v is not None for v in (self.text, self.passage, self.region)) != 1:
            raise ValueError("give exactly one of text, passage and region")
        return self


class EntityRedactBody(BaseModel):
    reason: str = Reason


@router.post("/documents/{document_id}/redactions", status_code=201)
def redact(document_id: Id, body: RedactBody, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Redact a name, a passage or a region of a scanned page (manage right): masked in every
    text readers are served, out of both search backends, blacked out in page images and
    bundles; the original file is kept unchanged."""
    if body.region is not None:
        g = body.region
        return svc.redactions.redact_region(
            document_id, principal, reason=body.reason, page=g.page, x=g.x, y=g.y, w=g.w, h=g.h
        )
    p = body.passage
    return svc.redactions.redact_document(
        document_id,
        principal,
        reason=body.reason,
        phrase=body.text,
        passage_id=p.id if p else None,
        start=p.start if p else None,
        end=p.end if p else None,
    )


@router.get("/documents/{document_id}/redactions")
def document_redactions(document_id: Id, svc: ServiceDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The redactions of a document with the text each span masked (its collection's managers)."""
    return svc.redactions.of_document(document_id, principal)


@router.post("/entities/{entity_id}/redactions", status_code=201)
def redact_entity(
    entity_id: Id, body: EntityRedactBody, svc: ServiceDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Redact every spelling of an entity in every document that mentions it (admin)."""
    return svc.redactions.redact_entity(entity_id, principal, reason=body.reason)


@router.get("/redactions")
def redactions(svc: ServiceDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Redactions in the collections you manage (all for admins), newest first, without the text."""
    return svc.redactions.listing(principal)


@router.get("/redactions/{redaction_id}")
def redaction(redaction_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """One redaction with the text each span masked (managers of its documents' collection, admins)."""
    return svc.redactions.get(redaction_id, principal)


@router.delete("/redactions/{redaction_id}")
def lift_redaction(redaction_id: Id, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Lift a redaction: the text comes back where no other redaction covers it, and is indexed again."""
    return svc.redactions.lift(redaction_id, principal)
