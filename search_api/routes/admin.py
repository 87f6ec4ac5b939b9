"""Collection administration (admin role; others get 403): ``POST /collections``,
``GET, PATCH /collections/{name}``, ``GET, PUT /collections/{name}/grants`` and
``DELETE /collections/{name}/grants/{kind}/{grantee}``.

``GET /collections`` (the collections a caller may read) is in ``collections.py``; the rules are in
``search_api/collections.py``, which the web interface's collections page uses too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.responses import Response

from search_api.collections import (
    CollectionAdminPublic,
    CollectionCreate,
    CollectionUpdate,
    GrantPublic,
    GrantSet,
)
from search_api.deps import CollectionAdminDep, PrincipalDep
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS, tags=["collections"])
CollectionName = Annotated[str, Path(min_length=1, max_length=200)]


@router.post("/collections", response_model=CollectionAdminPublic, status_code=201)
def create_collection(
    body: CollectionCreate, admin: CollectionAdminDep, principal: PrincipalDep
) -> CollectionAdminPublic:
    """Create a collection with a description (admin); 409 if the name exists."""
    return admin.create(body, principal)


@router.get("/collections/{name}", response_model=CollectionAdminPublic)
def get_collection(
    name: CollectionName, admin: CollectionAdminDep, principal: PrincipalDep
) -> CollectionAdminPublic:
    """A collection with its documents, passages, description and grants (admin)."""
    return admin.stats(principal, name)[0]


@router.patch("/collections/{name}", response_model=CollectionAdminPublic)
def describe_collection(
    name: CollectionName, body: CollectionUpdate, admin: CollectionAdminDep, principal: PrincipalDep
) -> CollectionAdminPublic:
    """Change a collection's description (admin)."""
    return admin.describe(name, body, principal)


@router.get("/collections/{name}/grants", response_model=list[GrantPublic])
def list_grants(
    name: CollectionName, admin: CollectionAdminDep, principal: PrincipalDep
) -> list[GrantPublic]:
    """Who may read, write or manage the collection (admin)."""
    return admin.stats(principal, name)[0].grants


@router.put("/collections/{name}/grants", response_model=list[GrantPublic])
def set_grant(
    name: CollectionName, body: GrantSet, admin: CollectionAdminDep, principal: PrincipalDep
) -> list[GrantPublic]:
    """Grant a user or a group read, write or manage (replaces their grant; admin)."""
    return admin.grant(name, body, principal)


@router.delete("/collections/{name}/grants/{kind}/{grantee}", status_code=204)
def revoke_grant(
    name: CollectionName,
    kind: Literal["user", "group"],
    grantee: Annotated[str, Path(min_length=1, max_length=150, description="The user's or group's name")],
    admin: CollectionAdminDep,
    principal: PrincipalDep,
) -> Response:
    """Remove a user's (``kind`` = ``user``) or a group's grant on the collection (admin)."""
    if kind == "user":
        admin.revoke(name, principal, user=grantee, group=None)
    else:
        admin.revoke(name, principal, user=None, group=grantee)
    return Response(status_code=204)
