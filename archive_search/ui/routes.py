"""The web interface: server-rendered pages over ``ArchiveService`` (never index/ or ingest/).

Pages: ``/`` (search), ``/login``, ``/logout`` (POST), ``/lang`` (POST), ``/documents/{id}``
(viewer), ``/documents/{id}/original`` (download) and ``/documents/{id}/pages/{n}.png``.
Sessions, CSRF: ``session.py``; messages and formatting: ``i18n.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from archive_search.errors import ArchiveError, NotFoundError, RateLimitedError, UnauthorizedError
from archive_search.search_api.audit import search_details
from archive_search.search_api.retrieval import MAX_RESULT_WINDOW
from archive_search.search_api.service import ArchiveService
from archive_search.types import Principal, SearchMode, SearchRequest, SearchResponse
from archive_search.ui import documents as docs
from archive_search.ui.i18n import LANG_COOKIE, NATIVE_NAMES, UI_LANGUAGES, Translator, negotiate, timecode
from archive_search.ui.session import (
    CSRF_FIELD,
    clear_session,
    csrf_ok,
    csrf_token,
    is_https,
    remember_presession,
    session_token,
    set_session,
)

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
PAGE_SIZE = 10
MODES: tuple[SearchMode, ...] = ("hybrid", "keyword", "semantic")
FILTER_FIELDS = ("lang", "collection", "type", "tag")
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


def install_ui(app: FastAPI) -> None:
    """Mount the static files and include the page routes (``/`` included) into ``app``."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="ui-static")
    from archive_search.ui.manage import router as manage_router
    from archive_search.ui.work import router as work_router

    app.include_router(router)
    app.include_router(work_router)
    app.include_router(manage_router)


router = APIRouter(include_in_schema=False)


# -- helpers ---------------------------------------------------------------------------------


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
        return _service(request).accounts.principal_for_token(token)
    except UnauthorizedError:
        return None


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
    return render(
        request,
        "error.html",
        principal=principal,
        status=404,
        title_key="not_found_title",
        message_key="not_found",
    )


# -- log in, log out, language ---------------------------------------------------------------


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
        return render(
            request,
            "error.html",
            principal=_principal(request),
            status=403,
            title_key="forbidden_title",
            message_key="csrf_failed",
        )
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
        return render(
            request,
            "error.html",
            principal=_principal(request),
            status=403,
            title_key="forbidden_title",
            message_key="csrf_failed",
        )
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


# -- search ----------------------------------------------------------------------------------


@dataclass
class SearchState:
    """The search page's parameters, and the links that change one of them."""

    q: str = ""
    mode: SearchMode = "hybrid"
    filters: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in FILTER_FIELDS})
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    @classmethod
    def from_request(cls, request: Request) -> tuple[SearchState, list[str]]:
        qp = request.query_params
        problems: list[str] = []
        st = cls(q=qp.get("q", "")[:4000])
        mode = qp.get("mode", "hybrid")
        st.mode = next((m for m in MODES if m == mode), "hybrid")
        for k in FILTER_FIELDS:
            st.filters[k] = list(dict.fromkeys(v for v in qp.getlist(k) if v))[:50]
        for name in ("date_from", "date_to"):
            raw = qp.get(name, "")
            if raw:
                try:
                    setattr(st, name, date.fromisoformat(raw))
                except ValueError:
                    problems.append(f"{name}: {raw!r} is not a date (YYYY-MM-DD)")
        try:
            st.page = min(max(1, int(qp.get("page", "1"))), 10_000)
        except ValueError:
            st.page = 1
        return st, problems

    @property
    def active(self) -> bool:
        return bool(self.q.strip() or any(self.filters.values()) or self.date_from or self.date_to)

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        d: dict[str, Any] = {
            "q": self.q,
            "mode": self.mode,
            **{k: list(v) for k, v in self.filters.items()},
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "page": self.page,
        }
        d.update(changes)
        out: list[tuple[str, str]] = []
        for k, v in d.items():
            for item in v if isinstance(v, list) else [v]:
                if (
                    item not in ("", None)
                    and not (k == "page" and item == 1)
                    and not (k == "mode" and item == "hybrid")
                ):
                    out.append((k, str(item)))
        return out

    def url(self, **changes: Any) -> str:
        qs = urlencode(self.params(**changes))
        return "/" + (f"?{qs}" if qs else "")

    def toggle_url(self, name: str, value: str) -> str:
        current = self.filters[name]
        new = [v for v in current if v != value] if value in current else [*current, value]
        return self.url(**{name: new, "page": 1})

    def request(self) -> SearchRequest:
        return SearchRequest(
            q=self.q,
            mode=self.mode,
            lang=self.filters["lang"],
            collections=self.filters["collection"],
            types=self.filters["type"],
            tags=self.filters["tag"],
            date_from=self.date_from,
            date_to=self.date_to,
            page=self.page,
            size=PAGE_SIZE,
        )


def _facet_entries(
    st: SearchState, facets: dict[str, dict[str, int]]
) -> dict[str, list[tuple[str, int | None]]]:
    """Per facet field: (value, count) sorted by count, with selected values always listed."""
    out: dict[str, list[tuple[str, int | None]]] = {}
    for name in FILTER_FIELDS:
        counts = dict(facets.get(name, {}))
        entries: list[tuple[str, int | None]] = [
            (v, c) for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        for v in st.filters[name]:
            if v not in counts:
                entries.append((v, None))
        out[name] = entries
    return out


def _pages(current: int, last: int) -> list[int | None]:
    """Page numbers to link: first, last and a window around the current one (None is a gap)."""
    wanted = sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
    out: list[int | None] = []
    for i, p in enumerate(wanted):
        if i and p - wanted[i - 1] > 1:
            out.append(None)
        out.append(p)
    return out


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    svc = _service(request)
    t = _translator(request)
    st, problems = SearchState.from_request(request)
    resp: SearchResponse | None = None
    error: str | None = "; ".join(problems) or None
    status = 400 if error else 200
    if st.active and not error:
        req = st.request()
        try:
            resp = svc.search(req, principal)
        except ArchiveError as exc:
            if exc.status >= 500:
                raise
            error, status = exc.message, exc.status
        else:
            svc.cases.audit.record(principal.name, "search", None, None, search_details(req, resp.total))
    # the service pages through the first MAX_RESULT_WINDOW results only
    last_page = min(max(1, math.ceil(resp.total / PAGE_SIZE)), MAX_RESULT_WINDOW // PAGE_SIZE) if resp else 1
    collections = svc.collections(principal) if not st.active else []
    facets = resp.facets if resp else {}
    if not st.active:
        # before any search, the facets count the whole readable archive: a way in by browsing
        facets = svc.search(SearchRequest(q="", mode="keyword", size=1), principal).facets
    return render(
        request,
        "search.html",
        principal=principal,
        status=status,
        st=st,
        resp=resp,
        error=t("search_error", message=error) if error else None,
        facets=_facet_entries(st, facets),
        years=sorted((y, n) for y, n in facets.get("date", {}).items() if re.fullmatch(r"\d{4}", y)),
        modes=MODES,
        pages=_pages(st.page, last_page) if resp and resp.total else [],
        last_page=last_page,
        collections=collections,
        back=_here(request),
        **_work_context(request, principal),
    )


def _work_context(request: Request, principal: Principal) -> dict[str, Any]:
    """What the selection and side-panel forms need: may the user change things, and where to."""
    from archive_search.ui.work import _flash, can_edit, editable_cases

    return {
        "can_edit": can_edit(principal),
        "open_cases": editable_cases(request, principal),
        **_flash(request),
    }


# -- documents -------------------------------------------------------------------------------


def _int_param(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def document_page(request: Request, document_id: int) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    svc = _service(request)
    try:
        meta = svc.document(document_id, principal)
        parts = svc.document_text(document_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    qp = request.query_params
    passage_id = _int_param(qp.get("passage"))
    q = qp.get("q", "")[:4000]
    span = docs.passage_span(svc, document_id, passage_id, principal) if passage_id is not None else None
    svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": "ui-viewer"})
    terms = docs.query_terms(svc, q) if q else set()
    anchor = f"passage-{span.passage_id}" if span else ""
    rendered: list[dict[str, Any]] = []
    turns = any("passage_id" in p for p in parts)
    first_page = parts[0].get("page") if parts else None
    for part in parts:
        item = dict(part)
        if turns:
            is_hit = span is not None and str(span.passage_id) == part.get("passage_id")
            item["hit"] = is_hit
            item["html"] = docs.mark_terms(svc, part["text"], terms if is_hit else set())
        else:
            page_no = part.get("page")
            # passages of single-page text files have no page number: they lie on the only page
            on_this_page = span is not None and (
                span.page == page_no or (span.page is None and page_no == first_page)
            )
            item["hit"] = on_this_page
            item["html"] = docs.page_with_passage(
                svc, part["text"], span if on_this_page else None, terms, anchor
            )
        rendered.append(item)
    doc_lang = meta.get("lang") if meta.get("lang") in ("ru", "uk", "be", "en") else None
    similar = svc.similar_passages(span.passage_id, principal, size=5) if span else None
    like_this = svc.similar_documents(document_id, principal, size=5)
    svc.cases.audit.record(
        principal.name,
        "search",
        "document",
        document_id,
        {"similar": True, "passage_id": span.passage_id if span else None, "ui": True},
    )
    return render(
        request,
        "document.html",
        principal=principal,
        doc=meta,
        parts=rendered,
        turns=turns,
        anchor=anchor if span else None,
        doc_lang=doc_lang,
        page_images=docs.has_page_images(str(meta.get("mime") or "")) and not turns,
        back=safe_next(qp.get("back")) if qp.get("back") else None,
        passage_id=span.passage_id if span else None,
        q=q,
        similar=similar,
        like_this=like_this,
        doc_cases=svc.cases.list_cases(principal, document_id=document_id),
        here_doc=_here(request),
        **_work_context(request, principal),
    )


@router.get("/documents/{document_id}/original")
def document_original(request: Request, document_id: int) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    try:
        svc = _service(request)
        path, sha, mime, filename = svc.original_path(document_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    svc.cases.audit.record(principal.name, "download", "document", document_id, {"sha256": sha})
    resp = FileResponse(path, media_type=mime, filename=filename, headers={"X-Content-SHA256": sha})
    return _secure(resp, cache="private, no-store")


@router.get("/documents/{document_id}/pages/{page}.png")
def page_image(request: Request, document_id: int, page: int) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    try:
        png = _service(request).page_image(document_id, page, principal)
    except NotFoundError:
        return _not_found(request, principal)
    return _secure(Response(png, media_type="image/png"), cache="private, max-age=600")
