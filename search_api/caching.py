"""``Cache-Control: no-store`` on every answer to a signed-in caller (ASGI middleware).

Whatever a caller with a token or session gets — search results, documents, page images, case
files, batch results, error messages naming documents — may hold testimony, so no browser or
proxy cache may keep it: the header is set on every such response, API and web interface alike,
replacing any weaker one (a page image's ``private, max-age`` before). The web interface's static
files (``/static/``: style sheets, scripts, icons; the same for everyone) stay cacheable.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search_api.limits import SESSION_COOKIE

PUBLIC_PREFIXES = ("/static/",)


def _signed_in(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return True
        if name == b"cookie" and SESSION_COOKIE.encode() + b"=" in value:
            return True
    return False


class NoStoreMiddleware:
    """Sets ``Cache-Control: no-store`` on the responses to requests with a bearer token or a
    session cookie, outside ``PUBLIC_PREFIXES``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(PUBLIC_PREFIXES) or not _signed_in(scope):
            await self.app(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                kept = [v for k, v in message.get("headers", []) if k.lower() == b"cache-control"]
                value = kept[0] if kept and b"no-store" in kept[0] else b"no-store"
                message = {**message, "headers": [*headers, (b"cache-control", value)]}
            await send(message)

        await self.app(scope, receive, no_store)
