"""Administration (admin role; others get 404): users, groups and grants (``Accounts``,
``AccountAdmin``), and the collections page (``CollectionAdmin``, as ``/api/v1/collections…``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import InvalidRequestError
from search_api.account_admin import AccountAdmin
from search_api.collections import (
    CollectionAdmin,
    CollectionCreate,
    CollectionUpdate,
    GrantSet,
)
from search_api.service import ArchiveService
from ui.common import (
    AdminForm,
    AdminUser,
    _do,
    _flash,
    _service,
    render,
)

router = APIRouter(include_in_schema=False)


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


def _collections(request: Request) -> CollectionAdmin:
    return CollectionAdmin(_service(request).accounts)


def _grantee(value: str) -> dict[str, str]:
    kind, _, name = value.partition(":")
    if kind not in ("user", "group") or not name:
        raise InvalidRequestError("choose a user or a group")
    return {kind: name}


Grantee = Annotated[str, Form()]
Permission = Annotated[str, Form()]


@router.post("/admin/users")
def admin_create_user(
    request: Request,
    principal: AdminForm,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    def do() -> None:
        _accounts(request).create_user(principal.name, username.strip(), password, role)

    return _do(request, principal, "/admin", "user_created", do)


@router.post("/admin/users/{username}")
def admin_update_user(
    request: Request,
    principal: AdminForm,
    username: str,
    role: Annotated[str, Form()] = "",
    disabled: Annotated[str, Form()] = "",
) -> Response:
    def do() -> None:
        _accounts(request).update_user(principal.name, username, role=role or None, disabled=disabled == "1")

    return _do(request, principal, "/admin", "user_saved", do)


@router.post("/admin/groups")
def admin_create_group(request: Request, principal: AdminForm, name: Annotated[str, Form()] = "") -> Response:
    return _do(
        request,
        principal,
        "/admin",
        "group_created",
        lambda: _accounts(request).create_group(principal.name, name.strip()),
    )


@router.post("/admin/groups/{group}/members")
def admin_add_member(
    request: Request, principal: AdminForm, group: str, username: Annotated[str, Form()] = ""
) -> Response:
    def do() -> None:
        _accounts(request).add_member(principal.name, group, username.strip())

    return _do(request, principal, "/admin", "member_added", do)


@router.post("/admin/groups/{group}/members/{username}/remove")
def admin_remove_member(request: Request, principal: AdminForm, group: str, username: str) -> Response:
    def do() -> None:
        _accounts(request).remove_member(principal.name, group, username)

    return _do(request, principal, "/admin", "member_removed", do)


@dataclass(frozen=True)
class GrantForm:
    """The admin page's grant and revoke forms: a collection, ``user:NAME`` or ``group:NAME``, and
    a permission."""

    collection: str
    grantee: str
    permission: str


def grant_form(
    collection: Annotated[str, Form()] = "", grantee: Grantee = "", permission: Permission = "read"
) -> GrantForm:
    return GrantForm(collection.strip(), grantee, permission)


GrantFormDep = Annotated[GrantForm, Depends(grant_form)]


@router.post("/admin/grants")
def admin_grant(request: Request, principal: AdminForm, form: GrantFormDep) -> Response:
    def do() -> None:
        if not form.collection:
            raise InvalidRequestError("choose a collection")
        grantee = _grantee(form.grantee)
        _service(request).accounts.grant(form.collection, form.permission, actor=principal.name, **grantee)

    return _do(request, principal, "/admin", "granted", do)


@router.post("/admin/grants/revoke")
def admin_revoke(request: Request, principal: AdminForm, form: GrantFormDep) -> Response:
    def do() -> None:
        grantee = _grantee(form.grantee)
        _service(request).accounts.revoke(form.collection, form.permission, actor=principal.name, **grantee)

    return _do(request, principal, "/admin", "revoked", do)


GRANT_PERMISSIONS = ("read", "write", "manage")


def _collection_anchor(name: str) -> str:
    return "/admin/collections#col-" + quote(name, safe="")


@router.get("/admin/collections", response_class=HTMLResponse)
def collections_page(request: Request, principal: AdminUser) -> Response:
    return render(
        request,
        "collections.html",
        principal=principal,
        collections=_collections(request).stats(principal),
        **_people(_service(request)),
        permissions=GRANT_PERMISSIONS,
        **_flash(request),
    )


@router.post("/admin/collections")
def collection_create(
    request: Request,
    principal: AdminForm,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    def do() -> None:
        _collections(request).create(CollectionCreate(name=name.strip(), description=description), principal)

    return _do(request, principal, _collection_anchor(name.strip()), "collection_created", do)


@router.post("/admin/collections/{name}/description")
def collection_describe(
    request: Request, principal: AdminForm, name: str, description: Annotated[str, Form()] = ""
) -> Response:
    def do() -> None:
        _collections(request).describe(name, CollectionUpdate(description=description), principal)

    return _do(request, principal, _collection_anchor(name), "collection_saved", do)


@router.post("/admin/collections/{name}/grants")
def collection_grant(
    request: Request, principal: AdminForm, name: str, grantee: Grantee = "", permission: Permission = "read"
) -> Response:
    """Grant (or change) a user's or group's permission on the collection."""

    def do() -> None:
        grant = GrantSet.model_validate({**_grantee(grantee), "permission": permission})
        _collections(request).grant(name, grant, principal)

    return _do(request, principal, _collection_anchor(name), "granted", do)


@router.post("/admin/collections/{name}/grants/revoke")
def collection_revoke(request: Request, principal: AdminForm, name: str, grantee: Grantee = "") -> Response:
    """Remove a user's or group's grant on the collection."""

    def do() -> None:
        who = _grantee(grantee)
        _collections(request).revoke(name, principal, user=who.get("user"), group=who.get("group"))

    return _do(request, principal, _collection_anchor(name), "revoked", do)
