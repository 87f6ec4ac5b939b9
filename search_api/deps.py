"""The one set of FastAPI dependencies of the API's routers: the service, the caller and the
services behind each resource, as ``Annotated`` aliases (``ServiceDep``, ``PrincipalDep``, …)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from archive_search.errors import UnauthorizedError
from archive_search.types import MAX_ID, Principal
from search_api.cases import CaseService
from search_api.collections import CollectionAdmin
from search_api.service import ArchiveService
from search_api.tags import TagService


def get_service(request: Request) -> ArchiveService:
    service: ArchiveService = request.app.state.service
    return service


bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")


def get_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise UnauthorizedError("authentication required: send Authorization: Bearer <token>")
    return credentials.credentials


def get_principal(
    svc: Annotated[ArchiveService, Depends(get_service)], token: Annotated[str, Depends(get_token)]
) -> Principal:
    """The caller, from its bearer token; every route but login, health and the schema needs one."""
    return svc.accounts.principal_for_token(token)


def get_cases(svc: Annotated[ArchiveService, Depends(get_service)]) -> CaseService:
    return svc.cases


def get_tags(svc: Annotated[ArchiveService, Depends(get_service)]) -> TagService:
    return svc.tags


def get_collection_admin(svc: Annotated[ArchiveService, Depends(get_service)]) -> CollectionAdmin:
    return CollectionAdmin(svc.accounts)


ServiceDep = Annotated[ArchiveService, Depends(get_service)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
TokenDep = Annotated[str, Depends(get_token)]
CasesDep = Annotated[CaseService, Depends(get_cases)]
TagsDep = Annotated[TagService, Depends(get_tags)]
CollectionAdminDep = Annotated[CollectionAdmin, Depends(get_collection_admin)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A numeric path id (1..2³¹−1; others get 422)."""


def _iso_date(value: object) -> object:
    # pydantic alone also takes a number of seconds since 1970 ("0") for a date
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar date as the schema's ``format: date`` says: ``YYYY-MM-DD`` and nothing else."""
