"""Routes of tags, case files and their export (``/api/v1/tags``, ``/cases``, ``/documents/{id}/cases``).

The rules of who may do what are in ``cases.py``; this module only maps HTTP onto ``CaseService``.
No ``from __future__ import annotations`` here: the dependencies are created inside
:func:`cases_router` (to avoid importing ``app.py`` at module level) and FastAPI must see them.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from archive_search.search_api.cases import (
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
    CaseService,
    CaseUpdate,
    TagApply,
    TagApplyResult,
    TagCreate,
    TagMerge,
    TagPublic,
    TagUpdate,
)
from archive_search.search_api.export import build_bundle
from archive_search.types import MAX_ID, Principal


def cases_router() -> APIRouter:
    """The router; include it under ``/api/v1``."""
    from archive_search.search_api.app import ERRORS, get_principal, get_service
    from archive_search.search_api.service import ArchiveService

    def get_cases(svc: Annotated[ArchiveService, Depends(get_service)]) -> CaseService:
        cases: CaseService = svc.cases
        return cases

    Cases = Annotated[CaseService, Depends(get_cases)]
    Id = Annotated[int, Path(ge=1, le=MAX_ID)]
    Who = Annotated[Principal, Depends(get_principal)]
    r = APIRouter(responses=ERRORS)

    # -- tags --------------------------------------------------------------------------------

    @r.get("/tags", response_model=list[TagPublic], tags=["tags"])
    def list_tags(cases: Cases, principal: Who) -> list[TagPublic]:
        """Every tag name, with how many documents and passages *you may read* carry it."""
        return cases.list_tags(principal)

    @r.post("/tags", response_model=TagPublic, status_code=201, tags=["tags"])
    def create_tag(body: TagCreate, cases: Cases, principal: Who) -> TagPublic:
        """Create a tag (editor or admin); 409 if the name exists."""
        return cases.create_tag(body, principal)

    @r.post("/tags/apply", response_model=TagApplyResult, tags=["tags"])
    def apply_tags(body: TagApply, cases: Cases, principal: Who) -> TagApplyResult:
        """Put tags on (``remove: true``: take them off) documents and passages, all or nothing.
        Needs the editor or admin role and read access to each; ``tag:NAME`` and the ``tag``
        facet follow when this returns."""
        return cases.apply_tags(body, principal)

    @r.get("/tags/{tag_id}", response_model=TagPublic, tags=["tags"])
    def get_tag(tag_id: Id, cases: Cases, principal: Who) -> TagPublic:
        """One tag, with counts over what you may read."""
        return cases.get_tag(tag_id, principal)

    @r.patch("/tags/{tag_id}", response_model=TagPublic, tags=["tags"])
    def rename_tag(tag_id: Id, body: TagUpdate, cases: Cases, principal: Who) -> TagPublic:
        """Rename a tag everywhere (admin); the index follows."""
        return cases.rename_tag(tag_id, body, principal)

    @r.post("/tags/{tag_id}/merge", response_model=TagPublic, tags=["tags"])
    def merge_tag(tag_id: Id, body: TagMerge, cases: Cases, principal: Who) -> TagPublic:
        """Move every use of this tag to ``into`` and delete this one (admin)."""
        return cases.merge_tag(tag_id, body, principal)

    @r.delete("/tags/{tag_id}", status_code=204, tags=["tags"])
    def delete_tag(tag_id: Id, cases: Cases, principal: Who) -> Response:
        """Delete a tag and all its uses (admin)."""
        cases.delete_tag(tag_id, principal)
        return Response(status_code=204)

    # -- cases -------------------------------------------------------------------------------

    @r.get("/cases", response_model=list[CasePublic], tags=["cases"])
    def list_cases(
        cases: Cases,
        principal: Who,
        status: Annotated[Literal["open", "closed", "archived"] | None, Query()] = None,
    ) -> list[CasePublic]:
        """Cases you own, are a member of, or (admins) all; counts leave out items you may not read."""
        return cases.list_cases(principal, status=status)

    @r.post("/cases", response_model=CasePublic, status_code=201, tags=["cases"])
    def create_case(body: CaseCreate, cases: Cases, principal: Who) -> CasePublic:
        """Open a case file (editor or admin); you own it."""
        return cases.create_case(body, principal)

    @r.get("/cases/{case_id}", response_model=CaseDetail, tags=["cases"])
    def get_case(case_id: Id, cases: Cases, principal: Who) -> CaseDetail:
        """A case with the items you may see (in order), its notes and members."""
        return cases.get_case(case_id, principal)

    @r.patch("/cases/{case_id}", response_model=CasePublic, tags=["cases"])
    def update_case(case_id: Id, body: CaseUpdate, cases: Cases, principal: Who) -> CasePublic:
        """Change title, description or status (open, closed, archived)."""
        return cases.update_case(case_id, body, principal)

    @r.get("/cases/{case_id}/items", response_model=list[CaseItemPublic], tags=["cases"])
    def list_items(case_id: Id, cases: Cases, principal: Who) -> list[CaseItemPublic]:
        """The items you may see, in the case's order, each with its citation fields."""
        return cases.list_items(case_id, principal)

    @r.post("/cases/{case_id}/items", response_model=list[CaseItemPublic], status_code=201, tags=["cases"])
    def add_items(case_id: Id, body: CaseItemsAdd, cases: Cases, principal: Who) -> list[CaseItemPublic]:
        """Add documents or passages (for example from a result list), with the query that found
        them and a note; all or nothing; 409 for one already in the case."""
        return cases.add_items(case_id, body, principal)

    @r.put("/cases/{case_id}/items", response_model=list[CaseItemPublic], tags=["cases"])
    def reorder_items(
        case_id: Id, body: CaseItemsOrder, cases: Cases, principal: Who
    ) -> list[CaseItemPublic]:
        """Reorder: list every item you see in the new order (items hidden from you keep their slots)."""
        return cases.reorder_items(case_id, body, principal)

    @r.patch("/cases/{case_id}/items/{item_id}", response_model=CaseItemPublic, tags=["cases"])
    def update_item(
        case_id: Id, item_id: Id, body: CaseItemUpdate, cases: Cases, principal: Who
    ) -> CaseItemPublic:
        """Change an item's note."""
        return cases.update_item(case_id, item_id, body, principal)

    @r.delete("/cases/{case_id}/items/{item_id}", status_code=204, tags=["cases"])
    def remove_item(case_id: Id, item_id: Id, cases: Cases, principal: Who) -> Response:
        """Take an item out of the case."""
        cases.remove_item(case_id, item_id, principal)
        return Response(status_code=204)

    @r.get("/cases/{case_id}/notes", response_model=list[CaseNotePublic], tags=["cases"])
    def list_notes(case_id: Id, cases: Cases, principal: Who) -> list[CaseNotePublic]:
        """Notes on the case, oldest first."""
        return cases.list_notes(case_id, principal)

    @r.post("/cases/{case_id}/notes", response_model=CaseNotePublic, status_code=201, tags=["cases"])
    def add_note(case_id: Id, body: CaseNoteCreate, cases: Cases, principal: Who) -> CaseNotePublic:
        """Add a note to the case."""
        return cases.add_note(case_id, body, principal)

    @r.get("/cases/{case_id}/members", response_model=list[CaseMemberPublic], tags=["cases"])
    def list_members(case_id: Id, cases: Cases, principal: Who) -> list[CaseMemberPublic]:
        """Members of the case and their rights (read or edit)."""
        return cases.list_members(case_id, principal)

    @r.post("/cases/{case_id}/members", response_model=list[CaseMemberPublic], tags=["cases"])
    def set_member(
        case_id: Id, body: CaseMemberCreate, cases: Cases, principal: Who
    ) -> list[CaseMemberPublic]:
        """Add a member or change its rights (the owner or an admin)."""
        return cases.set_member(case_id, body, principal)

    @r.delete("/cases/{case_id}/members/{username}", status_code=204, tags=["cases"])
    def remove_member(case_id: Id, username: str, cases: Cases, principal: Who) -> Response:
        """Remove a member (the owner or an admin)."""
        cases.remove_member(case_id, username, principal)
        return Response(status_code=204)

    @r.get("/documents/{document_id}/cases", response_model=list[CasePublic], tags=["cases"])
    def document_cases(document_id: Id, cases: Cases, principal: Who) -> list[CasePublic]:
        """The cases you may see that contain this document (or a passage of it)."""
        return cases.list_cases(principal, document_id=document_id)

    @r.get(
        "/cases/{case_id}/export",
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
    def export_case(case_id: Id, cases: Cases, principal: Who) -> FileResponse:
        """Export the case (the items you may see) as a ZIP bundle; the export is audited."""
        res = build_bundle(cases, case_id, principal)
        return FileResponse(
            res.path,
            media_type="application/zip",
            filename=res.filename,
            headers={"X-Content-SHA256": res.sha256, "X-Manifest-SHA256": res.manifest_sha256},
            background=BackgroundTask(res.path.unlink, missing_ok=True),
        )

    return r
