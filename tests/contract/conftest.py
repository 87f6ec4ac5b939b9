"""Fixtures of the backend contract suite: every search backend runs the same tests unchanged.

A backend factory opens a backend at a *location* (a folder for the embedded backend; the
OpenSearch backend derives its index name from it), so the persistence test can open a second
instance on the same data. Add a new backend by adding a factory to ``FACTORIES``.

The backends are given ``PlainAnalyzer``, a pinned copy of the analyser's contract (one folded
term per word, positions in order), so the suite tests the backends and not the evolving
morphology of ``archive_search.index.analysis.Analyzer``; one test runs the real analyser.

The ``opensearch`` backend runs against a real node on every run: ``ARCHIVE_OPENSEARCH_URL``, or
one the session starts itself (``live_opensearch`` in ``tests/conftest.py``); it is never skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archive_search.index.analysis import Analyzer
from archive_search.index.backend import SearchBackend
from archive_search.types import AnalyzedToken

OPENSEARCH_URL_ENV = "ARCHIVE_OPENSEARCH_URL"
DIM = 16
"""Vector dimension of every contract test."""

_WORD = re.compile(r"[^\W_]+(?:['’ʼ`][^\W_]+)*", re.UNICODE)


class PlainAnalyzer(Analyzer):
    """Pinned for the contract: each word one term (NFC, case-folded, ё→е); ``tokens`` uses
    ``terms_for``, so a subclass can index several terms at one position."""

    def tokens(self, text: str) -> list[AnalyzedToken]:
        return [
            AnalyzedToken(terms=self.terms_for(m.group(0)), position=pos, start=m.start(), end=m.end())
            for pos, m in enumerate(_WORD.finditer(text))
        ]

    def terms_for(self, word: str) -> tuple[str, ...]:
        return (unicodedata.normalize("NFC", word).casefold().replace("ё", "е"),)

    def query_terms(self, word: str) -> tuple[str, ...]:
        return self.terms_for(word)


BackendFactory = Callable[[Path, Analyzer], SearchBackend]
OpenBackend = Callable[..., SearchBackend]


def _embedded(location: Path, analyzer: Analyzer) -> SearchBackend:
    from archive_search.index.embedded import EmbeddedBackend

    return EmbeddedBackend(location, analyzer)


def _opensearch(location: Path, analyzer: Analyzer) -> SearchBackend:
    url = os.environ[OPENSEARCH_URL_ENV]  # set by the backend_factory fixture
    from archive_search.index.opensearch import OpenSearchBackend
    # one index per test location: the same location reopens the same index (persistence test)
    index = "archive-contract-" + hashlib.sha256(str(location).encode()).hexdigest()[:16]
    backend: SearchBackend = OpenSearchBackend(url, analyzer, index=index, dim=DIM)
    return backend


FACTORIES: dict[str, BackendFactory] = {"embedded": _embedded, "opensearch": _opensearch}


@pytest.fixture(params=["embedded", "opensearch"])
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend_factory(
    backend_name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> BackendFactory:
    if backend_name == "opensearch":
        monkeypatch.setenv(OPENSEARCH_URL_ENV, request.getfixturevalue("live_opensearch"))
    return FACTORIES[backend_name]


@pytest.fixture
def analyzer() -> Analyzer:
    return PlainAnalyzer()


@pytest.fixture
def open_backend(
    backend_factory: BackendFactory, backend_name: str, tmp_path: Path, analyzer: Analyzer
) -> Iterator[OpenBackend]:
    """Opens backends (default location: this test's index folder); all are closed afterwards."""
    opened: list[SearchBackend] = []
    default_location = tmp_path / "index"

    def open_(location: Path | None = None, analyzer_: Analyzer | None = None) -> SearchBackend:
        b = backend_factory(location or default_location, analyzer_ or analyzer)
        opened.append(b)
        return b

    yield open_
    for i, b in enumerate(reversed(opened)):
        if backend_name != "embedded" and i == 0:
            # a server-side index outlives tmp_path: leave nothing behind (clear() would leave an
            # empty index; drop() deletes the alias and its indices)
            getattr(b, "drop", b.clear)()
        b.close()


@pytest.fixture
def backend(open_backend: OpenBackend) -> SearchBackend:
    return open_backend()
