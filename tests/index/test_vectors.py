"""The embedded backend's vector side keeps its filter fields as numpy columns (issue 17, part 4):
filters run on them, they survive a save and a reopening, an index written with the JSON filter
fields of schema 4 is read and converted, and no Python object is kept per vector."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from archive_search.types import IndexPassage
from index.analysis import Analyzer
from index.backend import Filters
from index.embedded import EmbeddedBackend

DIM = 8


def vec(i: int) -> list[float]:
    rng = np.random.default_rng(i)
    v = rng.standard_normal(DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


def passage(i: int, **extra: object) -> IndexPassage:
    fields: dict[str, object] = {
        "passage_id": i,
        "document_id": 1000 + i // 2,
        "collection": ["alpha", "beta", "gamma"][i % 3],
        "text": f"свідок {i}",
        "lang": ["uk", "ru"][i % 2],
        "doc_type": "text",
        "seq": i,
        "doc_date": date(2020, 1, 1 + i % 28) if i % 5 else None,
        "tags": ["urgent"] if i % 4 == 0 else [],
        "vector": vec(i),
        "speaker": "Witness A" if i % 7 == 0 else None,
        "added_at": datetime(2024, 1, 1, tzinfo=UTC),
        "entities": [f"person:{i % 3}"] if i % 2 == 0 else [],
        **extra,
    }
    return IndexPassage(**fields)  # type: ignore[arg-type]


def labels(backend: EmbeddedBackend, f: Filters, limit: int = 1000) -> set[int]:
    return {h.passage_id for h in backend.vector_search(vec(0), f, limit=limit).hits}


def expected(ps: list[IndexPassage], keep: object) -> set[int]:
    return {p.passage_id for p in ps if keep(p)}  # type: ignore[operator]


def check_filters(backend: EmbeddedBackend, ps: list[IndexPassage]) -> None:
    everyone = Filters(allowed_collections=None)
    assert labels(backend, everyone) == expected(ps, lambda p: True)
    assert labels(backend, Filters(allowed_collections=frozenset({"alpha"}))) == expected(
        ps, lambda p: p.collection == "alpha"
    )
    assert labels(backend, Filters(allowed_collections=None, langs=("ru",), tags=("urgent",))) == expected(
        ps, lambda p: p.lang == "ru" and "urgent" in p.tags
    )
    assert labels(backend, Filters(allowed_collections=None, speakers=("witness a",))) == expected(
        ps, lambda p: p.speaker == "Witness A"
    )
    assert labels(
        backend, Filters(allowed_collections=None, entities=(("person:1", "person:2"),))
    ) == expected(ps, lambda p: bool({"person:1", "person:2"} & set(p.entities)))
    assert labels(backend, Filters(allowed_collections=None, date_from=date(2020, 1, 10))) == expected(
        ps, lambda p: p.doc_date is not None and p.doc_date >= date(2020, 1, 10)
    )
    hidden = Filters(
        allowed_collections=frozenset({"alpha", "beta"}), hidden_document_ids=frozenset({1000, 1001})
    )
    assert labels(backend, hidden) == expected(
        ps, lambda p: p.collection in {"alpha", "beta"} and p.document_id not in {1000, 1001}
    )


def test_filters_on_columns_survive_saves_rewrites_and_deletes(tmp_path: Path) -> None:
    ps = [passage(i) for i in range(1, 61)]
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer())
    backend.write(ps)
    check_filters(backend, ps)
    # a rewrite moves a passage to another collection; one rewritten without a vector loses it
    moved = passage(3, collection="alpha")
    backend.write([moved, passage(4, vector=None)])
    ps = [moved if p.passage_id == 3 else p for p in ps if p.passage_id != 4]
    check_filters(backend, ps)
    backend.delete_documents([1010])  # passages 20 and 21
    ps = [p for p in ps if p.document_id != 1010]
    check_filters(backend, ps)
    assert backend.missing_vectors([3, 4, 20, 22]) == [4, 20]
    backend.close()

    reopened = EmbeddedBackend(tmp_path / "idx", Analyzer())
    check_filters(reopened, ps)
    assert reopened.vector_ids() == {p.passage_id for p in ps}
    assert reopened.health()["vectors"] == len(ps)
    reopened.close()


def test_an_index_with_json_filter_fields_is_read_and_converted(tmp_path: Path) -> None:
    """Schema 4 kept the filter fields as JSON lists, one per vector: such an index keeps working
    and its next save writes the columns file instead."""
    ps = [passage(i) for i in range(1, 31)]
    root = tmp_path / "idx"
    backend = EmbeddedBackend(root, Analyzer())
    backend.write(ps)
    backend.close()
    columns = root / "vectors-columns.npz"
    columns.unlink()
    legacy = {
        "dim": DIM,
        "capacity": 1024,
        "meta": {
            str(p.passage_id): [
                p.collection,
                p.lang,
                p.doc_type,
                sorted(p.tags),
                (p.doc_date - date(1970, 1, 1)).days if p.doc_date else -(10**9),
                p.document_id,
                (p.speaker or "").casefold(),
                int(p.added_at.timestamp() * 1000) if p.added_at else 0,
                sorted(p.entities),
            ]
            for p in ps
        },
    }
    (root / "vectors-meta.json").write_text(json.dumps(legacy), "utf-8")
    old = EmbeddedBackend(root, Analyzer())
    check_filters(old, ps)
    old.write([passage(31)])  # a new vector: the next save writes columns
    old.flush_vectors()
    assert columns.exists() and not (root / "vectors-meta.json").exists()
    old.close()
    check_filters(EmbeddedBackend(root, Analyzer()), [*ps, passage(31)])


def test_no_python_object_per_vector(tmp_path: Path) -> None:
    """The filter fields of 3,000 vectors are a few numpy columns and vocabularies of the distinct
    values, not one object (or dict entry) per vector."""
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer())
    ps = [passage(i, entities=[], speaker=None) for i in range(1, 3001)]
    for i in range(0, len(ps), 500):
        backend.write(ps[i : i + 500])
    store = backend._store()
    vocabularies = sum(len(c.values) for c in store._codes.values())
    assert vocabularies <= 10  # 3 collections, 2 languages, 1 type, 1 speaker, 2 tag sets, 1 entity set
    assert all(isinstance(c, np.ndarray) for c in store._cols.values())
    assert store.memory_bytes() < 3000 * 200  # bytes per vector, capacity slack included
    assert len(store) == 3000
    backend.close()


def test_a_deleted_documents_values_leave_the_saved_columns(tmp_path: Path) -> None:
    """The saved vocabularies hold only what live vectors use: a deleted (or purged) document's
    speaker name, tags and entities are not left in the file."""
    root = tmp_path / "idx"
    backend = EmbeddedBackend(root, Analyzer())
    ps = [passage(i) for i in range(1, 11)]
    secret = passage(
        11, document_id=77, speaker="Secret Witness", tags=["secret-tag"], entities=["person:99"]
    )
    backend.write([*ps, secret])
    backend.flush_vectors()
    raw = (root / "vectors-columns.npz").read_bytes()
    assert b"Secret Witness".lower() in raw and b"secret-tag" in raw  # the npz is stored uncompressed
    backend.delete_documents([77])
    backend.flush_vectors()
    raw = (root / "vectors-columns.npz").read_bytes()
    assert b"secret witness" not in raw and b"secret-tag" not in raw and b"person:99" not in raw
    backend.close()
    reopened = EmbeddedBackend(root, Analyzer())
    check_filters(reopened, ps)
    assert labels(reopened, Filters(allowed_collections=None, tags=("secret-tag",))) == set()
    reopened.close()
