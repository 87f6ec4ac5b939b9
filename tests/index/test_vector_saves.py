"""Vectors are saved to disk in batches (``ARCHIVE_VECTOR_FLUSH_S``); a crash loses none.

Saving the embedded backend's vectors rewrites the whole HNSW graph, so new vectors wait for the
next save. The catalog holds every vector, so passages whose vector a crashed writer had not saved
are found missing when a writer next starts, and indexed again with their vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from archive_search.types import LOCAL_ADMIN, SearchRequest
from search_api.service import ArchiveService
from tests.conftest import make_settings

WORDS = ["колона", "техніки", "свідок", "обстріл", "підвал", "допит", "затримання", "лікарня"]


class HashEmbedder:
    """Deterministic 16-d vectors from the words of a text (a stand-in for a model)."""

    id = "test:hash-16"
    dim = 16

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in text.lower().split():
            h = hashlib.blake2b(w.strip(".,").encode(), digest_size=8).digest()
            v += np.frombuffer(h, dtype=np.int8).astype(np.float32)[: self.dim // 2].repeat(2)
        return v / max(float(np.linalg.norm(v)), 1e-9)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vec(text)


def service(data: Path, flush_s: float) -> ArchiveService:
    svc = ArchiveService(
        make_settings(
            data,
            f"sqlite:///{data / 'catalog.sqlite3'}",
            vector_flush_s=flush_s,
            embed_batch_size=2,
            semantic_floor=-1,  # the floors are calibrated for e5; a hash embedder's cosines are not
            similar_floor=-1,
        )
    )
    svc._embedder, svc._embedder_loaded = HashEmbedder(), True  # type: ignore[assignment]
    return svc


def files(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i}.txt").write_text(f"Свідок {i} бачив {WORDS[i % 8]} і {WORDS[(i + 3) % 8]}.", "utf-8")
    return folder


def saved_vectors(data: Path) -> int:
    """Vectors in the saved filter columns (one row per saved vector)."""
    import numpy as np

    columns = data / "index" / "embedded" / "vectors-columns.npz"
    if not columns.exists():
        return 0
    with np.load(columns, allow_pickle=False) as z:
        return len(z["label"])


def test_vectors_unsaved_at_a_crash_are_indexed_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = service(data, flush_s=3600)
    first.ingest([files(tmp_path / "in", 12)], "c")
    assert first.embed_pending(limit=4) == 4  # the queue is not drained: nothing forces a save
    assert first.embed_pending(limit=6) == 6
    assert first.backend.health()["vectors"] == 10
    saved = saved_vectors(data)
    assert saved < 10  # the later vectors wait for the next save
    # crash: the first process never closes; a new writer starts on the same folder
    second = service(data, flush_s=3600)
    try:
        assert second.backend.health()["vectors"] == saved
        assert second.embed_pending() == 2  # the two never embedded; the lost ones are re-indexed
        st = second.status()
        assert st["pending_index"] == 0 and st["pending_embedding"] == 0
        assert second.backend.health()["vectors"] == 12 == saved_vectors(data)  # drained: saved
        res = second.search(SearchRequest(q="Свідок 7 бачив", mode="semantic", size=12), LOCAL_ADMIN)
        assert len(res.hits) == 12  # every passage is found by its vector again
    finally:
        second.close()


def test_a_writer_that_reopens_never_overwrites_newer_saves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = service(data, flush_s=3600)
    first.ingest([files(tmp_path / "in", 8)], "c")
    first.embed_pending(limit=2)
    first.embed_pending(limit=2)
    before = saved_vectors(data)
    assert first.backend.health()["vectors"] == 4 and before < 4
    first.reopen_backend()  # e.g. it lost the writer lease and took it again later
    assert saved_vectors(data) == before  # its unsaved vectors were dropped, not written over
    try:
        assert first.embed_pending() == 4
        assert first.backend.health()["vectors"] == 8 == saved_vectors(data)
    finally:
        first.close()


def test_flush_every_write_when_configured(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = service(data, flush_s=0)
    try:
        svc.ingest([files(tmp_path / "in", 6)], "c")
        svc.embed_pending(limit=2)
        assert saved_vectors(data) == 2
        svc.embed_pending(limit=2)
        assert saved_vectors(data) == 4
    finally:
        svc.close()
