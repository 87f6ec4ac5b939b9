"""Browser sessions over the API's tokens, and CSRF protection of every form.

The session cookie holds a token from ``Accounts.login`` — the same kind of token the API takes as
``Authorization: Bearer`` (only its SHA-256 is stored); logging out revokes it. The cookie is
``HttpOnly`` and ``SameSite=Strict``, and ``Secure`` whenever the request arrived over HTTPS
(behind a TLS proxy, run uvicorn with ``--proxy-headers`` so that the scheme is seen).

CSRF: every POST form carries a token bound to the browser's session — an HMAC-SHA256 of a fixed
label keyed by the session token (after login) or by a random pre-session cookie (the login form
itself). It is compared with ``hmac.compare_digest``. A POST whose ``Origin`` header names another
site is refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

SESSION_COOKIE = "archive_session"
PRESESSION_COOKIE = "archive_presession"
CSRF_FIELD = "csrf_token"
_CSRF_LABEL = b"archive-search ui csrf v1"


def is_https(request: Request) -> bool:
    """Whether cookies get the Secure flag: ``ARCHIVE_COOKIE_SECURE`` when set, else whether the
    request arrived over HTTPS (behind a TLS proxy, set ``ARCHIVE_FORWARDED_ALLOW_IPS`` so that
    the proxy's ``X-Forwarded-Proto`` is believed)."""
    forced: bool | None = request.app.state.service.settings.cookie_secure
    if forced is not None:
        return forced
    return request.url.scheme == "https"


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def _presession(request: Request) -> str:
    """The pre-session secret of this browser, made (and remembered on the request) when missing."""
    value = request.cookies.get(PRESESSION_COOKIE) or getattr(request.state, "new_presession", None)
    if not value:
        value = secrets.token_urlsafe(32)
        request.state.new_presession = value
    return str(value)


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page: bound to the session, or to the pre-session."""
    key = session_token(request) or _presession(request)
    return hmac.new(key.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """Whether a POSTed form's token is this browser's (constant-time) and the origin is ours."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.url.netloc}"
        if origin.rstrip("/") != expected:
            return False
    key = session_token(request) or request.cookies.get(PRESESSION_COOKIE)
    if not key or not submitted:
        return False
    expected_token = hmac.new(key.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected_token.encode("ascii"), submitted.encode("utf-8", "replace"))


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def set_session(response: Response, request: Request, token: str, max_age: int) -> None:
    _cookie(response, request, SESSION_COOKIE, token, max_age)
    response.delete_cookie(PRESESSION_COOKIE, path="/")


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request)
    )


def remember_presession(response: Response, request: Request) -> None:
    """Set the pre-session cookie when ``csrf_token`` had to invent one for this response."""
    value = getattr(request.state, "new_presession", None)
    if value and not session_token(request):
        _cookie(response, request, PRESESSION_COOKIE, str(value), None)
