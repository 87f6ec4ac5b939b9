"""Builds the configured backend."""

from __future__ import annotations

from archive_search.errors import ArchiveError
from archive_search.settings import Settings
from index.analysis import Analyzer
from index.backend import SearchBackend
from index.embedded import EmbeddedBackend


def make_backend(settings: Settings, analyzer: Analyzer) -> SearchBackend:
    if settings.backend == "embedded":
        return EmbeddedBackend(
            settings.index_dir / "embedded",
            analyzer,
            vector_flush_s=settings.vector_flush_s,
            native=settings.keyword_native,
        )
    if settings.backend == "opensearch" and settings.opensearch_url:
        from index.opensearch import OpenSearchBackend

        return OpenSearchBackend(
            settings.opensearch_url, analyzer, index_prefix=settings.opensearch_index_prefix
        )
    raise ArchiveError(
        "ARCHIVE_BACKEND=opensearch is not available in this version yet; use the embedded backend",
        code="backend_unavailable",
    )
