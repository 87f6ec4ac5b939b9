"""``/auth/token``, ``/auth/logout``, ``/auth/me``: bearer tokens for user names and passwords."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from search_api.deps import PrincipalDep, ServiceDep, TokenDep
from search_api.http_errors import ERRORS, ErrorResponse

router = APIRouter(responses=ERRORS, tags=["auth"])


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


class MePublic(BaseModel):
    username: str
    role: str
    readable: list[str] | None = Field(description="Collections you may read; null means all")
    writable: list[str] | None


@router.post("/auth/token", response_model=TokenResponse, responses={429: {"model": ErrorResponse}})
def login(body: TokenRequest, request: Request, svc: ServiceDep) -> TokenResponse:
    """Exchange a user name and password for a bearer token (failed attempts are rate-limited)."""
    client = request.client.host if request.client else "unknown"
    token, expires = svc.accounts.login(body.username, body.password, client)
    return TokenResponse(access_token=token, expires_at=expires)


@router.post("/auth/logout", status_code=204)
def logout(svc: ServiceDep, token: TokenDep) -> Response:
    """Revoke the token this request carries."""
    svc.accounts.principal_for_token(token)
    svc.accounts.revoke_token(token)
    return Response(status_code=204)


@router.get("/auth/me", response_model=MePublic)
def me(principal: PrincipalDep) -> MePublic:
    """Who the token belongs to and which collections it opens."""
    return MePublic(
        username=principal.name,
        role=principal.role,
        readable=sorted(principal.readable) if principal.readable is not None else None,
        writable=sorted(principal.writable) if principal.writable is not None else None,
    )
