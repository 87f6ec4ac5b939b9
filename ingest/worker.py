"""The loop of ``archive worker``: claim queued files, ingest them, index and embed what is pending.

See docs/architecture.md, "Distributed ingestion". The embedded backend has one writer: the
worker holding the indexer lease (``IngestQueue.hold_indexer``); a worker that takes the lease
over reopens the backend first, so that it starts from what the previous writer saved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from archive_search.errors import BackendError
from ingest.jobs import IngestionJobs
from ingest.queue import IngestQueue


def run_worker(
    jobs: IngestionJobs,
    q: IngestQueue,
    *,
    reopen_backend: Callable[[], None],
    stop: threading.Event,
    say: Callable[[str], None],
    once: bool = False,
    wait_s: float,
    max_idle: float | None = None,
    index: bool = True,
) -> None:
    """Work until ``stop`` is set, or (``once``) until nothing is queued or running under a lease
    and the pending passages are indexed, or ``max_idle`` seconds pass without work. ``say``
    reports failed files and paused indexing."""
    ingestor = jobs.ingestor()
    q.warm_up()
    single_writer = jobs.settings.backend == "embedded"
    held = False

    def index_and_embed(embed: bool = True) -> int:
        nonlocal held
        if not index:
            return 0
        if single_writer:  # the embedded index has one writer: the holder of the indexer lease
            was, held = held, q.hold_indexer()
            if not held:
                return 0
            if not was:
                reopen_backend()
        try:
            n = int(jobs.index_pending())
            return n + int(jobs.embed_pending(should_stop=stop.is_set)) if embed else n
        except BackendError as exc:  # the backend is away for a while: the passages stay pending
            say(f"indexing paused: {exc.message}")
            stop.wait(wait_s)
            return 0

    idle_since = time.monotonic()
    while not stop.is_set():
        report = q.work_one(ingestor)
        if report is not None:
            if report.outcome != "ok":
                say(f"{report.outcome.value}({report.code}) {report.path}: {report.message or ''}")
            index_and_embed(embed=False)  # searchable at once; embedding when the queue is empty
            idle_since = time.monotonic()
            continue
        # seen before indexing: every item finished by then has its passages indexed below
        queue_empty = once and q.outstanding() == 0
        if index_and_embed():
            idle_since = time.monotonic()
            continue
        if queue_empty and (not index or held or not single_writer or not jobs.status()["pending_index"]):
            break  # (another worker holds the embedded index: wait until it has indexed)
        if max_idle is not None and time.monotonic() - idle_since >= max_idle:
            break
        stop.wait(wait_s)
