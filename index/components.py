"""A view over the components a service owns (settings, catalog, original store, backend,
analyser, embedder), read on every use, so that a backend the owner reopens or a settings object it is
given are seen at once by everything built on the view (retrieval, ingestion jobs)."""

from __future__ import annotations

from typing import Protocol

from archive_search.catalog.db import Catalog
from archive_search.catalog.store import OriginalStore
from archive_search.settings import Settings
from index.analysis import Analyzer
from index.backend import SearchBackend
from index.embeddings import Embedder


class Components(Protocol):
    """What an owner (``ArchiveService``) offers."""

    settings: Settings
    catalog: Catalog
    store: OriginalStore
    analyzer: Analyzer
    backend: SearchBackend

    def embedder(self) -> Embedder | None: ...


class ComponentsView:
    """The owner's components as attributes of this object."""

    def __init__(self, owner: Components) -> None:
        self._owner = owner

    @property
    def settings(self) -> Settings:
        return self._owner.settings

    @property
    def catalog(self) -> Catalog:
        return self._owner.catalog

    @property
    def store(self) -> OriginalStore:
        return self._owner.store

    @property
    def analyzer(self) -> Analyzer:
        return self._owner.analyzer

    @property
    def backend(self) -> SearchBackend:
        return self._owner.backend

    def embedder(self) -> Embedder | None:
        return self._owner.embedder()
