"""Request body limits and authentication before any body is read (ASGI middleware), and a time
limit for slow calls.

Order of the checks for a request that carries a body (``AuthGateMiddleware`` outside
``BodyLimitMiddleware``): the caller's token or session first — an anonymous or invalid one is
answered 401 (API) or sent to the login page (UI) without a byte of the body read —, then the
caller's concurrent uploads, then the announced length, then the length while reading."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive_search.errors import ArchiveError, UnauthorizedError

T = TypeVar("T")
UPLOAD_PATHS = ("/api/v1/documents", "/api/v1/uploads", "/upload")
"""Routes that take whole files (the API's and the web UI's upload): up to the file size limit."""
LIST_PATHS = ("/api/v1/search/batch/csv", "/batch")
"""Routes that take an uploaded list (CSV of names): up to ``ARCHIVE_MAX_LIST_BYTES``."""
API_PREFIX = "/api/v1/"
ANONYMOUS_POSTS = frozenset({"/api/v1/auth/token", "/login", "/logout", "/lang"})
"""Routes that take a body from a caller without a token or session (the login forms, the UI's
logout and language switch); every other body waits for a valid token (API) or session (UI)."""
SESSION_COOKIE = "archive_session"
"""The web interface's session cookie (``ui/session.py``; ``search_api`` may not import ``ui``)."""


class TimeoutError_(ArchiveError):
    code = "timeout"
    status = 503


class TooLargeError(ArchiveError):
    """The request body is over its route's limit."""

    code = "too_large"
    status = 413


class TooManyUploadsError(ArchiveError):
    """The caller already sends ``ARCHIVE_MAX_CONCURRENT_UPLOADS`` uploads."""

    code = "too_many_uploads"
    status = 429


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 — by ``Content-Length`` before reading, and by
    counting while reading when the length is not announced (chunked transfer)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int, max_list_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes
        self.max_list_bytes = max_list_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path")
        if path in UPLOAD_PATHS:
            limit = self.max_upload_bytes
        elif path in LIST_PATHS:
            limit = self.max_list_bytes
        else:
            limit = self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = -1
                if announced > limit or announced < 0:
                    await _too_large(send, limit)
                    return
        seen = 0
        exceeded = False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # stop reading; whatever the route answers about the cut body is replaced
                    exceeded = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        replaced = False

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if not exceeded:
                await send(message)
            elif not replaced:
                replaced = True
                await _too_large(send, limit)

        await self.app(scope, counting_receive, guarded_send)
        if exceeded and not replaced:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    await _error(send, TooLargeError(f"request body larger than {limit} bytes"))


async def _error(send: Send, exc: ArchiveError, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """An answer in the API's one error shape, sent without reading the request's body."""
    error = {"code": exc.code, "message": exc.message}
    body = json.dumps({"error": error}, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above 0, or a chunked transfer)."""
    for name, value in scope.get("headers", []):
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() not in (b"", b"0"):
            return True
    return False


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    """The bearer token of ``Authorization`` and the session cookie's token, where given."""
    bearer = session = None
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
        elif name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == SESSION_COOKIE and val:
                    session = val
    return bearer, session


class AuthGateMiddleware:
    """Authentication before the body: a request with a body to any route but the anonymous ones
    (``ANONYMOUS_POSTS``) is answered before a byte of it is read unless its bearer token (API)
    or session cookie (web interface) is valid — 401 in the error shape, or the UI's redirect to
    the login page —; then at most ``max_concurrent_uploads`` uploads per user run at once (429
    ``too_many_uploads`` beyond, also unread). The route checks the caller again as always: this
    only decides whether the body is worth reading. Counts are per server process."""

    def __init__(self, app: ASGIApp, *, max_concurrent_uploads: int) -> None:
        self.app = app
        self.max_concurrent_uploads = max_concurrent_uploads
        self.uploads: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in ANONYMOUS_POSTS or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        api = path.startswith(API_PREFIX)
        bearer, session = _credentials(scope)
        token = bearer if api else session
        user: str | None = None
        if token is not None:
            service = scope["app"].state.service
            try:
                principal = await run_in_threadpool(service.accounts.principal_for_token, token)
                user = principal.name
            except UnauthorizedError:
                user = None
        if user is None:
            if api:
                message = "authentication required: send Authorization: Bearer <token>"
                await _error(send, UnauthorizedError(message), [(b"www-authenticate", b"Bearer")])
            else:
                target = "/login?" + urlencode({"next": path})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [
                            (b"location", target.encode("latin-1")),
                            (b"content-length", b"0"),
                            (b"cache-control", b"no-store"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
            return
        if path not in UPLOAD_PATHS:
            await self.app(scope, receive, send)
            return
        running = self.uploads.get(user, 0)
        if running >= self.max_concurrent_uploads:
            limit = self.max_concurrent_uploads
            await _error(
                send, TooManyUploadsError(f"{running} uploads of yours are running; at most {limit} at once")
            )
            return
        self.uploads[user] = running + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.uploads.get(user, 1) - 1
            if left > 0:
                self.uploads[user] = left
            else:
                self.uploads.pop(user, None)


async def within(seconds: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking ``fn`` in the thread pool; answer 503 ``timeout`` if it takes too long (the
    work itself is not interrupted, its result is dropped)."""
    call: Awaitable[T] = run_in_threadpool(fn, *args, **kwargs)
    try:
        return await asyncio.wait_for(call, timeout=seconds)
    except TimeoutError as exc:
        raise TimeoutError_(f"the request took longer than {seconds:g} s") from exc
