"""Administration (admin role; others get 404): users, groups and grants (``Accounts``,
``AccountAdmin``), and the collections page (``CollectionAdmin``, as ``/api/v1/collections…``)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from archive_search.errors import (
    ArchiveError,
    InvalidRequestError,
)
from archive_search.types import Principal
from search_api.account_admin import AccountAdmin
from search_api.collections import (
    CollectionAdmin,
    CollectionCreate,
    CollectionUpdate,
    GrantSet,
)
from search_api.service import ArchiveService
from ui.common import (
    AdminUser,
    Csrf,
    _back,
    _failed,
    _flash,
    _invalid,
    _not_found,
    _post_guard,
    _principal,
    _redirect,
    _service,
    _to_login,
    _with_notice,
    render,
)

router = APIRouter(include_in_schema=False)


def _admin_guard(request: Request, token: str | None) -> tuple[Principal | None, Response | None]:
    if token is None:
        principal = _principal(request)
        if principal is None:
            return None, _to_login(request)
        refused: Response | None = None
    else:
        principal, refused = _post_guard(request, token)
        if principal is None:
            return None, refused or _to_login(request)
    if refused is None and not principal.is_admin:
        refused = _not_found(request, principal)
    return principal, refused


def _people(svc: ArchiveService) -> dict[str, Any]:
    """The users and groups both admin pages list."""
    accounts = AccountAdmin(svc.accounts)
    return {"users": accounts.list_users(), "groups": accounts.list_groups()}


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, principal: AdminUser) -> Response:
    svc = _service(request)
    return render(
        request,
        "admin.html",
        principal=principal,
        **_people(svc),
        grants=CollectionAdmin(svc.accounts).grants(),
        collections=AccountAdmin(svc.accounts).collection_names(),
        roles=("viewer", "editor", "admin"),
        permissions=("read", "write", "manage"),
        **_flash(request),
    )


def _accounts(request: Request) -> AccountAdmin:
    return AccountAdmin(_service(request).accounts)


def _admin_do(request: Request, token: str, notice: str, fn: Any) -> Response:
    principal, refused = _admin_guard(request, token)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        fn(principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice("/admin", notice))


@router.post("/admin/users")
def admin_create_user(
    request: Request,
    csrf: Csrf = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    def do(p: Principal) -> None:
        _accounts(request).create_user(p.name, username.strip(), password, role)

    return _admin_do(request, csrf, "user_created", do)


@router.post("/admin/users/{username}")
def admin_update_user(
    request: Request,
    username: str,
    csrf: Csrf = "",
    role: Annotated[str, Form()] = "",
    disabled: Annotated[str, Form()] = "",
) -> Response:
    def do(p: Principal) -> None:
        _accounts(request).update_user(p.name, username, role=role or None, disabled=disabled == "1")

    return _admin_do(request, csrf, "user_saved", do)


@router.post("/admin/groups")
def admin_create_group(request: Request, csrf: Csrf = "", name: Annotated[str, Form()] = "") -> Response:
    def do(p: Principal) -> None:
        _accounts(request).create_group(p.name, name.strip())

    return _admin_do(request, csrf, "group_created", do)


@router.post("/admin/groups/{group}/members")
def admin_add_member(
    request: Request, group: str, csrf: Csrf = "", username: Annotated[str, Form()] = ""
) -> Response:
    def do(p: Principal) -> None:
        _accounts(request).add_member(p.name, group, username.strip())

    return _admin_do(request, csrf, "member_added", do)


@router.post("/admin/groups/{group}/members/{username}/remove")
def admin_remove_member(request: Request, group: str, username: str, csrf: Csrf = "") -> Response:
    def do(p: Principal) -> None:
        _accounts(request).remove_member(p.name, group, username)

    return _admin_do(request, csrf, "member_removed", do)


def _grantee(value: str) -> dict[str, str]:
    kind, _, name = value.partition(":")
    if kind not in ("user", "group") or not name:
        raise InvalidRequestError("choose a user or a group")
    return {kind: name}


@router.post("/admin/grants")
def admin_grant(
    request: Request,
    csrf: Csrf = "",
    collection: Annotated[str, Form()] = "",
    grantee: Annotated[str, Form()] = "",
    permission: Annotated[str, Form()] = "read",
) -> Response:
    def do(p: Principal) -> None:
        if not collection.strip():
            raise InvalidRequestError("choose a collection")
        _service(request).accounts.grant(collection.strip(), permission, actor=p.name, **_grantee(grantee))

    return _admin_do(request, csrf, "granted", do)


@router.post("/admin/grants/revoke")
def admin_revoke(
    request: Request,
    csrf: Csrf = "",
    collection: Annotated[str, Form()] = "",
    grantee: Annotated[str, Form()] = "",
    permission: Annotated[str, Form()] = "read",
) -> Response:
    def do(p: Principal) -> None:
        _service(request).accounts.revoke(collection, permission, actor=p.name, **_grantee(grantee))

    return _admin_do(request, csrf, "revoked", do)


GRANT_PERMISSIONS = ("read", "write", "manage")


def _collection_anchor(name: str) -> str:
    return "/admin/collections#col-" + quote(name, safe="")


@router.get("/admin/collections", response_class=HTMLResponse)
def collections_page(request: Request, principal: AdminUser) -> Response:
    svc = _service(request)
    return render(
        request,
        "collections.html",
        principal=principal,
        collections=CollectionAdmin(svc.accounts).stats(principal),
        **_people(svc),
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
