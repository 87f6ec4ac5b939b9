"""What ranking statistics over the readable set cost (issue 22), on the embedded backend.

Builds a tantivy index of synthetic passages (Zipf-distributed words from a fixed vocabulary,
seeded) spread over ``--collections`` collections, then times the same keyword searches for a
viewer of one collection with the readable-set statistics (as shipped) and without them (the
whole index's statistics, as before issue 22): first with every term new to the statistics'
cache, then again. Prints the median and 95th percentile per search.

    .venv/bin/python bench/rank_stats_cost.py --passages 50000 --queries 300
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from archive_search.types import IndexPassage  # noqa: E402
from index.analysis import Analyzer  # noqa: E402
from index.backend import BoolNode, Filters, TermNode  # noqa: E402
from index.embedded import EmbeddedBackend  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--passages", type=int, default=50_000)
    p.add_argument("--collections", type=int, default=10)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--seed", type=int, default=22)
    args = p.parse_args()
    rng = random.Random(args.seed)
    vocab = [f"xq{i:05d}" for i in range(20_000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    with tempfile.TemporaryDirectory() as tmp:
        b = EmbeddedBackend(Path(tmp) / "idx", Analyzer())
        batch: list[IndexPassage] = []
        for pid in range(1, args.passages + 1):
            words = rng.choices(vocab, weights, k=rng.randint(20, 120))
            batch.append(
                IndexPassage(
                    passage_id=pid,
                    document_id=pid,
                    collection=f"c{pid % args.collections}",
                    lang="en",
                    doc_type="text",
                    text=" ".join(words),
                    seq=0,
                )
            )
            if len(batch) == 5000:
                b.write(batch)
                batch = []
        if batch:
            b.write(batch)
        viewer = Filters(allowed_collections=frozenset({"c1"}))
        queries = []
        for _ in range(args.queries):
            n = rng.randint(1, 4)
            terms = rng.choices(vocab[:5000], weights[:5000], k=n)
            queries.append(BoolNode(should=tuple(TermNode((t,)) for t in terms)))
        real = b._rank_stats

        def run(with_stats: bool) -> list[float]:
            b._rank_stats = real if with_stats else (lambda node, f: None)  # type: ignore[method-assign]
            out = []
            for q in queries:
                t0 = time.perf_counter()
                b.keyword_search(q, viewer, limit=50)
                out.append((time.perf_counter() - t0) * 1000)
            return out

        run(False)  # tantivy's own caches warm
        without = run(False)
        cold = run(True)  # every term counted for the first time
        warm = run(True)  # the same searches again: counts remembered (until the index changes)
        b.close()
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"{args.passages} passages in {args.collections} collections, {args.queries} queries (1-4 words)")
    rows = (
        ("whole-index statistics (before)", without),
        ("readable-set statistics, terms new", cold),
        ("readable-set statistics, terms counted before", warm),
    )
    for name, xs in rows:
        xs.sort()
        p95 = xs[int(0.95 * (len(xs) - 1))]
        print(f"{name}: median {statistics.median(xs):.2f} ms, p95 {p95:.2f} ms")


if __name__ == "__main__":
    main()
