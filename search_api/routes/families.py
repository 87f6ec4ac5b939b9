"""``/families/links/{id}``: staff confirm or break a document-family link (audited)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from search_api.deps import Id, PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS, tags=["corroboration"])


class LinkDecision(BaseModel):
    status: Literal["confirmed", "broken"] = Field(
        description="confirmed: the two documents are the same source; broken: they are not (every link "
        "between them is broken, and a rebuild never links them again)"
    )
    note: str | None = Field(default=None, max_length=2000, description="Why (kept in the audit log)")


@router.post("/families/links/{link_id}")
def decide_link(link_id: Id, body: LinkDecision, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Confirm or break a family link: editor or admin role, and read access to both documents
    (otherwise 403 or 404). Written to the audit log."""
    return svc.families.decide(link_id, body.status, principal, note=body.note)
