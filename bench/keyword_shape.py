"""What the shape of a compiled keyword query costs tantivy's ranked pass (issue 17, part 3).

The queries of ``bench/speed.py latency`` are compiled by the embedded backend as the service
compiles them (``Must`` around a ``Should`` of one ``DisjunctionMax`` per word over its terms:
surface form, lemmas, cross-script keys, a fuzzy variant), and the ranked pass (top 50, as the
service asks, with the match count) is timed against the same terms in other shapes, on the same
searcher, in the same rounds:

* ``current``: the query the service sends;
* ``count=False``: the same query without counting the matches (whether tantivy then prunes);
* ``nested Should``: every ``DisjunctionMax`` made a ``Should`` and the fuzzy variant a term;
* ``flat Should``: all the query's terms in one ``Should`` (boosted 1.0, as the readable-set idf
  correction wraps them), alone and inside a ``Must``.

Only timings and the top-10 overlap with the current shape are reported: the other shapes score
differently (a sum over a word's alternatives instead of their maximum), so a change of shape
needs the retrieval benchmarks before it could ship.

    PYTHONPATH=$PWD .venv/bin/python bench/keyword_shape.py --data-dir /tmp/speed-400k --rounds 2
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

TERM_RE = re.compile(r'Term\(field=\d+, type=Str, "([^"]*)"\)')


def _stats(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {"p50": v[len(v) // 2], "p95": v[int(len(v) * 0.95)], "mean": statistics.fmean(v)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--queries", type=int, default=150)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()

    import tantivy
    from keyword_phases import _sample

    from archive_search.settings import Settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    backend: Any = svc.backend
    real_searcher = backend._searcher
    captured: list[tuple[Any, dict[str, Any]]] = []

    class Recording:
        """The backend's searcher, recording each ranked query it is asked for."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def search(self, q: Any, *a: Any, **k: Any) -> Any:
            captured.append((q, k))
            return self.inner.search(q, *a, **k)

    backend._searcher = lambda: Recording(real_searcher())
    Q = tantivy.Query
    original = (Q.disjunction_max_query, Q.fuzzy_term_query)

    def nested_shape() -> None:
        Q.disjunction_max_query = staticmethod(  # type: ignore[method-assign]
            lambda subs, tie=0.0: Q.boolean_query([(tantivy.Occur.Should, x) for x in subs])
        )
        Q.fuzzy_term_query = staticmethod(  # type: ignore[method-assign]
            lambda schema, field, term, **_: Q.term_query(schema, field, term)
        )

    def ranked_query(text: str) -> Any | None:
        captured.clear()
        svc.search(SearchRequest(q=text, mode="keyword"), LOCAL_ADMIN)
        ranked = [q for q, k in captured if k.get("count") and k.get("limit", 0) > 1]
        return ranked[0] if ranked else None

    pairs: list[tuple[Any, Any]] = []
    for text in _sample(args.queries):
        current = ranked_query(text)
        nested_shape()
        try:
            nested = ranked_query(text)
        finally:
            Q.disjunction_max_query, Q.fuzzy_term_query = (staticmethod(f) for f in original)  # type: ignore[method-assign]
        if current is not None and nested is not None:
            pairs.append((current, nested))

    searcher = real_searcher()
    schema = backend.schema

    def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
        t = time.perf_counter()
        r = fn()
        return (time.perf_counter() - t) * 1000, r

    def top10(res: Any) -> set[tuple[int, int]]:
        return {(a.segment_ord, a.doc) for _, a in res.hits[:10]}

    rows: dict[str, list[float]] = {}
    overlap: dict[str, list[int]] = {}
    for _ in range(args.rounds):
        for current, nested in pairs:
            terms = sorted(set(TERM_RE.findall(repr(nested))))
            flat = Q.boolean_query(
                [(tantivy.Occur.Should, Q.boost_query(Q.term_query(schema, "body", t), 1.0)) for t in terms]
            )
            shapes = {
                "current": (current, True),
                "current, count=False": (current, False),
                "nested Should": (nested, True),
                "flat Should": (flat, True),
                "Must(flat Should)": (Q.boolean_query([(tantivy.Occur.Must, flat)]), True),
            }
            base = searcher.search(current, limit=50, count=True)
            for name, (q, count) in shapes.items():
                ms, res = timed(lambda q=q, count=count: searcher.search(q, limit=50, count=count))
                rows.setdefault(name, []).append(ms)
                overlap.setdefault(name, []).append(len(top10(res) & top10(base)))
    print(f"{len(pairs)} queries x {args.rounds} rounds, {searcher.num_docs} passages")
    for name, values in rows.items():
        s = _stats(values)
        print(
            f"{name:22s} wall p50 {s['p50']:6.2f} ms  p95 {s['p95']:6.2f} ms  mean {s['mean']:6.2f} ms"
            f"  top-10 overlap with current {statistics.fmean(overlap[name]):.2f}"
        )


if __name__ == "__main__":
    main()
