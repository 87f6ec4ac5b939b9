"""One word's count from the embedded backend's cached per-collection counts (issue 17, part 3)
follows every change of the index: this process's writes and deletions, and another process's
commits (a second backend on the same folder, as ``archive ingest`` beside ``archive serve``)."""

from __future__ import annotations

import time
from pathlib import Path

from archive_search.types import IndexPassage
from index.analysis import Analyzer
from index.backend import Filters, TermNode
from index.embedded import EmbeddedBackend

EVERYTHING = Filters(allowed_collections=None)
WORD = TermNode(("колона",))


def _passage(pid: int, text: str, collection: str = "a") -> IndexPassage:
    return IndexPassage(
        passage_id=pid, document_id=pid, collection=collection, text=text, lang="uk", doc_type="text", seq=0
    )


def _count(backend: EmbeddedBackend, f: Filters = EVERYTHING) -> int:
    return backend.keyword_search(WORD, f, limit=0).total


def test_the_count_follows_another_processs_commits(tmp_path: Path) -> None:
    reader = EmbeddedBackend(tmp_path / "idx", Analyzer())
    writer = EmbeddedBackend(tmp_path / "idx", Analyzer())
    writer.write([_passage(i, f"колона техніки {i}", ("a", "b")[i % 2]) for i in range(1, 9)])
    time.sleep(1.1)  # the reader reloads at most once a second
    assert _count(reader) == 8 and _count(reader, Filters(allowed_collections=frozenset({"a"}))) == 4
    # rewritten in place: the same number of passages, one word fewer
    writer.write([_passage(2, "інший текст")])
    time.sleep(1.1)
    assert _count(reader) == 7 == len(reader.keyword_search(WORD, EVERYTHING, limit=100).hits)
    assert _count(reader, Filters(allowed_collections=frozenset({"a"}))) == 3
    writer.delete_documents([4, 6])
    time.sleep(1.1)
    assert _count(reader) == 5 and _count(reader, Filters(allowed_collections=frozenset({"b"}))) == 4


def test_the_count_follows_this_processs_writes(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer())
    backend.write([_passage(i, f"колона {i}") for i in range(1, 4)])
    assert _count(backend) == 3
    backend.write([_passage(1, "нічого")])
    assert _count(backend) == 2
    backend.clear()
    assert _count(backend) == 0
