"""Log in and out (a session cookie holding an API token), and the interface language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from archive_search.errors import (
    RateLimitedError,
    UnauthorizedError,
)
from ui.common import (
    LANG_COOKIE_MAX_AGE,
    _principal,
    _refused,
    _secure,
    _service,
    _translator,
    render,
    safe_next,
)
from ui.i18n import LANG_COOKIE, UI_LANGUAGES
from ui.session import clear_session, csrf_ok, is_https, session_token, set_session

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", logged_out: int = 0) -> Response:
    if _principal(request) is not None:
        return _secure(RedirectResponse(safe_next(next), status_code=303))
    notice = "logged_out" if logged_out else ("login_needed" if next not in ("", "/") else None)
    return render(request, "login.html", next=safe_next(next), notice=notice, error=None, username="")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = safe_next(next)
    t = _translator(request)
    if not csrf_ok(request, csrf_token):
        return render(
            request,
            "login.html",
            status=403,
            next=target,
            notice=None,
            error=t("csrf_failed"),
            username=username[:150],
        )
    client = request.client.host if request.client else "unknown"
    svc = _service(request)
    try:
        if not username or len(username) > 150 or len(password) > 1024:
            raise UnauthorizedError("wrong user name or password")
        token, expires = svc.accounts.login(username, password, client)
    except RateLimitedError as exc:
        m = re.search(r"(\d+)\s*s\b", exc.message)
        msg = t("login_rate_limited", seconds=t.num(int(m.group(1)))) if m else t("login_rate_limited_later")
        return render(
            request, "login.html", status=429, next=target, notice=None, error=msg, username=username[:150]
        )
    except UnauthorizedError:
        return render(
            request,
            "login.html",
            status=401,
            next=target,
            notice=None,
            error=t("login_failed"),
            username=username[:150],
        )
    resp = RedirectResponse(target, status_code=303)
    max_age = max(60, int((expires - datetime.now(UTC)).total_seconds()))
    set_session(resp, request, token, max_age)
    return _secure(resp)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    token = session_token(request)
    if token and not csrf_ok(request, csrf_token):
        return _refused(request, _principal(request))
    if token:
        _service(request).accounts.revoke_token(token)
    resp = RedirectResponse("/login?logged_out=1", status_code=303)
    clear_session(resp, request)
    return _secure(resp)


@router.post("/lang")
def switch_language(
    request: Request,
    lang: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return _refused(request, _principal(request))
    resp = RedirectResponse(safe_next(next), status_code=303)
    if lang in UI_LANGUAGES:
        resp.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=LANG_COOKIE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=is_https(request),
        )
    return _secure(resp)
