"""What every extractor and the registry share: the limits an extraction honours, the two ways it
ends without a result (:class:`ExtractionError` → ``failed``, :class:`Skip` → ``skipped``) and the
:class:`Extractor` protocol with its bids. Extractors import this module, never the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from archive_search.types import Extraction, SourceFile


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one extraction worker process (``ingest/sandbox.py``; ``ARCHIVE_EXTRACT_*``)."""

    memory_bytes: int = 4 * 1024**3
    """Address space (``RLIMIT_AS``; for Tika, writable data: ``RLIMIT_DATA``) of a worker."""
    cpu_s: int = 1800
    """CPU seconds one file may use in the worker (``RLIMIT_CPU``; OCR has its own timeout)."""
    wall_s: float = 3600
    """Wall-clock seconds one file may take, OCR included, before the worker is killed."""
    max_output_bytes: int = 512 * 1024 * 1024
    """Largest reply (the extraction as JSON) read from a worker."""
    max_file_write_bytes: int = 2 * 1024**3
    """Largest file a worker may write (``RLIMIT_FSIZE``; page images for OCR)."""
    files_per_worker: int = 200
    """A worker is replaced after this many files (bounds leaks in native libraries)."""
    isolate_network: bool = True
    """Run workers in an empty network namespace where ``unshare`` allows it."""


@dataclass(frozen=True)
class Limits:
    """Limits every extractor honours; exceeding one is a recorded failure, never a crash."""

    max_pages: int = 5000
    max_image_pixels: int = 200_000_000
    max_output_chars: int = 50_000_000
    ocr_languages: str = "rus+ukr+bel+eng"
    ocr_dpi: int = 300
    ocr_timeout_s: int = 300
    ocr_max_pages: int = 2000
    """Pages (frames) of one file OCR'd at most; the rest keep what their text layer has and the
    file ends ``ok`` with code ``ocr_incomplete`` (``ingest/extractors/ocr.py: OcrBudget``)."""
    ocr_max_s: float = 1800
    """Seconds of OCR one file may take in all (within the worker's wall-clock limit, so that it
    ends with a recorded reason instead of being killed); then as for ``ocr_max_pages``."""
    tika_timeout_s: float = 300
    """Office documents, web pages, e-mail: longer than this in Tika is ``failed(timeout)``."""
    tika_isolated: bool = True
    """Run Tika in a helper process (a hang or crash fails one file, not the whole ingestion)."""
    sandbox: bool = True
    """Run every extractor in a worker process with ``sandbox_limits`` (``ingest/sandbox.py``)."""
    sandbox_limits: SandboxLimits = SandboxLimits()
    passage_chars: int | None = None
    """When set, the extraction worker also normalises the text and cuts it into passages of
    about this size with their languages (``ingest/passages.py``), in parallel with the others."""
    entities: bool = True
    """With ``passage_chars``: the worker also finds entity mentions (``ingest/entities.py``)."""
    pdf_password: str | None = field(default=None, repr=False, compare=False)
    """Password of encrypted PDFs (``archive ingest --password``); never shown by ``repr`` and
    never stored: it travels to the extraction worker inside the request and nowhere else."""


class ExtractionError(Exception):
    """A file that cannot be extracted: recorded as ``failed(code, message)``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Skip(Exception):
    """A file deliberately not extracted: recorded as ``skipped(code)``."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


@runtime_checkable
class Extractor(Protocol):
    """One kind of input. The registry asks every extractor for a bid on the sniffed type and
    the highest wins (ties: the one registered first), as alephdata/ingest-file's ``match``
    scores do; the winner's ``name`` and ``version`` are recorded on the document."""

    name: str
    version: str
    """Changes when the extractor's output for the same bytes would change (its code or the
    library it drives), so that documents made by an older one can be found and redone."""

    def bid(self, mime: str) -> int:
        """How well this extractor handles ``mime``: 0 not at all, :data:`GENERIC` as a
        fallback for a broad family of types, :data:`SPECIALIST` for the types it was made for."""
        ...

    def extract(self, source: SourceFile, limits: Limits) -> Extraction: ...


NO_BID = 0
GENERIC = 5
"""A bid for types an extractor handles among many others (Tika's office and e-mail formats)."""
SPECIALIST = 10
"""A bid for the types an extractor was written for (PDF text layers, OCR of images, subtitles)."""
