"""Distributed ingestion: `archive ingest --queue` records work, `archive worker` processes claim it
(SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, compare-and-set on SQLite), with leases, heartbeats
and takeover of a killed worker's file. docker-compose.yml is checked against the command line."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select, update

from archive_search.catalog.models import Document, IngestItem, IngestJob, Passage
from ingest.queue import IngestQueue
from search_api.service import ArchiveService
from tests.conftest import REPO, SAMPLE_DIR, make_settings

ARCHIVE = Path(sys.executable).with_name("archive")
SCAN_PDF = SAMPLE_DIR / "scan-ru-article-5.pdf"  # OCR: several seconds, longer than the short leases


def _queue(
    svc: ArchiveService, *, lease_s: float = 300, max_attempts: int = 3, name: str | None = None
) -> IngestQueue:
    return IngestQueue(svc.catalog, svc.store, lease_s=lease_s, max_attempts=max_attempts, name=name)


def _texts(folder: Path, n: int, *, dupes: int = 0) -> set[bytes]:
    """``n`` distinct small text files plus ``dupes`` copies of the first ones; returns the contents."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = set()
    for i in range(n):
        body = f"Document number {i}. Свидетель {i} рассказал о задержании в городе номер {i}.\n".encode()
        (folder / f"doc-{i:03d}.txt").write_bytes(body)
        contents.add(body)
    for i in range(dupes):
        (folder / f"copy-{i:03d}.txt").write_bytes((folder / f"doc-{i:03d}.txt").read_bytes())
    return contents


def _slow_pdf(path: Path, pages: int = 2) -> Path:
    """A scanned PDF of several pages: its OCR takes seconds, longer than the tests' leases."""
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(SCAN_PDF)
    out = pdfium.PdfDocument.new()
    for _ in range(pages):
        out.import_pages(src)
    out.save(path)
    return path


def _items(svc: ArchiveService) -> list[IngestItem]:
    with svc.catalog.session() as s:
        return list(s.scalars(select(IngestItem).order_by(IngestItem.id)))


# -- the queue in one process, on SQLite and PostgreSQL ------------------------------------------


def test_submit_claim_finish(service: ArchiveService, tmp_path: Path) -> None:
    _texts(tmp_path / "in", 3)
    (tmp_path / "in" / "big.txt").write_bytes(b"x" * 2000)
    svc = ArchiveService(
        make_settings(service.settings.data_dir, service.settings.catalog_url, max_file_bytes=1000)
    )
    try:
        q = IngestQueue(svc.catalog, svc.store, max_file_bytes=1000, name="w1")
        sub = q.submit([tmp_path / "in"], "queued")
        assert sub.queued == 3
        assert [(r.outcome, r.code) for r in sub.refused] == [("skipped", "too_large")]
        assert svc.status()["queue"] == {"queued": 3, "running": 0}
        # the submitter stored every original: workers need only the shared data folder
        for it in _items(svc):
            if it.state == "queued":
                assert it.sha256 and svc.store.path_for(it.sha256).exists()
        claims = []
        while (c := q.claim()) is not None:
            claims.append(c)
        assert len({c.item_id for c in claims}) == 3
        assert svc.status()["queue"] == {"queued": 0, "running": 3}
        ingestor = svc.ingestor()
        for c in claims:
            assert q.finish(c, q.process(c, ingestor))
        q.release()
        items = _items(svc)
        assert sorted(i.state for i in items) == ["ok", "ok", "ok", "skipped"]
        assert all(i.claimed_by == "w1" and i.attempts == 1 for i in items if i.state == "ok")
        assert all(
            i.document_id and i.file_id and i.lease_expires_at is None for i in items if i.state == "ok"
        )
        with svc.catalog.session() as s:
            job = s.get(IngestJob, sub.job_id)
            assert job is not None and job.status == "done" and job.finished_at is not None
        assert svc.status()["queue"] == {"queued": 0, "running": 0}
        assert svc.status()["files"] == {"ok": 3, "failed": 0, "skipped": 1}
    finally:
        svc.close()


def test_expired_lease_is_taken_over_and_the_old_worker_cannot_finish(
    service: ArchiveService, tmp_path: Path
) -> None:
    _texts(tmp_path / "in", 1)
    a, b = _queue(service, name="a"), _queue(service, name="b")
    a.submit([tmp_path / "in"], "c")
    ca = a.claim()
    assert ca is not None
    assert b.claim() is None  # held under a live lease
    with service.catalog.session() as s:  # a's lease runs out (a was killed)
        s.execute(
            update(IngestItem)
            .where(IngestItem.id == ca.item_id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    cb = b.claim()
    assert cb is not None and cb.item_id == ca.item_id and cb.attempt == 2
    ingestor = service.ingestor()
    assert not a.finish(ca, a.process(ca, ingestor))  # a came back: its outcome is not recorded
    assert b.finish(cb, b.process(cb, ingestor))
    (item,) = _items(service)
    assert (item.state, item.claimed_by, item.attempts) == ("ok", "b", 2)
    a.release()
    b.release()


def test_a_file_that_kills_every_worker_ends_worker_lost(service: ArchiveService, tmp_path: Path) -> None:
    _texts(tmp_path / "in", 1)
    q = _queue(service, max_attempts=2)
    q.submit([tmp_path / "in"], "c")
    for _ in range(2):
        c = q.claim()
        assert c is not None
        with service.catalog.session() as s:
            s.execute(
                update(IngestItem)
                .where(IngestItem.id == c.item_id)
                .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    assert q.claim() is None
    (item,) = _items(service)
    assert (item.state, item.code, item.attempts) == ("failed", "worker_lost", 2)
    with service.catalog.session() as s:
        assert s.scalar(select(IngestJob.status)) == "done"
    q.release()


def test_an_archive_taken_over_records_its_members_once(service: ArchiveService, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "Первый свидетель рассказал о задержании.\n")
        z.writestr("b.txt", "Second witness statement about the detention.\n")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bundle.zip").write_bytes(buf.getvalue())
    a, b = _queue(service, name="a"), _queue(service, name="b")
    a.submit([tmp_path / "in"], "c")
    ca = a.claim()
    assert ca is not None
    a.process(ca, service.ingestor())  # a worked the archive but died before recording its outcome
    with service.catalog.session() as s:
        s.execute(
            update(IngestItem)
            .where(IngestItem.id == ca.item_id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    cb = b.claim()
    assert cb is not None
    assert b.finish(cb, b.process(cb, service.ingestor()))
    paths = sorted(i.path for i in _items(service))
    assert len(paths) == len(set(paths)) == 3, paths  # the archive and each member: one outcome each
    assert {i.state for i in _items(service)} == {"ok"}
    with service.catalog.session() as s:
        assert s.scalar(select(func.count(Document.id))) == 3
    a.release()
    b.release()


def test_one_indexer_at_a_time(service: ArchiveService) -> None:
    a, b = _queue(service, lease_s=60, name="a"), _queue(service, lease_s=60, name="b")
    assert a.hold_indexer()
    assert not b.hold_indexer()
    assert a.hold_indexer()  # renewed
    a.release()  # a clean exit hands it on at once
    assert b.hold_indexer()
    b.release()


# -- several worker processes ------------------------------------------------------------------


def _env(data: Path, url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ARCHIVE_DATA_DIR": str(data),
        "ARCHIVE_DATABASE_URL": url,
        "ARCHIVE_EMBEDDER": "none",
        "ARCHIVE_QUEUE_POLL_S": "0.2",
        **extra,
    }


def _start_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(ARCHIVE), "worker", *args], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def _wait_all(procs: list[subprocess.Popen[bytes]], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"workers did not finish: {log.read_text(errors='replace')[-3000:]}")
        assert p.returncode == 0, log.read_text(errors="replace")[-3000:]


@pytest.mark.all_stacks  # on OpenSearch: three workers create the index at once on first use
def test_several_workers_process_each_file_exactly_once(
    catalog_url: str, backend_settings: dict[str, object], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    contents = _texts(tmp_path / "in", 40, dupes=5)
    scan = _slow_pdf(tmp_path / "scan-2-pages.pdf")
    backend_env = {f"ARCHIVE_{k.upper()}": str(v) for k, v in backend_settings.items()}
    # OCR of the scan outlasts the lease
    env = _env(data, catalog_url, ARCHIVE_QUEUE_LEASE_S="3", **backend_env)
    sub = subprocess.run(
        [str(ARCHIVE), "ingest", "--queue", "--collection", "q", str(scan), str(tmp_path / "in")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sub.returncode == 0, sub.stderr
    st = subprocess.run(
        [str(ARCHIVE), "status", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert '"queue": {"queued": 46, "running": 0}' in st.stdout
    log = tmp_path / "workers.log"
    procs = [_start_worker(env, log, "--once") for _ in range(3)]
    _wait_all(procs, 300, log)

    svc = ArchiveService(make_settings(data, catalog_url, **backend_settings))
    try:
        items = _items(svc)
        assert len(items) == 46
        assert len({i.path for i in items}) == 46  # one outcome per file
        assert {i.state for i in items} == {"ok"}, [(i.path, i.state, i.code, i.message) for i in items]
        retried = [(i.path, i.attempts, i.started_at, i.finished_at) for i in items if i.attempts != 1]
        assert not retried, f"a live worker's item was taken over: {retried} {log.read_text()[-2000:]}"
        (slow,) = [i for i in items if i.path == str(scan)]
        assert slow.started_at and slow.finished_at
        assert (slow.finished_at - slow.started_at).total_seconds() > 3, "the lease was never at risk"
        assert len({i.claimed_by for i in items}) >= 2, "the work was not shared"
        with svc.catalog.session() as s:
            docs = s.scalar(select(func.count(Document.id)))
            assert docs == len(contents) + 1  # one document per unique content (the copies are duplicates)
            assert s.scalar(select(func.count(Passage.id)).where(Passage.indexed_at.is_(None))) == 0
            assert s.scalar(select(IngestJob.status)) == "done"
            passages = s.scalar(select(func.count(Passage.id)))
        dupes = [i for i in items if i.code == "duplicate"]
        assert len(dupes) == 5
        status = svc.status()
        assert status["queue"] == {"queued": 0, "running": 0}
        assert status["backend"]["passages"] == passages  # every passage indexed once, in one index
    finally:
        svc.close()
    found = subprocess.run(
        [str(ARCHIVE), "search", "Свидетель 17", "--mode", "keyword", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0 and '"doc-017.txt"' in found.stdout


def test_a_killed_workers_file_is_taken_over(
    pg_cluster: object, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from tests.conftest import new_catalog_url

    url = new_catalog_url("postgresql", tmp_path, request)
    data = tmp_path / "data"
    _texts(tmp_path / "in", 5)
    env = _env(data, url, ARCHIVE_QUEUE_LEASE_S="3")
    sub = subprocess.run(
        [str(ARCHIVE), "ingest", "--queue", "--collection", "k", str(SCAN_PDF), str(tmp_path / "in")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sub.returncode == 0, sub.stderr
    svc = ArchiveService(make_settings(data, url))
    try:
        log = tmp_path / "workers.log"
        victim = _start_worker(env, log)
        deadline = time.monotonic() + 60
        running: list[IngestItem] = []
        while not running:  # the scan is claimed first; its OCR takes seconds
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
            running = [i for i in _items(svc) if i.state == "running"]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        (item,) = running
        assert item.path == str(SCAN_PDF)
        assert item.claimed_by and f":{victim.pid}:" in item.claimed_by
        # still running under the dead worker's lease until it expires
        (again,) = [i for i in _items(svc) if i.id == item.id]
        assert again.state == "running"

        procs = [_start_worker(env, log, "--once") for _ in range(2)]
        _wait_all(procs, 300, log)
        items = _items(svc)
        assert {i.state for i in items} == {"ok"}, [(i.path, i.state, i.code) for i in items]
        (done,) = [i for i in items if i.id == item.id]
        assert done.attempts == 2 and done.claimed_by != item.claimed_by
        assert done.document_id is not None and done.code is None
        with svc.catalog.session() as s:
            assert s.scalar(select(func.count(Document.id))) == 6
            passages = s.scalar(select(func.count(Passage.id)).where(Passage.document_id == done.document_id))
            assert passages
        assert svc.status()["queue"] == {"queued": 0, "running": 0}
    finally:
        svc.close()


def test_ingest_without_queue_is_unchanged(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", f"sqlite:///{tmp_path / 'c.sqlite3'}")
    out = subprocess.run(
        [str(ARCHIVE), "ingest", "--json", str(SAMPLE_DIR / "udhr-en.txt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert '"outcome":"ok"' in out.stdout


# -- deployment files ------------------------------------------------------------------------------


def _cli_commands() -> set[str]:
    import typer.main

    from archive_search.cli import app

    group = typer.main.get_command(app)
    return set(getattr(group, "commands", {}))


def test_compose_file_is_valid_and_runs_real_commands() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    services = compose["services"]
    assert {"postgres", "opensearch", "api", "worker"} <= set(services)
    assert services["opensearch"]["image"].startswith("opensearchproject/opensearch:2.")
    commands = _cli_commands()
    volumes = set(compose["volumes"])
    for name in ("api", "worker"):
        svc = services[name]
        assert svc["command"][0] in commands, (name, svc["command"])
        env = svc["environment"]
        assert env["ARCHIVE_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["ARCHIVE_BACKEND"] == "opensearch" and env["ARCHIVE_OPENSEARCH_URL"]
        mounts = [v.split(":")[0] for v in svc["volumes"]]
        assert "archive-data" in mounts and "archive-data" in volumes  # the shared originals
        assert {"postgres", "opensearch"} <= set(svc["depends_on"])
    assert services["worker"]["deploy"]["replicas"] >= 2
    # every ARCHIVE_ variable the compose file sets is a real setting
    from archive_search.settings import Settings

    fields = {f"ARCHIVE_{n.upper()}" for n in Settings.model_fields}
    for svc in services.values():
        for key in svc.get("environment", {}) or {}:
            assert not key.startswith("ARCHIVE_") or key in fields, key
    # the image's entry point is the `archive` command
    assert 'ENTRYPOINT ["archive"]' in (REPO / "Dockerfile").read_text("utf-8")
