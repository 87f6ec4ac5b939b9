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

* the same with a **query-relative floor** (``ARCHIVE_SEMANTIC_MARGIN``, ``search_api/background.py``):
  each cosine minus the query's background (its mean cosine to fixed reference texts), adding
  short sentences on both sides: Tatoeba (Ukrainian sentence -> its English translation among
  1,000 English sentences: ``positive``) and every xquad/ntrex query against those English
  sentences (``unrelated``: the best match among short sentences about nothing the query asks).

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
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from index.embeddings import make_embedder  # noqa: E402
from ingest.split import split_spans  # noqa: E402
from search_api.background import reference_centroid  # noqa: E402


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


def _relative_table(pos: np.ndarray, unr: np.ndarray, floor: float = 0.76) -> None:
    """Share of positives kept and of unrelated best matches cut, per margin over the background."""

    def pct(xs: np.ndarray) -> str:
        return " ".join(f"p{p}={np.percentile(xs, p):.3f}" for p in (1, 2, 5, 10, 50, 90, 95, 99))

    print(f"query-relative: n positive={len(pos)} n unrelated={len(unr)}")
    print(f"positive cosine             {pct(pos[:, 0])}")
    print(f"unrelated cosine            {pct(unr[:, 0])}")
    print(f"positive minus background   {pct(pos[:, 1])}")
    print(f"unrelated minus background  {pct(unr[:, 1])}")
    print(f"margin  positive:kept  unrelated:cut   (both with the absolute floor {floor})")
    for margin in [-1.0, *np.arange(0.0, 0.081, 0.005)]:
        kept = np.mean((pos[:, 0] >= floor) & (pos[:, 1] >= margin))
        cut = np.mean((unr[:, 0] < floor) | (unr[:, 1] < margin))
        print(f"{margin:6.3f}  {kept:.3f}          {cut:.3f}")


def relative_only(emb: Any, data: Path, max_queries: int) -> None:
    """The query-relative floor alone: each query against its relevant passages in every language
    of its data set (embedding only those: same-language and cross-language pairs), and every query
    against 1,000 short English Tatoeba sentences (its best match there is ``unrelated``: short
    texts about nothing it asks, where the absolute floor fails)."""
    t0 = time.perf_counter()
    centroid = reference_centroid(emb)
    tat = data / "tatoeba-ru-uk-be" / "ukr"
    tat_docs = _jsonl(tat / "corpus.eng.jsonl")
    tat_vecs = np.asarray(emb.embed_passages([d["text"] for d in tat_docs]))
    by_id = {d["_id"]: i for i, d in enumerate(tat_docs)}
    rel_t = _qrels(tat / "qrels.dev.tsv")
    pos: list[tuple[float, float]] = []
    unr: list[tuple[float, float]] = []
    tq = [q for q in _jsonl(tat / "queries.dev.uk.jsonl") if q["_id"] in rel_t][:max_queries]
    for q in tq:
        qv = np.asarray(emb.embed_query(q["text"].strip()))
        bg = float(qv @ centroid)
        best = float(qv @ tat_vecs[by_id[rel_t[q["_id"]]]])
        pos.append((best, best - bg))
    print(f"tatoeba uk->en: {len(tq)} queries, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    sets = {
        "xquad": (data / "xquad-ru-en", ("ru", "en")),
        "ntrex": (data / "ntrex128-ru-uk-be-en", ("ru", "uk", "be", "en")),
    }
    for name, (folder, langs) in sets.items():
        qrels = _qrels(folder / "qrels.dev.tsv")
        for lang in langs:
            qs = [q for q in _jsonl(folder / f"queries.dev.{lang}.jsonl") if q["_id"] in qrels]
            qs = qs[: max_queries // len(langs)]
            qvecs = [np.asarray(emb.embed_query(q["text"].strip())) for q in qs]
            for qv in qvecs:
                other = float((tat_vecs @ qv).max())
                unr.append((other, other - float(qv @ centroid)))
            for doc_lang in langs:  # same language and every cross-language pair
                docs = {d["_id"]: d for d in _jsonl(folder / f"corpus.{doc_lang}.jsonl")}
                needed = sorted({qrels[q["_id"]] for q in qs} & docs.keys())
                texts, ids = _passages([docs[i] for i in needed])
                pv = np.asarray(emb.embed_passages(texts))
                pids = np.asarray(ids)
                for q, qv in zip(qs, qvecs, strict=True):
                    rel = pids == qrels[q["_id"]]
                    if rel.any():
                        best = float((pv[rel] @ qv).max())
                        pos.append((best, best - float(qv @ centroid)))
            print(f"{name}/{lang}: {len(qs)} queries, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(f"embedder {emb.id}, {time.perf_counter() - t0:.0f} s (relevant passages only)")
    _relative_table(np.asarray(pos), np.asarray(unr))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--embedder", default="e5-onnx")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "archive-models")
    ap.add_argument("--max-queries", type=int, default=300, help="per data set and query language")
    ap.add_argument(
        "--relative-only",
        action="store_true",
        help="only the query-relative table, embedding just the relevant passages (minutes, not an hour)",
    )
    args = ap.parse_args()
    emb = make_embedder(args.embedder, cache_dir=args.cache)
    assert emb is not None
    if args.relative_only:
        relative_only(emb, args.data, args.max_queries)
        return
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

    tat = args.data / "tatoeba-ru-uk-be" / "ukr"
    tat_docs = _jsonl(tat / "corpus.eng.jsonl")
    tat_vecs = np.asarray(emb.embed_passages([d["text"] for d in tat_docs]))
    tat_ids = np.asarray([d["_id"] for d in tat_docs])
    tat_rel: dict[str, list[str]] = {}
    for row in (ln.split("\t") for ln in (tat / "qrels.dev.tsv").read_text("utf-8").splitlines()[1:]):
        if len(row) >= 2:
            tat_rel.setdefault(row[0], []).append(row[1])
    tat_q = [q for q in _jsonl(tat / "queries.dev.uk.jsonl") if q["_id"] in tat_rel][: args.max_queries]
    tat_qv = np.stack([np.asarray(emb.embed_query(q["text"].strip())) for q in tat_q])
    centroid = reference_centroid(emb)
    print(f"embedded tatoeba: {len(tat_docs)} sentences, {len(tat_q)} queries", file=sys.stderr)

    positive: list[float] = []
    unrelated: list[float] = []
    # (cosine, cosine minus the query's background) for the query-relative floor
    rel_pos: list[tuple[float, float]] = []
    rel_unrel: list[tuple[float, float]] = []
    sims_t = tat_qv @ tat_vecs.T
    bg_t = tat_qv @ centroid
    for i, q in enumerate(tat_q):
        rel = np.isin(tat_ids, tat_rel[q["_id"]])
        if rel.any():
            best = float(sims_t[i][rel].max())
            rel_pos.append((best, best - float(bg_t[i])))
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
                        rel_pos.append((positive[-1], positive[-1] - float(qv[i] @ centroid)))
            bg = qv @ centroid
            for ov, _ in corpus[other].values():
                best = (qv @ ov.T).max(axis=1)
                unrelated.extend(float(x) for x in best)
                rel_unrel.extend((float(b), float(b - g)) for b, g in zip(best, bg, strict=True))
            best = (qv @ tat_vecs.T).max(axis=1)
            rel_unrel.extend((float(b), float(b - g)) for b, g in zip(best, bg, strict=True))

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

    _relative_table(np.asarray(rel_pos), np.asarray(rel_unrel))


if __name__ == "__main__":
    main()
