"""The one set of FastAPI dependencies of the API's routers: the service, the caller and the
services behind each resource, as ``Annotated`` aliases (``ServiceDep``, ``PrincipalDep``, …)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, params
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

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
    request: Request,
    svc: Annotated[ArchiveService, Depends(get_service)],
    token: Annotated[str, Depends(get_token)],
) -> Principal:
    """The caller, from its bearer token; every route but login, health and the schema needs one.
    Kept on the request, so that a refusal can be audited (``DeniedReads``)."""
    principal = svc.accounts.principal_for_token(token)
    request.state.principal = principal
    return principal


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
PageNo = Annotated[int, Query(ge=1, le=10_000)]
"""A result page's number (1-based)."""
PageSize = Annotated[int, Query(ge=1, le=100)]
"""Results per page, or how many entries a list answers."""


def _iso_date(value: object) -> object:
    # pydantic alone also takes a number of seconds since 1970 ("0") for a date
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar date as the schema's ``format: date`` says: ``YYYY-MM-DD`` and nothing else."""


def _dependants(dependant: Dependant) -> list[Dependant]:
    """The dependant and every sub-dependency's, depth first."""
    out = [dependant]
    for sub in dependant.dependencies:
        out += _dependants(sub)
    return out


_DECLARED: dict[int, tuple[APIRoute, frozenset[str], frozenset[str]]] = {}
"""Per route (by identity; routes are not hashable and live as long as the app): its query
parameters and its form fields."""


def _takes_empty(info: FieldInfo) -> bool:
    """Whether the field's own type accepts ``""`` (a password may be empty; an enum may not)."""
    try:
        field_type: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        TypeAdapter(field_type).validate_python("")
    except ValidationError:
        return False
    return True


def _declared(route: APIRoute) -> tuple[frozenset[str], frozenset[str]]:
    found = _DECLARED.get(id(route))
    if found is None or found[0] is not route:
        dependants = _dependants(route.dependant)
        query = frozenset(p.alias for d in dependants for p in d.query_params)
        bodies = [f for d in dependants for f in d.body_params]
        form = frozenset(
            f.alias for f in bodies if type(f.field_info) is params.Form and not _takes_empty(f.field_info)
        )
        found = _DECLARED[id(route)] = (route, query, form)
    return found[1], found[2]


def reject_unknown_query(request: Request) -> None:
    """A query parameter no operation declares is refused (422), not ignored: a misspelt filter
    (``?colection=…``) would otherwise widen a search without a word, and the schema says
    which parameters there are."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _declared(route)[0])
    if unknown:
        error = {"msg": "no such parameter", "type": "extra_forbidden"}
        raise RequestValidationError([{**error, "loc": ("query", n)} for n in unknown[:10]])


async def reject_empty_form_fields(request: Request) -> None:
    """An empty form field is refused (422) instead of read as "not given": FastAPI takes
    ``match=`` for a missing ``match`` and would quietly use the default, which the schema's
    ``enum`` does not allow."""
    route = request.scope.get("route")
    content_type = request.headers.get("content-type", "")
    if not isinstance(route, APIRoute) or not content_type.startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        return
    names = _declared(route)[1]
    if names:
        form = await request.form()  # parsed once: Starlette keeps it for the endpoint
        empty = sorted(n for n in names if form.get(n) == "")
        if empty:
            error = {"msg": "may not be empty", "type": "string_too_short"}
            raise RequestValidationError([{**error, "loc": ("body", n)} for n in empty])
