"""The web interface: server-rendered pages (Jinja2) over ``ArchiveService``; see docs/ui.md."""

from ui.pages import install_ui

__all__ = ["install_ui"]
