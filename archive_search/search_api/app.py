"""The HTTP API (FastAPI) under ``/api/v1``; ``/healthz`` outside it.

Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with a fitting status.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from archive_search import __version__
from archive_search.errors import ArchiveError, ForbiddenError, UnauthorizedError
from archive_search.search_api.audit import search_details
from archive_search.search_api.limits import BodyLimitMiddleware, within
from archive_search.search_api.routes_cases import cases_router
from archive_search.search_api.routes_collections import collections_router
from archive_search.search_api.routes_search import search_router
from archive_search.search_api.service import ArchiveService
from archive_search.settings import Settings, get_settings
from archive_search.types import MAX_ID, JobReport, Principal, SearchRequest, SearchResponse
from archive_search.ui import install_ui


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed request or query"},
    401: {"model": ErrorResponse, "description": "Missing, invalid or expired token"},
    403: {"model": ErrorResponse, "description": "Not allowed to change this"},
    404: {"model": ErrorResponse, "description": "Not found (or not readable by you)"},
    409: {
        "model": ErrorResponse,
        "description": "Conflicts with the current state (exists, closed, not done)",
    },
    413: {"model": ErrorResponse, "description": "Request body too large"},
    422: {"model": ErrorResponse, "description": "Invalid parameters"},
    429: {"model": ErrorResponse, "description": "Too many failed logins"},
    503: {"model": ErrorResponse, "description": "Timed out, or the search backend is unavailable"},
}


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


ServiceDep = Annotated[ArchiveService, Depends(get_service)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def create_app(settings: Settings | None = None, service: ArchiveService | None = None) -> FastAPI:
    """The application; pass a service to share one with the caller (tests, ``archive serve``)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = service or ArchiveService(settings)
        try:
            yield
        finally:
            if owned:
                app.state.service.close()

    app = FastAPI(
        title="Archive search",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    if service is not None:
        app.state.service = service

    @app.exception_handler(ArchiveError)
    async def _archive_error(_: Request, exc: ArchiveError) -> JSONResponse:
        resp = error_response(exc.status, exc.code, exc.message)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path"))
            parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return error_response(422, "invalid_parameters", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - last resort
        return error_response(500, "internal_error", "internal error")

    @app.get("/healthz", tags=["health"])
    def healthz(svc: ServiceDep) -> dict[str, Any]:
        """Liveness and backend health: ``ok`` or ``degraded``, and for a search cluster its health
        (``green``, ``yellow``: a node is missing, ``red``, ``unreachable``). It needs no token, so
        it carries no counts (how many passages the archive holds, and when it grows, is
        information about collections a caller may not read); administrators see them with
        ``archive status``."""
        backend = svc.backend.health()
        out: dict[str, Any] = {"status": "ok" if backend.get("status") == "ok" else "degraded"}
        if "cluster_health" in backend:
            out["cluster"] = backend["cluster_health"]
        return out

    app.include_router(api_router(), prefix="/api/v1")
    app.include_router(cases_router(), prefix="/api/v1")
    app.include_router(collections_router(), prefix="/api/v1")
    app.include_router(search_router(), prefix="/api/v1")
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_file_bytes + 1024 * 1024,
    )
    install_ui(app)  # the web interface: "/" (search), /login, /documents/…, /static
    return app


def api_router() -> APIRouter:
    r = APIRouter(responses=ERRORS)

    @r.post(
        "/auth/token", response_model=TokenResponse, tags=["auth"], responses={429: {"model": ErrorResponse}}
    )
    def login(body: TokenRequest, request: Request, svc: ServiceDep) -> TokenResponse:
        """Exchange a user name and password for a bearer token (failed attempts are rate-limited)."""
        client = request.client.host if request.client else "unknown"
        token, expires = svc.accounts.login(body.username, body.password, client)
        return TokenResponse(access_token=token, expires_at=expires)

    @r.post("/auth/logout", status_code=204, tags=["auth"])
    def logout(svc: ServiceDep, token: Annotated[str, Depends(get_token)]) -> Response:
        """Revoke the token this request carries."""
        svc.accounts.principal_for_token(token)
        svc.accounts.revoke_token(token)
        return Response(status_code=204)

    @r.get("/auth/me", response_model=MePublic, tags=["auth"])
    def me(principal: PrincipalDep) -> MePublic:
        """Who the token belongs to and which collections it opens."""
        return MePublic(
            username=principal.name,
            role=principal.role,
            readable=sorted(principal.readable) if principal.readable is not None else None,
            writable=sorted(principal.writable) if principal.writable is not None else None,
        )

    @r.get("/search", response_model=SearchResponse, tags=["search"])
    async def search(
        svc: ServiceDep,
        principal: PrincipalDep,
        q: Annotated[str, Query(max_length=4000, description="Query in the query language")] = "",
        mode: Annotated[Literal["hybrid", "keyword", "semantic"], Query()] = "hybrid",
        lang: Annotated[list[str] | None, Query(description="Language filter (repeatable)")] = None,
        collection: Annotated[list[str] | None, Query(description="Collection filter (repeatable)")] = None,
        type: Annotated[list[str] | None, Query(description="Document type filter (repeatable)")] = None,
        tag: Annotated[list[str] | None, Query(description="Tag filter (repeatable)")] = None,
        date_from: Annotated[date | None, Query()] = None,
        date_to: Annotated[date | None, Query()] = None,
        speaker: Annotated[list[str] | None, Query(description="Transcript speaker (repeatable)")] = None,
        group: Annotated[
            Literal["document", "passage"],
            Query(description="document: one hit per document with its best passages; passage: each passage"),
        ] = "document",
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        size: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> SearchResponse:
        """Search passages; hits carry provenance and a highlighted snippet; facets count matches."""
        req = SearchRequest(
            q=q,
            mode=mode,
            lang=lang or [],
            collections=collection or [],
            types=type or [],
            tags=tag or [],
            date_from=date_from,
            date_to=date_to,
            speakers=speaker or [],
            group=group,
            page=page,
            size=size,
        )
        res = await within(svc.settings.request_timeout_s, svc.search, req, principal)
        svc.cases.audit.record(principal.name, "search", None, None, search_details(req, res.total))
        return res

    @r.get("/collections", tags=["collections"])
    def collections(svc: ServiceDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """Collections the caller may read, with their document counts."""
        return svc.collections(principal)

    @r.get("/documents/{document_id}", tags=["documents"])
    def document(
        document_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], svc: ServiceDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """A document's metadata, with the SHA-256 of its original."""
        meta = svc.document(document_id, principal)
        svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": "metadata"})
        return meta

    @r.get("/documents/{document_id}/text", tags=["documents"])
    def document_text(
        document_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], svc: ServiceDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Extracted text by page, or by transcript turn."""
        parts = svc.document_text(document_id, principal)
        svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": "text"})
        return {"document_id": str(document_id), "parts": parts}

    @r.get(
        "/documents/{document_id}/original",
        tags=["documents"],
        response_class=FileResponse,
        responses={200: {"description": "The original bytes, exactly as received"}},
    )
    def original(
        document_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], svc: ServiceDep, principal: PrincipalDep
    ) -> FileResponse:
        """The original file, byte for byte, with its SHA-256 in the ``X-Content-SHA256`` header."""
        path, sha, mime, filename = svc.original_path(document_id, principal)
        svc.cases.audit.record(principal.name, "download", "document", document_id, {"sha256": sha})
        return FileResponse(path, media_type=mime, filename=filename, headers={"X-Content-SHA256": sha})

    @r.post("/documents", response_model=JobReport, status_code=201, tags=["documents"])
    def upload(
        svc: ServiceDep,
        principal: PrincipalDep,
        file: Annotated[UploadFile, File(description="The file to ingest")],
        collection: Annotated[str | None, Form()] = None,
        password: Annotated[
            str | None, Form(description="Password of an encrypted PDF (neither logged nor stored)")
        ] = None,
    ) -> JobReport:
        """Ingest one uploaded file; it is keyword-searchable when this returns."""
        target = collection or svc.settings.default_collection
        if not principal.can_write(target):
            raise ForbiddenError(f"you may not add documents to collection {target!r}")
        name = Path(file.filename or "upload").name or "upload"
        with tempfile.TemporaryDirectory(prefix="archive-upload-") as tmp:
            dest = Path(tmp) / name
            with dest.open("wb") as out:
                shutil.copyfileobj(file.file, out)
            report = svc.ingest([dest], target, password=password or None)
        for f in report.files:
            f.path = name
            svc.cases.audit.record(
                principal.name,
                "ingest",
                "document",
                f.document_id,
                {"file": name, "collection": target, "outcome": f.outcome.value, "sha256": f.sha256},
            )
        return report

    return r
