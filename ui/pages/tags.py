"""Tags: every tag with the documents and passages the user may read; admins rename, merge and
delete (``TagService``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import (
    InvalidRequestError,
)
from search_api.tags import TagMerge, TagUpdate
from ui.common import SignedIn, SignedInForm, _do, _flash, _service, render

router = APIRouter(include_in_schema=False)


@router.get("/tags", response_class=HTMLResponse)
def tags_page(request: Request, principal: SignedIn) -> Response:
    """Every tag with the documents and passages the user may read that carry it; admins rename,
    merge and delete."""
    tags = _service(request).tags.list_tags(principal)
    if not principal.is_admin:  # a tag used only in collections the user cannot read: not even its name
        tags = [t for t in tags if t.documents or t.passages]
    return render(request, "tags.html", principal=principal, tags=tags, **_flash(request))


@router.post("/tags/{tag_id}/rename")
def tag_rename(
    request: Request, principal: SignedInForm, tag_id: int, name: Annotated[str, Form()] = ""
) -> Response:
    return _do(
        request,
        principal,
        "/tags",
        "tag_renamed",
        lambda: _service(request).tags.rename_tag(tag_id, TagUpdate(name=name.strip()), principal),
    )


@router.post("/tags/{tag_id}/merge")
def tag_merge(
    request: Request, principal: SignedInForm, tag_id: int, into: Annotated[str, Form()] = ""
) -> Response:

    def do() -> None:
        if not into.strip().isdigit():
            raise InvalidRequestError("choose the tag to merge into")
        _service(request).tags.merge_tag(tag_id, TagMerge(into=int(into)), principal)

    return _do(request, principal, "/tags", "tag_merged", do)


@router.post("/tags/{tag_id}/delete")
def tag_delete(request: Request, principal: SignedInForm, tag_id: int) -> Response:
    return _do(
        request,
        principal,
        "/tags",
        "tag_deleted",
        lambda: _service(request).tags.delete_tag(tag_id, principal),
    )
