"""Recovery after a process was killed in the middle of ``archive ingest``.

Each ingestion job run by ``Ingestor.ingest`` holds an exclusive ``flock`` on
``<originals>/.ingest-locks/job-<id>.lock`` while it runs; the kernel drops the lock when the
process dies, however it dies (``kill -9`` included). ``recover_interrupted`` (called when an
ingestion starts) finds jobs still marked ``running`` whose lock file exists but is not held: their
process is gone, so their items still ``running`` become ``failed(interrupted)`` and the job
``interrupted``. Re-running the same ingestion redoes those files: a file whose document was
committed just before the kill is then an ``ok(duplicate)``; one whose transaction was cut short
left nothing in the catalog (document, pages and passages are one transaction).

Jobs without a lock file (queued jobs of ``archive worker``, which have leases of their own) are
left alone. The lock is local to a machine: processes ingesting into one catalog from several
machines must use the queue.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import IngestItem, IngestJob

log = logging.getLogger(__name__)
LOCK_DIR = ".ingest-locks"


def _lock_path(store_root: Path, job_id: int) -> Path:
    return store_root / LOCK_DIR / f"job-{job_id}.lock"


@contextmanager
def job_lock(store_root: Path, job_id: int) -> Iterator[None]:
    """Hold the job's lock while the block runs; the file is removed when it ends normally."""
    path = _lock_path(store_root, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def recover_interrupted(catalog: Catalog, store_root: Path) -> int:
    """Mark the ``running`` items of jobs whose process died as ``failed(interrupted)``; returns
    how many items were marked."""
    folder = store_root / LOCK_DIR
    if not folder.is_dir():
        return 0
    marked = 0
    for path in sorted(folder.glob("job-*.lock")):
        try:
            job_id = int(path.stem.removeprefix("job-"))
            fd = os.open(path, os.O_RDWR)
        except (ValueError, OSError):
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive
            now = datetime.now(UTC)
            with catalog.session() as s:
                n = s.execute(  # type: ignore[attr-defined]
                    update(IngestItem)
                    .where(IngestItem.job_id == job_id, IngestItem.state == "running")
                    .values(
                        state="failed",
                        code="interrupted",
                        message="the ingesting process was stopped while this file was being ingested; "
                        "ingest it again",
                        finished_at=now,
                    )
                ).rowcount
                job = s.scalar(select(IngestJob).where(IngestJob.id == job_id))
                if job is not None and job.status == "running":
                    job.status, job.finished_at = "interrupted", now
            marked += n or 0
            if n:
                log.warning("job %s was interrupted: %s files marked failed(interrupted)", job_id, n)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return marked
