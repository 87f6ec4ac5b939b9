"""``/tags…``: list, create, apply, rename, merge and delete tags; the rules are in ``tags.py``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from search_api.deps import Id, PrincipalDep, TagsDep
from search_api.http_errors import ERRORS
from search_api.tags import (
    TagApply,
    TagApplyResult,
    TagCreate,
    TagMerge,
    TagPublic,
    TagUpdate,
)

router = APIRouter(responses=ERRORS)


@router.get("/tags", response_model=list[TagPublic], tags=["tags"])
def list_tags(tag_svc: TagsDep, principal: PrincipalDep) -> list[TagPublic]:
    """Every tag name, with how many documents and passages *you may read* carry it."""
    return tag_svc.list_tags(principal)


@router.post("/tags", response_model=TagPublic, status_code=201, tags=["tags"])
def create_tag(body: TagCreate, tag_svc: TagsDep, principal: PrincipalDep) -> TagPublic:
    """Create a tag (editor or admin); 409 if the name exists."""
    return tag_svc.create_tag(body, principal)


@router.post("/tags/apply", response_model=TagApplyResult, tags=["tags"])
def apply_tags(body: TagApply, tag_svc: TagsDep, principal: PrincipalDep) -> TagApplyResult:
    """Put tags on (``remove: true``: take them off) documents and passages, all or nothing.
    Needs the editor or admin role and read access to each; ``tag:NAME`` and the ``tag``
    facet follow when this returns."""
    return tag_svc.apply_tags(body, principal)


@router.get("/tags/{tag_id:int}", response_model=TagPublic, tags=["tags"])
def get_tag(tag_id: Id, tag_svc: TagsDep, principal: PrincipalDep) -> TagPublic:
    """One tag, with counts over what you may read."""
    return tag_svc.get_tag(tag_id, principal)


@router.patch("/tags/{tag_id:int}", response_model=TagPublic, tags=["tags"])
def rename_tag(tag_id: Id, body: TagUpdate, tag_svc: TagsDep, principal: PrincipalDep) -> TagPublic:
    """Rename a tag everywhere (admin); the index follows."""
    return tag_svc.rename_tag(tag_id, body, principal)


@router.post("/tags/{tag_id:int}/merge", response_model=TagPublic, tags=["tags"])
def merge_tag(tag_id: Id, body: TagMerge, tag_svc: TagsDep, principal: PrincipalDep) -> TagPublic:
    """Move every use of this tag to ``into`` and delete this one (admin)."""
    return tag_svc.merge_tag(tag_id, body, principal)


@router.delete("/tags/{tag_id:int}", status_code=204, tags=["tags"])
def delete_tag(tag_id: Id, tag_svc: TagsDep, principal: PrincipalDep) -> Response:
    """Delete a tag and all its uses (admin)."""
    tag_svc.delete_tag(tag_id, principal)
    return Response(status_code=204)
