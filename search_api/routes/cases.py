"""``/cases…`` and ``/documents/{id}/cases``: case files, their items, notes, members and export.

The rules of who may do what are in ``cases.py``; this module only maps HTTP onto ``CaseService``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from search_api.bundle_redaction import RedactionRuleBody, get_rule, lift_rule, set_rule
from search_api.cases import (
    CaseCreate,
    CaseDetail,
    CaseItemPublic,
    CaseItemsAdd,
    CaseItemsOrder,
    CaseItemUpdate,
    CaseMemberCreate,
    CaseMemberPublic,
    CaseNoteCreate,
    CaseNotePublic,
    CasePublic,
    CaseUpdate,
)
from search_api.deps import CasesDep, Id, PrincipalDep
from search_api.export import build_bundle
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS)


@router.get("/cases", response_model=list[CasePublic], tags=["cases"])
def list_cases(
    cases: CasesDep,
    principal: PrincipalDep,
    status: Annotated[Literal["open", "closed", "archived"] | None, Query()] = None,
) -> list[CasePublic]:
    """Cases you own, are a member of, or (admins) all; counts leave out items you may not read."""
    return cases.list_cases(principal, status=status)


@router.post("/cases", response_model=CasePublic, status_code=201, tags=["cases"])
def create_case(body: CaseCreate, cases: CasesDep, principal: PrincipalDep) -> CasePublic:
    """Open a case file (editor or admin); you own it."""
    return cases.create_case(body, principal)


@router.get("/cases/{case_id:int}", response_model=CaseDetail, tags=["cases"])
def get_case(case_id: Id, cases: CasesDep, principal: PrincipalDep) -> CaseDetail:
    """A case with the items you may see (in order), its notes and members."""
    out = cases.get_case(case_id, principal)
    cases.audit.record(principal.name, "view", "case", case_id, {"part": "case", "items": len(out.items)})
    return out


@router.patch("/cases/{case_id:int}", response_model=CasePublic, tags=["cases"])
def update_case(case_id: Id, body: CaseUpdate, cases: CasesDep, principal: PrincipalDep) -> CasePublic:
    """Change title, description or status (open, closed, archived)."""
    return cases.update_case(case_id, body, principal)


@router.get("/cases/{case_id:int}/items", response_model=list[CaseItemPublic], tags=["cases"])
def list_items(case_id: Id, cases: CasesDep, principal: PrincipalDep) -> list[CaseItemPublic]:
    """The items you may see, in the case's order, each with its citation fields."""
    out = cases.list_items(case_id, principal)
    cases.audit.record(principal.name, "view", "case", case_id, {"part": "items", "items": len(out)})
    return out


@router.post(
    "/cases/{case_id:int}/items", response_model=list[CaseItemPublic], status_code=201, tags=["cases"]
)
def add_items(
    case_id: Id, body: CaseItemsAdd, cases: CasesDep, principal: PrincipalDep
) -> list[CaseItemPublic]:
    """Add documents or passages (for example from a result list), with the query that found
    them and a note; all or nothing; 409 for one already in the case."""
    return cases.add_items(case_id, body, principal)


@router.put("/cases/{case_id:int}/items", response_model=list[CaseItemPublic], tags=["cases"])
def reorder_items(
    case_id: Id, body: CaseItemsOrder, cases: CasesDep, principal: PrincipalDep
) -> list[CaseItemPublic]:
    """Reorder: list every item you see in the new order (items hidden from you keep their slots)."""
    return cases.reorder_items(case_id, body, principal)


@router.patch("/cases/{case_id:int}/items/{item_id:int}", response_model=CaseItemPublic, tags=["cases"])
def update_item(
    case_id: Id, item_id: Id, body: CaseItemUpdate, cases: CasesDep, principal: PrincipalDep
) -> CaseItemPublic:
    """Change an item's note."""
    return cases.update_item(case_id, item_id, body, principal)


@router.delete("/cases/{case_id:int}/items/{item_id:int}", status_code=204, tags=["cases"])
def remove_item(case_id: Id, item_id: Id, cases: CasesDep, principal: PrincipalDep) -> Response:
    """Take an item out of the case."""
    cases.remove_item(case_id, item_id, principal)
    return Response(status_code=204)


@router.get("/cases/{case_id:int}/notes", response_model=list[CaseNotePublic], tags=["cases"])
def list_notes(case_id: Id, cases: CasesDep, principal: PrincipalDep) -> list[CaseNotePublic]:
    """Notes on the case, oldest first."""
    out = cases.list_notes(case_id, principal)
    cases.audit.record(principal.name, "view", "case", case_id, {"part": "notes"})
    return out


@router.post("/cases/{case_id:int}/notes", response_model=CaseNotePublic, status_code=201, tags=["cases"])
def add_note(case_id: Id, body: CaseNoteCreate, cases: CasesDep, principal: PrincipalDep) -> CaseNotePublic:
    """Add a note to the case."""
    return cases.add_note(case_id, body, principal)


@router.get("/cases/{case_id:int}/members", response_model=list[CaseMemberPublic], tags=["cases"])
def list_members(case_id: Id, cases: CasesDep, principal: PrincipalDep) -> list[CaseMemberPublic]:
    """Members of the case and their rights (read or edit)."""
    out = cases.list_members(case_id, principal)
    cases.audit.record(principal.name, "view", "case", case_id, {"part": "members"})
    return out


@router.post("/cases/{case_id:int}/members", response_model=list[CaseMemberPublic], tags=["cases"])
def set_member(
    case_id: Id, body: CaseMemberCreate, cases: CasesDep, principal: PrincipalDep
) -> list[CaseMemberPublic]:
    """Add a member or change its rights (the owner or an admin)."""
    return cases.set_member(case_id, body, principal)


@router.delete("/cases/{case_id:int}/members/{username}", status_code=204, tags=["cases"])
def remove_member(case_id: Id, username: str, cases: CasesDep, principal: PrincipalDep) -> Response:
    """Remove a member (the owner or an admin)."""
    cases.remove_member(case_id, username, principal)
    return Response(status_code=204)


@router.get("/documents/{document_id:int}/cases", response_model=list[CasePublic], tags=["cases"])
def document_cases(document_id: Id, cases: CasesDep, principal: PrincipalDep) -> list[CasePublic]:
    """The cases you may see that contain this document (or a passage of it)."""
    out = cases.list_cases(principal, document_id=document_id)
    cases.audit.record(principal.name, "view", "document", document_id, {"part": "cases", "cases": len(out)})
    return out


@router.get(
    "/cases/{case_id:int}/export",
    tags=["cases"],
    response_class=FileResponse,
    responses={
        200: {
            "description": "The evidence bundle (ZIP): originals, extracted texts, manifest.json, "
            "manifest.csv and report.pdf; X-Content-SHA256 is the ZIP's SHA-256",
            "content": {"application/zip": {}},
        }
    },
)
def export_case(case_id: Id, cases: CasesDep, principal: PrincipalDep) -> FileResponse:
    """Export the case (the items you may see) as a ZIP bundle; the export is audited."""
    res = build_bundle(cases, case_id, principal)
    return FileResponse(
        res.path,
        media_type="application/zip",
        filename=res.filename,
        headers={"X-Content-SHA256": res.sha256, "X-Manifest-SHA256": res.manifest_sha256},
        background=BackgroundTask(res.path.unlink, missing_ok=True),
    )


@router.get("/cases/{case_id:int}/redaction-rule", tags=["cases"])
def case_redaction_rule(case_id: Id, cases: CasesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The case's redaction rule for its bundles (members); 404 when it has none."""
    return get_rule(cases, case_id, principal)


@router.put("/cases/{case_id:int}/redaction-rule", tags=["cases"])
def set_case_redaction_rule(
    case_id: Id, body: RedactionRuleBody, cases: CasesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Set the case's redaction rule (editors of the case): every mention of these entity types
    but the kept entities, and every term, is masked in each bundle, evaluated when it is built."""
    return set_rule(cases, case_id, body, principal)


@router.delete("/cases/{case_id:int}/redaction-rule", tags=["cases"])
def lift_case_redaction_rule(case_id: Id, cases: CasesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Remove the case's redaction rule (editors of the case)."""
    return lift_rule(cases, case_id, principal)
