"""Archive search: full-text and semantic search over a human-rights documentation archive."""

__version__ = "0.1.0"
