"""``GET /collections``: the collections the caller may read (administration: ``admin.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from search_api.deps import PrincipalDep, ServiceDep
from search_api.http_errors import ERRORS

router = APIRouter(responses=ERRORS, tags=["collections"])


@router.get("/collections")
def collections(svc: ServiceDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Collections the caller may read, with their document counts."""
    return svc.collections(principal)
