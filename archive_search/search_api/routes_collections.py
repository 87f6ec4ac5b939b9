"""Routes of collection administration (``/api/v1/collections…``, admin role; others get 403).

``GET /collections`` (the collections a caller may read) stays in ``app.py``; the rules are in
``collections.py``. No ``from __future__ import annotations``: FastAPI must see the dependencies.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from archive_search.search_api.collections import (
    CollectionAdmin,
    CollectionAdminPublic,
    CollectionCreate,
    CollectionUpdate,
    GrantPublic,
    GrantSet,
)
from archive_search.types import Principal


def collections_router() -> APIRouter:
    """The router; include it under ``/api/v1``."""
    from archive_search.search_api.app import ERRORS, get_principal, get_service
    from archive_search.search_api.service import ArchiveService

    def get_admin(svc: Annotated[ArchiveService, Depends(get_service)]) -> CollectionAdmin:
        return CollectionAdmin(svc.accounts)

    Admin = Annotated[CollectionAdmin, Depends(get_admin)]
    Who = Annotated[Principal, Depends(get_principal)]
    Name = Annotated[str, Path(min_length=1, max_length=200)]
    r = APIRouter(responses=ERRORS, tags=["collections"])

    @r.post("/collections", response_model=CollectionAdminPublic, status_code=201)
    def create_collection(body: CollectionCreate, admin: Admin, principal: Who) -> CollectionAdminPublic:
        """Create a collection with a description (admin); 409 if the name exists."""
        return admin.create(body, principal)

    @r.get("/collections/{name}", response_model=CollectionAdminPublic)
    def get_collection(name: Name, admin: Admin, principal: Who) -> CollectionAdminPublic:
        """A collection with its documents, passages, description and grants (admin)."""
        return admin.stats(principal, name)[0]

    @r.patch("/collections/{name}", response_model=CollectionAdminPublic)
    def describe_collection(
        name: Name, body: CollectionUpdate, admin: Admin, principal: Who
    ) -> CollectionAdminPublic:
        """Change a collection's description (admin)."""
        return admin.describe(name, body, principal)

    @r.get("/collections/{name}/grants", response_model=list[GrantPublic])
    def list_grants(name: Name, admin: Admin, principal: Who) -> list[GrantPublic]:
        """Who may read, write or manage the collection (admin)."""
        return admin.stats(principal, name)[0].grants

    @r.put("/collections/{name}/grants", response_model=list[GrantPublic])
    def set_grant(name: Name, body: GrantSet, admin: Admin, principal: Who) -> list[GrantPublic]:
        """Grant a user or a group read, write or manage (replaces their grant; admin)."""
        return admin.grant(name, body, principal)

    @r.delete("/collections/{name}/grants", status_code=204)
    def revoke_grant(
        name: Name,
        admin: Admin,
        principal: Who,
        user: Annotated[str | None, Query()] = None,
        group: Annotated[str | None, Query()] = None,
    ) -> Response:
        """Remove a user's or a group's grant on the collection (admin)."""
        admin.revoke(name, principal, user=user, group=group)
        return Response(status_code=204)

    return r
