"""The ingest queue: ``archive ingest --queue`` records work, ``archive worker`` processes claim it.

Design (docs/architecture.md, "Distributed ingestion"):

- **Submit** (``IngestQueue.submit``): the submitting process walks the paths, puts every file
  into the content-addressed original store (the shared data folder) and records one
  ``IngestItem`` per file in state ``queued`` with the original's SHA-256. Workers therefore need
  the shared data folder and the catalog, never the submitter's paths. A file refused while it is
  stored (``too_large``, ``unreadable``) gets its outcome at once.
- **Claim** (``claim``): one short transaction picks the oldest claimable item — ``queued``, or
  ``running`` whose lease has expired (its worker died) — with ``SELECT … FOR UPDATE SKIP LOCKED``
  on PostgreSQL, and sets it ``running`` with ``claimed_by``, ``lease_expires_at`` and
  ``attempts + 1`` by a compare-and-set ``UPDATE … WHERE id = ? AND <still claimable>``. On SQLite
  (one machine) the compare-and-set under SQLite's write lock is what serialises workers.
- **Heartbeat**: a thread renews the lease of the item being worked (and the indexer lease, below)
  every third of ``ARCHIVE_QUEUE_LEASE_S``.
- **Finish** (``finish``): the outcome is written only while the worker still holds the claim
  (``claimed_by = me AND state = 'running'``), so an item has exactly one recorded outcome even when
  a worker that lost its lease comes back. The job is ``done`` when it has no open items.
- **Takeover**: an item whose lease expired is claimed again; the member items an archive's first
  attempt recorded are removed first (the retry records them again). After
  ``ARCHIVE_QUEUE_MAX_ATTEMPTS`` claims an item ends ``failed(worker_lost)``.
- Times come from the database clock on PostgreSQL (``now()``), so workers on several machines
  need not agree on the time; SQLite is one machine anyway.

Why one module: submit, claim, heartbeat, finish and takeover are the states of one queue item;
each step's compare-and-set relies on the others' (same columns, same lease rules).

Processing is at least once (a killed worker's item is processed again), outcomes are exactly once,
and documents are once per content and collection (``UNIQUE(collection_id, file_id)``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog, ensure_collection
from archive_search.catalog.models import IndexMeta, IngestItem, IngestJob, StoredFile
from archive_search.catalog.store import FileTooLargeError, OriginalStore, StoredOriginal
from archive_search.types import FileReport, Outcome

if TYPE_CHECKING:  # imported where used: a search (the command line's above all) needs neither
    from ingest.pipeline import Ingestor

log = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
OPEN_STATES = (QUEUED, RUNNING)
INDEXER_LEASE_KEY = "indexer_lease"
"""``index_meta`` row naming the one worker that writes an embedded (single-writer) index."""


def _changed(s: Session, stmt: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows it changed."""
    result = s.execute(stmt.execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount


def worker_name() -> str:
    """A name unique to this process: host, process id and a random suffix."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Claim:
    """An ingest item this worker holds."""

    item_id: int
    job_id: int
    collection_id: int
    path: str
    sha256: str
    attempt: int


@dataclass
class Submitted:
    """What ``archive ingest --queue`` recorded."""

    job_id: int
    queued: int = 0
    refused: list[FileReport] = field(default_factory=list)
    """Files that got an outcome at once (too large, unreadable)."""


class IngestQueue:
    """The queue of ingest items in the catalog, seen by one process (submitter or worker)."""

    def __init__(
        self,
        catalog: Catalog,
        store: OriginalStore,
        *,
        lease_s: float = 300,
        max_attempts: int = 3,
        max_file_bytes: int | None = None,
        name: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.lease = timedelta(seconds=lease_s)
        self.max_attempts = max_attempts
        self.max_file_bytes = max_file_bytes
        self.name = name or worker_name()
        self._lock = threading.Lock()
        self._held: int | None = None
        self._indexer = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- time --------------------------------------------------------------------------------

    def _now(self, s: Session) -> datetime:
        """The database's clock on PostgreSQL (shared by every machine), else this machine's."""
        if self.catalog.dialect == "postgresql":
            now = s.scalar(select(func.now()))
            assert isinstance(now, datetime)
            return now
        return datetime.now(UTC)

    def _claimable(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            IngestItem.state == QUEUED,
            and_(
                IngestItem.state == RUNNING,
                IngestItem.lease_expires_at.is_not(None),
                IngestItem.lease_expires_at < now,
            ),
        )

    # -- submit ------------------------------------------------------------------------------

    def submit(
        self,
        paths: Iterable[Path],
        collection: str,
        *,
        progress: Callable[[str], None] | None = None,
        display: Callable[[Path], str] | None = None,
    ) -> Submitted:
        """Store every file's original and queue one item per file; returns without processing.
        ``display`` names a file in its item (default: its path), e.g. the name it was uploaded as."""
        from ingest.pipeline import iter_files

        col_id = ensure_collection(self.catalog, collection)
        with self.catalog.session() as s:
            job = IngestJob(collection_id=col_id, status=QUEUED, created_at=datetime.now(UTC))
            s.add(job)
            s.flush()
            job_id = job.id
        out = Submitted(job_id=job_id)
        for path in iter_files(paths):
            shown = str(path) if display is None else display(path)
            item = IngestItem(job_id=job_id, path=shown[:10000])
            try:
                stored = self.store.put_file(path, max_bytes=self.max_file_bytes)
            except FileTooLargeError as exc:
                item.state, item.code, item.message = Outcome.SKIPPED.value, "too_large", str(exc)
            except OSError as exc:
                item.state, item.code, item.message = Outcome.FAILED.value, "unreadable", str(exc)
            else:
                item.state, item.sha256 = QUEUED, stored.sha256
            if item.state != QUEUED:
                item.started_at = item.finished_at = datetime.now(UTC)
                out.refused.append(
                    FileReport(path=shown, outcome=Outcome(item.state), code=item.code, message=item.message)
                )
            else:
                out.queued += 1
            with self.catalog.session() as s:
                s.add(item)
            if progress:
                progress(shown)
        if out.queued == 0:
            self._close_job(job_id)
        return out

    # -- claim, heartbeat, finish --------------------------------------------------------------

    @staticmethod
    def warm_up() -> None:
        """Load what holds the interpreter lock for seconds on first use (the language models)
        before claiming work, so the heartbeat thread is not starved during a claim."""
        from ingest.lang import detect_language

        # the models of a script's languages are loaded when text of that script first comes
        detect_language("The witness described the detention.")
        detect_language("Свидетель рассказал о задержании; свідок розповів; сведка расказаў.")

    def claim(self, job_id: int | None = None) -> Claim | None:
        """Take the oldest claimable item (of job ``job_id`` when given: the web interface works
        its own uploads), or ``None`` when there is none."""
        while True:
            with self.catalog.session() as s:
                now = self._now(s)
                q = (
                    select(
                        IngestItem.id,
                        IngestItem.state,
                        IngestItem.attempts,
                        IngestItem.path,
                        IngestItem.job_id,
                    )
                    .where(self._claimable(now))
                    .order_by(IngestItem.id)
                    .limit(1)
                )
                if job_id is not None:
                    q = q.where(IngestItem.job_id == job_id)
                if self.catalog.dialect == "postgresql":
                    q = q.with_for_update(skip_locked=True)
                row = s.execute(q).first()
                if row is None:
                    return None
                takeover = row.state == RUNNING
                exhausted = takeover and row.attempts >= self.max_attempts
                values: dict[str, object] = (
                    {
                        "state": Outcome.FAILED.value,
                        "code": "worker_lost",
                        "message": f"the worker died {row.attempts} times while processing this file",
                        "finished_at": now,
                        "lease_expires_at": None,
                    }
                    if exhausted
                    else {
                        "state": RUNNING,
                        "claimed_by": self.name,
                        "lease_expires_at": now + self.lease,
                        "attempts": IngestItem.attempts + 1,
                        "started_at": now,
                    }
                )
                done = _changed(
                    s,
                    update(IngestItem).where(IngestItem.id == row.id, self._claimable(now)).values(**values),
                )
                if done != 1:  # another worker took it first (SQLite): try the next
                    continue
                if takeover:
                    log.warning("taking over ingest item %s (%s) after its lease expired", row.id, row.path)
                if row.attempts:  # the members an archive's earlier attempt recorded are recorded again
                    s.execute(
                        delete(IngestItem)
                        .where(
                            IngestItem.job_id == row.job_id,
                            IngestItem.id != row.id,
                            IngestItem.sha256.is_(None),
                            IngestItem.path.startswith(f"{row.path}!/", autoescape=True),
                        )
                        .execution_options(synchronize_session=False)
                    )
                if exhausted:
                    closing = row.job_id
                else:
                    item = s.execute(
                        select(IngestItem.sha256, IngestJob.collection_id)
                        .join(IngestJob, IngestJob.id == IngestItem.job_id)
                        .where(IngestItem.id == row.id)
                    ).one()
                    claim = Claim(
                        item_id=row.id,
                        job_id=row.job_id,
                        collection_id=item.collection_id,
                        path=row.path,
                        sha256=item.sha256 or "",
                        attempt=row.attempts + 1,
                    )
            if exhausted:
                self._maybe_close_job(closing)
                continue
            with self._lock:
                self._held = claim.item_id
            self._ensure_heartbeat()
            return claim

    def heartbeat(self) -> None:
        """Renew the leases this process holds (called by the heartbeat thread)."""
        with self._lock:
            held, indexer = self._held, self._indexer
        if held is not None:
            with self.catalog.session() as s:
                now = self._now(s)
                renewed = _changed(
                    s,
                    update(IngestItem)
                    .where(
                        IngestItem.id == held, IngestItem.claimed_by == self.name, IngestItem.state == RUNNING
                    )
                    .values(lease_expires_at=now + self.lease),
                )
            with self._lock:
                still = self._held == held  # (not finished meanwhile)
            if not renewed and still:
                log.warning("lost the lease of ingest item %s", held)
        if indexer:
            self.hold_indexer()

    def finish(self, claim: Claim, report: FileReport) -> bool:
        """Record the outcome while still holding the claim; False when the lease was lost."""
        with self._lock:
            self._held = None
        with self.catalog.session() as s:
            now = self._now(s)
            file_id = s.scalar(select(StoredFile.id).where(StoredFile.sha256 == claim.sha256))
            done = _changed(
                s,
                update(IngestItem)
                .where(
                    IngestItem.id == claim.item_id,
                    IngestItem.claimed_by == self.name,
                    IngestItem.state == RUNNING,
                )
                .values(
                    state=report.outcome.value,
                    code=report.code,
                    message=report.message,
                    document_id=int(report.document_id) if report.document_id else None,
                    file_id=file_id,
                    finished_at=now,
                    lease_expires_at=None,
                ),
            )
        if done != 1:
            log.warning("ingest item %s was taken over by another worker; its outcome stands", claim.item_id)
            return False
        self._maybe_close_job(claim.job_id)
        return True

    def process(self, claim: Claim, ingestor: Ingestor) -> FileReport:
        """Ingest a claimed item's stored original (never raises for a bad file)."""
        filename = Path(claim.path).name or claim.path
        try:
            path = self.store.path_for(claim.sha256)
            stored = StoredOriginal(claim.sha256, path.stat().st_size, path, created=False)
        except (OSError, ValueError) as exc:
            return FileReport(
                path=claim.path,
                outcome=Outcome.FAILED,
                code="original_missing",
                message=f"the stored original is not in this worker's data folder: {exc}",
            )
        return ingestor.ingest_stored(
            stored, filename, claim.collection_id, claim.job_id, display=claim.path, resume=claim.attempt > 1
        )

    def work_one(self, ingestor: Ingestor) -> FileReport | None:
        """Claim, process and finish one item; ``None`` when nothing is claimable."""
        claim = self.claim()
        if claim is None:
            return None
        # an exception leaves the claim held: ``release`` puts it back in the queue at exit
        report = self.process(claim, ingestor)
        self.finish(claim, report)
        return report

    # -- jobs and counts -----------------------------------------------------------------------

    def _maybe_close_job(self, job_id: int) -> None:
        with self.catalog.session() as s:
            open_items = s.scalar(
                select(func.count(IngestItem.id)).where(
                    IngestItem.job_id == job_id, IngestItem.state.in_(OPEN_STATES)
                )
            )
        if not open_items:
            self._close_job(job_id)

    def _close_job(self, job_id: int) -> None:
        with self.catalog.session() as s:
            s.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.status != "done")
                .values(status="done", finished_at=self._now(s))
                .execution_options(synchronize_session=False)
            )

    def counts(self) -> dict[str, int]:
        """Items waiting (``queued``) and being worked (``running``)."""
        with self.catalog.session() as s:
            rows = dict(
                s.execute(
                    select(IngestItem.state, func.count(IngestItem.id))
                    .where(IngestItem.state.in_(OPEN_STATES))
                    .group_by(IngestItem.state)
                ).all()
            )
        return {k: int(rows.get(k, 0)) for k in OPEN_STATES}

    def outstanding(self, job_id: int | None = None) -> int:
        """Queued items plus running items under a lease (of one job, or of all)."""
        with self.catalog.session() as s:
            q = select(func.count(IngestItem.id)).where(
                or_(
                    IngestItem.state == QUEUED,
                    and_(IngestItem.state == RUNNING, IngestItem.lease_expires_at.is_not(None)),
                )
            )
            if job_id is not None:
                q = q.where(IngestItem.job_id == job_id)
            return int(s.scalar(q) or 0)

    def job_counts(self, job_id: int) -> dict[str, int]:
        """Items of one job by state."""
        with self.catalog.session() as s:
            rows = dict(
                s.execute(
                    select(IngestItem.state, func.count(IngestItem.id))
                    .where(IngestItem.job_id == job_id)
                    .group_by(IngestItem.state)
                ).all()
            )
        return {str(k): int(v) for k, v in rows.items()}

    # -- the indexer lease -----------------------------------------------------------------------

    def hold_indexer(self) -> bool:
        """Take or renew the lease that makes this process the one writer of a single-writer
        (embedded) index; True while held. It is renewed by the heartbeat thread once held."""
        with self.catalog.session() as s:
            now = self._now(s)
            value = f"{self.name}|{(now + self.lease).isoformat()}"
            row = s.get(IndexMeta, INDEXER_LEASE_KEY)
            if row is None:
                s.add(IndexMeta(key=INDEXER_LEASE_KEY, value=value))
                try:
                    s.flush()
                    got = True
                except IntegrityError:  # created concurrently: someone else holds it
                    s.rollback()
                    got = False
            else:
                holder, _, until = row.value.partition("|")
                try:
                    expired = datetime.fromisoformat(until) < now
                except ValueError:
                    expired = True
                got = False
                if holder == self.name or expired:
                    got = (
                        _changed(
                            s,
                            update(IndexMeta)
                            .where(IndexMeta.key == INDEXER_LEASE_KEY, IndexMeta.value == row.value)
                            .values(value=value),
                        )
                        == 1
                    )
        with self._lock:
            self._indexer = got
        if got:
            self._ensure_heartbeat()
        return got

    def release(self) -> None:
        """Give back the leases of this process (at a clean exit) and stop the heartbeat."""
        self._stop.set()
        with self._lock:
            held, indexer, self._held, self._indexer = self._held, self._indexer, None, False
        with self.catalog.session() as s:
            if held is not None:  # back to the queue at once, not after the lease
                s.execute(
                    update(IngestItem)
                    .where(
                        IngestItem.id == held, IngestItem.claimed_by == self.name, IngestItem.state == RUNNING
                    )
                    .values(state=QUEUED, lease_expires_at=None)
                    .execution_options(synchronize_session=False)
                )
            if indexer:
                s.execute(
                    delete(IndexMeta)
                    .where(IndexMeta.key == INDEXER_LEASE_KEY, IndexMeta.value.startswith(f"{self.name}|"))
                    .execution_options(synchronize_session=False)
                )
        if self._beat is not None:
            self._beat.join(timeout=5)

    def _ensure_heartbeat(self) -> None:
        with self._lock:
            if self._beat is not None and self._beat.is_alive():
                return
            self._stop.clear()
            self._beat = threading.Thread(target=self._beat_loop, name="queue-heartbeat", daemon=True)
            self._beat.start()

    def _beat_loop(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.2)
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
            except Exception:  # the database is away for a moment: try again next beat
                log.exception("queue heartbeat failed")
