"""Uploads of the web interface as ingest jobs whose per-file progress can be watched.

An upload goes through the ingest queue (``ingest/queue.py``), so that its state is in the
catalog, where any server process can read it:

1. :meth:`Uploads.submit` puts every file's original into the store and records one ``queued``
   ingest item per file (named as uploaded) in a new job, and an ``ingest`` audit entry for the
   job (``object_type`` ``ingest_job``) naming the uploader — that entry is what makes the job
   theirs (:meth:`Uploads.owner`).
2. Unless ``ARCHIVE_INGEST_QUEUE`` is set (then ``archive worker`` processes take the items, as
   for ``archive ingest --queue``), a background thread of the submitting process claims the
   job's items one by one (``claim(job_id)``; never another job's), extracts each (state
   ``running``, shown as *extracting*), indexes it, and records its outcome — so a file reads
   ``ok`` only once it is keyword-searchable. Each file is audited as for
   ``POST /api/v1/documents``. Should that process stop, its item goes back to the queue
   (``release``, or when its lease expires); once nothing moved for ``RESUME_AFTER_S`` and no
   item is under a live lease, the next status request, in any server process, works the job's
   claimable items there (or an ``archive worker`` takes them).
3. :meth:`Uploads.status` is what the upload page polls: the job's items in order with their
   state (``queued``, ``running``, ``ok``, ``failed``, ``skipped``), code and message, and the
   counts; the members of an uploaded ZIP appear as their own items (``archive.zip!/member``).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from archive_search.catalog.models import AuditEntry, Collection, IngestItem, IngestJob
from archive_search.errors import NotFoundError
from archive_search.types import FileReport, Principal
from ingest.queue import IngestQueue

if TYPE_CHECKING:
    from search_api.service import ArchiveService

log = logging.getLogger(__name__)
JOB_OBJECT = "ingest_job"
STATES = ("queued", "running", "ok", "failed", "skipped")
RESUME_AFTER_S = 30.0
"""A job whose items nobody started or finished for this long, none under a live lease, is taken
up by the process answering its status."""


def stage(files: Sequence[tuple[str | None, BinaryIO]], folder: Path) -> list[tuple[Path, str]]:
    """Copy uploaded files (their name as sent, their stream) into ``folder`` for
    :meth:`Uploads.submit`: one subfolder per file (two uploads may share a name), each named by
    the base name it was sent with (``upload`` when there is none)."""
    staged: list[tuple[Path, str]] = []
    for n, (filename, stream) in enumerate(files):
        name = Path(str(filename or "").replace("\\", "/")).name
        if name in ("", ".", ".."):
            name = "upload"
        sub = folder / str(n)
        sub.mkdir()
        dest = sub / name
        with dest.open("wb") as out:
            shutil.copyfileobj(stream, out)
        staged.append((dest, name))
    return staged


class Uploads:
    """Upload jobs of one service (one process); any process on the catalog reads their status."""

    def __init__(self, service: ArchiveService) -> None:
        self.svc = service
        self._owners: dict[int, str] = {}  # the audit log is append-only: a found owner stays
        self._via_ui: dict[int, bool] = {}
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}
        self.resume_after_s = RESUME_AFTER_S

    def _queue(self) -> IngestQueue:
        st = self.svc.settings
        return IngestQueue(
            self.svc.catalog,
            self.svc.store,
            lease_s=st.queue_lease_s,
            max_attempts=st.queue_max_attempts,
            max_file_bytes=st.max_file_bytes,
        )

    def submit(
        self, files: list[tuple[Path, str]], collection: str, principal: Principal, *, ui: bool = True
    ) -> int:
        """Queue ``(path, shown name)`` files into ``collection`` (the caller checked the write
        permission) and start working them; returns the job id. The paths may be deleted when
        this returns: their originals are in the store. ``ui``: sent through the web interface
        (else the API), as the audit entries say."""
        names = {str(p): name for p, name in files}
        sub = self._queue().submit(
            [p for p, _ in files], collection, display=lambda p: names.get(str(p), p.name)
        )
        self.svc.accounts.audit.record(
            principal.name,
            "ingest",
            JOB_OBJECT,
            sub.job_id,
            {"collection": collection, "files": [n for _, n in files][:1000], "ui": ui},
        )
        with self._lock:
            self._owners[sub.job_id] = principal.name
            self._via_ui[sub.job_id] = ui
        for r in sub.refused:  # too large or unreadable: audited at once
            self._audit_file(principal.name, collection, sub.job_id, r)
        if sub.queued:
            self._start(sub.job_id, principal.name, collection)
        return sub.job_id

    def _start(self, job_id: int, actor: str, collection: str) -> None:
        """Work the job in a thread of this process, unless one already does or workers do."""
        if self.svc.settings.ingest_queue:
            return
        with self._lock:
            if job_id in self._threads:
                return
            t = threading.Thread(
                target=self._work, args=(job_id, actor, collection), name=f"upload-{job_id}", daemon=True
            )
            self._threads[job_id] = t
        t.start()

    def _audit_file(self, actor: str, collection: str, job_id: int, r: FileReport) -> None:
        self.svc.accounts.audit.record(
            actor,
            "ingest",
            "document",
            r.document_id,
            {
                "file": r.path,
                "collection": collection,
                "outcome": r.outcome.value,
                "code": r.code,
                "sha256": r.sha256,
                "job": job_id,
                "ui": self._via_ui.get(job_id, True),
            },
        )

    def _work(self, job_id: int, actor: str, collection: str) -> None:
        queue = self._queue()
        try:
            ingestor = self.svc.ingestor()
            while (claim := queue.claim(job_id)) is not None:
                report = queue.process(claim, ingestor)
                self.svc.index_pending()  # "ok" is shown once it (or an archive's members) is searchable
                if queue.finish(claim, report):
                    self._audit_file(actor, collection, job_id, report)
        except Exception:  # the items stay in the queue for a worker; the page shows where it stopped
            log.exception("upload job %s stopped", job_id)
        finally:
            queue.release()
            with self._lock:
                self._threads.pop(job_id, None)

    def wait(self, job_id: int, timeout: float | None = None) -> None:
        """Wait for this process's work on ``job_id`` (tests, shutdown)."""
        with self._lock:
            t = self._threads.get(job_id)
        if t is not None:
            t.join(timeout)

    def owner(self, job_id: int) -> str | None:
        with self._lock:
            if job_id in self._owners:
                return self._owners[job_id]
        with self.svc.catalog.session() as s:
            actor = s.scalar(
                select(AuditEntry.actor)
                .where(
                    AuditEntry.action == "ingest",
                    AuditEntry.object_type == JOB_OBJECT,
                    AuditEntry.object_id == str(job_id),
                )
                .limit(1)
            )
        if actor is not None:
            with self._lock:
                self._owners[job_id] = actor
        return actor

    def _abandoned(self, s: Session, job_id: int, now: datetime) -> bool:
        """Whether the job has claimable items that nobody works: no item under a live lease, and
        nothing started or finished for ``resume_after_s`` (so that another server process polled
        by the page does not compete with the one working the job between two of its items)."""
        live = s.scalar(
            select(func.count(IngestItem.id)).where(
                IngestItem.job_id == job_id,
                IngestItem.state == "running",
                or_(IngestItem.lease_expires_at.is_(None), IngestItem.lease_expires_at >= now),
            )
        )
        if live:
            return False
        last = s.scalar(
            select(func.max(func.coalesce(IngestItem.finished_at, IngestItem.started_at))).where(
                IngestItem.job_id == job_id
            )
        ) or s.scalar(select(IngestJob.created_at).where(IngestJob.id == job_id))
        if last is not None:
            if last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            if (now - last).total_seconds() < self.resume_after_s:
                return False
        claimable = s.scalar(
            select(func.count(IngestItem.id)).where(
                IngestItem.job_id == job_id,
                or_(
                    IngestItem.state == "queued",
                    and_(IngestItem.state == "running", IngestItem.lease_expires_at < now),
                ),
            )
        )
        return bool(claimable)

    def status(self, job_id: int, principal: Principal) -> dict[str, Any]:
        """The job's items and counts; 404 (as for a missing job) unless it is the caller's upload."""
        if self.owner(job_id) != principal.name:
            raise NotFoundError(f"upload {job_id} not found")
        with self.svc.catalog.session() as s:
            row = s.execute(
                select(IngestJob.status, Collection.name)
                .join(Collection, Collection.id == IngestJob.collection_id)
                .where(IngestJob.id == job_id)
            ).first()
            if row is None:
                raise NotFoundError(f"upload {job_id} not found")
            items = list(
                s.execute(
                    select(
                        IngestItem.id,
                        IngestItem.path,
                        IngestItem.state,
                        IngestItem.code,
                        IngestItem.message,
                        IngestItem.document_id,
                        IngestItem.started_at,
                        IngestItem.finished_at,
                    )
                    .where(IngestItem.job_id == job_id)
                    .order_by(IngestItem.id)
                ).all()
            )
            # "done" from the job read first and the items read after it, never from a count read
            # later: a file finished between two reads would leave a "done" job with a row still
            # "running" (the page stops polling on "done" and would keep that row for good)
            docs_left = sum(1 for it in items if it.state in ("queued", "running"))
            now = (
                datetime.now(UTC)
                if self.svc.catalog.dialect != "postgresql"
                else s.scalar(select(func.now()))
            )
            assert isinstance(now, datetime)
            abandoned = self._abandoned(s, job_id, now) if docs_left else False
        counts = dict.fromkeys(STATES, 0)
        files = []
        for it in items:
            state = it.state if it.state in STATES else "queued"
            counts[state] += 1
            files.append(
                {
                    "id": it.id,
                    "name": it.path,
                    "state": state,
                    "code": it.code,
                    "message": it.message,
                    "document_id": it.document_id,
                    "duplicate": it.code == "duplicate",
                    "elapsed_s": _elapsed(it.started_at, it.finished_at, now, state),
                }
            )
        done = row.status == "done" or not docs_left
        if abandoned:  # nobody works it (the process that took the upload stopped): go on here
            self._start(job_id, principal.name, row.name)
        return {
            "id": job_id,
            "collection": row.name,
            "done": done,
            "counts": counts,
            "files": files,
        }


def _elapsed(started: datetime | None, finished: datetime | None, now: datetime, state: str) -> float | None:
    """Seconds a file has been worked on (``running``: so far; done: in all), ``None`` before it
    starts; the catalog's clock on both ends, never negative."""
    if started is None or state == "queued":
        return None
    end = finished if finished is not None and state != "running" else now
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return round(max(0.0, (end - started).total_seconds()), 1)
