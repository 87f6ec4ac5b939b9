"""Where the CPU of an in-process keyword search goes (issue 17, part 3).

``phases``: thread CPU time per phase of ``ArchiveService.search`` (keyword mode, the queries of
``bench/speed.py latency``), measured by wrapping the backend's and the retrieval's methods.
``facets``: thread CPU per query of the facet pass over every match (before) against the bounded
pass (after) and the ranked pass, on the same schema-6 index.
``snippets``: the snippets of a result page at first sight against the same page again, when the
analyser's cache knows every word (the most that storing analysed terms could save; with the
terms stored at index time, index schema 7, the first sight reads them and analyses nothing).

    PYTHONPATH=$PWD .venv/bin/python bench/keyword_phases.py phases --data-dir DIR --queries 120
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_phases.py facets --data-dir DIR --queries 80 --out F.json

``wall``: wall clock per phase and query (the outermost call of each phase only, so recursion
and nesting are not counted twice; tantivy's own ranked search and aggregations timed through a
proxy of the backend's searcher), over ``--rounds`` rounds of the queries; ``--out`` keeps every
query's row, slowest first.

    PYTHONPATH=$PWD .venv/bin/python bench/keyword_phases.py wall --data-dir DIR --queries 150 --rounds 2

``marks``: every snippet of the first pages of ``bench/speed.py latency``'s 150 queries, as JSON
(``--out``), to compare two builds byte for byte (``cmp``). ``reindex``: index passages 1..N of a
``bench/speed.py build`` catalog (copied, without its index folder) with this code, the fields
as ``build`` sets them — a new index format on the same passages without rebuilding the catalog.

    PYTHONPATH=$PWD .venv/bin/python bench/keyword_phases.py marks --data-dir DIR --out M.json
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_phases.py reindex --data-dir COPY --passages 400000
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _stats(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {"mean": statistics.fmean(v), "p50": v[len(v) // 2], "p95": v[int(len(v) * 0.95)]}


def _sample(n: int) -> list[str]:
    from load import queries

    qs = queries()
    return qs[:7] + random.Random(3).sample(qs[7:], n - 7)


def _timer(acc: dict[str, float], clock: Any, *, outermost: bool) -> Any:
    """``wrap(obj, name, label)``: replaces ``obj.name`` with a version that adds its ``clock`` ms
    to ``acc[label]`` — every call (``phases``), or the outermost call of each label only, so a
    recursive or nested call is not counted twice (``wall``)."""
    depth: dict[str, int] = {}

    def wrap(obj: Any, name: str, label: str) -> None:
        f = getattr(obj, name)

        @functools.wraps(f)
        def timed(*a: Any, **k: Any) -> Any:
            d = depth.get(label, 0)
            depth[label] = d + 1
            t = clock()
            try:
                return f(*a, **k)
            finally:
                depth[label] = d
                if d == 0 or not outermost:
                    acc[label] = acc.get(label, 0.0) + (clock() - t) * 1000

        setattr(obj, name, timed)

    return wrap


def cmd_phases(args: argparse.Namespace) -> None:
    from archive_search.settings import Settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest
    from search_api import retrieval
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    acc: dict[str, float] = {}
    wrap = _timer(acc, time.thread_time, outermost=False)
    backend: Any = svc.backend
    wrap(backend, "_keyword_search", "keyword_search (ranked pass, statistics, facets)")
    wrap(backend, "_counted", "facets + documents pass")
    wrap(backend, "_rank_stats", "ranking statistics (readable-set counts)")
    wrap(backend, "_filtered", "backend query (fuzzy words expanded)")
    wrap(backend, "_hits", "read the ranked hits")
    wrap(retrieval.Retrieval, "_compile", "compile the query")
    wrap(retrieval.Retrieval, "_hydrate", "hydrate (catalog + snippets)")
    wrap(retrieval.Highlighter, "snippet", "snippets")
    sample = _sample(args.queries)
    for q in sample[:20]:
        svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
    rows: list[dict[str, float]] = []
    for q in sample:
        acc.clear()
        t = time.thread_time()
        svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
        rows.append({"search": (time.thread_time() - t) * 1000, **acc})
    keys = sorted({k for r in rows for k in r})
    out = {
        "passages": backend._searcher().num_docs,
        "queries": len(rows),
        "loadavg": os.getloadavg(),
        "cpu_ms": {k: _stats([r.get(k, 0.0) for r in rows]) for k in keys},
    }
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2), "utf-8")


def cmd_wall(args: argparse.Namespace) -> None:
    from archive_search.settings import Settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest
    from search_api import retrieval
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    backend: Any = svc.backend
    acc: dict[str, float] = {}
    wrap = _timer(acc, time.perf_counter, outermost=True)

    def add(label: str, since: float) -> None:
        acc[label] = acc.get(label, 0.0) + (time.perf_counter() - since) * 1000

    class Timed:
        """The backend's searcher, its ranked searches and aggregations timed."""

        def __init__(self, searcher: Any) -> None:
            self._s = searcher

        def search(self, *a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return self._s.search(*a, **k)
            finally:
                add("tantivy search (ranked pass, counts)", t)

        def aggregate(self, *a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return self._s.aggregate(*a, **k)
            finally:
                add("tantivy aggregate (facets, statistics)", t)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._s, name)

    searcher = backend._searcher
    backend._searcher = lambda: Timed(searcher())
    wrap(backend, "_keyword_search", "backend keyword search")
    wrap(backend, "_counted", "facets + documents pass")
    wrap(backend, "_rank_stats", "ranking statistics")
    wrap(backend, "_filtered", "backend query (fuzzy words expanded)")
    wrap(backend, "_hits", "read the ranked hits")
    wrap(retrieval.Retrieval, "_compile", "compile the query")
    wrap(retrieval.Retrieval, "_hydrate", "hydrate (catalog + snippets)")
    sample = _sample(args.queries)
    for q in sample[:20]:
        svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
    rows: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        for q in sample:
            acc.clear()
            t = time.perf_counter()
            svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
            rows.append({"search": (time.perf_counter() - t) * 1000, **acc, "q": q})
    keys = sorted({k for r in rows for k in r if k != "q"})
    out = {
        "passages": backend._searcher().num_docs,
        "queries": len(sample),
        "rounds": args.rounds,
        "loadavg": os.getloadavg(),
        "wall_ms": {k: _stats([float(r.get(k, 0.0)) for r in rows]) for k in keys},
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    if args.out:
        rows.sort(key=lambda r: -float(r["search"]))
        Path(args.out).write_text(json.dumps({**out, "rows": rows}, indent=1, ensure_ascii=False), "utf-8")


def cmd_facets(args: argparse.Namespace) -> None:
    from load import queries

    from archive_search.settings import Settings
    from index.backend import Filters
    from search_api.query import parse_query
    from search_api.retrieval import weigh_function_words
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    backend: Any = svc.backend
    everything = Filters(allowed_collections=None)
    bound = args.bound
    qs = []
    for text in queries()[7 : 7 + args.queries]:
        root = weigh_function_words(parse_query(text).root, 0.1)
        if root is not None:
            qs.append(backend._filtered(svc.retrieval._compile(root), everything))
    s = backend._searcher()
    counts = [int(s.search(q, limit=1, count=True).count) for q in qs]

    def run(fn: Any) -> dict[str, float]:
        vals = []
        for q, m in zip(qs, counts, strict=True):
            c = time.thread_time()
            fn(q, m)
            vals.append((time.thread_time() - c) * 1000)
        return _stats(vals)

    def bounded(q: Any, m: int) -> Any:
        sampled = backend._sampled(q, m, bound) if m > bound else None
        return backend._counted(s, sampled or q, None, 0)

    ordered = sorted(counts)
    out: dict[str, Any] = {
        "passages": s.num_docs,
        "queries": len(qs),
        "bound": bound,
        "median_matches": ordered[len(ordered) // 2],
        "p95_matches": ordered[int(len(ordered) * 0.95)],
        "over_bound": sum(c > bound for c in counts),
        "loadavg": os.getloadavg(),
        "every match (before)": run(lambda q, m: backend._counted(s, q, None, 0)),
        f"bounded, N={bound} (after)": run(bounded),
        "ranked top-50 with count": run(lambda q, m: s.search(q, limit=50, count=True)),
    }
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2), "utf-8")


def cmd_snippets(args: argparse.Namespace) -> None:
    from archive_search.settings import Settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest
    from search_api import retrieval
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    acc = [0.0]
    original = retrieval.Highlighter.snippet

    def timed(self: Any, text: str, stored: str | None = None) -> str:
        t = time.thread_time()
        try:
            return original(self, text, stored)
        finally:
            acc[0] += (time.thread_time() - t) * 1000

    retrieval.Highlighter.snippet = timed  # type: ignore[method-assign]
    sample = _sample(args.queries)
    for q in sample[:20]:
        svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
    first, again = [], []
    for q in sample[20:]:
        for into in (first, again):
            acc[0] = 0.0
            svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
            into.append(acc[0])
    out = {"loadavg": os.getloadavg(), "first sight": _stats(first), "words cached": _stats(again)}
    print(json.dumps(out, indent=2))


def cmd_marks(args: argparse.Namespace) -> None:
    from archive_search.settings import Settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    out: dict[str, Any] = {}
    for q in _sample(150):
        try:
            r = svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
        except Exception as exc:  # malformed query language: the same error on both builds
            out[q] = repr(exc)
            continue
        hits = [(h.passage_id, h.snippet, [(m.passage_id, m.snippet) for m in h.more]) for h in r.hits]
        out[q] = {"total": r.total, "hits": hits}
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=0), "utf-8")


def cmd_reindex(args: argparse.Namespace) -> None:
    from datetime import UTC, date, datetime

    from sqlalchemy import select

    from archive_search.catalog.models import Passage
    from archive_search.settings import Settings
    from archive_search.types import IndexPassage
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    per_doc, batch, now, t = 40, 50_000, datetime.now(UTC), time.perf_counter()
    for lo in range(1, args.passages + 1, batch):
        hi = min(lo + batch - 1, args.passages)
        with svc.catalog.session() as s:
            rows = s.execute(
                select(Passage.id, Passage.text, Passage.lang)
                .where(Passage.id.between(lo, hi))
                .order_by(Passage.id)
            ).all()
        svc.backend.write(
            [
                IndexPassage(
                    passage_id=pid,
                    document_id=(pid - 1) // per_doc + 1,
                    collection="speed",
                    text=text,
                    lang=lang,
                    doc_type="text",
                    seq=(pid - 1) % per_doc,
                    doc_date=date(1990 + ((pid - 1) // per_doc) % 35, 1 + ((pid - 1) // per_doc) % 12, 1),
                    added_at=now,
                )
                for pid, text, lang in rows
            ]
        )
        print(f"keyword {hi}/{args.passages} {hi / (time.perf_counter() - t):.0f}/s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("phases", "wall", "facets", "snippets", "marks", "reindex"):
        p = sub.add_parser(name)
        p.add_argument("--data-dir", type=Path, required=True)
        p.add_argument("--queries", type=int, default=80)
        p.add_argument("--bound", type=int, default=10_000)
        p.add_argument("--out")
        p.add_argument("--passages", type=int, default=400_000)
        p.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    commands = {
        "phases": cmd_phases,
        "wall": cmd_wall,
        "facets": cmd_facets,
        "snippets": cmd_snippets,
        "marks": cmd_marks,
        "reindex": cmd_reindex,
    }
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
