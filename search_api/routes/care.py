"""Duty of care (``search_api/care.py``): withdraw, restore and purge a document, legal holds,
document-level restrictions, retention review."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, StrictBool

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
