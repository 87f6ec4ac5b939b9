"""Extraction in separate worker processes with limits on memory, time and output.

Every file's parsers (pypdfium2, Pillow, Tika, the text decoders) run in a worker process, never
in the process that writes the catalog; the parent only sends the extractor and the stored file's
path, and reads back the extraction as JSON of bounded size (never ``pickle``: a worker that a
hostile file took over must not be able to run code in the parent).

A worker is a fresh interpreter (``python -m ingest.sandbox FD ...``, the pattern of
the Tika helper: no ``fork`` of a process holding database connections, and no re-import of the
caller's ``__main__`` as ``multiprocessing``'s "spawn" would do) talking over a socket pair. Workers
are reused from file to file (starting one costs about 0.3-0.4 s, see docs/security.md) and
replaced after a crash, a timeout, a ``MemoryError`` or ``SandboxLimits.files_per_worker`` files.

In the worker, before any parser is imported:
- ``RLIMIT_AS`` (address space) = ``memory_bytes``; for extractors marked
  ``memory_limit = "data"`` (Tika: its GraalVM native image reserves tens of GiB of address space
  it never uses) ``RLIMIT_DATA`` instead, which counts the memory actually made writable;
- ``RLIMIT_CPU`` = CPU seconds used so far + ``cpu_s`` before each file (``SIGXCPU`` kills it);
  ``RLIMIT_FSIZE`` bounds each written file, ``RLIMIT_CORE`` = 0 (no core dumps of testimonies);
- a private temporary folder becomes the working folder, ``HOME``, ``TMPDIR`` and
  ``tempfile.tempdir``, and is removed by the parent when the worker ends;
- ``socket.socket`` (and with it every Python-level network client) raises ``PermissionError``;
  where the system allows it (root, or unprivileged user namespaces) the worker also runs in an
  empty network namespace (``unshare -n``, or ``unshare -rn``), which stops native code and the
  ``tesseract`` subprocesses too;
- ``PR_SET_PDEATHSIG`` (when started from the main thread): the worker is killed when the parent
  dies; otherwise it ends at the end-of-file of its connection after its current file.

The parent waits ``wall_s`` at most per file, then kills the worker. Outcomes: a worker killed by
the timeout or by ``SIGXCPU`` → ``failed(timeout)``; a ``MemoryError`` in the worker, or a worker
killed by ``SIGKILL`` that the parent did not send (the kernel's OOM killer) →
``failed(out_of_memory)``; any other death (``SIGSEGV``, ``SIGABRT``, exit) →
``failed(extractor_crashed)``; a reply larger than ``max_output_bytes`` → ``failed(too_much_text)``.

Why one module: the parent and worker sides of one protocol (request framing, limits, the bounded
JSON answer) live in one file so that both ends change together; the worker runs this very module
(``python -m ingest.sandbox``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, replace
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive_search.types import Extraction, SourceFile, TextBlock
from ingest import wordboxes
from ingest.extractors.base import ExtractionError, Extractor, Limits, SandboxLimits, Skip

if TYPE_CHECKING:
    from archive_search.settings import Settings

log = logging.getLogger(__name__)
_ROOT = str(Path(__file__).resolve().parents[1])  # the repository root (or site-packages)


def _memory_mode(extractor: Extractor) -> str:
    return str(getattr(extractor, "memory_limit", "as"))


def runs_in_process(extractor: Extractor) -> bool:
    """Whether the extractor is marked to run in the calling process (``in_process = True``)."""
    return bool(getattr(extractor, "in_process", False))


# --- the wire format (worker → parent is JSON only) ---------------------------------------------


def _extraction_to_json(ex: Extraction) -> dict[str, Any]:
    return {
        "doc_type": ex.doc_type,
        "blocks": [asdict(b) for b in ex.blocks],
        "title": ex.title,
        "page_count": ex.page_count,
        "doc_date": ex.doc_date.isoformat() if ex.doc_date else None,
        "metadata": ex.metadata,
        "passages": ex.passage_spans,
        "mentions": ex.passage_mentions,
        "incomplete": list(ex.incomplete) if ex.incomplete else None,
    }


def _str_or_none(v: Any, limit: int = 100_000) -> str | None:
    return None if v is None else str(v)[:limit]


def _num_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int_or_none(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def extraction_from_json(d: Any) -> Extraction:
    """An ``Extraction`` from a worker's reply, every field checked (the worker is not trusted)."""
    if not isinstance(d, dict) or not isinstance(d.get("blocks"), list):
        raise ExtractionError("extractor_crashed", "the extraction worker sent a malformed reply")
    blocks = []
    for b in d["blocks"]:
        if not isinstance(b, dict) or not isinstance(b.get("text"), str):
            raise ExtractionError("extractor_crashed", "the extraction worker sent a malformed block")
        blocks.append(
            TextBlock(
                text=b["text"],
                page=_int_or_none(b.get("page")),
                time_start=_num_or_none(b.get("time_start")),
                time_end=_num_or_none(b.get("time_end")),
                speaker=_str_or_none(b.get("speaker"), 1000),
                method=str(b.get("method") or "text")[:50],
                confidence=_num_or_none(b.get("confidence")),
                word_boxes=wordboxes.from_wire(b.get("word_boxes")),
            )
        )
    doc_date = None
    if isinstance(d.get("doc_date"), str):
        try:
            doc_date = date.fromisoformat(d["doc_date"])
        except ValueError:
            doc_date = None
    spans: list[tuple[int, int, int, str]] | None = None
    raw_spans = d.get("passages")
    if raw_spans is not None and not isinstance(raw_spans, list):
        raise ExtractionError("extractor_crashed", "the extraction worker sent malformed passages")
    if isinstance(raw_spans, list):
        spans = []
        for sp in raw_spans:
            if not (
                isinstance(sp, list)
                and len(sp) == 4
                and all(isinstance(x, int) and not isinstance(x, bool) for x in sp[:3])
                and isinstance(sp[3], str)
            ):
                raise ExtractionError("extractor_crashed", "the extraction worker sent malformed passages")
            spans.append((sp[0], sp[1], sp[2], sp[3]))
    raw_mentions = d.get("mentions")
    mentions = raw_mentions if isinstance(raw_mentions, list) and spans is not None else None
    raw_meta = d.get("metadata")
    meta: dict[Any, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    raw_incomplete = d.get("incomplete")
    incomplete = None
    if isinstance(raw_incomplete, list) and len(raw_incomplete) == 2:
        incomplete = (str(raw_incomplete[0])[:50], str(raw_incomplete[1])[:1000])
    return Extraction(
        doc_type=str(d.get("doc_type") or "document")[:50],
        blocks=blocks,
        title=_str_or_none(d.get("title"), 10_000),
        page_count=_int_or_none(d.get("page_count")),
        doc_date=doc_date,
        metadata={str(k)[:200]: str(v)[:10_000] for k, v in list(meta.items())[:200]},
        passage_spans=spans,
        passage_mentions=mentions,  # checked field by field in passages.drafts_from_spans
        incomplete=incomplete,
    )


# --- the worker process --------------------------------------------------------------------------


def _block_network() -> None:
    class _NoNetwork(socket.socket):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise PermissionError("network access is disabled in the extraction sandbox")

    def _refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError("network access is disabled in the extraction sandbox")

    socket.socket = _NoNetwork  # type: ignore[misc]
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
    socket.socketpair = _refuse
    socket.fromfd = _refuse


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _set_limits(memory_bytes: int, mode: str, fsize: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    kind = resource.RLIMIT_DATA if mode == "data" else resource.RLIMIT_AS
    resource.setrlimit(kind, (memory_bytes, memory_bytes))


def _cpu_budget(cpu_s: int) -> None:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    used = int(ru.ru_utime + ru.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + cpu_s
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _worker_main(fd: int, memory_bytes: int, mode: str, fsize: int, workdir: str, deathsig: bool) -> None:
    if deathsig:
        _die_with_parent()
    _block_network()
    os.chdir(workdir)
    os.environ.update(dict.fromkeys(("HOME", "TMPDIR", "TMP", "TEMP"), workdir))  # for OCR subprocesses too
    tempfile.tempdir = workdir
    _set_limits(memory_bytes, mode, fsize)
    conn = Connection(fd)
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not request:
            return
        leave = False
        try:
            # the parent (trusted) pickles the extractor, the file's description and the limits
            extractor, source, limits, cpu_s = pickle.loads(request)
            _cpu_budget(cpu_s)
            ex = extractor.extract(source, limits)
            chars = sum(len(b.text) for b in ex.blocks)
            if limits.passage_chars and chars <= limits.max_output_chars:
                from ingest.passages import passage_mentions, passage_spans

                ex.passage_spans = passage_spans(ex, limits.passage_chars)
                if limits.entities:
                    ex.passage_mentions = passage_mentions(ex, ex.passage_spans)
            if chars > limits.max_output_chars:
                reply: dict[str, Any] = {
                    "error": "failed",
                    "code": "too_much_text",
                    "message": f"text exceeds {limits.max_output_chars} characters",
                }
            else:
                reply = {"ok": _extraction_to_json(ex)}
        except Skip as exc:
            reply = {"error": "skipped", "code": exc.code, "message": exc.message}
        except ExtractionError as exc:
            reply = {"error": "failed", "code": exc.code, "message": exc.message}
        except MemoryError:
            reply = {"error": "failed", "code": "out_of_memory", "message": "extraction ran out of memory"}
            leave = True
        except Exception as exc:  # an unexpected library error: this file fails, the worker goes on
            reply = {
                "error": "failed",
                "code": "internal_error",
                "message": f"{type(exc).__name__}: {exc}"[:2000],
            }
        try:
            data = json.dumps(reply, ensure_ascii=False).encode("utf-8", "surrogatepass")
        except MemoryError:
            data = b'{"error": "failed", "code": "out_of_memory", "message": "reply too large for memory"}'
            leave = True
        try:
            conn.send_bytes(data)
        except (OSError, ValueError):
            return
        if leave:
            return


# --- the parent side -----------------------------------------------------------------------------

_NETNS_PREFIX: list[str] | None = None
_NETNS_LOCK = threading.Lock()


def network_isolation_prefix() -> list[str]:
    """``["unshare", "-n"]`` (or ``-rn``) when an empty network namespace can be made here, else
    ``[]`` (then only the Python-level block applies). Probed once per process."""
    global _NETNS_PREFIX
    with _NETNS_LOCK:
        if _NETNS_PREFIX is None:
            _NETNS_PREFIX = []
            if shutil.which("unshare"):
                for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
                    try:
                        ok = (
                            subprocess.run(
                                [*prefix, sys.executable, "-c", "pass"],
                                stdin=subprocess.DEVNULL,
                                capture_output=True,
                                timeout=10,
                                check=False,
                            ).returncode
                            == 0
                        )
                    except (OSError, subprocess.TimeoutExpired):
                        ok = False
                    if ok:
                        _NETNS_PREFIX = prefix
                        break
        return list(_NETNS_PREFIX)


_SWEPT = False


def _sweep_stale_workdirs() -> None:
    """Remove the working folders of workers whose parent was killed (they may hold page images
    of testimonies); once per process."""
    global _SWEPT
    if _SWEPT:
        return
    _SWEPT = True
    for d in Path(tempfile.gettempdir()).glob("archive-extract-*-*"):
        try:
            pid = int(d.name.split("-")[2])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue  # alive, another user's


class _Worker:
    def __init__(self, limits: SandboxLimits, mode: str) -> None:
        self.limits = limits
        self.mode = mode
        self.files = 0
        _sweep_stale_workdirs()
        self.workdir = tempfile.mkdtemp(prefix=f"archive-extract-{os.getpid()}-")
        ours, theirs = socket.socketpair()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}  # no secrets
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        env["OMP_THREAD_LIMIT"] = "1"
        prefix = network_isolation_prefix() if limits.isolate_network else []
        cmd = [
            *prefix,
            sys.executable,
            "-m",
            "ingest.sandbox",
            str(theirs.fileno()),
            str(limits.memory_bytes),
            mode,
            str(limits.max_file_write_bytes),
            self.workdir,
            # PR_SET_PDEATHSIG fires when the creating *thread* ends: only for the main thread
            "1" if threading.current_thread() is threading.main_thread() else "0",
        ]
        try:
            self.proc = subprocess.Popen(
                cmd,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                cwd=self.workdir,
                close_fds=True,
            )
        except OSError:
            ours.close()
            theirs.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        theirs.close()
        self.conn = Connection(ours.detach())
        self.killed_by_us = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.killed_by_us = True
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            log.warning("extraction worker %s did not stop", self.proc.pid)
        self.conn.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def death(self) -> ExtractionError:
        """The outcome for a worker that died during a file."""
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.stop()
            rc = self.proc.returncode
        if rc is not None and rc < 0:
            sig = -rc
            if sig == signal.SIGXCPU:
                return ExtractionError("timeout", f"extraction used more than {self.limits.cpu_s}s of CPU")
            if sig == signal.SIGKILL and not self.killed_by_us:
                return ExtractionError(
                    "out_of_memory",
                    "the extraction worker was killed (by the system's out-of-memory killer?)",
                )
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            return ExtractionError("extractor_crashed", f"the extraction worker died of signal {name}")
        return ExtractionError("extractor_crashed", f"the extraction worker exited with status {rc}")


class Sandbox:
    """A pool of extraction workers; ``extract`` is thread-safe (up to ``size`` files at once)."""

    def __init__(self, limits: SandboxLimits | None = None, *, size: int = 4) -> None:
        self.limits = limits or SandboxLimits()
        self.size = size
        self._idle: list[_Worker] = []
        self._busy = 0
        self._running: dict[_Worker, object] = {}
        self._cond = threading.Condition()
        self.started = 0
        """How many workers were started (for tests and measurements)."""

    def _take(self, mode: str) -> _Worker:
        """An idle worker of this memory mode, or a new one when the pool has room (an idle
        worker of the other mode is stopped to make room); waits while all are busy."""
        stale: list[_Worker] = []
        with self._cond:
            while True:
                found = next((w for w in self._idle if w.mode == mode), None)
                if found is not None:
                    self._idle.remove(found)
                    if found.alive():
                        self._busy += 1
                        for w in stale:
                            w.stop()
                        return found
                    stale.append(found)
                    continue
                if self._busy + len(self._idle) >= self.size and self._idle:
                    stale.append(self._idle.pop(0))
                if self._busy + len(self._idle) < self.size:
                    self._busy += 1
                    break
                self._cond.wait()
        for w in stale:
            w.stop()
        try:
            new = _Worker(self.limits, mode)
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise
        self.started += 1
        return new

    def _give(self, w: _Worker, keep: bool) -> None:
        if not keep:
            w.stop()
        with self._cond:
            self._busy -= 1
            if keep:
                self._idle.append(w)
            self._cond.notify()

    def extract(
        self, extractor: Extractor, source: SourceFile, limits: Limits, *, owner: object = None
    ) -> Extraction:
        """``extractor.extract(source, limits)`` run in a worker; raises ``ExtractionError`` /
        ``Skip`` like the extractor, and ``ExtractionError`` for a timeout, crash or OOM.
        ``owner`` marks the extraction for ``kill_running(owner)``."""
        if limits.tika_isolated:
            limits = replace(limits, tika_isolated=False)  # the worker is Tika's helper process
        source = replace(source, path=Path(source.path).resolve())  # the worker has its own cwd
        request = pickle.dumps((extractor, source, limits, self.limits.cpu_s))
        w = self._take(_memory_mode(extractor))
        keep = False
        with self._cond:
            self._running[w] = owner
        try:
            try:
                w.conn.send_bytes(request)
                if not w.conn.poll(self.limits.wall_s):
                    w.stop()
                    raise ExtractionError("timeout", f"extraction took longer than {self.limits.wall_s:g}s")
                data = w.conn.recv_bytes(self.limits.max_output_bytes)
            except OSError as exc:
                if "bad message length" in str(exc):
                    w.stop()
                    raise ExtractionError(
                        "too_much_text", f"the extraction exceeds {self.limits.max_output_bytes} bytes"
                    ) from exc
                raise w.death() from exc
            except EOFError as exc:
                raise w.death() from exc
            w.files += 1
            try:
                reply = json.loads(data)
            except ValueError as exc:
                raise ExtractionError(
                    "extractor_crashed", "the extraction worker sent a malformed reply"
                ) from exc
            if not isinstance(reply, dict):
                raise ExtractionError("extractor_crashed", "the extraction worker sent a malformed reply")
            keep = reply.get("code") != "out_of_memory" and w.files < self.limits.files_per_worker
            if "ok" in reply:
                return extraction_from_json(reply["ok"])
            code, message = (
                str(reply.get("code") or "internal_error")[:100],
                str(reply.get("message") or "")[:2000],
            )
            if reply.get("error") == "skipped":
                raise Skip(code, message)
            raise ExtractionError(code, message)
        finally:
            with self._cond:
                self._running.pop(w, None)
            self._give(w, keep and w.alive())

    def kill_running(self, owner: object) -> int:
        """Kill the workers busy with extractions of ``owner`` (an interrupted ingestion); their
        ``extract`` calls end with ``failed(extractor_crashed)``. Returns how many were killed."""
        with self._cond:
            mine = [w for w, o in self._running.items() if o is owner]
        for w in mine:
            w.killed_by_us = True
            with contextlib.suppress(OSError):
                w.proc.kill()
        return len(mine)

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
        for w in idle:
            w.stop()


_SHARED: dict[SandboxLimits, Sandbox] = {}
_SHARED_LOCK = threading.Lock()


def shared_sandbox(limits: SandboxLimits | None = None) -> Sandbox:
    """The process-wide pool for these limits (closed at exit)."""
    limits = limits or SandboxLimits()
    with _SHARED_LOCK:
        sb = _SHARED.get(limits)
        if sb is None:
            sb = _SHARED[limits] = Sandbox(limits)
        return sb


def reserve_workers(limits: SandboxLimits | None, n: int) -> Sandbox:
    """The shared pool for these limits, grown to hold at least ``n`` workers (never shrunk)."""
    sb = shared_sandbox(limits)
    with sb._cond:
        sb.size = max(sb.size, n)
        sb._cond.notify_all()
    return sb


@atexit.register
def _close_shared() -> None:
    for sb in list(_SHARED.values()):
        sb.close()


def extraction_limits(settings: Settings) -> Limits:
    """The extractors' limits from the settings (``ARCHIVE_MAX_PDF_PAGES``, ``ARCHIVE_TIKA_TIMEOUT_S``,
    ``ARCHIVE_EXTRACT_*``)."""
    return Limits(
        max_pages=settings.max_pdf_pages,
        tika_timeout_s=settings.tika_timeout_s,
        ocr_max_pages=settings.ocr_max_pages,
        ocr_max_s=settings.ocr_max_s,
        sandbox=settings.extract_sandbox,
        sandbox_limits=SandboxLimits(
            memory_bytes=settings.extract_memory_mb * 1024 * 1024,
            cpu_s=settings.extract_cpu_s,
            wall_s=settings.extract_timeout_s,
            max_output_bytes=settings.extract_max_output_mb * 1024 * 1024,
            isolate_network=settings.extract_isolate_network,
        ),
    )


def run_extractor(
    extractor: Extractor, source: SourceFile, limits: Limits, *, owner: object = None
) -> Extraction:
    """What the pipeline calls: the extractor in the shared sandbox unless ``limits.sandbox`` is
    off or the extractor is marked ``in_process = True``."""
    if not limits.sandbox or runs_in_process(extractor):
        return extractor.extract(source, limits)
    return shared_sandbox(limits.sandbox_limits).extract(extractor, source, limits, owner=owner)


def measure_spawn(n: int = 5) -> float:
    """Mean seconds to start a worker and have it answer a trivial request (for the docs)."""
    from ingest.extractors.text import PlainTextExtractor

    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as fh:
        fh.write(b"spawn cost")
    src = SourceFile(filename="a.txt", sha256="0" * 64, size=10, path=Path(fh.name), mime="text/plain")
    t = time.perf_counter()
    for _ in range(n):
        sb = Sandbox(size=1)
        sb.extract(PlainTextExtractor(), src, Limits())
        sb.close()
    os.unlink(fh.name)
    return (time.perf_counter() - t) / n


if __name__ == "__main__":
    _worker_main(
        int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6] == "1"
    )
