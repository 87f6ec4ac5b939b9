"""The backends' optional abilities are explicit protocols (issue 15, part 5), not ``getattr``:
each backend has exactly the ones it should, so the indexer's choice of path is visible. (The
``SearchBackend`` contract itself is tests/contract/test_backend_contract.py, run on both.)"""

from __future__ import annotations

from index.backend import BufferedVectors, RebuildsBeside
from index.embedded import EmbeddedBackend
from index.opensearch import OpenSearchBackend


def test_the_embedded_backend_buffers_vectors_and_rebuilds_in_place() -> None:
    assert issubclass(EmbeddedBackend, BufferedVectors)
    assert not issubclass(EmbeddedBackend, RebuildsBeside)


def test_opensearch_rebuilds_beside_the_live_index_and_saves_every_write() -> None:
    assert issubclass(OpenSearchBackend, RebuildsBeside)
    assert not issubclass(OpenSearchBackend, BufferedVectors)
