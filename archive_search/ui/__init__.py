"""The web interface: server-rendered pages (Jinja2) over ``ArchiveService``; see docs/ui.md."""

from archive_search.ui.routes import install_ui, router

__all__ = ["install_ui", "router"]
