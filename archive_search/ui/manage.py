"""Management pages of the web interface: the members of a case file, the tags (rename, merge,
delete), and the collections (counts, creation, description, grants).

As everywhere in the interface, the rules are the service's: ``CaseService.set_member`` and
``remove_member`` (the case's owner or an admin), ``rename_tag``, ``merge_tag``, ``delete_tag``
(admin: they change documents the caller may not see), and ``CollectionAdmin`` (the same as
``/api/v1/collections…``) with the admin role for the collections page (others get 404).
Every POST checks the CSRF token first.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from archive_search.errors import ArchiveError, InvalidRequestError
from archive_search.search_api.account_admin import AccountAdmin
from archive_search.search_api.cases import CaseMemberCreate
from archive_search.search_api.collections import (
    CollectionAdmin,
    CollectionCreate,
    CollectionUpdate,
    GrantSet,
)
from archive_search.search_api.tags import TagMerge, TagUpdate
from archive_search.types import Principal
from archive_search.ui.routes import _principal, _service, _to_login, render
from archive_search.ui.work import (
    Csrf,
    _admin_guard,
    _failed,
    _flash,
    _grantee,
    _invalid,
    _post_guard,
    _redirect,
    _with_notice,
)

router = APIRouter(include_in_schema=False)
CASE_PERMISSIONS = ("read", "edit")
GRANT_PERMISSIONS = ("read", "write", "manage")


def _back(target: str, notice: str) -> Response:
    """Redirect to ``target`` (a local path, maybe with a ``#fragment``) with the confirmation."""
    path, hash_, fragment = target.partition("#")
    return _redirect(_with_notice(path, notice) + hash_ + fragment)


def _do(request: Request, principal: Principal, target: str, notice: str, fn: Any) -> Response:
    try:
        fn()
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _back(target, notice)


# -- members of a case ---------------------------------------------------------------------------


@router.post("/cases/{case_id}/members")
def case_member_set(
    request: Request,
    case_id: int,
    csrf: Csrf = "",
    username: Annotated[str, Form()] = "",
    permission: Annotated[str, Form()] = "read",
) -> Response:
    """Add a member to a case, or change a member's rights (read or edit)."""
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    body = {"username": username.strip(), "permission": permission}
    return _do(
        request,
        principal,
        f"/cases/{case_id}#members",
        "case_member_saved",
        lambda: _service(request).cases.set_member(case_id, CaseMemberCreate.model_validate(body), principal),
    )


@router.post("/cases/{case_id}/members/{username}/remove")
def case_member_remove(request: Request, case_id: int, username: str, csrf: Csrf = "") -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    return _do(
        request,
        principal,
        f"/cases/{case_id}#members",
        "case_member_removed",
        lambda: _service(request).cases.remove_member(case_id, username, principal),
    )


# -- tags ----------------------------------------------------------------------------------------


@router.get("/tags", response_class=HTMLResponse)
def tags_page(request: Request) -> Response:
    """Every tag with the documents and passages the user may read that carry it; admins rename,
    merge and delete."""
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    tags = _service(request).tags.list_tags(principal)
    if not principal.is_admin:  # a tag used only in collections the user cannot read: not even its name
        tags = [t for t in tags if t.documents or t.passages]
    return render(request, "tags.html", principal=principal, tags=tags, **_flash(request))


@router.post("/tags/{tag_id}/rename")
def tag_rename(request: Request, tag_id: int, csrf: Csrf = "", name: Annotated[str, Form()] = "") -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    return _do(
        request,
        principal,
        "/tags",
        "tag_renamed",
        lambda: _service(request).tags.rename_tag(tag_id, TagUpdate(name=name.strip()), principal),
    )


@router.post("/tags/{tag_id}/merge")
def tag_merge(request: Request, tag_id: int, csrf: Csrf = "", into: Annotated[str, Form()] = "") -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)

    def do() -> None:
        if not into.strip().isdigit():
            raise InvalidRequestError("choose the tag to merge into")
        _service(request).tags.merge_tag(tag_id, TagMerge(into=int(into)), principal)

    return _do(request, principal, "/tags", "tag_merged", do)


@router.post("/tags/{tag_id}/delete")
def tag_delete(request: Request, tag_id: int, csrf: Csrf = "") -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    return _do(
        request,
        principal,
        "/tags",
        "tag_deleted",
        lambda: _service(request).tags.delete_tag(tag_id, principal),
    )


# -- collections (admin) -------------------------------------------------------------------------


def _collection_anchor(name: str) -> str:
    return "/admin/collections#col-" + quote(name, safe="")


@router.get("/admin/collections", response_class=HTMLResponse)
def collections_page(request: Request) -> Response:
    principal, refused = _admin_guard(request, None)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    svc = _service(request)
    return render(
        request,
        "collections.html",
        principal=principal,
        collections=CollectionAdmin(svc.accounts).stats(principal),
        users=AccountAdmin(svc.accounts).list_users(),
        groups=AccountAdmin(svc.accounts).list_groups(),
        permissions=GRANT_PERMISSIONS,
        **_flash(request),
    )


def _admin_post(request: Request, token: str, target: str, notice: str, fn: Any) -> Response:
    principal, refused = _admin_guard(request, token)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        fn(CollectionAdmin(_service(request).accounts), principal)
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _back(target, notice)


@router.post("/admin/collections")
def collection_create(
    request: Request,
    csrf: Csrf = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    def do(admin: CollectionAdmin, p: Principal) -> None:
        admin.create(CollectionCreate(name=name.strip(), description=description), p)

    return _admin_post(request, csrf, _collection_anchor(name.strip()), "collection_created", do)


@router.post("/admin/collections/{name}/description")
def collection_describe(
    request: Request, name: str, csrf: Csrf = "", description: Annotated[str, Form()] = ""
) -> Response:
    def do(admin: CollectionAdmin, p: Principal) -> None:
        admin.describe(name, CollectionUpdate(description=description), p)

    return _admin_post(request, csrf, _collection_anchor(name), "collection_saved", do)


@router.post("/admin/collections/{name}/grants")
def collection_grant(
    request: Request,
    name: str,
    csrf: Csrf = "",
    grantee: Annotated[str, Form()] = "",
    permission: Annotated[str, Form()] = "read",
) -> Response:
    """Grant (or change) a user's or group's permission on the collection."""

    def do(admin: CollectionAdmin, p: Principal) -> None:
        admin.grant(name, GrantSet.model_validate({**_grantee(grantee), "permission": permission}), p)

    return _admin_post(request, csrf, _collection_anchor(name), "granted", do)


@router.post("/admin/collections/{name}/grants/revoke")
def collection_revoke(
    request: Request, name: str, csrf: Csrf = "", grantee: Annotated[str, Form()] = ""
) -> Response:
    """Remove a user's or group's grant on the collection."""

    def do(admin: CollectionAdmin, p: Principal) -> None:
        who = _grantee(grantee)
        admin.revoke(name, p, user=who.get("user"), group=who.get("group"))

    return _admin_post(request, csrf, _collection_anchor(name), "revoked", do)
