"""The HTTP API (FastAPI) under ``/api/v1``; ``/healthz`` outside it.

:func:`create_api` builds the API alone; the application served (API and web interface) comes
from ``archive_search.web.create_app``, which sits above both ``search_api`` and ``ui``.
Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with a fitting status
(``http_errors.py``); the routers, one per resource, are in ``routes/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from archive_search import __version__
from archive_search.settings import Settings, get_settings
from search_api.auth import dummy_hash
from search_api.caching import NoStoreMiddleware
from search_api.deps import ServiceDep, reject_empty_form_fields, reject_unknown_query
from search_api.http_errors import install_error_handlers
from search_api.limits import AuthGateMiddleware, BodyLimitMiddleware
from search_api.routes import ROUTERS
from search_api.service import ArchiveService


def create_api(settings: Settings | None = None, service: ArchiveService | None = None) -> FastAPI:
    """The API; pass a service to share one with the caller (tests, ``archive serve``)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = service or ArchiveService(settings)
        dummy_hash()  # before the first login, so an unknown user's answer takes as long
        try:
            yield
        finally:
            if owned:
                app.state.service.close()

    app = FastAPI(
        title="Archive search",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        # no Swagger UI: FastAPI's page loads its scripts from a public CDN (and a favicon from
        # another site) on the UI's origin, and nothing may leave the machine (issue 22). The
        # schema itself stays at openapi.json for any local viewer.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    if service is not None:
        app.state.service = service
    install_error_handlers(app)

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

    for router in ROUTERS:
        checks = [Depends(reject_unknown_query), Depends(reject_empty_form_fields)]
        app.include_router(router, prefix="/api/v1", dependencies=checks)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_file_bytes + 1024 * 1024,
        max_list_bytes=settings.max_list_bytes,
    )
    app.add_middleware(NoStoreMiddleware)
    # added last, so it runs first: no body is read (nor its length weighed) before the caller is known
    app.add_middleware(AuthGateMiddleware, max_concurrent_uploads=settings.max_concurrent_uploads)
    return app
