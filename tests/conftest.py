"""Shared fixtures: catalogs on SQLite and on a real throwaway PostgreSQL, services, sample data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_search.search_api.service import ArchiveService
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN, SearchRequest
from tests.opensearch_node import opensearch_url
from tests.pgcluster import PostgresCluster, find_bindir

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "archive_search" / "sample_archive" / "files"

SLOW_MODULES = {
    "test_access_property",  # hypothesis over grants and queries
    "test_leak_matrix",  # every route × every role
    "test_crash_safety",  # kills processes mid-write
    "test_parallel_ingest",
    "test_queue",  # several worker processes
    "test_robustness",
    "test_hardening",
    "test_audit",
    "test_export",
    "test_maintenance",
    "test_cli",
    "test_extractors_djvu_jp2",
    "test_export_store",
}
"""Modules marked ``slow``: they spawn or kill processes, or sweep many cases."""
INTEGRATION_FIXTURES = {"pg_cluster", "live_opensearch"}
INTEGRATION_PARAMS = {"postgresql", "opensearch"}
INTEGRATION_MODULES = {"test_pgcluster"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers from what a test uses (``pyproject.toml`` registers them): ``browser`` for a test
    that drives Chromium, ``integration`` for one on PostgreSQL or OpenSearch, ``slow`` by module.
    ``pytest -m "not slow and not browser and not integration"`` runs the fast part."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "chromium" in names:
            item.add_marker(pytest.mark.browser)
        uses_server = names & INTEGRATION_FIXTURES or INTEGRATION_PARAMS & {str(v) for v in params.values()}
        if uses_server or item.path.stem in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.integration)
        if item.path.stem in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    if find_bindir() is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI is set but PostgreSQL is not installed (scripts/setup.sh installs it)")
        pytest.skip("PostgreSQL server is not installed")
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def live_opensearch() -> Iterator[str]:
    """The URL of a real OpenSearch node (``tests/opensearch_node.py``); never skipped."""
    with opensearch_url() as url:
        yield url


def new_catalog_url(kind: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty catalog database of the given kind."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'catalog.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = cluster.create_database(name)
    request.addfinalizer(lambda: cluster.drop_database(name))
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh catalog on each database the service supports (tests run on both)."""
    return new_catalog_url(str(request.param), tmp_path, request)


def ingest_texts(service: ArchiveService, folder: Path, texts: dict[str, str]) -> ArchiveService:
    """Write each text to ``folder/NAME`` and ingest the folder into collection ``c``; all must end ok."""
    folder.mkdir()
    for name, text in texts.items():
        (folder / name).write_text(text + "\n", "utf-8")
    report = service.ingest([folder], "c")
    assert all(f.outcome == "ok" for f in report.files), report.files
    return service


def keyword_files(service: ArchiveService, q: str) -> set[str]:
    """File names of the documents a keyword search finds (first 50)."""
    res = service.search(SearchRequest(q=q, mode="keyword", size=50), LOCAL_ADMIN)
    return {h.filename for h in res.hits}


def make_settings(data_dir: Path, catalog_url: str, **extra: object) -> Settings:
    return Settings(data_dir=data_dir, database_url=catalog_url, embedder="none", **extra)  # type: ignore[arg-type]


@pytest.fixture
def service(tmp_path: Path, catalog_url: str) -> Iterator[ArchiveService]:
    svc = ArchiveService(make_settings(tmp_path / "data", catalog_url))
    yield svc
    svc.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sample_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArchiveService]:
    """A service with the whole sample archive ingested once per module and database kind."""
    tmp = tmp_path_factory.mktemp(f"sample-{request.param}")
    url = new_catalog_url(str(request.param), tmp, request)
    svc = ArchiveService(make_settings(tmp / "data", url))
    report = svc.ingest([SAMPLE_DIR], "sample")
    assert all(f.outcome == "ok" for f in report.files), [f for f in report.files if f.outcome != "ok"]
    yield svc
    svc.close()
