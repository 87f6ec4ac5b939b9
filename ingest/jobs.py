"""Ingestion and indexing jobs: files into the catalog, then the backend in step with it.

The one module of ``ingest/`` that knows the index: the extractors and the pipeline write the
catalog only, and ``index/indexer.py`` brings a backend in step with the catalog; the jobs here
run the two in order, as ``archive ingest``, ``archive worker``, ``archive reindex``, the upload
routes and the web interface's uploads need. ``ArchiveService`` owns the components and hands
them in, and its ingestion methods call these.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from archive_search.catalog.models import Collection, Document, IngestItem, StoredFile
from archive_search.types import JobReport
from index import indexer
from index.components import Components, ComponentsView
from index.translit import translit_key
from ingest.archives import archive_limits
from ingest.queue import IngestQueue
from ingest.sandbox import extraction_limits

if TYPE_CHECKING:  # imported where used: a search (the command line's above all) needs neither
    from ingest.families import FamilyBuilder, FamilyReport
    from ingest.pipeline import Ingestor, Progress

log = logging.getLogger(__name__)


class IngestionJobs(ComponentsView):
    """Reads its owner's components on every use (``ComponentsView``); after the owner reopens
    the backend, :meth:`backend_reopened`."""

    def __init__(self, owner: Components) -> None:
        super().__init__(owner)
        self._vectors_checked = False

    def backend_reopened(self) -> None:
        """The owner opened the backend afresh: check its vectors again before the next write."""
        self._vectors_checked = False

    def queue(self) -> IngestQueue:
        """The ingest queue as configured (``archive ingest --queue``, ``archive worker``)."""
        st = self.settings
        return IngestQueue(
            self.catalog,
            self.store,
            lease_s=st.queue_lease_s,
            max_attempts=st.queue_max_attempts,
            max_file_bytes=st.max_file_bytes,
        )

    def ingest(
        self,
        paths: Iterable[Path],
        collection: str | None = None,
        *,
        progress: Progress | None = None,
        index_progress: indexer.Progress | None = None,
        password: str | None = None,
    ) -> JobReport:
        """Ingest files into the catalog, then make them keyword-searchable before returning.
        ``password`` opens encrypted PDFs; it is neither logged nor stored."""
        ingestor = self.ingestor(password=password)
        report = ingestor.ingest(paths, collection or self.settings.default_collection, progress=progress)
        self._check_vectors()
        indexer.index_pending(self.catalog, self.backend, progress=index_progress)
        self.update_families(vectors=False)
        return report

    def families(self) -> FamilyBuilder:
        """The family builder (``ingest/families.py``) with the extraction limits and the
        analyser's transliteration keys for names."""
        from ingest.families import FamilyBuilder

        return FamilyBuilder(
            self.catalog, self.store, limits=extraction_limits(self.settings), name_key=translit_key
        )

    def update_families(self, *, vectors: bool) -> FamilyReport | None:
        """Fingerprint and link the documents not fingerprinted yet (and, with ``vectors``, link
        the translations of newly embedded ones). A failure is logged and leaves them pending for
        the next run: families never stop ingestion or indexing."""
        try:
            return self.families().update_pending(vectors=vectors)
        except Exception:
            log.exception("document families: update failed; the documents stay pending")
            return None

    def _check_vectors(self) -> int:
        """Once per opened backend, before this process first writes to it: passages whose
        vectors a crashed writer had not saved yet are marked for indexing again
        (``ARCHIVE_VECTOR_FLUSH_S``). Returns how many."""
        if self._vectors_checked:
            return 0
        self._vectors_checked = True
        n = indexer.requeue_missing_vectors(self.catalog, self.backend)
        if n:
            log.warning("%d passages lost their vectors in the index (crash); indexing them again", n)
        return n

    def ingestor(self, *, password: str | None = None) -> Ingestor:
        """The ingestor as configured (also used by ``archive worker`` for queued items)."""
        from ingest.pipeline import Ingestor, ingest_workers

        return Ingestor(
            self.catalog,
            self.store,
            limits=extraction_limits(self.settings),
            passage_chars=self.settings.passage_chars,
            max_file_bytes=self.settings.max_file_bytes,
            archive_limits=archive_limits(self.settings),
            workers=ingest_workers(self.settings),
            password=password,
            entities=self.settings.entities,
        )

    def index_pending(self) -> int:
        self._check_vectors()
        n = indexer.index_pending(self.catalog, self.backend)
        if n:
            self.update_families(vectors=False)
        return n

    def embed_pending(
        self,
        *,
        limit: int | None = None,
        progress: indexer.Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        emb = self.embedder()
        if emb is None:
            return 0
        if self._check_vectors():
            indexer.index_pending(self.catalog, self.backend)
        n = indexer.embed_pending(
            self.catalog,
            self.backend,
            emb,
            batch=self.settings.embed_batch_size,
            limit=limit,
            progress=progress,
            should_stop=should_stop,
        )
        if n:
            self.update_families(vectors=True)
        return n

    def reindex(self, *, drop_embeddings: bool = False, progress: indexer.Progress | None = None) -> int:
        return indexer.reindex(self.catalog, self.backend, drop_embeddings=drop_embeddings, progress=progress)

    def file_outcomes(self) -> dict[str, int]:
        """Files by their latest outcome: each path counts once, with the outcome of its latest
        attempt, and paths holding the same original (SHA-256) count as one file. An interrupted
        run and its retry, or a folder ingested again, add attempts, not files."""
        latest_by_path: dict[str, tuple[int, str, str | None]] = {}
        with self.catalog.session() as s:
            rows = s.execute(
                select(
                    IngestItem.id,
                    IngestItem.path,
                    IngestItem.state,
                    func.coalesce(StoredFile.sha256, IngestItem.sha256),
                )
                .outerjoin(StoredFile, IngestItem.file_id == StoredFile.id)
                .order_by(IngestItem.id)
                .execution_options(yield_per=5000)
            )
            for item_id, path, state, sha in rows:
                latest_by_path[path] = (item_id, state, sha)
        by_file: dict[str, tuple[int, str]] = {}
        for path, (item_id, state, digest) in latest_by_path.items():
            key = f"sha:{digest}" if digest else f"path:{path}"
            if key not in by_file or by_file[key][0] < item_id:
                by_file[key] = (item_id, state)
        out: dict[str, int] = {}
        for _, state in by_file.values():
            out[state] = out.get(state, 0) + 1
        return out

    def status(self) -> dict[str, Any]:
        files = self.file_outcomes()
        with self.catalog.session() as s:
            outcomes = dict(
                s.execute(
                    select(IngestItem.state, func.count(IngestItem.id)).group_by(IngestItem.state)
                ).all()
            )
            documents = s.scalar(select(func.count(Document.id))) or 0
            collections = s.scalar(select(func.count(Collection.id))) or 0
        counts = indexer.pending_counts(self.catalog)
        return {
            # files by the outcome of their latest attempt; every attempt counted apart
            "files": {k: files.get(k, 0) for k in ("ok", "failed", "skipped")},
            "attempts": {k: int(outcomes.get(k, 0)) for k in ("ok", "failed", "skipped")},
            "queue": {k: int(outcomes.get(k, 0)) for k in ("queued", "running")},
            "documents": documents,
            "collections": collections,
            "passages": counts["passages"],
            "pending_index": counts["pending_index"],
            # passages whose last write to the backend failed, by code (retried on the next run)
            "index_errors": indexer.index_errors(self.catalog),
            "pending_embedding": counts["pending_embedding"] if self.settings.embedder != "none" else 0,
            "embedder": indexer.recorded_embedder(self.catalog),
            "configured_embedder": self.settings.embedder,
            "backend": self.backend.health(),
        }
