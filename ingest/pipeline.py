"""The ingestion pipeline: receive → store original → sniff → extract → normalise → split →
language → catalog. Every file ends in exactly one recorded state (``ok``, ``failed`` or
``skipped``), the original is kept either way, and the rest of the batch goes on.

Archives (zip, tar, tar.gz, ...) become a document of type ``archive`` whose members are ingested
as its child documents (``Document.parent_id``), each member with its own recorded outcome (an
``IngestItem`` whose path is ``archive!/member``), within the limits of ``ArchiveLimits``.

This module writes the catalog only; the derived indexes follow from the catalog
(``index.indexer``), keeping the data flow one way.

Why one module: the ``Ingestor``'s steps for one file (prepare, extract, finish, archive members,
e-mail attachments, resume) share the catalog transaction and the outcome bookkeeping that make
every file end in one recorded state.
"""

from __future__ import annotations

import io
import logging
import lzma
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog, ensure_collection
from archive_search.catalog.entities import store_mentions
from archive_search.catalog.models import (
    Document,
    EmailHeader,
    IngestItem,
    IngestJob,
    Page,
    Passage,
    StoredFile,
)
from archive_search.catalog.store import FileTooLargeError, OriginalStore, StoredOriginal
from archive_search.types import Extraction, FileReport, JobReport, Outcome, PassageDraft, SourceFile
from ingest import wordboxes
from ingest.archives import (
    ARCHIVE_TYPES,
    READER,
    ArchiveError,
    ArchiveLimits,
    Budget,
    Member,
    iter_members,
)
from ingest.dates import HEAD_CHARS, document_date
from ingest.email_message import READER as EMAIL_READER
from ingest.email_message import EmailHeaders, parse_email
from ingest.extractors.base import ExtractionError, Extractor, Limits, Skip
from ingest.lang import document_language
from ingest.passages import drafts_from_spans, make_passages
from ingest.recovery import job_lock, recover_interrupted
from ingest.registry import ExtractorRegistry, default_registry
from ingest.sandbox import reserve_workers, run_extractor, runs_in_process
from ingest.sniff import EML, sniff_file

if TYPE_CHECKING:
    from archive_search.settings import Settings

log = logging.getLogger(__name__)
Progress = Callable[[FileReport], None]
_T = TypeVar("_T")
# errors of a member's bytes while they are unpacked (bad CRC, broken deflate/xz/bzip2 stream, ...)
_MEMBER_READ_ERRORS = (zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError, EOFError, OSError)


@dataclass(frozen=True)
class _Where:
    """Where a file being ingested sits: at the top of a job, or inside an archive."""

    collection_id: int
    job_id: int
    parent_id: int | None = None
    depth: int = 0
    """How many archives the file is inside."""
    budget: Budget | None = None
    """What is left of the limits of the outermost archive."""


@dataclass
class _Pending:
    """A file sniffed and registered in the catalog, waiting for its extraction."""

    source: SourceFile
    file_id: int
    where: _Where
    base: dict[str, Any]
    extractor: Extractor


def ingest_workers(settings: Settings) -> int:
    """Files extracted at once: ``ARCHIVE_INGEST_WORKERS``, or one per usable core when it is 0."""
    if settings.ingest_workers:
        return settings.ingest_workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under the given paths, folders walked recursively in sorted order; hidden entries
    and symbolic links are left out (a link could point outside what was handed in)."""
    for p in paths:
        if p.is_symlink():
            continue
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    fp = Path(root) / name
                    if not name.startswith(".") and not fp.is_symlink():
                        yield fp
        else:
            yield p


def _head(extraction: Extraction) -> str:
    """The first ``HEAD_CHARS`` characters of the (normalised) text, blocks joined by newlines."""
    parts: list[str] = []
    size = 0
    for block in extraction.blocks:
        parts.append(block.text)
        size += len(block.text) + 1
        if size >= HEAD_CHARS:
            break
    return "\n".join(parts)[:HEAD_CHARS]


def _error_report(display: str, exc: Exception) -> FileReport:
    """A file that failed: an ``ArchiveError`` with its own code and message; anything else (a bug
    or an unexpected library error) as ``internal_error``, logged with its traceback. Call it
    inside the ``except`` block."""
    if isinstance(exc, ArchiveError):
        return FileReport(path=display, outcome=Outcome.FAILED, code=exc.code, message=exc.message)
    log.exception("ingest of %s failed", display)
    return FileReport(
        path=display, outcome=Outcome.FAILED, code="internal_error", message=f"{type(exc).__name__}: {exc}"
    )


def _container_report(
    base: dict[str, Any], doc_id: int, count: int, what: str, error: ArchiveError | None, stopped: str
) -> FileReport:
    """The outcome of a container (archive, e-mail) whose members were ingested one by one:
    ``ok`` with the count, or ``failed`` with the error that stopped it and how far it got."""
    if error is not None:
        return FileReport(
            **base,
            outcome=Outcome.FAILED,
            code=error.code,
            message=f"{error.message}; {stopped} after {count} {what}",
            document_id=str(doc_id),
        )
    return FileReport(**base, outcome=Outcome.OK, message=f"{count} {what}", document_id=str(doc_id))


class Ingestor:
    """Ingests files into one collection of the catalog, recording each file's outcome."""

    def __init__(
        self,
        catalog: Catalog,
        store: OriginalStore,
        *,
        registry: ExtractorRegistry | None = None,
        limits: Limits | None = None,
        passage_chars: int = 800,
        max_file_bytes: int | None = None,
        archive_limits: ArchiveLimits | None = None,
        workers: int = 1,
        password: str | None = None,
        entities: bool = True,
    ) -> None:
        """``workers``: files extracted at the same time by ``ingest`` (each in its own sandbox
        worker process); the catalog is written by the calling thread alone whatever it is.
        ``password``: opens encrypted PDFs (kept in memory only, see ``Limits.pdf_password``)."""
        self.catalog = catalog
        self.store = store
        self.registry = registry or default_registry()
        self.limits = replace(limits or Limits(), passage_chars=passage_chars, entities=entities)
        self.entities = entities
        if password is not None:
            self.limits = replace(self.limits, pdf_password=password)
        self.passage_chars = passage_chars
        self.max_file_bytes = max_file_bytes
        self.archive_limits = archive_limits or ArchiveLimits()
        self.workers = max(1, workers)
        self._drain: Callable[[], None] | None = None
        """While ``_ingest_parallel`` runs: waits for every extraction in flight."""
        self._member_reports: list[FileReport] = []

    def ensure_collection(self, name: str) -> int:
        """The collection's id, created if missing (``catalog.db.ensure_collection``)."""
        return ensure_collection(self.catalog, name)

    def ingest(
        self, paths: Iterable[Path], collection: str, *, progress: Progress | None = None
    ) -> JobReport:
        col_id = self.ensure_collection(collection)
        recover_interrupted(self.catalog, self.store.root)  # jobs of processes killed meanwhile
        started = datetime.now(UTC)
        with self.catalog.session() as s:
            job = IngestJob(collection_id=col_id, status="running", created_at=started)
            s.add(job)
            s.flush()
            job_id = job.id
        reports: list[FileReport] = []
        with job_lock(self.store.root, job_id):  # held until this process ends, however it ends
            if self.workers > 1 and self.limits.sandbox:
                reports = self._ingest_parallel(paths, col_id, job_id, progress)
            else:
                for path in iter_files(paths):
                    report = self.ingest_file(path, col_id, job_id, display=str(path))
                    done = [report, *self._member_reports]  # an archive, then its members
                    reports.extend(done)
                    if progress:
                        for r in done:
                            progress(r)
        finished = datetime.now(UTC)
        with self.catalog.session() as s:
            j = s.get(IngestJob, job_id)
            assert j is not None
            j.status, j.finished_at = "done", finished
        return JobReport(job_id=job_id, files=reports, started_at=started, finished_at=finished)

    def _ingest_parallel(
        self, paths: Iterable[Path], collection_id: int, job_id: int, progress: Progress | None
    ) -> list[FileReport]:
        """``ingest`` with up to ``workers`` extractions running at once.

        Only extraction (in sandbox worker processes) runs in the pool's threads; this thread
        stores, sniffs, writes every catalog row and records every outcome, so the catalog has
        one writer and the crash/resume rules of the sequential path hold unchanged: an item is
        ``running`` from before its file is stored until its outcome is recorded, and a document
        is committed in one transaction. Archives are unpacked here, their members one by one.
        Two files with the same bytes are never extracted at once: the second waits for the
        first and ends ``ok(duplicate)``, as it would in sequence. Reports come back in the
        order of the files (an archive followed by its members); ``progress`` is called as
        files finish."""
        where = _Where(collection_id=collection_id, job_id=job_id)
        # room for an idle worker of each memory mode per thread (Tika's and the others'), so that a
        # batch mixing office files and PDFs does not stop and restart workers all the time
        pool_of_workers = reserve_workers(self.limits.sandbox_limits, 2 * self.workers)
        owner = object()  # marks this ingestion's extractions, to kill them if it is interrupted
        by_seq: dict[int, list[FileReport]] = {}
        inflight: dict[Future[Extraction], tuple[int, int, str, _Pending]] = {}

        def emit(seq: int, done: list[FileReport]) -> None:
            by_seq[seq] = done
            if progress:
                for r in done:
                    progress(r)

        def settle(block: bool) -> None:
            if not inflight:
                return
            finished, _ = wait(list(inflight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
            for fut in finished:
                seq, item_id, display, pending = inflight.pop(fut)
                exc = fut.exception()
                result = exc if exc is not None else fut.result()
                report = self._guarded(display, partial(self._finish, pending, result, display))
                self._close_item(item_id, report)
                emit(seq, [report])

        def drain() -> None:
            while inflight:
                settle(block=True)

        self._drain = drain
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="extract") as pool:
                try:
                    self._submit_all(paths, where, pool, inflight, emit, settle, owner)
                    drain()
                except KeyboardInterrupt:  # Ctrl-C: do not wait for the extractions in flight
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool_of_workers.kill_running(owner)
                    raise
        finally:
            self._drain = None
        return [r for seq in sorted(by_seq) for r in by_seq[seq]]

    def _submit_all(
        self,
        paths: Iterable[Path],
        where: _Where,
        pool: ThreadPoolExecutor,
        inflight: dict[Future[Extraction], tuple[int, int, str, _Pending]],
        emit: Callable[[int, list[FileReport]], None],
        settle: Callable[[bool], None],
        owner: object,
    ) -> None:
        """The loop of ``_ingest_parallel``: each file stored, sniffed and either finished here or
        handed to the pool."""
        for seq, path in enumerate(iter_files(paths)):
            display = str(path)
            self._member_reports = []
            item_id = self._open_item(display, where)
            step = self._guarded(display, partial(self._store_and_prepare, path, where, display))
            while isinstance(step, _Pending) and any(
                p.file_id == step.file_id for _, _, _, p in inflight.values()
            ):
                settle(True)  # the same bytes are being extracted: wait, then look again
                step = self._guarded(display, partial(self._store_and_prepare, path, where, display))
            if isinstance(step, FileReport):
                self._close_item(item_id, step)
                emit(seq, [step, *self._member_reports])  # an archive, then its members
                continue
            if runs_in_process(step.extractor):  # not in a worker process: not in a thread either
                result = self._try_extract(step)
                report = self._guarded(display, partial(self._finish, step, result, display))
                self._close_item(item_id, report)
                emit(seq, [report])
                continue
            inflight[pool.submit(self._extract, step, owner)] = (seq, item_id, display, step)
            while len(inflight) >= 2 * self.workers:
                settle(True)
            settle(False)

    def _guarded(self, display: str, work: Callable[[], _T]) -> _T | FileReport:
        """``work()``, with an archive's stop or an unexpected error turned into a report."""
        try:
            return work()
        except Exception as exc:  # recorded, the batch goes on
            return _error_report(display, exc)

    def _store_and_prepare(self, path: Path, where: _Where, display: str) -> FileReport | _Pending:
        try:
            stored = self.store.put_file(path, max_bytes=self.max_file_bytes)
        except FileTooLargeError as exc:
            return FileReport(path=display, outcome=Outcome.SKIPPED, code="too_large", message=str(exc))
        except OSError as exc:
            return FileReport(path=display, outcome=Outcome.FAILED, code="unreadable", message=str(exc))
        return self._prepare(stored, path.name, where, display)

    def ingest_file(
        self, path: Path, collection_id: int, job_id: int, *, display: str | None = None
    ) -> FileReport:
        """Ingest one file; never raises for a bad file: the outcome is recorded and returned.
        The outcomes of an archive's members are recorded too and kept for ``ingest``'s report."""
        display = display or str(path)
        self._member_reports = []
        where = _Where(collection_id=collection_id, job_id=job_id)
        return self._run_item(display, where, lambda: self._ingest(path, where, display))

    _resume = False
    """Set by ``ingest_stored(resume=True)``: an archive already a document is unpacked again."""

    def _resumed(self, where: _Where, file_id: int) -> int | None:
        """The archive's document left by an earlier attempt, when resuming one."""
        if not self._resume:
            return None
        with self.catalog.session() as s:
            return s.scalar(
                select(Document.id).where(
                    Document.collection_id == where.collection_id, Document.file_id == file_id
                )
            )

    def ingest_stored(
        self,
        stored: StoredOriginal,
        filename: str,
        collection_id: int,
        job_id: int,
        *,
        display: str,
        resume: bool = False,
    ) -> FileReport:
        """Process an original already in the store for an ingest item the caller records (a
        queued item claimed by ``archive worker``, see ``ingest/queue.py``); never raises for a
        bad file. An archive's members get their own items, as in ``ingest_file``. ``resume``
        (a worker took the item over from a dead one): an archive that is already a document is
        unpacked again, so that members the dead worker did not reach are ingested (the others
        end ``ok(duplicate)``)."""
        self._member_reports = []
        where = _Where(collection_id=collection_id, job_id=job_id)
        self._resume = resume
        try:
            return self._process(stored, filename, where, display)
        except Exception as exc:  # recorded, the queue goes on
            return _error_report(display, exc)
        finally:
            self._resume = False

    def _run_item(self, display: str, where: _Where, work: Callable[[], FileReport]) -> FileReport:
        """Record an ingest item for ``display``, run ``work`` and record its outcome. An
        ``ArchiveError`` (a member broke its archive's limits) is recorded, then raised again
        so that the archive stops."""
        item_id = self._open_item(display, where)
        stop: ArchiveError | None = None
        try:
            report = work()
        except ArchiveError as exc:
            stop = exc
            report = FileReport(path=display, outcome=Outcome.FAILED, code=exc.code, message=exc.message)
        except Exception as exc:  # a bug or an unexpected library error: recorded, batch goes on
            log.exception("ingest of %s failed", display)
            report = FileReport(
                path=display,
                outcome=Outcome.FAILED,
                code="internal_error",
                message=f"{type(exc).__name__}: {exc}",
            )
        self._close_item(item_id, report)
        if where.parent_id is not None or where.depth:
            self._member_reports.append(report)
        if stop is not None:
            raise stop
        return report

    def _open_item(self, display: str, where: _Where) -> int:
        """A new ``running`` ingest item for ``display``; its id."""
        with self.catalog.session() as s:
            item = IngestItem(
                job_id=where.job_id, path=display[:10000], state="running", started_at=datetime.now(UTC)
            )
            s.add(item)
            s.flush()
            return item.id

    def _close_item(self, item_id: int, report: FileReport) -> None:
        """Record the item's one terminal outcome."""
        with self.catalog.session() as s:
            it = s.get(IngestItem, item_id)
            assert it is not None
            it.state = report.outcome.value
            it.code, it.message = report.code, report.message
            it.document_id = int(report.document_id) if report.document_id else None
            it.finished_at = datetime.now(UTC)
            if report.sha256:
                it.file_id = s.scalar(select(StoredFile.id).where(StoredFile.sha256 == report.sha256))

    def _ingest(self, path: Path, where: _Where, display: str) -> FileReport:
        step = self._store_and_prepare(path, where, display)
        if isinstance(step, FileReport):
            return step
        return self._finish(step, self._try_extract(step), display)

    def _process(self, stored: StoredOriginal, filename: str, where: _Where, display: str) -> FileReport:
        """Sniff, extract and catalog a stored original (a file handed in, or an archive member)."""
        step = self._prepare(stored, filename, where, display)
        if isinstance(step, FileReport):
            return step
        return self._finish(step, self._try_extract(step), display)

    def _extract(self, pending: _Pending, owner: object = None) -> Extraction:
        """The extraction, in a sandbox worker process (``sandbox.py``); thread-safe."""
        return run_extractor(pending.extractor, pending.source, self.limits, owner=owner)

    def _try_extract(self, pending: _Pending) -> Extraction | BaseException:
        try:
            return self._extract(pending)
        except (Skip, ExtractionError, MemoryError) as exc:
            return exc

    def _prepare(
        self, stored: StoredOriginal, filename: str, where: _Where, display: str
    ) -> FileReport | _Pending:
        """Sniff a stored original and register it; a report when it needs no extraction
        (a duplicate, an empty or unsupported file, an archive, which is unpacked here)."""
        collection_id = where.collection_id
        mime = sniff_file(stored.path)
        with self.catalog.session() as s:
            file_id = self._file_row(s, stored.sha256, stored.size, mime)
            existing = s.scalar(
                select(Document.id).where(
                    Document.collection_id == collection_id, Document.file_id == file_id
                )
            )
        if existing is not None and not (self._resume and (mime in ARCHIVE_TYPES or mime == EML)):
            return FileReport(
                path=display,
                outcome=Outcome.OK,
                code="duplicate",
                message="the same bytes are already a document of this collection",
                document_id=str(existing),
                sha256=stored.sha256,
                duplicate=True,
            )
        source = SourceFile(
            filename=filename[:1000], sha256=stored.sha256, size=stored.size, path=stored.path, mime=mime
        )
        base: dict[str, Any] = {"path": display, "sha256": stored.sha256}
        if mime == "application/x-empty":
            return FileReport(**base, outcome=Outcome.SKIPPED, code="empty", message="the file is empty")
        if mime in ARCHIVE_TYPES:
            if self._drain is not None:
                self._drain()  # members are extracted here: no extraction of the same bytes may run
            return self._ingest_archive(source, file_id, where, display, base)
        if mime == EML:
            if self._drain is not None:
                self._drain()  # attachments are extracted here, as an archive's members are
            return self._ingest_email(source, file_id, where, display, base)
        extractor = self.registry.for_mime(mime)
        if extractor is None:
            return FileReport(**base, outcome=Outcome.SKIPPED, code="unsupported_type", message=mime)
        return _Pending(source=source, file_id=file_id, where=where, base=base, extractor=extractor)

    def _finish(self, pending: _Pending, result: Extraction | BaseException, display: str) -> FileReport:
        """Catalog an extraction (or record why there is none)."""
        base, source, file_id = pending.base, pending.source, pending.file_id
        collection_id, where = pending.where.collection_id, pending.where
        if isinstance(result, Skip):
            return FileReport(**base, outcome=Outcome.SKIPPED, code=result.code, message=result.message)
        if isinstance(result, ExtractionError):
            return FileReport(**base, outcome=Outcome.FAILED, code=result.code, message=result.message)
        if isinstance(result, MemoryError):
            return FileReport(
                **base, outcome=Outcome.FAILED, code="out_of_memory", message="extraction ran out of memory"
            )
        if isinstance(result, BaseException):
            raise result
        extraction = result
        if extraction.passage_spans is not None:  # made in the worker process (passages.py)
            try:
                drafts = drafts_from_spans(
                    extraction, extraction.passage_spans, extraction.passage_mentions, find=self.entities
                )
            except ExtractionError as exc:  # spans that do not fit the text: the worker misbehaved
                return FileReport(**base, outcome=Outcome.FAILED, code=exc.code, message=exc.message)
        else:
            drafts = make_passages(extraction, self.passage_chars, find=self.entities)
        if extraction.doc_date is None:  # no date in the metadata: the first one in the text's head
            extraction.doc_date = document_date(_head(extraction))
        try:
            made_by = (pending.extractor.name, pending.extractor.version)
            doc_id = self._save(
                source, collection_id, file_id, extraction, drafts, parent_id=where.parent_id, made_by=made_by
            )
        except IntegrityError:
            with self.catalog.session() as s:  # another worker saved the same file meanwhile
                other = s.scalar(
                    select(Document.id).where(
                        Document.collection_id == collection_id, Document.file_id == file_id
                    )
                )
            if other is None:
                raise
            return FileReport(
                **base, outcome=Outcome.OK, code="duplicate", document_id=str(other), duplicate=True
            )
        if extraction.incomplete is not None:  # usable but not whole: said in the outcome
            code, message = extraction.incomplete
            return FileReport(**base, outcome=Outcome.OK, code=code, message=message, document_id=str(doc_id))
        return FileReport(**base, outcome=Outcome.OK, document_id=str(doc_id))

    def _ingest_archive(
        self, source: SourceFile, file_id: int, where: _Where, display: str, base: dict[str, Any]
    ) -> FileReport:
        """The archive becomes a document of type ``archive`` (made when its first member is
        read, so an archive refused as a whole leaves no document), its members child documents."""
        limits = self.archive_limits
        if where.depth >= limits.max_depth:
            return FileReport(
                **base,
                outcome=Outcome.SKIPPED,
                code="archive_too_deep",
                message=f"archives nested deeper than {limits.max_depth} levels are not unpacked",
            )
        budget = where.budget or Budget.for_archive(source.size, limits)
        doc_id: int | None = None
        count = 0
        error: ArchiveError | None = None
        try:
            for member in iter_members(source.path, source.mime, budget, name_hint=source.filename):
                if doc_id is None:
                    doc_id = self._resumed(where, file_id) or self._save(
                        source,
                        where.collection_id,
                        file_id,
                        Extraction(doc_type="archive", blocks=[]),
                        [],
                        parent_id=where.parent_id,
                        made_by=READER,
                    )
                count += 1
                inner = _Where(where.collection_id, where.job_id, doc_id, where.depth + 1, budget)
                self._ingest_member(member, inner, f"{display}!/{member.name}")
        except ArchiveError as exc:
            error = exc
        if doc_id is None:
            if error is not None:
                return FileReport(**base, outcome=Outcome.FAILED, code=error.code, message=error.message)
            return FileReport(**base, outcome=Outcome.SKIPPED, code="empty_archive", message="no members")
        return _container_report(base, doc_id, count, "members", error, "unpacking stopped")

    def _ingest_email(
        self, source: SourceFile, file_id: int, where: _Where, display: str, base: dict[str, Any]
    ) -> FileReport:
        """An e-mail becomes a document of type ``email`` whose text starts with its From, To,
        Cc, Date and Subject (searchable, and kept in ``email_headers`` for the ``from:`` and
        ``to:`` filters); its attachments become child documents, as an archive's members do,
        within the same limits (an attached e-mail is unpacked in turn)."""
        limits = self.archive_limits
        try:
            parsed = parse_email(source.path.read_bytes())
        except Exception as exc:  # a malformed message is recorded, never raised
            return FileReport(
                **base, outcome=Outcome.FAILED, code="corrupt_email", message=f"{type(exc).__name__}: {exc}"
            )
        extraction = parsed.extraction
        drafts = make_passages(extraction, self.passage_chars)
        if extraction.doc_date is None:
            extraction.doc_date = document_date(_head(extraction))
        doc_id = self._resumed(where, file_id)
        if doc_id is None:
            try:
                doc_id = self._save(
                    source,
                    where.collection_id,
                    file_id,
                    extraction,
                    drafts,
                    parent_id=where.parent_id,
                    made_by=EMAIL_READER,
                    email=parsed.headers,
                )
            except IntegrityError:
                with self.catalog.session() as s:
                    other = s.scalar(
                        select(Document.id).where(
                            Document.collection_id == where.collection_id, Document.file_id == file_id
                        )
                    )
                if other is None:
                    raise
                return FileReport(
                    **base, outcome=Outcome.OK, code="duplicate", document_id=str(other), duplicate=True
                )
        if not parsed.attachments:
            return FileReport(**base, outcome=Outcome.OK, document_id=str(doc_id))
        if where.depth >= limits.max_depth:
            return FileReport(
                **base,
                outcome=Outcome.OK,
                message=f"attachments nested deeper than {limits.max_depth} levels are not ingested",
                document_id=str(doc_id),
            )
        budget = where.budget or Budget.for_archive(source.size, limits)
        inner = _Where(where.collection_id, where.job_id, doc_id, where.depth + 1, budget)
        count = 0
        try:
            for name, data in parsed.attachments:
                budget.take_member()
                budget.take_bytes(len(data))
                count += 1
                member = Member(name, size=len(data), stream=io.BytesIO(data))
                self._ingest_member(member, inner, f"{display}!/{name}")
        except ArchiveError as exc:
            return _container_report(base, doc_id, count, "attachments", exc, "stopped")
        return _container_report(base, doc_id, count, "attachments", None, "stopped")

    def _ingest_member(self, member: Member, where: _Where, display: str) -> None:
        def work() -> FileReport:
            if member.stream is None:
                refused = member.code in ("unsafe_path", "not_a_file")
                return FileReport(
                    path=display,
                    outcome=Outcome.SKIPPED if refused else Outcome.FAILED,
                    code=member.code,
                    message=member.message,
                )
            try:
                stored = self.store.put_stream(member.stream, max_bytes=self.max_file_bytes)
            except FileTooLargeError as exc:
                return FileReport(path=display, outcome=Outcome.SKIPPED, code="too_large", message=str(exc))
            except _MEMBER_READ_ERRORS as exc:
                return FileReport(
                    path=display,
                    outcome=Outcome.FAILED,
                    code="corrupt_member",
                    message=f"{type(exc).__name__}: {exc}",
                )
            return self._process(stored, member.name, where, display)

        self._run_item(display, where, work)

    @staticmethod
    def _file_row(s: Session, sha256: str, size: int, mime: str) -> int:
        fid = s.scalar(select(StoredFile.id).where(StoredFile.sha256 == sha256))
        if fid is not None:
            return fid
        try:
            with s.begin_nested():
                row = StoredFile(sha256=sha256, size=size, mime=mime)
                s.add(row)
            return row.id
        except IntegrityError:
            fid = s.scalar(select(StoredFile.id).where(StoredFile.sha256 == sha256))
            assert fid is not None
            return fid

    def _save(
        self,
        source: SourceFile,
        collection_id: int,
        file_id: int,
        extraction: Extraction,
        drafts: list[PassageDraft],
        *,
        parent_id: int | None = None,
        made_by: tuple[str, str] | None = None,
        email: EmailHeaders | None = None,
    ) -> int:
        """Document, pages and passages (and an e-mail's headers) in one transaction: all of it
        is committed or none. ``made_by`` is the extractor's (name, version), recorded on the
        document."""
        with self.catalog.session() as s:
            doc = Document(
                collection_id=collection_id,
                file_id=file_id,
                parent_id=parent_id,
                filename=source.filename,
                title=extraction.title,
                doc_type=extraction.doc_type,
                mime=source.mime,
                lang=document_language([(d.lang, d.text) for d in drafts]),
                page_count=extraction.page_count,
                doc_date=extraction.doc_date,
                extractor=made_by[0] if made_by else None,
                extractor_version=made_by[1] if made_by else None,
            )
            s.add(doc)
            s.flush()
            for n, block in enumerate(extraction.blocks, start=1):
                if block.page is not None or len(extraction.blocks) == 1:
                    s.add(
                        Page(
                            document_id=doc.id,
                            number=block.page or n,
                            text=block.text,
                            method=block.method,
                            confidence=block.confidence,
                            word_boxes=wordboxes.checked(block.word_boxes, len(block.text)),
                        )
                    )
            rows = []
            for d in drafts:
                row = Passage(
                    document_id=doc.id,
                    seq=d.seq,
                    text=d.text,
                    lang=d.lang,
                    page=d.page,
                    char_start=d.char_start,
                    char_end=d.char_end,
                    time_start=d.time_start,
                    time_end=d.time_end,
                    speaker=d.speaker,
                )
                s.add(row)
                rows.append((row, d))
            if any(d.mentions for d in drafts):
                s.flush()
                store_mentions(s, ((row.id, doc.id, d.text, m) for row, d in rows for m in d.mentions))
            if email is not None:
                s.add(
                    EmailHeader(
                        document_id=doc.id,
                        sender=email.sender.casefold(),
                        recipients=email.recipients.casefold(),
                        subject=email.subject,
                    )
                )
            return doc.id
