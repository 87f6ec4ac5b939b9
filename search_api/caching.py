"""``Cache-Control: no-store`` on every answer but the web interface's static files (ASGI
middleware).

Whatever the service answers — search results, documents, page images, case files, batch
results, a login's token, error messages naming documents — may hold testimony or credentials,
so no browser or proxy cache may keep it: the header is set on every response, API and web
interface alike, replacing any weaker one (a page image's ``private, max-age`` before). The static
files under ``/static/`` (style sheets, scripts, icons: the same for everyone) stay cacheable.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_PREFIXES = ("/static/",)


class NoStoreMiddleware:
    """Sets ``Cache-Control: no-store`` on every response outside ``PUBLIC_PREFIXES``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                old = message.get("headers", [])
                kept = [v for k, v in old if k.lower() == b"cache-control"]
                value = kept[0] if kept and b"no-store" in kept[0] else b"no-store"
                headers = [(k, v) for k, v in old if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", value)]}
            await send(message)

        await self.app(scope, receive, no_store)
