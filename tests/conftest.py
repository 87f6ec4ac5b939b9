"""Shared fixtures: catalogs on SQLite and on a real throwaway PostgreSQL, services, sample data."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Collection, Document, Passage
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN, SearchRequest
from search_api.service import ArchiveService
from tests.opensearch_node import opensearch_url
from tests.pgcluster import PostgresCluster, find_bindir

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "archive_search" / "sample_archive" / "files"
PACKAGES = ("archive_search", "ingest", "index", "search_api", "ui")
"""The import packages at the repository's top level: the shared core, then the layers."""


def source_files() -> list[Path]:
    """Every Python file of the product (the top-level packages), sorted."""
    return sorted(p for name in PACKAGES for p in (REPO / name).rglob("*.py"))


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
    "test_opensearch_cluster",  # starts a three-node cluster and kills nodes
}
"""Modules marked ``slow``: they spawn or kill processes, or sweep many cases."""
INTEGRATION_FIXTURES = {"pg_cluster", "live_opensearch"}
INTEGRATION_PARAMS = {"postgresql", "opensearch"}
INTEGRATION_MODULES = {"test_pgcluster", "test_opensearch_cluster"}


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


STACKS: dict[str, tuple[str, str]] = {
    "sqlite": ("sqlite", "embedded"),
    "postgresql": ("postgresql", "embedded"),
    "opensearch": ("postgresql", "opensearch"),
}
"""The service stacks end-to-end tests run on: name -> (catalog database, search backend)."""
DEFAULT_STACKS = ("sqlite", "postgresql")
ALL_STACKS_MARK = "all_stacks"
"""Tests (or modules) marked ``@pytest.mark.all_stacks`` also run on OpenSearch + PostgreSQL
(``pytest -k opensearch`` selects those runs, with every other test of the OpenSearch backend)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{ALL_STACKS_MARK}: the service fixtures (service, sample_service, backend_settings) also run "
        "on the stack OpenSearch + PostgreSQL, not only on the embedded backend with SQLite and PostgreSQL",
    )


def stacks_for(metafunc: pytest.Metafunc) -> list[str]:
    names = list(DEFAULT_STACKS)
    if metafunc.definition.get_closest_marker(ALL_STACKS_MARK) is not None:
        names.append("opensearch")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``stack`` (per test) and ``sample_stack`` (per module) run on every stack the test may use;
    a test that only asks for ``catalog_url`` runs on SQLite and PostgreSQL."""
    if "stack" in metafunc.fixturenames:
        wants_backend = {"service", "backend_settings"} & set(metafunc.fixturenames)
        names = stacks_for(metafunc) if wants_backend else list(DEFAULT_STACKS)
        metafunc.parametrize("stack", names, indirect=True)
    if "sample_stack" in metafunc.fixturenames:
        metafunc.parametrize("sample_stack", stacks_for(metafunc), indirect=True, scope="module")


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def sample_stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def drop_opensearch_prefix(url: str, prefix: str) -> None:
    """Delete the alias ``{prefix}-passages`` and every index behind it (test teardown)."""
    from index.analysis import Analyzer
    from index.opensearch import OpenSearchBackend

    backend = OpenSearchBackend(url, Analyzer(), index_prefix=prefix)
    try:
        backend.drop()
    finally:
        backend.close()


def stack_backend_settings(name: str, request: pytest.FixtureRequest) -> dict[str, object]:
    """Settings of the stack's search backend; an OpenSearch stack gets an index prefix of its own,
    whose indices are deleted when the requesting fixture ends."""
    if STACKS[name][1] != "opensearch":
        return {}
    url = str(request.getfixturevalue("live_opensearch"))
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    request.addfinalizer(lambda: drop_opensearch_prefix(url, prefix))
    return {"backend": "opensearch", "opensearch_url": url, "opensearch_index_prefix": prefix}


@pytest.fixture
def catalog_url(request: pytest.FixtureRequest, stack: str, tmp_path: Path) -> str:
    """A fresh catalog on each database the service supports (tests run on both)."""
    return new_catalog_url(STACKS[stack][0], tmp_path, request)


@pytest.fixture
def backend_settings(request: pytest.FixtureRequest, stack: str) -> dict[str, object]:
    """Extra settings that select the stack's search backend (``{}`` for the embedded one)."""
    return stack_backend_settings(stack, request)


def ingest_texts(service: ArchiveService, folder: Path, texts: dict[str, str]) -> ArchiveService:
    """Write each text to ``folder/NAME`` and ingest the folder into collection ``c``; all must end ok."""
    folder.mkdir()
    for name, text in texts.items():
        (folder / name).write_text(text + "\n", "utf-8")
    report = service.ingest([folder], "c")
    assert all(f.outcome == "ok" for f in report.files), report.files
    return service


def ingest_files(
    svc: ArchiveService, folder: Path, files: Mapping[str, str | bytes], collection: str
) -> dict[str, int]:
    """Write ``files`` (name → text or bytes) to ``folder`` and ingest them into ``collection``,
    every one ``ok``; the collection's documents' ids by file name."""
    folder.mkdir(exist_ok=True)
    for name, body in files.items():
        if isinstance(body, bytes):
            (folder / name).write_bytes(body)
        else:
            (folder / name).write_text(body, encoding="utf-8")
    report = svc.ingest([folder / name for name in sorted(files)], collection)
    assert all(f.outcome == "ok" for f in report.files), report.files
    with svc.catalog.session() as s:
        rows = s.execute(
            select(Document.filename, Document.id)
            .join(Collection, Document.collection_id == Collection.id)
            .where(Collection.name == collection)
        )
        return {name: int(doc_id) for name, doc_id in rows}


def first_passage_of(svc: ArchiveService, filename: str) -> int:
    """The id of the first passage of the document named ``filename`` (0: no such document)."""
    with svc.catalog.session() as s:
        return int(
            s.scalar(
                select(Passage.id).join(Document).where(Document.filename == filename).order_by(Passage.seq)
            )
            or 0
        )


ARCHIVE_EXE = Path(sys.executable).with_name("archive")
"""The installed ``archive`` command of this environment."""


def run_archive(
    data_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    umask: int = -1,
) -> subprocess.CompletedProcess[str]:
    """``archive ARGS`` as a user runs it: a real process on the data folder ``data_dir`` (its own
    SQLite catalog, the embedded backend, no embedder — unless ``env`` says otherwise)."""
    full = {**os.environ, "ARCHIVE_DATA_DIR": str(data_dir), "ARCHIVE_EMBEDDER": "none"}
    for inherited in ("ARCHIVE_DATABASE_URL", "ARCHIVE_BACKEND"):
        full.pop(inherited, None)
    full.update(env or {})
    return subprocess.run(
        [str(ARCHIVE_EXE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
        check=False,
        umask=umask,
    )


def keyword_files(service: ArchiveService, q: str) -> set[str]:
    """File names of the documents a keyword search finds (first 50)."""
    res = service.search(SearchRequest(q=q, mode="keyword", size=50), LOCAL_ADMIN)
    return {h.filename for h in res.hits}


def make_settings(data_dir: Path, catalog_url: str, **extra: object) -> Settings:
    """Settings of a test service (embedder ``none`` unless ``extra`` says otherwise)."""
    fields: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": catalog_url,
        "embedder": "none",
        **extra,
    }
    return Settings(**fields)  # type: ignore[arg-type]


def stack_settings(name: str, tmp: Path, request: pytest.FixtureRequest, **extra: object) -> Settings:
    """Settings of a service on the stack ``name`` (``STACKS``) with its data folder in ``tmp``; the
    catalog database and an OpenSearch index are removed when the requesting fixture ends."""
    url = new_catalog_url(STACKS[name][0], tmp, request)
    return make_settings(tmp / "data", url, **stack_backend_settings(name, request), **extra)


@pytest.fixture
def service(
    tmp_path: Path, stack: str, catalog_url: str, backend_settings: dict[str, object]
) -> Iterator[ArchiveService]:
    svc = ArchiveService(make_settings(tmp_path / "data", catalog_url, **backend_settings))
    assert svc.backend.name == STACKS[stack][1]
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def sample_service(
    request: pytest.FixtureRequest, sample_stack: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArchiveService]:
    """A service with the whole sample archive ingested once per module and stack."""
    tmp = tmp_path_factory.mktemp(f"sample-{sample_stack}")
    svc = ArchiveService(stack_settings(sample_stack, tmp, request))
    assert svc.backend.name == STACKS[sample_stack][1]
    report = svc.ingest([SAMPLE_DIR], "sample")
    assert all(f.outcome == "ok" for f in report.files), [f for f in report.files if f.outcome != "ok"]
    yield svc
    svc.close()
