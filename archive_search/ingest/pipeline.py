"""The ingestion pipeline: receive → store original → sniff → extract → normalise → split →
language → catalog. Every file ends in exactly one recorded state (``ok``, ``failed`` or
``skipped``), the original is kept either way, and the rest of the batch goes on.

This module writes the catalog only; the derived indexes follow from the catalog
(``archive_search.index.indexer``), keeping the data flow one way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import (
    Collection,
    Document,
    IngestItem,
    IngestJob,
    Page,
    Passage,
    StoredFile,
)
from archive_search.catalog.store import FileTooLargeError, OriginalStore
from archive_search.ingest.lang import detect_language, document_language
from archive_search.ingest.normalize import normalize_text
from archive_search.ingest.registry import ExtractionError, ExtractorRegistry, Limits, Skip, default_registry
from archive_search.ingest.sniff import sniff_file
from archive_search.ingest.split import split_spans
from archive_search.types import Extraction, FileReport, JobReport, Outcome, PassageDraft, SourceFile

log = logging.getLogger(__name__)
Progress = Callable[[FileReport], None]


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


def make_passages(extraction: Extraction, target_chars: int) -> list[PassageDraft]:
    """Normalise each block and cut it into passages that keep page, span, time and speaker."""
    out: list[PassageDraft] = []
    for block in extraction.blocks:
        block.text = normalize_text(block.text)
        for s, e in split_spans(block.text, target_chars):
            text = block.text[s:e]
            out.append(
                PassageDraft(
                    seq=len(out),
                    text=text,
                    page=block.page,
                    char_start=s,
                    char_end=e,
                    time_start=block.time_start,
                    time_end=block.time_end,
                    speaker=block.speaker,
                    lang=detect_language(text),
                )
            )
    return out


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
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.registry = registry or default_registry()
        self.limits = limits or Limits()
        self.passage_chars = passage_chars
        self.max_file_bytes = max_file_bytes

    def ensure_collection(self, name: str) -> int:
        with self.catalog.session() as s:
            cid = s.scalar(select(Collection.id).where(Collection.name == name))
            if cid is not None:
                return cid
        try:
            with self.catalog.session() as s:
                col = Collection(name=name)
                s.add(col)
                s.flush()
                return col.id
        except IntegrityError:  # created concurrently
            with self.catalog.session() as s:
                cid = s.scalar(select(Collection.id).where(Collection.name == name))
                assert cid is not None
                return cid

    def ingest(
        self, paths: Iterable[Path], collection: str, *, progress: Progress | None = None
    ) -> JobReport:
        col_id = self.ensure_collection(collection)
        started = datetime.now(UTC)
        with self.catalog.session() as s:
            job = IngestJob(collection_id=col_id, status="running", created_at=started)
            s.add(job)
            s.flush()
            job_id = job.id
        reports: list[FileReport] = []
        for path in iter_files(paths):
            report = self.ingest_file(path, col_id, job_id, display=str(path))
            reports.append(report)
            if progress:
                progress(report)
        finished = datetime.now(UTC)
        with self.catalog.session() as s:
            j = s.get(IngestJob, job_id)
            assert j is not None
            j.status, j.finished_at = "done", finished
        return JobReport(job_id=job_id, files=reports, started_at=started, finished_at=finished)

    def ingest_file(
        self, path: Path, collection_id: int, job_id: int, *, display: str | None = None
    ) -> FileReport:
        """Ingest one file; never raises for a bad file: the outcome is recorded and returned."""
        display = display or str(path)
        with self.catalog.session() as s:
            item = IngestItem(job_id=job_id, path=display, state="running", started_at=datetime.now(UTC))
            s.add(item)
            s.flush()
            item_id = item.id
        try:
            report = self._ingest(path, collection_id, item_id, display)
        except Exception as exc:  # a bug or an unexpected library error: recorded, batch goes on
            log.exception("ingest of %s failed", display)
            report = FileReport(
                path=display,
                outcome=Outcome.FAILED,
                code="internal_error",
                message=f"{type(exc).__name__}: {exc}",
            )
        with self.catalog.session() as s:
            it = s.get(IngestItem, item_id)
            assert it is not None
            it.state = report.outcome.value
            it.code, it.message = report.code, report.message
            it.document_id = int(report.document_id) if report.document_id else None
            it.finished_at = datetime.now(UTC)
            if report.sha256:
                it.file_id = s.scalar(select(StoredFile.id).where(StoredFile.sha256 == report.sha256))
        return report

    def _ingest(self, path: Path, collection_id: int, item_id: int, display: str) -> FileReport:
        try:
            stored = self.store.put_file(path, max_bytes=self.max_file_bytes)
        except FileTooLargeError as exc:
            return FileReport(path=display, outcome=Outcome.SKIPPED, code="too_large", message=str(exc))
        except OSError as exc:
            return FileReport(path=display, outcome=Outcome.FAILED, code="unreadable", message=str(exc))
        mime = sniff_file(stored.path)
        with self.catalog.session() as s:
            file_id = self._file_row(s, stored.sha256, stored.size, mime)
            existing = s.scalar(
                select(Document.id).where(
                    Document.collection_id == collection_id, Document.file_id == file_id
                )
            )
        if existing is not None:
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
            filename=path.name, sha256=stored.sha256, size=stored.size, path=stored.path, mime=mime
        )
        base: dict[str, Any] = {"path": display, "sha256": stored.sha256}
        if mime == "application/x-empty":
            return FileReport(**base, outcome=Outcome.SKIPPED, code="empty", message="the file is empty")
        extractor = self.registry.for_mime(mime)
        if extractor is None:
            return FileReport(**base, outcome=Outcome.SKIPPED, code="unsupported_type", message=mime)
        try:
            extraction = extractor.extract(source, self.limits)
        except Skip as exc:
            return FileReport(**base, outcome=Outcome.SKIPPED, code=exc.code, message=exc.message)
        except ExtractionError as exc:
            return FileReport(**base, outcome=Outcome.FAILED, code=exc.code, message=exc.message)
        except MemoryError:
            return FileReport(
                **base, outcome=Outcome.FAILED, code="out_of_memory", message="extraction ran out of memory"
            )
        drafts = make_passages(extraction, self.passage_chars)
        try:
            doc_id = self._save(source, collection_id, file_id, extraction, drafts)
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
        return FileReport(**base, outcome=Outcome.OK, document_id=str(doc_id))

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
    ) -> int:
        """Document, pages and passages in one transaction: all of it is committed or none."""
        with self.catalog.session() as s:
            doc = Document(
                collection_id=collection_id,
                file_id=file_id,
                filename=source.filename,
                title=extraction.title,
                doc_type=extraction.doc_type,
                mime=source.mime,
                lang=document_language([(d.lang, d.text) for d in drafts]),
                page_count=extraction.page_count,
                doc_date=extraction.doc_date,
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
                        )
                    )
            for d in drafts:
                s.add(
                    Passage(
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
                )
            return doc.id
