"""The one error shape of the HTTP API, ``{"error": {"code": ..., "message": ...}}``, its OpenAPI
description and the exception handlers that produce it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from archive_search.errors import ArchiveError
from search_api.routing import allowed_methods


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
"""The error answers every API route may give (the ``responses`` of each router)."""


HTTP_CODES: dict[int, str] = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
"""The codes of errors that Starlette raises (no route, wrong method); any other is ``http_error``."""
HTTP_FALLBACK_CODE = "http_error"


async def audit_refusal(request: Request, status: int, code: str) -> None:
    """A 404 or 403 to a signed-in caller goes to the audit log as ``denied`` (rate-limited per
    user: ``search_api/audit.py: DeniedReads``); an anonymous caller has no name to record."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return
    denied = request.app.state.service.denied
    await run_in_threadpool(denied.record, principal.name, request.method, request.url.path, status, code)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with a fitting status."""

    @app.exception_handler(ArchiveError)
    async def _archive_error(request: Request, exc: ArchiveError) -> JSONResponse:
        if exc.status in (403, 404):
            await audit_refusal(request, exc.status, exc.code)
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
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, HTTP_FALLBACK_CODE)
        resp = error_response(exc.status_code, code, str(exc.detail))
        # the framework's own headers go out too (``WWW-Authenticate``, …)
        for name, value in (exc.headers or {}).items():
            resp.headers[name] = value
        if exc.status_code == 405:
            # every method of the path (RFC 9110), not just those of the first route that matched it
            methods = allowed_methods(request.app, request.url.path)
            if methods is not None:
                resp.headers["Allow"] = ", ".join(methods)
        return resp

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - last resort
        return error_response(500, "internal_error", "internal error")
