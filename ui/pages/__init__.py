"""The web interface's page routes, one module per resource, mirroring the API's routers
(``search_api/routes/``): ``auth`` (login, logout, language), ``search`` (the search page and
the selection of results), ``documents`` (viewer, original, page images), ``corroboration``
(a passage's similar passages by source), ``cases``, ``tags``, ``batch``, ``saved``,
``history``, ``metadata``, ``uploads``, ``admin`` (users, groups, grants, collections) and
``care`` (withdrawal, purge, holds, restrictions, redaction, retention review).
Helpers and the login dependency are in ``ui/common.py``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ui.common import STATIC_DIR, install_login_handlers
from ui.pages import (
    admin,
    auth,
    batch,
    care,
    cases,
    corroboration,
    documents,
    entities,
    history,
    metadata,
    saved,
    search,
    tags,
    uploads,
)

ROUTERS = (
    auth,
    search,
    documents,
    corroboration,
    cases,
    tags,
    entities,
    metadata,
    batch,
    saved,
    history,
    uploads,
    admin,
    care,
)


def install_ui(app: FastAPI) -> None:
    """Mount the static files and include the page routes (``/`` included) into ``app``."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="ui-static")
    install_login_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
