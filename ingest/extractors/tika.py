"""Office documents, web pages, e-books and e-mail through Apache Tika, as built into the
``iscc-tika`` package (a native build of Tika: no JVM, no Tika server).

Formats: DOCX, DOC, ODT (and the other OpenDocument types), RTF, XLSX, XLS, PPTX, PPT, HTML,
EPUB, e-mail (``message/rfc822``, mbox, Outlook ``.msg``). The sniffed type picks this extractor;
Tika detects the format again by itself.

Tika runs in a helper process of its own (started once, reused for every file), so that a
document on which a parser hangs ends as ``failed(timeout)`` after ``Limits.tika_timeout_s`` and
one that crashes the native library ends as ``failed(extractor_crashed)``, instead of stopping
the whole ingestion; the helper is then started anew. Where no helper process can be started,
or with ``Limits.tika_isolated=False``, Tika runs in this process.

Title, author and date come from Tika's metadata where the document records them. A
word-processor file that holds an interview transcript (``Q:``/``A:``, ``Свідок:``, timestamps)
becomes one block per turn, like a plain-text one.
"""

from __future__ import annotations

import logging
import lzma
import os
import re
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
import zipfile
import zlib
from datetime import date
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from archive_search.types import Extraction, SourceFile, TextBlock
from ingest import sniff
from ingest.extractors.base import GENERIC, NO_BID, ExtractionError, Limits, Skip
from ingest.extractors.ooxml_pages import docx_pages, pptx_slides
from ingest.transcript import transcript_extraction

_TIKA = metadata.version("iscc-tika")

DOCUMENT_TYPES: dict[str, str] = {
    sniff.DOCX: "document",
    sniff.DOC: "document",
    "application/rtf": "document",
    "application/vnd.oasis.opendocument.text": "document",
    sniff.XLSX: "spreadsheet",
    sniff.XLS: "spreadsheet",
    "application/vnd.oasis.opendocument.spreadsheet": "spreadsheet",
    sniff.PPTX: "presentation",
    sniff.PPT: "presentation",
    "application/vnd.oasis.opendocument.presentation": "presentation",
    sniff.HTML: "web",
    sniff.EPUB: "ebook",
    sniff.EML: "email",
    sniff.MBOX: "email",
    sniff.MSG: "email",
    sniff.OLE: "document",  # an OLE2 file of a kind the sniffer could not tell; Tika can
    sniff.OOXML_ENCRYPTED: "document",  # refused below with code "encrypted"
}
_WORD_PROCESSING = {"document"}
_ENCRYPTED = re.compile(r"encrypt|password", re.IGNORECASE)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")

log = logging.getLogger(__name__)
_lock = threading.Lock()
_extractor: Any = None


def tika_available() -> bool:
    try:
        import iscc_tika  # noqa: F401
    except ImportError:
        return False
    return True


def _tika() -> Any:
    global _extractor
    if _extractor is None:
        try:
            import iscc_tika
        except ImportError as exc:
            raise ExtractionError("extractor_unavailable", "iscc-tika is not installed") from exc
        _extractor = iscc_tika.Extractor()
    return _extractor


def _first(meta: dict[str, list[str]], *keys: str) -> str | None:
    for k in keys:
        vals = meta.get(k)
        if vals:
            v = " ".join(str(vals[0]).split())
            if v:
                return v
    return None


def _all(meta: dict[str, list[str]], key: str) -> str | None:
    vals = [" ".join(str(v).split()) for v in meta.get(key) or []]
    vals = [v for v in vals if v]
    return "; ".join(dict.fromkeys(vals)) if vals else None


def parse_date(value: str | None) -> date | None:
    """The calendar date at the start of an ISO 8601 timestamp (``2015-09-07T10:57:00Z``)."""
    if not value:
        return None
    m = _DATE.match(value.strip())
    if not m:
        return None
    try:
        d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return d if 1800 <= d.year <= 2200 else None


_ZIP_XML_TYPES = {sniff.DOCX, sniff.XLSX, sniff.PPTX, sniff.EPUB}
_PROLOG_BYTES = 1024 * 1024
_MAX_XML_MEMBERS = 20_000
_DOCTYPE = re.compile(rb"<!DOCTYPE\b(?P<body>[^>\[]*)(?P<subset>\[)?", re.IGNORECASE)


def check_zip_xml(path: Path, mime: str) -> None:
    """Refuse a zip-based document (OOXML, OpenDocument, EPUB) whose XML parts declare entities or
    document types that could expand (billion laughs) or read other files (external entities):
    ``failed(xml_entities)``. Only the prolog of each part (what precedes its root element, where a
    DOCTYPE must stand) is read, at most 1 MiB of it. Office and OpenDocument parts never have a
    DOCTYPE; EPUB's XHTML may have a plain ``<!DOCTYPE html ...>`` with an ``http(s)`` identifier."""
    import zipfile

    office = mime != sniff.EPUB
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a readable zip: Tika reports the damage
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > _MAX_XML_MEMBERS:
            raise ExtractionError("too_many_members", f"{len(infos)} parts in one document")
        for info in infos:
            try:
                with zf.open(info) as fh:
                    head = fh.read(_PROLOG_BYTES)
            except (
                zipfile.BadZipFile,
                NotImplementedError,
                RuntimeError,
                OSError,
                EOFError,
                ValueError,
                zlib.error,
                lzma.LZMAError,
            ):
                continue  # a damaged (or undecompressable) part: Tika reports it
            _check_prolog(head, info.filename, office=office)


def _check_prolog(head: bytes, name: str, *, office: bool) -> None:
    """Walk an XML part's prolog (declaration, processing instructions, comments, DOCTYPE)."""
    pos = len(head) - len(head.lstrip(b"\xef\xbb\xbf \t\r\n"))
    if not head.startswith(b"<", pos):
        return  # not XML (an image, a binary part)
    while True:
        while pos < len(head) and head[pos : pos + 1] in b" \t\r\n":
            pos += 1
        if head.startswith(b"<?", pos) or head.startswith(b"<!--", pos):
            close = b"?>" if head.startswith(b"<?", pos) else b"-->"
            end = head.find(close, pos + 2)
            if end < 0:
                if len(head) >= _PROLOG_BYTES:
                    raise ExtractionError("xml_entities", f"{name}: XML prolog longer than 1 MiB")
                return  # cut short: Tika reports the damage
            pos = end + len(close)
            continue
        if head[pos : pos + 9].upper() == b"<!DOCTYPE":
            m = _DOCTYPE.match(head, pos)
            body = m.group("body").lower() if m else b""
            literals = re.findall(rb"[\"']([^\"']*)[\"']", body)
            system = literals[1:2] if b"public" in body else literals[:1]  # the system identifier
            unsafe_ident = any(not u.strip().startswith((b"http://", b"https://")) for u in system)
            if office or m is None or m.group("subset") or unsafe_ident:
                raise ExtractionError("xml_entities", f"{name}: XML document type declarations are refused")
            return
        if head.startswith(b"<!", pos):
            raise ExtractionError("xml_entities", f"{name}: XML markup declarations are refused")
        return  # the root element (or text before it: not well-formed, Tika reports it)


def run_tika(
    path: str, max_chars: int, *, timeout_s: float = 300, isolated: bool = True
) -> tuple[str, dict[str, list[str]]]:
    """Text and metadata of one file, from the helper process (or in-process when ``isolated``
    is false); Tika's own failures, a timeout and a crash become ``ExtractionError``."""
    if isolated:
        result = _WORKER.run(path, max_chars, timeout_s)
        if result is not None:
            return result
    return _parse(path, max_chars)


def _parse(path: str, max_chars: int) -> tuple[str, dict[str, list[str]]]:
    ex = _tika()
    with _lock:  # one parse at a time through the shared native isolate
        ex.set_extract_string_max_length(max_chars + 1)
        try:
            text, raw_meta = ex.extract_file_to_string(path)
        except MemoryError:
            raise
        except Exception as exc:  # the binding raises TypeError("ParseError(...)") and others
            msg = str(exc)
            if _ENCRYPTED.search(msg):
                raise ExtractionError("encrypted", "the document is encrypted with a password") from exc
            raise ExtractionError("corrupt_document", msg[:500] or type(exc).__name__) from exc
    meta: dict[str, list[str]] = {}
    for k, v in dict(raw_meta or {}).items():
        meta[str(k)] = [str(x) for x in v] if isinstance(v, list | tuple) else [str(v)]
    return str(text or ""), meta


def _worker_main(conn: Connection) -> None:
    """The helper process: parse each (path, max_chars) it is sent and send the outcome back."""
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        path, max_chars = request
        try:
            text, meta = _parse(path, max_chars)
            conn.send(("ok", text, meta))
        except ExtractionError as exc:
            conn.send(("error", exc.code, exc.message))
        except MemoryError:
            conn.send(("error", "out_of_memory", "Tika ran out of memory"))
        except Exception as exc:
            conn.send(("error", "corrupt_document", f"{type(exc).__name__}: {exc}"[:500]))


class _Worker:
    """One helper process running Tika, started on first use and again after a timeout or crash."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._unavailable = False

    def _start(self) -> bool:
        # A fresh interpreter running tika_worker (not multiprocessing's "spawn", which would
        # import the caller's __main__ again), talking over a socket pair.
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # the repository root (or site-packages)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ingest.extractors.tika_worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            log.warning("cannot start the Tika helper process (%s); running Tika in-process", exc)
            ours.close()
            theirs.close()
            self._unavailable = True
            return False
        theirs.close()
        self._proc, self._conn = proc, Connection(ours.detach())
        return True

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                log.warning("the Tika helper process %s did not stop", self._proc.pid)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def run(self, path: str, max_chars: int, timeout_s: float) -> tuple[str, dict[str, list[str]]] | None:
        """The outcome of one parse, or ``None`` when no helper process can be had. A helper that
        dies is replaced and the file tried once more (the helper may have died of an earlier
        file); a file that kills it twice fails as ``extractor_crashed``."""
        with self._lock:
            for attempt in (1, 2):
                if self._unavailable:
                    return None
                if self._proc is None or self._proc.poll() is not None:
                    self.stop()
                    if not self._start():
                        return None
                conn = self._conn
                assert conn is not None
                try:
                    conn.send((path, max_chars))
                    if not conn.poll(timeout_s):
                        self.stop()
                        raise ExtractionError("timeout", f"Tika took longer than {timeout_s:g}s")
                    reply = conn.recv()
                    break
                except (EOFError, OSError) as exc:
                    self.stop()
                    if attempt == 2:
                        raise ExtractionError(
                            "extractor_crashed", "the Tika helper process died on this file"
                        ) from exc
        if reply[0] == "ok":
            return reply[1], reply[2]
        raise ExtractionError(reply[1], reply[2])


_WORKER = _Worker()


PAGE_COVERAGE = 0.9
"""Pages read from the XML replace Tika's text only when they hold this share of its letters
(Tika also reads headers, footers, footnotes and comments, which the page reader leaves out)."""


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def _ooxml_pages(path: Path, mime: str, tika_text: str) -> list[str] | None:
    """Slides of a PPTX or page-broken parts of a DOCX (``ooxml_pages``), or None to keep Tika's
    single block: another type, no page break, unreadable XML, or too little of Tika's text."""
    try:
        if mime == sniff.PPTX:
            pages = pptx_slides(path)
        elif mime == sniff.DOCX:
            pages = docx_pages(path)
        else:
            return None
    except (
        ET.ParseError,
        zipfile.BadZipFile,
        zlib.error,
        lzma.LZMAError,
        OSError,
        EOFError,
        KeyError,
        NotImplementedError,
        RuntimeError,
        ValueError,
    ):
        return None
    if not pages or sum(_letters(p) for p in pages) < PAGE_COVERAGE * _letters(tika_text):
        return None
    return pages


class TikaExtractor:
    name = "tika"
    version = f"1; iscc-tika {_TIKA}"
    memory_limit = "data"
    """In the extraction sandbox, bound writable memory (``RLIMIT_DATA``), not address space:
    Tika's GraalVM native image reserves tens of GiB of address space it never touches."""

    def bid(self, mime: str) -> int:
        ours = mime in DOCUMENT_TYPES or mime.startswith("application/vnd.oasis.opendocument.")
        return GENERIC if ours else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        if source.mime == sniff.OOXML_ENCRYPTED:
            raise ExtractionError("encrypted", "the Office document is encrypted with a password")
        if source.mime in _ZIP_XML_TYPES or source.mime.startswith("application/vnd.oasis.opendocument."):
            check_zip_xml(Path(source.path), source.mime)
        text, meta = run_tika(
            str(source.path),
            limits.max_output_chars,
            timeout_s=limits.tika_timeout_s,
            isolated=limits.tika_isolated,
        )
        tika_type = (_first(meta, "Content-Type") or "").split(";")[0].strip()
        warnings = " ".join(
            v for k, vals in meta.items() if k.startswith("X-TIKA:") and "warn" in k.lower() for v in vals
        )
        warnings += " " + " ".join(meta.get("X-TIKA:EXCEPTION:runtime", []))
        if "EncryptedDocumentException" in warnings or tika_type == sniff.OOXML_ENCRYPTED:
            raise ExtractionError("encrypted", "the document is encrypted with a password")
        if len(text) > limits.max_output_chars:
            raise ExtractionError("too_much_text", f"text exceeds {limits.max_output_chars} characters")
        doc_type = DOCUMENT_TYPES.get(source.mime, "document")
        if not text.strip():
            if tika_type in ("", "application/octet-stream"):
                raise ExtractionError("corrupt_document", f"Tika could not read the {source.mime} content")
            raise Skip("no_text", "the document holds no text")

        metadata = self._metadata(meta, tika_type)
        title = _first(meta, "dc:title", "dc:subject", "subject")
        doc_date = parse_date(_first(meta, "dcterms:created", "meta:creation-date", "dcterms:modified"))
        if doc_type in _WORD_PROCESSING:
            transcript = transcript_extraction(text, title=title, doc_date=doc_date, metadata=metadata)
            if transcript is not None:
                return transcript
        if title is None and doc_type in _WORD_PROCESSING:
            first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            title = first_line[:200] or None
        paged = _ooxml_pages(Path(source.path), source.mime, text)
        if paged is not None:
            return Extraction(
                doc_type=doc_type,
                blocks=[TextBlock(text=t, page=n, method="ooxml") for n, t in enumerate(paged, start=1)],
                title=title,
                page_count=len(paged),
                doc_date=doc_date,
                metadata=metadata,
            )
        pages = _first(meta, "xmpTPg:NPages", "meta:page-count", "meta:slide-count")
        return Extraction(
            doc_type=doc_type,
            blocks=[TextBlock(text=text, method="tika")],
            title=title,
            page_count=int(pages) if pages and pages.isdigit() and doc_type != "web" else None,
            doc_date=doc_date,
            metadata=metadata,
        )

    @staticmethod
    def _metadata(meta: dict[str, list[str]], tika_type: str) -> dict[str, str]:
        fields = {
            "content_type": tika_type or None,
            "author": _all(meta, "dc:creator"),
            "last_author": _first(meta, "meta:last-author"),
            "created": _first(meta, "dcterms:created"),
            "modified": _first(meta, "dcterms:modified"),
            "subject": _first(meta, "dc:subject"),
            "description": _first(meta, "dc:description"),
            "language": _first(meta, "dc:language", "Content-Language"),
            "encoding": _first(meta, "Content-Encoding"),
            "application": _first(meta, "extended-properties:Application", "generator"),
            "from": _all(meta, "Message-From"),
            "to": _all(meta, "Message-To"),
            "cc": _all(meta, "Message-Cc"),
            "message_id": _first(meta, "Message:Raw-Header:Message-ID"),
        }
        return {k: v for k, v in fields.items() if v}
