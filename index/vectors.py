"""The embedded backend's vector side: an HNSW graph (hnswlib) and, beside it, the fields filters
need (collection, language, type, tags, date, speaker, added, document, entities) as numpy
columns, one row per vector, so that filters, the access filter included, run *inside* the graph
search; a selective filter falls back to an exact scan of the allowed vectors.

No Python object is kept per vector (issue 17, part 4): strings are codes into a small vocabulary,
the set-valued fields (tags, entities) codes into the distinct sets seen, and a label (passage id)
finds its row through a direct-address array. On disk the columns are one ``.npz`` file (no
pickles) written beside the graph, both replaced atomically by rename.

This module imports numpy and hnswlib; ``index/embedded.py`` imports it at the first vector use,
so a keyword search never loads either (issue 17, part 6).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from archive_search.errors import BackendError
from archive_search.types import IndexPassage
from index.backend import NO_DATE, BackendHit, BackendResult, Filters, day_number, epoch_ms

EXACT_SCAN_LIMIT = 20_000
"""A filter allowing at most this many vectors is answered by an exact scan of them."""
_SCAN_CHUNK = 4096
"""Vectors read from the graph at a time by the exact scan (as numpy rows: ~6 MiB at 384-d)."""
_STRING_FIELDS = ("collection", "lang", "doc_type", "speaker")
_SET_FIELDS = ("tags", "entities")
_INT_COLUMNS = {"label": np.int64, "document_id": np.int64, "day": np.int32, "added": np.int64}
_FORMAT = 1

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class _Codes:
    """Values (strings, or frozensets of strings) and their int32 codes, in order of first use."""

    def __init__(self, values: Sequence[Any] = ()) -> None:
        self.values: list[Any] = list(values)
        self.index: dict[Any, int] = {v: i for i, v in enumerate(self.values)}

    def code(self, value: Any) -> int:
        c = self.index.get(value)
        if c is None:
            c = self.index[value] = len(self.values)
            self.values.append(value)
        return c

    def where(self, keep: Any) -> npt.NDArray[np.int32]:
        """The codes of the values for which ``keep(value)`` is true."""
        return np.asarray([i for i, v in enumerate(self.values) if keep(v)], dtype=np.int32)


class VectorStore:
    """The HNSW graph and its filter columns. Not thread-safe: the backend holds its lock."""

    def __init__(self, graph_path: Path, columns_path: Path, legacy_meta_path: Path | None = None) -> None:
        self.graph_path = graph_path
        self.columns_path = columns_path
        self.legacy_meta_path = legacy_meta_path
        self.hnsw: Any = None
        self.dim: int | None = None
        self._n = 0  # rows in use
        self._cols: dict[str, np.ndarray] = {}
        self._codes: dict[str, _Codes] = {name: _Codes() for name in (*_STRING_FIELDS, *_SET_FIELDS)}
        self._row_of = np.full(0, -1, dtype=np.int32)
        self._live_count = 0
        self._allocate(0)

    # -- rows ----------------------------------------------------------------------------------

    def _allocate(self, capacity: int) -> None:
        """Grow (or create) every column to ``capacity`` rows, keeping the first ``_n``."""
        new: dict[str, np.ndarray] = {}
        for name, dtype in _INT_COLUMNS.items():
            new[name] = np.zeros(capacity, dtype=dtype)
        for name in (*_STRING_FIELDS, *_SET_FIELDS):
            new[name] = np.zeros(capacity, dtype=np.int32)
        new["live"] = np.zeros(capacity, dtype=bool)
        for name, col in self._cols.items():
            new[name][: self._n] = col[: self._n]
        self._cols = new

    def _row(self, label: int) -> int:
        """The row of ``label``, or -1."""
        return int(self._row_of[label]) if 0 <= label < len(self._row_of) else -1

    def _new_row(self, label: int) -> int:
        if not 0 <= label < 2**31:  # the catalog's passage ids: dense, from 1
            raise BackendError(f"passage id {label} is outside what the vector index can address")
        if self._n == len(self._cols["label"]):
            self._allocate(max(1024, self._n * 2))
        if label >= len(self._row_of):
            grown = np.full(max(label + 1, len(self._row_of) * 2, 1024), -1, dtype=np.int32)
            grown[: len(self._row_of)] = self._row_of
            self._row_of = grown
        row = self._n
        self._n += 1
        self._row_of[label] = row
        self._cols["label"][row] = label
        return row

    def __contains__(self, label: object) -> bool:
        if not isinstance(label, int | np.integer):
            return False
        row = self._row(int(label))
        return row >= 0 and bool(self._cols["live"][row])

    def __len__(self) -> int:
        return self._live_count

    def labels(self) -> list[int]:
        """The labels of every stored vector."""
        return [int(x) for x in self._cols["label"][: self._n][self._cols["live"][: self._n]]]

    def document_of(self, label: int) -> int:
        return int(self._cols["document_id"][self._row(label)])

    def labels_of_documents(self, document_ids: Sequence[int]) -> list[int]:
        """The labels of the stored vectors of these documents."""
        if not document_ids:
            return []
        n = self._n
        mask = self._cols["live"][:n] & np.isin(
            self._cols["document_id"][:n], np.asarray(list(document_ids), dtype=np.int64)
        )
        return [int(x) for x in self._cols["label"][:n][mask]]

    def memory_bytes(self) -> int:
        """Bytes held by the filter columns (not the graph)."""
        return sum(int(c.nbytes) for c in self._cols.values()) + int(self._row_of.nbytes)

    # -- writing -------------------------------------------------------------------------------

    def add(self, passages: Sequence[IndexPassage]) -> None:
        """Add or replace the vectors (and filter fields) of passages that carry one."""
        import hnswlib

        arr = np.asarray([p.vector for p in passages], dtype=np.float32)
        if self.hnsw is None:
            self.dim = int(arr.shape[1])
            self.hnsw = hnswlib.Index(space="cosine", dim=self.dim)
            self.hnsw.init_index(
                max_elements=max(1024, len(passages) * 2),
                ef_construction=200,
                M=16,
                allow_replace_deleted=True,
            )
            self.hnsw.set_ef(128)
        if arr.shape[1] != self.dim:
            raise BackendError(f"vector dimension {arr.shape[1]} does not match the index ({self.dim})")
        # A label hnswlib already holds (live or marked deleted) is updated in place; only new
        # labels may take the slot of a deleted one. Marking a label deleted and re-adding it with
        # replace_deleted=True could hand its slot to another label and lose it from the id map.
        by_id = {p.passage_id: p for p in passages}  # the last write of a label in a batch wins
        known = set(self.hnsw.get_ids_list())
        old = [p for p in by_id.values() if p.passage_id in known]
        new = [p for p in by_id.values() if p.passage_id not in known]
        need = self.hnsw.get_current_count() + len(new)
        if need > self.hnsw.get_max_elements():
            self.hnsw.resize_index(max(need, self.hnsw.get_max_elements() * 2))
        for p in old:
            if p.passage_id not in self:
                self.hnsw.unmark_deleted(p.passage_id)
        for group, replace in ((old, False), (new, True)):
            if group:
                vecs = np.asarray([p.vector for p in group], dtype=np.float32)
                labels = np.asarray([p.passage_id for p in group], dtype=np.int64)
                self.hnsw.add_items(vecs, labels, replace_deleted=replace)
        codes = self._codes
        for p in by_id.values():
            row = self._row(p.passage_id)
            if row < 0:
                row = self._new_row(p.passage_id)  # may grow the columns: read them after
            cols = self._cols
            if not cols["live"][row]:
                self._live_count += 1
            cols["live"][row] = True
            cols["document_id"][row] = p.document_id
            cols["day"][row] = day_number(p.doc_date)
            cols["added"][row] = epoch_ms(p.added_at)
            cols["collection"][row] = codes["collection"].code(p.collection)
            cols["lang"][row] = codes["lang"].code(p.lang)
            cols["doc_type"][row] = codes["doc_type"].code(p.doc_type)
            cols["speaker"][row] = codes["speaker"].code((p.speaker or "").casefold())
            cols["tags"][row] = codes["tags"].code(frozenset(p.tags))
            cols["entities"][row] = codes["entities"].code(frozenset(p.entities))

    def remove(self, labels: Sequence[int]) -> None:
        """Forget these vectors (marked deleted in the graph; their rows no longer match)."""
        for label in labels:
            row = self._row(label)
            if row >= 0 and self._cols["live"][row]:
                self.hnsw.mark_deleted(label)
                self._cols["live"][row] = False
                self._live_count -= 1

    def overwrite_with_noise(self, labels: Sequence[int]) -> None:
        """Replace these vectors by random ones (before a purge, so the saved graph forgets them)."""
        if labels and self.hnsw is not None:
            noise = np.random.default_rng().standard_normal((len(labels), int(self.dim or 1)))
            self.hnsw.add_items(noise.astype(np.float32), np.asarray(labels, dtype=np.int64))

    # -- files ---------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the graph and the live rows' columns (atomically, each by rename)."""
        if self.hnsw is None:
            return
        tmp_graph = self.graph_path.with_suffix(".tmp")
        self.hnsw.save_index(str(tmp_graph))
        n = self._n
        live = self._cols["live"][:n]
        arrays = {name: col[:n][live] for name, col in self._cols.items() if name != "live"}
        # only the values live rows use are written: a deleted or purged document's tags, speaker
        # names and entities must not stay in the file through the vocabulary
        used: dict[str, list[Any]] = {}
        for name in (*_STRING_FIELDS, *_SET_FIELDS):
            codes, arrays[name] = np.unique(arrays[name], return_inverse=True)
            arrays[name] = arrays[name].astype(np.int32)
            used[name] = [self._codes[name].values[int(c)] for c in codes]
        vocab = {
            "format": _FORMAT,
            "dim": self.dim,
            "capacity": int(self.hnsw.get_max_elements()),
            **{name: used[name] for name in _STRING_FIELDS},
            **{name: [sorted(v) for v in used[name]] for name in _SET_FIELDS},
        }
        arrays["vocab"] = np.frombuffer(json.dumps(vocab, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        tmp_cols = self.columns_path.with_suffix(".tmp")
        tmp_cols.write_bytes(buf.getvalue())
        os.replace(tmp_graph, self.graph_path)
        os.replace(tmp_cols, self.columns_path)
        if self.legacy_meta_path is not None:
            self.legacy_meta_path.unlink(missing_ok=True)

    def exists(self) -> bool:
        return self.graph_path.exists() and (
            self.columns_path.exists()
            or (self.legacy_meta_path is not None and self.legacy_meta_path.exists())
        )

    def load(self) -> None:
        """Read the graph and its columns (or the JSON filter fields an older version wrote)."""
        import hnswlib

        if self.columns_path.exists():
            with np.load(self.columns_path, allow_pickle=False) as z:
                vocab = json.loads(bytes(z["vocab"]).decode("utf-8"))
                arrays = {name: z[name] for name in z.files if name != "vocab"}
            codes = {name: _Codes(vocab[name]) for name in _STRING_FIELDS}
            codes.update({name: _Codes([frozenset(s) for s in vocab[name]]) for name in _SET_FIELDS})
        else:
            assert self.legacy_meta_path is not None
            vocab = json.loads(self.legacy_meta_path.read_text("utf-8"))
            arrays, codes = _from_legacy(vocab["meta"])
        idx = hnswlib.Index(space="cosine", dim=int(vocab["dim"]))
        idx.load_index(str(self.graph_path), max_elements=int(vocab["capacity"]), allow_replace_deleted=True)
        idx.set_ef(128)
        self.hnsw, self.dim = idx, int(vocab["dim"])
        n = len(arrays["label"])
        self._n = 0
        self._cols = {}
        self._allocate(n)
        for name, col in arrays.items():
            self._cols[name][:n] = col
        self._cols["live"][:n] = True
        self._n = self._live_count = n
        self._codes = codes
        top = int(arrays["label"].max()) + 1 if n else 0
        self._row_of = np.full(max(top, 1024), -1, dtype=np.int32)
        self._row_of[arrays["label"]] = np.arange(n, dtype=np.int32)

    # -- searching -----------------------------------------------------------------------------

    def allowed(self, f: Filters) -> tuple[IntArray, bool]:
        """Labels passing the filters, and whether that is every stored vector."""
        n, c, codes = self._n, self._cols, self._codes
        mask = c["live"][:n].copy()

        def member(name: str, keep: Any) -> BoolArray:
            return np.isin(c[name][:n], codes[name].where(keep))

        cols = f.effective_collections()
        if cols is not None:
            mask &= member("collection", lambda v: v in cols)
        if f.langs:
            mask &= member("lang", lambda v: v in f.langs)
        if f.types:
            mask &= member("doc_type", lambda v: v in f.types)
        if f.tags:
            wanted = frozenset(f.tags)
            mask &= member("tags", lambda s: not s.isdisjoint(wanted))
        if f.speakers:
            speakers = {sp.casefold() for sp in f.speakers}
            mask &= member("speaker", lambda v: v in speakers)
        if f.entities:
            mask &= member("entities", lambda s: not any(s.isdisjoint(group) for group in f.entities))
        if f.date_from is not None:
            mask &= c["day"][:n] >= day_number(f.date_from)
        if f.date_to is not None:
            day = c["day"][:n]
            mask &= (day != NO_DATE) & (day <= day_number(f.date_to))
        if f.added_after is not None:
            mask &= c["added"][:n] > epoch_ms(f.added_after)
        if f.document_ids:
            mask &= np.isin(c["document_id"][:n], np.asarray(f.document_ids, dtype=np.int64))
        excluded = f.excluded_documents()
        if excluded:
            mask &= ~np.isin(c["document_id"][:n], np.asarray(excluded, dtype=np.int64))
        hidden = f.excluded_passages()
        if hidden:
            mask &= ~np.isin(c["label"][:n], np.asarray(hidden, dtype=np.int64))
        labels = c["label"][:n][mask]
        return labels, len(labels) == self._live_count

    def search(self, vector: Sequence[float], filters: Filters, *, limit: int) -> BackendResult:
        if self.hnsw is None or not self._live_count or limit <= 0:
            return BackendResult(hits=[], total=0)
        cols = filters.effective_collections()
        if cols is not None and not cols:
            return BackendResult(hits=[], total=0)
        q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        allowed, everything = self.allowed(filters)
        if len(allowed) == 0:
            return BackendResult(hits=[], total=0)
        k = min(limit, len(allowed))
        if everything:
            self.hnsw.set_ef(max(128, k * 2))
            labels, dists = self.hnsw.knn_query(q, k=k)
            pairs = [(int(lb), 1.0 - float(d)) for lb, d in zip(labels[0], dists[0], strict=True)]
        elif len(allowed) <= EXACT_SCAN_LIMIT or len(allowed) < self._live_count // 10:
            ids = allowed.tolist()
            sims = np.empty(len(ids), dtype=np.float32)
            qn = float(np.linalg.norm(q))
            for i in range(0, len(ids), _SCAN_CHUNK):  # numpy rows, a chunk at a time: bounded memory
                vecs = self.hnsw.get_items(ids[i : i + _SCAN_CHUNK], return_type="numpy")
                norms = np.linalg.norm(vecs, axis=1) * qn
                sims[i : i + len(vecs)] = (vecs @ q[0]) / np.where(norms == 0, 1.0, norms)
            order = np.argsort(-sims, kind="stable")[:k]
            pairs = [(int(ids[i]), float(sims[i])) for i in order]
        else:
            allowed_set = set(allowed.tolist())
            self.hnsw.set_ef(max(128, k * 2))
            labels, dists = self.hnsw.knn_query(q, k=k, filter=lambda label: label in allowed_set)
            pairs = [(int(lb), 1.0 - float(d)) for lb, d in zip(labels[0], dists[0], strict=True)]
        hits = [BackendHit(lb, self.document_of(lb), s) for lb, s in pairs]
        return BackendResult(hits=hits, total=len(allowed))


def _from_legacy(meta: dict[str, list[Any]]) -> tuple[dict[str, np.ndarray], dict[str, _Codes]]:
    """Columns from the JSON filter fields of index schema 4 (one list per vector); the next save
    writes the columns file and removes the JSON one."""
    codes = {name: _Codes() for name in (*_STRING_FIELDS, *_SET_FIELDS)}
    n = len(meta)
    arrays: dict[str, np.ndarray] = {name: np.zeros(n, dtype=dtype) for name, dtype in _INT_COLUMNS.items()}
    for name in (*_STRING_FIELDS, *_SET_FIELDS):
        arrays[name] = np.zeros(n, dtype=np.int32)
    for i, (k, v) in enumerate(meta.items()):
        arrays["label"][i] = int(k)
        arrays["collection"][i] = codes["collection"].code(v[0])
        arrays["lang"][i] = codes["lang"].code(v[1])
        arrays["doc_type"][i] = codes["doc_type"].code(v[2])
        arrays["tags"][i] = codes["tags"].code(frozenset(v[3]))
        arrays["day"][i] = int(v[4])
        arrays["document_id"][i] = int(v[5])
        arrays["speaker"][i] = codes["speaker"].code(str(v[6]))
        arrays["added"][i] = int(v[7])
        arrays["entities"][i] = codes["entities"].code(frozenset(v[8]) if len(v) > 8 else frozenset())
    return arrays, codes
