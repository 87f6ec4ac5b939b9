"""What every page of the web interface shares: templates and rendering, security headers, the
session's user (``SignedIn`` and ``SignedInForm``: dependencies that redirect to the login page, or
answer 403 for a form without a valid CSRF token), redirects with notices, error pages.

Pages go through the service layer (``ArchiveService`` and its services) with the signed-in
principal, never to the catalog, the index or ingestion; sessions and CSRF are in ``session.py``,
messages and formatting in ``i18n.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from archive_search.errors import (
    ArchiveError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
)
from archive_search.types import MAX_ID, Principal
from search_api.access import EDITOR_ROLES
from search_api.service import ArchiveService
from ui.i18n import LANG_COOKIE, NATIVE_NAMES, UI_LANGUAGES, Translator, negotiate, timecode
from ui.session import (
    CSRF_FIELD,
    clear_session,
    csrf_ok,
    csrf_token,
    remember_presession,
    session_token,
)

HERE = Path(__file__).resolve().parent


TEMPLATES_DIR = HERE / "templates"


STATIC_DIR = HERE / "static"


PAGE_SIZE = 10


FILTER_FIELDS = ("lang", "collection", "type", "tag", "person", "place", "organisation")


LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _service(request: Request) -> ArchiveService:
    svc: ArchiveService = request.app.state.service
    return svc


def _translator(request: Request) -> Translator:
    return Translator(negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")))


def _principal(request: Request) -> Principal | None:
    token = session_token(request)
    if not token:
        return None
    try:
        principal = _service(request).accounts.principal_for_token(token)
    except UnauthorizedError:
        return None
    request.state.principal = principal
    return principal


def safe_next(value: str | None) -> str:
    """A local path to go back to after a form; anything else (another site, a scheme) is ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _secure(resp: Response, *, cache: str = "no-store") -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = cache
    return resp


def render(
    request: Request,
    template: str,
    *,
    principal: Principal | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    t = _translator(request)
    html = _env.get_template(template).render(
        t=t,
        lang=t.lang,
        ui_languages=UI_LANGUAGES,
        native_names=NATIVE_NAMES,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(request),
        user=principal,
        here=_here(request),
        timecode=timecode,
        **context,
    )
    resp = HTMLResponse(html, status_code=status)
    resp.headers["Content-Language"] = t.lang
    remember_presession(resp, request)
    _secure(resp)
    return resp


def _to_login(request: Request) -> Response:
    resp = RedirectResponse("/login?" + urlencode({"next": _here(request)}), status_code=303)
    if session_token(request):
        clear_session(resp, request)
    return _secure(resp)


def _not_found(request: Request, principal: Principal | None) -> HTMLResponse:
    """The 404 page; for a signed-in user the refusal is audited (``DeniedReads``, rate-limited)."""
    if principal is not None:
        _service(request).denied.record(principal.name, request.method, request.url.path, 404, "not_found")
    return render(
        request,
        "error.html",
        principal=principal,
        status=404,
        title_key="not_found_title",
        message_key="not_found",
    )


def _work_context(request: Request, principal: Principal) -> dict[str, Any]:
    """What the selection and side-panel forms need: may the user change things, and where to."""
    return {
        "can_edit": can_edit(principal),
        "open_cases": editable_cases(request, principal),
        **_flash(request),
    }


def _int_param(value: str | None) -> int | None:
    """An integer query parameter; ``None`` when absent, malformed or past the largest catalog id
    (``MAX_ID``: the catalog could not even look it up, SQLite and PostgreSQL raise on it)."""
    try:
        n = int(value) if value else None
    except ValueError:
        return None
    return n if n is None or abs(n) <= MAX_ID else None


NOTICES = (
    "withdrawn",
    "tagged",
    "metadata_applied",
    "field_saved",
    "added",
    "added_stay",
    "added_here",
    "case_created",
    "note_added",
    "item_saved",
    "item_removed",
    "moved",
    "status_saved",
    "saved",
    "deleted",
    "user_created",
    "user_saved",
    "group_created",
    "member_added",
    "member_removed",
    "granted",
    "revoked",
    # case members, tags, collections
    "export_gone",
    "case_member_saved",
    "case_rule_saved",
    "case_rule_lifted",
    "case_member_removed",
    "tag_renamed",
    "tag_merged",
    "tag_deleted",
    "collection_created",
    "collection_saved",
    # duty of care (ui/pages/care.py)
    "care_withdraw",
    "care_restore",
    "care_purge",
    "care_hold",
    "care_restrict",
    "care_unrestrict",
    "care_restrict_passage",
    "care_unrestrict_passage",
    "care_redact",
    "care_redact_region",
    "care_lifted",
    "care_retention",
)


Csrf = Annotated[str, Form(alias="csrf_token")]


def can_edit(principal: Principal) -> bool:
    return principal.role in EDITOR_ROLES


def _with_notice(target: str, notice: str, **extra: str | int) -> str:
    target, hash_, fragment = target.partition("#")  # the notice goes before a #fragment
    sep = "&" if "?" in target else "?"
    return f"{target}{sep}{urlencode({'notice': notice, **extra})}{hash_}{fragment}"


def _redirect(target: str) -> Response:
    return _secure(RedirectResponse(target, status_code=303))


def _flash(request: Request) -> dict[str, Any]:
    """The confirmation to show after a change (``?notice=KEY&n=N`` on the redirect)."""
    n = request.query_params.get("notice", "")
    try:
        count = int(request.query_params.get("n", "0"))
    except ValueError:
        count = 0
    try:
        case = int(request.query_params.get("case", "0"))
    except ValueError:
        case = 0
    return {"flash": n if n in NOTICES else None, "flash_n": count, "flash_case": case}


def _forbidden(request: Request, principal: Principal | None, message_key: str) -> Response:
    """A 403 error page saying ``message_key``."""
    return render(
        request,
        "error.html",
        principal=principal,
        status=403,
        title_key="forbidden_title",
        message_key=message_key,
    )


def _refused(request: Request, principal: Principal | None) -> Response:
    """A form refused for a missing or wrong CSRF token."""
    return _forbidden(request, principal, "csrf_failed")


def _failed(request: Request, principal: Principal, exc: ArchiveError) -> Response:
    """A refused change: the service's message on an error page with its status."""
    if isinstance(exc, NotFoundError):
        return _not_found(request, principal)
    if exc.status >= 500:
        raise exc
    return render(
        request,
        "error.html",
        principal=principal,
        status=exc.status,
        title_key="forbidden_title" if isinstance(exc, ForbiddenError) else "error_title",
        message_key="action_failed",
        detail=exc.message,
    )


def _invalid(request: Request, principal: Principal, exc: ValidationError) -> Response:
    msgs = "; ".join(str(e.get("msg", "")) for e in exc.errors()[:3])
    return _failed(request, principal, InvalidRequestError(msgs))


def _post_guard(request: Request, token: str) -> tuple[Principal | None, Response | None]:
    """(principal, None) for a signed-in user with a valid CSRF token; else (_, the answer)."""
    principal = _principal(request)
    if principal is None:
        return None, _to_login(request)
    if not csrf_ok(request, token):
        return principal, _refused(request, principal)
    return principal, None


def _int_list(values: list[str]) -> list[int]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except ValueError:
            continue
    return list(dict.fromkeys(out))


def editable_cases(request: Request, principal: Principal) -> list[Any]:
    """Open cases the principal may add items to."""
    if not can_edit(principal):
        return []
    return [
        c
        for c in _service(request).cases.list_cases(principal, status="open")
        if c.access in ("admin", "owner", "edit")
    ]


def _back(target: str, notice: str) -> Response:
    """Redirect to ``target`` (a local path, maybe with a ``#fragment``) with the confirmation."""
    return _redirect(_with_notice(target, notice))


def _do(request: Request, principal: Principal, target: str, notice: str, fn: Any) -> Response:
    try:
        fn()
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _back(target, notice)


# -- the signed-in user, as a dependency -------------------------------------------------------


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to ``/login?next=…``."""


class CsrfRefused(Exception):
    """A signed-in user's form without a valid CSRF token: the page answers 403."""

    def __init__(self, principal: Principal) -> None:
        super().__init__("csrf")
        self.principal = principal


def require_login(request: Request) -> Principal:
    """The signed-in user; without a session the page redirects to the login page."""
    principal = _principal(request)
    if principal is None:
        raise LoginRequired()
    return principal


def require_login_and_csrf(request: Request, csrf: Csrf = "") -> Principal:
    """The signed-in user of a form with a valid CSRF token (login first, then the token)."""
    principal = require_login(request)
    if not csrf_ok(request, csrf):
        raise CsrfRefused(principal)
    return principal


class NotAdmin(Exception):
    """A signed-in user who is not an admin on an admin page: it answers 404, as a missing page."""

    def __init__(self, principal: Principal) -> None:
        super().__init__("not admin")
        self.principal = principal


def require_admin(request: Request) -> Principal:
    """The signed-in admin; anyone else gets the login page (no session) or a 404 page."""
    principal = require_login(request)
    if not principal.is_admin:
        raise NotAdmin(principal)
    return principal


def require_admin_form(request: Request, csrf: Csrf = "") -> Principal:
    """An admin's form with a valid CSRF token (login first, then the token, then the role)."""
    principal = require_login_and_csrf(request, csrf)
    if not principal.is_admin:
        raise NotAdmin(principal)
    return principal


SignedIn = Annotated[Principal, Depends(require_login)]
"""A page's signed-in user (else a redirect to the login page)."""
SignedInForm = Annotated[Principal, Depends(require_login_and_csrf)]
"""A form's signed-in user with a valid CSRF token (else the login page, or 403)."""
AdminUser = Annotated[Principal, Depends(require_admin)]
"""An admin page's user (else the login page, or 404)."""
AdminForm = Annotated[Principal, Depends(require_admin_form)]
"""An admin form's user with a valid CSRF token (else the login page, 403, or 404)."""


def install_login_handlers(app: FastAPI) -> None:
    async def _login(request: Request, exc: Exception) -> Response:
        return _to_login(request)

    async def _csrf(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CsrfRefused)
        return _refused(request, exc.principal)

    async def _not_admin(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotAdmin)
        return _not_found(request, exc.principal)

    app.add_exception_handler(LoginRequired, _login)
    app.add_exception_handler(NotAdmin, _not_admin)
    app.add_exception_handler(CsrfRefused, _csrf)
