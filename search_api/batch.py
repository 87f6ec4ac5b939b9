"""Batch search: many queries at once (for example 500 names of disappeared people).

Each entry is plain text, not the query language (names carry apostrophes, hyphens, quotes).
``match="all"`` (default) wants every word of the entry in one passage, in any order, through
the analyser's lemmas and transliteration keys, so "Кадыров Рамзан" finds "Рамзан Кадиров" and
"Kadyrov"; ``"any"`` ranks by any word; ``"phrase"`` wants the words consecutively. Lists up to
``SYNC_LIMIT`` entries are answered at once; longer ones run as a job with progress whose results
are kept in the catalog and can be downloaded as CSV.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select, update

from archive_search.catalog.models_search import BatchJob
from archive_search.errors import ArchiveError, InvalidRequestError, NotFoundError
from archive_search.types import Principal
from index.backend import Filters
from search_api.safe_text import csv_cell

if TYPE_CHECKING:
    from search_api.service import ArchiveService

log = logging.getLogger(__name__)
SYNC_LIMIT = 100
MAX_ENTRIES = 10_000
MAX_ENTRY_CHARS = 500
Match = Literal["all", "any", "phrase"]
_TAGS = re.compile(r"</?mark>")


@dataclass(frozen=True)
class BatchOptions:
    match: Match = "all"
    size: int = 3
    langs: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "match": self.match,
            "size": self.size,
            "lang": list(self.langs),
            "collection": list(self.collections),
            "type": list(self.types),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchOptions:
        return cls(
            match=data.get("match", "all"),
            size=int(data.get("size", 3)),
            langs=tuple(data.get("lang", ())),
            collections=tuple(data.get("collection", ())),
            types=tuple(data.get("type", ())),
        )


@dataclass
class Entry:
    id: str
    text: str
    extra: dict[str, str] = field(default_factory=dict)


def check_entries(entries: list[Entry]) -> list[Entry]:
    """The entries, within the limits. An empty list is a batch with no results, not an error:
    the API schema cannot say "a CSV file with at least one row", and nothing is gained by refusing."""
    if len(entries) > MAX_ENTRIES:
        raise InvalidRequestError(f"at most {MAX_ENTRIES} entries per batch")
    for e in entries:
        if len(e.text) > MAX_ENTRY_CHARS:
            raise InvalidRequestError(f"entry {e.id!r} is longer than {MAX_ENTRY_CHARS} characters")
    return entries


def entries_from_csv(data: bytes) -> list[Entry]:
    """Entries from a CSV upload: a column ``name`` or ``text`` (else the first column), and an
    optional ``id`` column; a file without a header row is a list of names, one per line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1251")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    except csv.Error:  # not CSV after all (a stray carriage return, say): one name per line
        rows = [[line] for line in text.splitlines() if line.strip()]
    if not rows:
        return []
    header = [c.strip().casefold() for c in rows[0]]
    text_col = next((header.index(n) for n in ("name", "text", "query", "імʼя", "имя") if n in header), None)
    if text_col is not None:
        id_col = header.index("id") if "id" in header else None
        body = rows[1:]
    else:
        text_col, id_col, body = 0, None, rows
    out = []
    for n, row in enumerate(body, start=1):
        if text_col >= len(row) or not row[text_col].strip():
            continue
        eid = row[id_col].strip() if id_col is not None and id_col < len(row) else str(n)
        out.append(Entry(id=eid, text=row[text_col].strip()))
    return check_entries(out)


def run_entry(
    service: ArchiveService, entry: Entry, principal: Principal, opts: BatchOptions
) -> dict[str, Any]:
    """One entry's result: how many documents match, and the best passage of the top ones."""
    filters = Filters(
        allowed_collections=principal.readable,
        hidden_document_ids=principal.hidden_documents,
        hidden_passage_ids=principal.hidden_passages,
        collections=opts.collections,
        langs=opts.langs,
        types=opts.types,
    )
    total, hits = service.retrieval.search_entry(entry.text, opts.match, filters, principal, size=opts.size)
    return {"id": entry.id, "text": entry.text, "total": total, "hits": [h.model_dump() for h in hits]}


def run_batch(
    service: ArchiveService,
    entries: list[Entry],
    principal: Principal,
    opts: BatchOptions,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    out = []
    for n, e in enumerate(entries, start=1):
        out.append(run_entry(service, e, principal, opts))
        if progress and (n % 10 == 0 or n == len(entries)):
            progress(n)
    return out


def results_csv(results: list[dict[str, Any]]) -> str:
    """One row per (entry, hit); an entry without hits gets one row with total 0."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "id",
            "text",
            "total",
            "rank",
            "document_id",
            "filename",
            "collection",
            "page",
            "time_start",
            "lang",
            "score",
            "snippet",
            "sha256",
        ]
    )
    for r in results:
        hits = r.get("hits") or [None]
        for rank, h in enumerate(hits, start=1):
            if h is None:
                w.writerow([csv_cell(x) for x in (r["id"], r["text"], r["total"], *[""] * 10)])
                continue
            w.writerow(
                csv_cell(x)
                for x in [
                    r["id"],
                    r["text"],
                    r["total"],
                    rank,
                    h["document_id"],
                    h["filename"],
                    h["collection"],
                    h.get("page") or "",
                    h.get("time_start") if h.get("time_start") is not None else "",
                    h["lang"],
                    h["score"],
                    _TAGS.sub("", h["snippet"]),
                    h["sha256"],
                ]
            )
    return buf.getvalue()


class TooManyBatchJobsError(ArchiveError):
    """The caller already has ``ARCHIVE_MAX_BATCH_JOBS`` batch searches queued or running."""

    code = "too_many_batch_jobs"
    status = 429


class BatchRunner:
    """Runs long batches one after another in a background thread; state lives in the catalog."""

    def __init__(self, service: ArchiveService) -> None:
        self.service = service
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._submit_lock = threading.Lock()

    def submit(self, principal: Principal, entries: list[Entry], opts: BatchOptions) -> int:
        """Queue a long batch; 429 ``too_many_batch_jobs`` while the caller already has
        ``ARCHIVE_MAX_BATCH_JOBS`` queued or running (counted and added under one lock in this
        process, and again by the catalog's count in another)."""
        owner_id = principal.user_id
        readable = _as_list(principal.readable)
        limit = self.service.settings.max_batch_jobs
        with self._submit_lock, self.service.catalog.session() as s:
            waiting = s.scalar(
                select(func.count(BatchJob.id)).where(
                    BatchJob.owner_id == owner_id, BatchJob.status.in_(("queued", "running"))
                )
            )
            if (waiting or 0) >= limit:
                raise TooManyBatchJobsError(
                    f"{waiting} batch searches of yours are queued or running; at most {limit} at once: "
                    "wait for one to finish"
                )
            job = BatchJob(
                owner_id=owner_id,
                status="queued",
                total=len(entries),
                done=0,
                request={
                    "entries": [[e.id, e.text] for e in entries],
                    "options": opts.to_json(),
                    "readable": readable,
                },
            )
            s.add(job)
            s.flush()
            job_id = job.id
        self._ensure_thread()
        self._wake.set()
        return job_id

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="batch-search", daemon=True)
                self._thread.start()

    def resume(self) -> None:
        """Jobs interrupted by a restart are queued again and run from the start."""
        with self.service.catalog.session() as s:
            n = s.execute(
                update(BatchJob)
                .where(BatchJob.status.in_(["queued", "running"]))
                .values(status="queued", done=0)
            )
            pending = getattr(n, "rowcount", 0)
        if pending:
            self._ensure_thread()
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _next(self) -> int | None:
        with self.service.catalog.session() as s:
            return s.scalar(
                select(BatchJob.id).where(BatchJob.status == "queued").order_by(BatchJob.id).limit(1)
            )

    def _loop(self) -> None:
        while not self._stop.is_set():
            job_id = self._next()
            if job_id is None:
                self._wake.wait(5)
                self._wake.clear()
                continue
            self.run_job(job_id)

    def run_job(self, job_id: int) -> None:
        svc = self.service
        with svc.catalog.session() as s:
            job = s.get(BatchJob, job_id)
            assert job is not None
            job.status = "running"
            owner_id, request = job.owner_id, job.request
        try:
            principal = svc.accounts.principal_for_user(owner_id) if owner_id is not None else None
            if principal is None:
                raise InvalidRequestError("the job has no owner")
            raw_entries = request["entries"]
            assert isinstance(raw_entries, list)
            entries = [Entry(id=str(i), text=str(t)) for i, t in raw_entries]
            opts_raw = request["options"]
            assert isinstance(opts_raw, dict)
            opts = BatchOptions.from_json(opts_raw)

            def progress(done: int) -> None:
                with svc.catalog.session() as s2:
                    s2.execute(update(BatchJob).where(BatchJob.id == job_id).values(done=done))

            results = run_batch(svc, entries, principal, opts, progress)
            values: dict[str, Any] = {"status": "done", "results": results, "done": len(entries)}
        except Exception as exc:  # recorded on the job, the runner goes on
            log.exception("batch job %s failed", job_id)
            values = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        values["finished_at"] = datetime.now(UTC)
        with svc.catalog.session() as s:
            s.execute(update(BatchJob).where(BatchJob.id == job_id).values(**values))

    def get(self, job_id: int, principal: Principal) -> BatchJob:
        """A job of this principal (another user's job is as missing as a missing one)."""
        with self.service.catalog.session() as s:
            job = s.get(BatchJob, job_id)
        if job is None or (job.owner_id != principal.user_id and not principal.is_admin):
            raise NotFoundError(f"batch job {job_id} not found")
        if job.status in ("done", "failed") and not _within(job.request.get("readable"), principal.readable):
            # the results were computed with access the caller no longer has: never show them,
            # compute them again under the caller's current grants
            with self.service.catalog.session() as s:
                s.execute(
                    update(BatchJob)
                    .where(BatchJob.id == job_id)
                    .values(
                        status="queued",
                        done=0,
                        results=None,
                        request={**job.request, "readable": _as_list(principal.readable)},
                    )
                )
            self._ensure_thread()
            self._wake.set()
            with self.service.catalog.session() as s:
                job = s.get(BatchJob, job_id)
            assert job is not None
        if isinstance(job.results, list):  # the object is detached: nothing is written back
            job.results = self.service.care.visible_results(job.results, principal)
        return job


def _as_list(readable: frozenset[str] | None) -> list[str] | None:
    return sorted(readable) if readable is not None else None


def _within(used: object, current: frozenset[str] | None) -> bool:
    """Whether collections a job was computed with are all still readable."""
    if current is None:
        return True
    if used is None or not isinstance(used, list):
        return False
    return set(used) <= current
