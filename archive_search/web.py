"""The application factory: the HTTP API (``search_api``) with the web interface (``ui``) mounted.

It sits above both layers, so that ``search_api`` never imports ``ui``; it is the one module
that may import ``ui`` (``tests/test_layering.py``). ``archive serve`` and the tests use it.
"""

from __future__ import annotations

from fastapi import FastAPI

from archive_search.settings import Settings
from search_api.app import create_api
from search_api.service import ArchiveService
from ui import install_ui


def create_app(settings: Settings | None = None, service: ArchiveService | None = None) -> FastAPI:
    """API and web interface; pass a service to share one with the caller (tests, ``archive serve``)."""
    app = create_api(settings, service)
    install_ui(app)  # the web interface: "/" (search), /login, /documents/…, /static
    return app
