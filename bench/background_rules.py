"""Shapes of a query-relative semantic floor, compared offline on stored vectors (issue 21, item 1).

A semantic hit ``p`` of query ``q`` (cosine ``c``) is kept by one of these rules, each with the
absolute floor (``ARCHIVE_SEMANTIC_FLOOR``) as well; ``bq`` is the query's mean cosine to the
reference texts of ``search_api/background.py`` and ``bp`` the passage's own:

* ``query``: ``c ≥ bq + m`` (``ARCHIVE_SEMANTIC_MARGIN`` as built: the query's background only);
* ``passage``: ``c ≥ bp + m`` (a short note is close to everything: its own background is high);
* ``mean``: ``c ≥ (bq + bp) / 2 + m`` (both sides, as CSLS corrects hubness on both);
* ``max``: ``c ≥ max(bq, bp) + m``.

Two sets of vectors, read from data folders built by ``bench/union.py`` and
``bench/short_notes.py`` (the passages' stored embeddings; queries embedded here as the service
embeds them): on the union, for every dev query (``--max-queries``, the union's seed), whether its
relevant document is among the 100 nearest of its pool and whether the rule keeps it (a filter
only drops hits, so a kept relevant document keeps its rank or rises: the lost ones bound the
recall cost); on the short-note archives, the meaning-only hits a nonsense or unrelated query keeps,
and whether a control query keeps its relevant note. Shapes are chosen here, then measured for real
with both benchmarks (``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402
import short_notes as sn  # noqa: E402

from index.embeddings import make_embedder  # noqa: E402
from search_api.background import reference_centroid  # noqa: E402
from search_api.query import parse_query  # noqa: E402

POOL = 2000
"""The service's semantic pool (``search_api.retrieval.SEMANTIC_POOL``)."""

Rule = tuple[str, float, float]
"""(shape, query-side margin, passage-side margin); -1 turns a side off."""


def rules(margins: list[float]) -> list[Rule]:
    """The margin off, each side alone, both sides (every pair of margins), and the mean."""
    on = [m for m in margins if m > -1]
    out: list[Rule] = [("off", -1.0, -1.0)]
    out += [("query", m, -1.0) for m in on]
    out += [("passage", -1.0, m) for m in on]
    out += [("both", a, b) for a in on for b in on]
    out += [("mean", m, m) for m in on]
    return out


def keep(rule: Rule, cos: np.ndarray, bq: float, bp: np.ndarray, floor: float) -> np.ndarray:
    """Which of the passages (cosines ``cos``, backgrounds ``bp``) the rule keeps."""
    shape, mq, mp = rule
    ok = cos >= floor
    if shape == "mean":
        return ok & (cos >= (bq + bp) / 2 + mq)
    if mq > -1:
        ok &= cos >= bq + mq
    if mp > -1:
        ok &= cos >= bp + mp
    return ok


class Store:
    """Every embedded passage of one data folder: vector, background, collection and document."""

    def __init__(self, data_dir: Path, embedder: str) -> None:
        # read-only: the catalog file and the model, never a service (a benchmark may be scoring
        # against the same data folder)
        emb = make_embedder(embedder, cache_dir=data_dir / "models")
        assert emb is not None
        self.embedder = emb
        centroid = reference_centroid(emb)
        con = sqlite3.connect(f"file:{data_dir / 'catalog.sqlite3'}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT p.id, p.document_id, c.name, p.embedding FROM passages p "
                "JOIN documents d ON p.document_id = d.id JOIN collections c ON d.collection_id = c.id "
                "WHERE p.embedding IS NOT NULL"
            ).fetchall()
        finally:
            con.close()
        self.doc = np.array([r[1] for r in rows])
        self.col = np.array([r[2] for r in rows])
        self.vec = np.stack([np.frombuffer(r[3], dtype=np.float32) for r in rows])
        self.bp = self.vec @ centroid
        self.centroid = centroid

    def query(self, text: str) -> tuple[np.ndarray, float]:
        words = " ".join(parse_query(text).words())
        qv = np.asarray(self.embedder.embed_query(words), dtype=np.float32)
        return qv, float(qv @ self.centroid)

    def close(self) -> None:
        """Nothing held open (the catalog was read at once)."""


def union_rows(args: argparse.Namespace, margins: list[float]) -> list[dict[str, Any]]:
    """Semantic mode emulated exactly on the stored vectors (brute force rather than HNSW): per data
    set, pair kind and rule, mean nDCG@10 and R@100 of documents, the service's pool of the 2,000
    nearest passages filtered by the absolute floor and the rule, documents ranked by their best
    passage. UNLP is scored per document only (the page rows need the service's page grouping)."""
    work = args.union
    state = json.loads((work / "union-state.json").read_text("utf-8"))
    units: dict[int, list[str]] = defaultdict(list)
    for col, info in state["collections"].items():
        for doc_id, cids in info["documents"].items():
            units[int(doc_id)].extend(f"{col}|{c}" for c in cids)
    store = Store(work / "data", args.embedder)
    all_rules = rules(margins)
    cells: dict[tuple[str, str, Rule], list[tuple[float, float]]] = defaultdict(list)
    cols = sorted(set(store.col.tolist()))
    for name in ("xquad", "ntrex", "tatoeba", "udhr", "unlp"):
        task = q.LOADERS[name](args.data_root, None, args.max_queries, 13)
        for qlang, dlang in task.pairs:
            base = dlang.split("-", 1)[0]
            pool = np.nonzero(
                np.isin(store.col, [c for c in cols if c.split(".", 1)[1].split("-", 1)[0] == base])
            )[0]
            target = f"{task.name}.{dlang}"
            kind = "mono" if qlang == dlang else "cross"
            for query in task.queries[qlang]:
                rel = frozenset(f"{target}|{c.split('#', 1)[0]}" for c in query.relevant)
                qv, bq = store.query(q.plain_query(query.text))
                cos = store.vec[pool] @ qv
                top = np.argsort(-cos)[:POOL]
                c_top, bp_top, doc_top = cos[top], store.bp[pool][top], store.doc[pool][top]
                for rule in all_rules:
                    kept = keep(rule, c_top, bq, bp_top, args.floor)
                    docs = doc_top[kept]
                    _, first = np.unique(docs, return_index=True)
                    ranked_docs = docs[np.sort(first)][: q.RECALL_DEPTH]
                    ranked = [u for d in ranked_docs for u in units.get(int(d), [])]
                    cells[(name, kind, rule)].append((q.ndcg_at(ranked, rel), q.recall_at(ranked, rel)))
    return [
        {
            "data set": k[0],
            "pairs": k[1],
            "rule": list(k[2]),
            "n": len(v),
            "ndcg10": round(float(np.mean([x[0] for x in v])), 4),
            "r100": round(float(np.mean([x[1] for x in v])), 4),
        }
        for k, v in sorted(cells.items())
    ]


def notes_rows(args: argparse.Namespace, margins: list[float]) -> list[dict[str, Any]]:
    """Per query kind, shape and margin: meaning-only notes kept per query; controls kept."""
    archives = sn.build_archives(args.data_root, args.split, args.notes, args.queries)
    state = json.loads((args.notes_dir / args.split / "notes-state.json").read_text("utf-8"))
    store = Store(args.notes_dir / args.split / "data", args.embedder)
    cells: dict[tuple[str, Rule], list[float]] = defaultdict(list)
    try:
        for arch in archives:
            idx = np.nonzero(store.col == arch.name)[0]
            for probe in arch.probes:
                qv, bq = store.query(probe.text)
                cos = store.vec[idx] @ qv
                bp = store.bp[idx]
                rel = None
                if probe.relevant is not None:
                    doc = int(state[probe.relevant])
                    rel = store.doc[idx] == doc
                for rule in rules(margins):
                    kept = keep(rule, cos, bq, bp, args.floor)
                    if rel is None:
                        cells[(probe.kind, rule)].append(float(kept.sum()))
                    else:
                        cells[(probe.kind, rule)].append(float(kept[rel].any()))
    finally:
        store.close()
    return [
        {"queries": k[0], "rule": list(k[1]), "n": len(v), "mean": round(float(np.mean(v)), 3)}
        for k, v in sorted(cells.items())
    ]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--union", type=Path, default=Path("/tmp/archive-union"), help="bench/union.py --work-dir")
    p.add_argument("--notes-dir", type=Path, default=Path("/tmp/archive-short-notes"))
    p.add_argument("--split", default="dev")
    p.add_argument("--notes", type=int, default=200)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--max-queries", type=int, default=150)
    p.add_argument("--embedder", default="e5-onnx")
    p.add_argument("--floor", type=float, default=0.76)
    p.add_argument("--margins", default="0.01,0.02,0.03,0.04,0.05,0.06")
    p.add_argument("--data-root", type=Path, default=q.default_data_root())
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--skip-union", action="store_true")
    args = p.parse_args(argv)
    margins = [float(m) for m in args.margins.split(",")]
    out: dict[str, Any] = {"command": " ".join(["bench/background_rules.py", *(argv or sys.argv[1:])])}
    out["notes"] = notes_rows(args, margins)
    for r in out["notes"]:
        print(r)
    if not args.skip_union:
        out["union"] = union_rows(args, margins)
        for r in out["union"]:
            print(r)
    out["machine"] = q.machine_info()
    if args.out:
        args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
