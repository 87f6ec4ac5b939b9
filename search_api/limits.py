"""Request body limits (ASGI middleware) and a time limit for slow calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive_search.errors import ArchiveError

T = TypeVar("T")
UPLOAD_PATHS = ("/api/v1/documents", "/upload")
"""Routes that take whole files (the API's and the web UI's upload): up to the file size limit."""
LIST_PATHS = ("/api/v1/search/batch/csv", "/batch")
"""Routes that take an uploaded list (CSV of names): up to ``LIST_MAX_BYTES``."""
LIST_MAX_BYTES = 6 * 1024 * 1024


class TimeoutError_(ArchiveError):
    code = "timeout"
    status = 503


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 — by ``Content-Length`` before reading, and by
    counting while reading when the length is not announced (chunked transfer)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path")
        if path in UPLOAD_PATHS:
            limit = self.max_upload_bytes
        elif path in LIST_PATHS:
            limit = max(self.max_bytes, LIST_MAX_BYTES)
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
    body = json.dumps(
        {"error": {"code": "too_large", "message": f"request body larger than {limit} bytes"}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def within(seconds: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking ``fn`` in the thread pool; answer 503 ``timeout`` if it takes too long (the
    work itself is not interrupted, its result is dropped)."""
    call: Awaitable[T] = run_in_threadpool(fn, *args, **kwargs)
    try:
        return await asyncio.wait_for(call, timeout=seconds)
    except TimeoutError as exc:
        raise TimeoutError_(f"the request took longer than {seconds:g} s") from exc
