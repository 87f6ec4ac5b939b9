"""Calibrate the relevance floor of semantic hits and of similar passages on the dev data sets.

Cosine similarities of the configured embedder (default e5-onnx) between

* a query and the passages of its relevant document (``positive``: the best passage), for every
  query of the dev splits of xquad-ru-en (question -> paragraph, ru/en, all four pairs) and
  ntrex128 (headline -> news story, ru/uk/be/en, all sixteen pairs);
* a query and the best passage of the *other* data set's corpus (``unrelated``: football and
  Wikipedia questions against news, news headlines against Wikipedia paragraphs): what semantic
  search returns when the archive holds nothing on the subject;
* a passage and the same story's passage in another language (``similar``: the first passage of an
  ntrex document against the best passage of its translation) against the best passage of the other
  data set (``similar unrelated``).

It prints percentiles of each distribution and, for candidate floors, the share of positives kept
and of unrelated best matches cut. The chosen floors are recorded in ``docs/decisions.md``.

    .venv/bin/python bench/semantic_floor.py [--data /work/shared/data] [--embedder e5-onnx]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from index.embeddings import make_embedder  # noqa: E402
from ingest.split import split_spans  # noqa: E402


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _qrels(path: Path) -> dict[str, str]:
    rows = [ln.split("\t") for ln in path.read_text("utf-8").splitlines()[1:] if ln.strip()]
    return {r[0]: r[1] for r in rows}


def _passages(docs: list[dict[str, str]], chars: int = 800) -> tuple[list[str], list[str]]:
    """(passage texts, their document ids), cut as ingestion cuts text."""
    texts, ids = [], []
    for d in docs:
        text = d["text"]
        for s, e in split_spans(text, chars):
            texts.append(text[s:e])
            ids.append(d["_id"])
    return texts, ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--embedder", default="e5-onnx")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "archive-models")
    ap.add_argument("--max-queries", type=int, default=300, help="per data set and query language")
    args = ap.parse_args()
    emb = make_embedder(args.embedder, cache_dir=args.cache)
    assert emb is not None
    t0 = time.perf_counter()

    sets = {
        "xquad": (args.data / "xquad-ru-en", ("ru", "en")),
        "ntrex": (args.data / "ntrex128-ru-uk-be-en", ("ru", "uk", "be", "en")),
    }
    corpus: dict[str, dict[str, tuple[np.ndarray, list[str]]]] = {}
    queries: dict[str, dict[str, tuple[np.ndarray, list[str]]]] = {}
    qrels: dict[str, dict[str, str]] = {}
    for name, (folder, langs) in sets.items():
        qrels[name] = _qrels(folder / "qrels.dev.tsv")
        corpus[name], queries[name] = {}, {}
        for lang in langs:
            texts, ids = _passages(_jsonl(folder / f"corpus.{lang}.jsonl"))
            corpus[name][lang] = (np.asarray(emb.embed_passages(texts)), ids)
            qs = [q for q in _jsonl(folder / f"queries.dev.{lang}.jsonl") if q["_id"] in qrels[name]]
            qs = qs[: args.max_queries]
            vecs = np.stack([np.asarray(emb.embed_query(q["text"].strip())) for q in qs])
            queries[name][lang] = (vecs, [q["_id"] for q in qs])
            print(f"embedded {name}/{lang}: {len(texts)} passages, {len(qs)} queries", file=sys.stderr)

    positive: list[float] = []
    unrelated: list[float] = []
    for name in sets:
        other = "ntrex" if name == "xquad" else "xquad"
        for qv, qids in queries[name].values():
            for cv, cids in corpus[name].values():
                sims = qv @ cv.T
                ids = np.asarray(cids)
                for i, qid in enumerate(qids):
                    rel = ids == qrels[name][qid]
                    if rel.any():
                        positive.append(float(sims[i][rel].max()))
            for ov, _ in corpus[other].values():
                unrelated.extend(float(x) for x in (qv @ ov.T).max(axis=1))

    similar: list[float] = []
    similar_unrelated: list[float] = []
    nt = corpus["ntrex"]
    for a, (av, aids) in nt.items():
        firsts = [i for i, d in enumerate(aids) if i == 0 or aids[i - 1] != d]
        for b, (bv, bids) in nt.items():
            if a == b:
                continue
            sims = av[firsts] @ bv.T
            ids = np.asarray(bids)
            for row, i in enumerate(firsts):
                similar.append(float(sims[row][ids == aids[i]].max()))
        for ov, _ in corpus["xquad"].values():
            similar_unrelated.extend(float(x) for x in (av[firsts] @ ov.T).max(axis=1))

    def pct(xs: list[float]) -> str:
        a = np.asarray(xs)
        return " ".join(f"p{p}={np.percentile(a, p):.3f}" for p in (1, 2, 5, 10, 50, 90, 95, 99))

    print(f"embedder {emb.id}, {time.perf_counter() - t0:.0f} s")
    print(f"query -> relevant passage   n={len(positive)}  {pct(positive)}")
    print(f"query -> best unrelated     n={len(unrelated)}  {pct(unrelated)}")
    print(f"passage -> translation      n={len(similar)}  {pct(similar)}")
    print(f"passage -> best unrelated   n={len(similar_unrelated)}  {pct(similar_unrelated)}")
    print("floor  query:kept  query-unrelated:cut  passage:kept  passage-unrelated:cut")
    for floor in np.arange(0.70, 0.92, 0.01):
        kept = np.mean(np.asarray(positive) >= floor)
        cut = np.mean(np.asarray(unrelated) < floor)
        skept = np.mean(np.asarray(similar) >= floor)
        scut = np.mean(np.asarray(similar_unrelated) < floor)
        print(f"{floor:.2f}   {kept:.3f}       {cut:.3f}               {skept:.3f}         {scut:.3f}")


if __name__ == "__main__":
    main()
