"""What the parts of a keyword query cost tantivy at scale (issue 17, part 3), wall clock per query.

The queries are those of ``bench/speed.py latency`` (150: names, operators and XQuAD/NTREX
questions), compiled by the service as it searches them (recorded at the backend), then timed
again in variants on the same searcher:

``fuzzy``: each fuzzy word's ``fuzzy_term_query`` alone (one and two edits), and every query
``AND`` a range that matches nothing (what building the query's scorers costs) with and without
its fuzzy words. ``facets``: the facet and document-count pass of the queries above the bound —
the sample buckets with the whole query, with the words as written (no fuzzy expansion), a
passage-id range instead of the buckets, and every match. ``ranked``: the ranked top 50 as
searched, without fuzzy words, without the optional (function-word) clauses, without both.
``vocabulary``: builds the data folder's vocabulary if it has none (what the first write of this
code does to an index written before it: the one thing this bench writes), then each fuzzy word
through tantivy's ``fuzzy_term_query`` against its expansion in the vocabulary searched as a term
set (matches compared), and every recorded search with the vocabulary against without it (hits,
scores, totals, facets compared). ``writes``: what keeping the vocabulary costs a write — passages
of real sentences written to fresh indexes one, 20 and 500 per commit, with the vocabulary kept and
without it, alternated (CPU and wall per passage; ``--data-dir`` unused).
``pruning``: ways to prune the ranked pass from Python, each against the whole ranked top k
(``docs/benchmarks.md``, "Pruning the ranked pass from Python"), on the questions compiled as a
disjunction of plain words: *term candidates* — with the k-th score known beforehand (an oracle:
the best case), the terms that cannot place a passage in the top k alone are left out of a
zero-scored term set that the whole query is required with; *flat candidates* — the top
``--candidates`` of every alternative as its own clause (an upper bound of each passage's score,
which tantivy prunes by block-max WAND), re-scored with the whole query restricted to them by
passage id, complete only when the bound proves it; *halves* — the whole query restricted to
passage-id halves, searched in two threads and merged; *overlap* — the ranked pass and the facet
pass run at once in two threads against one after the other. Top k compared with the whole's.
``native``: every keyword search of the latency queries through the whole backend with the native
ranked pass (``index/native_rank.py``) and without it, alternated per search, answers compared;
and the ranked pass alone, native (counting to the bound, or every match) against tantivy-py's.

    PYTHONPATH=$PWD .venv/bin/python bench/keyword_costs.py fuzzy --data-dir DIR --out F.json
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_costs.py facets --data-dir DIR --out F.json
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_costs.py ranked --data-dir DIR --out F.json
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_costs.py vocabulary --data-dir DIR --out F.json
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_costs.py writes --data-dir /tmp --out F.json
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_costs.py pruning --data-dir DIR --out F.json
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_costs.py shards --data-dir DIR --half-dir HALF --out F.json
    PYTHONPATH=$PWD .venv/bin/python bench/keyword_costs.py native --data-dir DIR --out F.json

The data folder is opened as ``bench/speed.py latency`` opens it (nothing is written to it).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _stats(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {"p50": v[len(v) // 2], "p95": v[int(len(v) * 0.95)], "mean": statistics.fmean(v), "n": len(v)}


def _recorded(data_dir: Path) -> tuple[Any, list[tuple[Any, Any, int]]]:
    """The service's backend and the (query, filters, limit) of each latency query's search."""
    from keyword_phases import _sample

    from archive_search.settings import Settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=data_dir, embedder="none"))
    backend: Any = svc.backend
    seen: list[tuple[Any, Any, int]] = []
    original = backend._keyword_search

    def recording(query: Any, filters: Any, **kw: Any) -> Any:
        if kw.get("facets") and query is not None:
            seen.append((query, filters, int(kw["limit"])))
        return original(query, filters, **kw)

    backend._keyword_search = recording
    for q in _sample(150):
        svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
    backend._keyword_search = original
    return backend, seen


def _map(node: Any, term: Callable[[Any], Any]) -> Any:
    from index.backend import BoolNode, TermNode

    if isinstance(node, TermNode):
        return term(node)
    if isinstance(node, BoolNode):
        return BoolNode(
            tuple(_map(n, term) for n in node.must),
            tuple(_map(n, term) for n in node.should),
            tuple(_map(n, term) for n in node.must_not),
        )
    return node


def _no_fuzzy(node: Any) -> Any:
    return _map(node, lambda n: dataclasses.replace(n, fuzzy=0))


def _no_optional(node: Any) -> Any:
    from index.backend import BoolNode

    if isinstance(node, BoolNode) and node.must:
        return BoolNode(must=node.must, must_not=node.must_not)
    return node


def _timed(
    variants: dict[str, Callable[..., Any]], cases: list[tuple[Any, ...]], rounds: int
) -> dict[str, Any]:
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for case in cases:
            for name, fn in variants.items():
                t = time.perf_counter()
                fn(*case)
                times[name].append((time.perf_counter() - t) * 1000)
    return {name: _stats(v) for name, v in times.items()}


def cmd_fuzzy(args: argparse.Namespace) -> dict[str, Any]:
    import tantivy

    from index.backend import TermNode

    backend, seen = _recorded(args.data_dir)
    s, schema = backend._searcher(), backend.schema
    words = _words(seen)
    nothing = tantivy.Query.range_query(schema, "passage_id", tantivy.FieldType.Integer, -5, -1)

    def and_nothing(q: Any) -> Any:
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q), (tantivy.Occur.Must, nothing)])

    def alone(word: TermNode, edits: int) -> Any:
        fq = tantivy.Query.fuzzy_term_query(schema, "body", word.terms[0], distance=edits, prefix=False)
        return s.search(fq, limit=1, count=True)

    def common(word: TermNode) -> bool:
        return max(int(s.doc_freq("body", t)) for t in word.terms) > 20

    return {
        "queries": len(seen),
        "queries_with_fuzzy_words": sum(1 for q, _, _ in seen if _no_fuzzy(q) != q),
        "fuzzy_words": len(words),
        "two_edits": sum(w.fuzzy == 2 for w in words),
        "with_an_alternative_in_over_20_passages": sum(common(w) for w in words),
        "fuzzy_term_query_alone_ms": _timed(
            {"one edit": lambda w: alone(w, 1), "two edits": lambda w: alone(w, 2)},
            [(w,) for w in words],
            args.rounds,
        ),
        "query_and_nothing_ms": _timed(
            {
                "as searched": lambda q, f: s.search(and_nothing(backend._filtered(q, f)), limit=1),
                "without fuzzy words": lambda q, f: s.search(
                    and_nothing(backend._filtered(_no_fuzzy(q), f)), limit=1
                ),
            },
            [(q, f) for q, f, _ in seen],
            args.rounds,
        ),
    }


def cmd_facets(args: argparse.Namespace) -> dict[str, Any]:
    import tantivy

    backend, seen = _recorded(args.data_dir)
    s, bound = backend._searcher(), args.bound
    top = int(s.search(tantivy.Query.all_query(), limit=1, order_by_field="passage_id").hits[0][0])
    cases = []
    for query, f, _ in seen:
        whole = backend._filtered(query, f)
        matches = int(s.search(whole, limit=1, count=True).count)
        if matches > 2 * bound:
            cases.append((whole, backend._filtered(_no_fuzzy(query), f), matches))

    def counted(q: Any) -> Any:
        return backend._counted(s, q, None, 0)

    def sampled(q: Any, matches: int) -> Any:
        return backend._sampled(q, matches, bound)

    def id_range(q: Any, matches: int) -> Any:
        r = tantivy.Query.range_query(
            backend.schema, "passage_id", tantivy.FieldType.Integer, 0, int(top * bound / matches)
        )
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q), (tantivy.Occur.Must, r)])

    return {
        "queries": len(seen),
        "above_twice_the_bound": len(cases),
        "bound": bound,
        "facet_pass_ms": _timed(
            {
                "sample buckets, whole query (before)": lambda w, e, m: counted(sampled(w, m)),
                "sample buckets, words as written (now)": lambda w, e, m: counted(sampled(e, m)),
                "passage-id range, words as written": lambda w, e, m: counted(id_range(e, m)),
                "every match": lambda w, e, m: counted(w),
            },
            cases,
            args.rounds,
        ),
    }


def cmd_ranked(args: argparse.Namespace) -> dict[str, Any]:
    from index.backend import BoolNode

    backend, seen = _recorded(args.data_dir)
    s = backend._searcher()
    both = [(q, f) for q, f, _ in seen if isinstance(q, BoolNode) and q.must and q.should]
    cases = [(q, f, backend._rank_stats(q, f)) for q, f in both]

    def ranked(node: Any, f: Any, stats: Any) -> Any:
        return s.search(backend._filtered(node, f, stats), limit=50, count=True)

    return {
        "queries": len(seen),
        "with_required_and_optional_clauses": len(cases),
        "ranked_top50_ms": _timed(
            {
                "as searched": lambda q, f, st: ranked(q, f, st),
                "without fuzzy words": lambda q, f, st: ranked(_no_fuzzy(q), f, st),
                "without optional clauses": lambda q, f, st: ranked(_no_optional(q), f, st),
                "without both": lambda q, f, st: ranked(_no_optional(_no_fuzzy(q)), f, st),
            },
            cases,
            args.rounds,
        ),
    }


def _disjunction(node: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """(content words, optional function words) of a question compiled as a disjunction of plain
    words, without exclusions; ``None`` for any other shape."""
    from index.backend import BoolNode, TermNode

    if not isinstance(node, BoolNode) or node.must_not:
        return None
    if node.must:
        inner = node.must[0]
        if len(node.must) != 1 or not isinstance(inner, BoolNode) or inner.must or inner.must_not:
            return None
        words, extras = inner.should, node.should
    else:
        words, extras = node.should, ()
    plain = all(isinstance(w, TermNode) and not w.prefix for w in (*words, *extras))
    return (tuple(words), tuple(extras)) if plain and len(words) > 1 else None


def _word_bound(word: Any, bound: Callable[[str], float]) -> float:
    """The most a word adds to a score: its disjunction-max over alternatives (tie-breaker 0.1),
    its OCR-tolerant variants scoring 0.3."""
    b = [bound(t) for t in word.terms]
    if word.fuzzy and len(word.terms[0]) > 3:
        b.append(0.3)
    if not b:
        return 0.0
    return float((b[0] if len(b) == 1 else 0.9 * max(b) + 0.1 * sum(b)) * word.boost)


def _rest_bound(words: tuple[Any, ...], out: set[str], bound: dict[str, float]) -> float:
    """The most a passage holding only the terms ``out`` of ``words`` can score from them."""
    kept = [dataclasses.replace(w, terms=tuple(x for x in w.terms if x in out)) for w in words]
    return sum(_word_bound(w, bound.__getitem__) for w in kept) * 1.0001


def _ranked(searcher: Any, k: int, q: Any) -> Any:
    return searcher.search(q, limit=k, count=True)


def _facet_target(backend: Any, node: Any, f: Any, q: Any, matches: int, bound: int) -> Any:
    """What the backend's facet pass counts for the search ``q`` of ``node`` with ``matches``
    (``EmbeddedBackend._keyword_search``): every match up to ``bound``, else the sample buckets of
    the words as written."""
    from index import embedded

    if matches <= bound:
        return q
    exact = embedded._without_fuzzy(node)
    base = q if exact is node else backend._filtered(exact, f)
    return backend._sampled(base, matches, bound) or base


def cmd_pruning(args: argparse.Namespace) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    import tantivy

    backend, seen = _recorded(args.data_dir)
    s = backend._searcher()
    schema = backend.schema
    must, should = tantivy.Occur.Must, tantivy.Occur.Should
    pool = ThreadPoolExecutor(2)
    times: dict[str, list[float]] = {}
    counts: dict[str, int] = {}

    def add(name: str, since: float) -> float:
        ms = (time.perf_counter() - since) * 1000
        times.setdefault(name, []).append(ms)
        return ms

    def count(name: str, ok: bool = True) -> None:
        counts[name] = counts.get(name, 0) + int(ok)

    def zero(q: Any) -> Any:
        return tantivy.Query.const_score_query(q, 0.0)

    for node, f, k in seen:
        shape = _disjunction(node)
        if shape is None:
            continue
        words, extras = shape
        stats = backend._rank_stats(node, f)
        whole = backend._filtered(node, f, stats)
        t = time.perf_counter()
        res = s.search(whole, limit=k, count=True)
        ms = add("whole ranked pass", t)
        if not any(w.fuzzy for w in words):
            times.setdefault("whole ranked pass, questions without OCR-tolerant words", []).append(ms)
        if len(res.hits) < k:
            continue
        count("questions")
        want = [a for _, a in res.hits]
        theta = float(res.hits[-1][0])
        terms = sorted({t for w in (*words, *extras) for t in w.terms})
        ratio = {t: backend._idf_ratio([t], stats) for t in terms}
        t = time.perf_counter()
        top1 = {t: s.search(tantivy.Query.term_query(schema, "body", t), limit=1, count=False) for t in terms}
        add("term maxima (top-1 searches)", t)
        high = {t: (float(r.hits[0][0]) if r.hits else 0.0) * ratio[t] for t, r in top1.items()}
        extra = sum(_word_bound(w, high.__getitem__) for w in extras)

        # term candidates, the k-th score known (best case); words with OCR-tolerant variants skipped
        if not any(w.fuzzy for w in words):
            left: set[str] = set()

            for term in sorted({x for w in words for x in w.terms}, key=high.__getitem__):
                if _rest_bound(words, left | {term}, high) + extra * 1.0001 >= theta:
                    break
                left.add(term)
            essential = sorted({x for w in words for x in w.terms} - left)
            q = tantivy.Query.boolean_query(
                [(must, zero(tantivy.Query.term_set_query(schema, "body", essential))), (must, whole)]
            )
            t = time.perf_counter()
            got = s.search(q, limit=k, count=True)
            add("term candidates, k-th score known", t)
            count("term candidates: questions without OCR-tolerant words")
            count("term candidates: same top k", [a for _, a in got.hits] == want)

        # flat candidates: every alternative its own clause, an upper bound per passage
        flat = tantivy.Query.boolean_query(
            [
                (
                    should,
                    tantivy.Query.boost_query(
                        tantivy.Query.term_query(schema, "body", x), ratio[x] * w.boost
                    ),
                )
                for w in words
                for x in w.terms
            ]
        )
        outside = extra + sum(0.3 * w.boost for w in words if w.fuzzy and len(w.terms[0]) > 3)
        t = time.perf_counter()
        cand = s.search(flat, limit=args.candidates, count=False)
        add("flat candidates (block-max WAND)", t)
        t = time.perf_counter()
        ids = [int(s.doc(a)["passage_id"][0]) for _, a in cand.hits]
        by_id = zero(tantivy.Query.term_set_query(schema, "passage_id", ids))
        got = s.search(tantivy.Query.boolean_query([(must, whole), (must, by_id)]), limit=k, count=False)
        add("flat candidates re-scored by passage id", t)
        last = float(cand.hits[-1][0]) if len(cand.hits) >= args.candidates else 0.0
        proven = len(got.hits) >= k and (last + outside) * 1.0001 < float(got.hits[-1][0])
        count("flat candidates: proven complete", proven)
        count("flat candidates: same top k", [a for _, a in got.hits] == want)

        # passage-id halves in two threads
        n = s.num_docs
        halves = [
            tantivy.Query.boolean_query(
                [
                    (must, whole),
                    (
                        must,
                        zero(
                            tantivy.Query.range_query(schema, "passage_id", tantivy.FieldType.Integer, lo, hi)
                        ),
                    ),
                ]
            )
            for lo, hi in ((0, n // 2), (n // 2 + 1, 2**62))
        ]
        t = time.perf_counter()
        s.search(halves[0], limit=k, count=True)
        add("one passage-id half", t)
        t = time.perf_counter()
        parts = list(pool.map(functools.partial(_ranked, s, k), halves))
        add("both halves in two threads", t)
        merged = sorted((h for part in parts for h in part.hits), key=lambda h: -h[0])[:k]
        count(
            "halves: same top k and count",
            [float(x) for x, _ in merged] == [float(x) for x, _ in res.hits]
            and sum(int(p.count) for p in parts) == int(res.count),
        )

        # the facet pass at the same time as the ranked pass
        target = _facet_target(backend, node, f, whole, int(res.count), args.bound)
        t = time.perf_counter()
        s.search(whole, limit=k, count=True)
        backend._counted(s, target, None, 0)
        add("ranked pass, then facet pass", t)
        t = time.perf_counter()
        facets = pool.submit(backend._counted, s, target, None, 0)
        s.search(whole, limit=k, count=True)
        facets.result()
        add("ranked and facet pass at once", t)
    return {
        "queries": len(seen),
        "counts": counts,
        "candidates": args.candidates,
        "wall_ms": {name: _stats(v) for name, v in times.items()},
    }


def cmd_shards(args: argparse.Namespace) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    from archive_search.settings import Settings
    from search_api.service import ArchiveService

    whole, seen = _recorded(args.data_dir)
    half: Any = ArchiveService(Settings(data_dir=args.half_dir, embedder="none")).backend
    pool = ThreadPoolExecutor(2)

    def passes(backend: Any, node: Any, f: Any, k: int) -> None:
        s = backend._searcher()
        stats = backend._rank_stats(node, f)
        q = backend._filtered(node, f, stats)
        res = s.search(q, limit=k, count=True)
        backend._counted(s, _facet_target(backend, node, f, q, int(res.count), args.bound), None, 0)

    cases = list(seen)
    for case in cases[:20]:  # warm both indexes' caches and statistics
        passes(whole, *case)
        passes(half, *case)
    return {
        "queries": len(cases),
        "passages": {"whole": whole._searcher().num_docs, "half": half._searcher().num_docs},
        "ranked_and_facet_pass_ms": _timed(
            {
                "whole index": lambda n, f, k: passes(whole, n, f, k),
                "half index, once": lambda n, f, k: passes(half, n, f, k),
                "half index, twice at once (two shards)": lambda n, f, k: list(
                    pool.map(lambda _: passes(half, n, f, k), range(2))
                ),
            },
            cases,
            args.rounds,
        ),
    }


def cmd_native(args: argparse.Namespace) -> dict[str, Any]:
    """Every keyword search the latency queries make (as the service makes them: limit, offset,
    facets, bound), through the whole backend with the native ranked pass and without it,
    alternated per search; and the ranked pass alone, native against tantivy-py's. Answers
    compared (hits, scores rounded as served, totals, facets, documents)."""
    from keyword_phases import _sample

    from archive_search.settings import Settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest
    from index import native_rank
    from index.embedded import EmbeddedBackend, _exclusion_specs, _filter_specs
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    backend: Any = svc.backend
    assert backend._native is not None, "the native extension is not installed"
    calls: list[tuple[Any, Any, dict[str, Any]]] = []
    original = backend._keyword_search

    def recording(query: Any, filters: Any, **kw: Any) -> Any:
        if query is not None and kw.get("limit", 0) > 0:
            calls.append((query, filters, dict(kw)))
        return original(query, filters, **kw)

    backend._keyword_search = recording
    for q in _sample(150):
        svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
    backend._keyword_search = original
    native_searcher = backend._native_current
    plain = EmbeddedBackend(backend.root, backend.analyzer, native=False)  # the same folder, read only

    def whole(native: bool, query: Any, f: Any, kw: dict[str, Any]) -> Any:
        return (backend if native else plain)._keyword_search(query, f, **kw)

    planned = 0
    same = 0
    differ: list[str] = []
    ranked_cases: list[tuple[Any, ...]] = []
    for query, f, kw in calls:
        stats = backend._rank_stats(query, f)
        spec = native_rank.plan(
            query,
            ratio=lambda t, st=stats: backend._idf_ratio(t, st),
            variants=backend._vocab.expand,
            filters=_filter_specs(f) or [],
            exclude=_exclusion_specs(f),
        )
        if spec is None:
            continue
        planned += 1
        a, b = whole(True, query, f, kw), whole(False, query, f, kw)
        # equal rounded scores go by passage id, but tantivy cuts its window by the unrounded
        # scores first: the reference's hits are taken from a window deep enough to end below
        # the last score served (or with the matches)
        offset, want = kw.get("offset", 0), kw["limit"] + kw.get("offset", 0)
        depth = want + 200
        while True:
            deeper = whole(False, query, f, {**kw, "limit": depth, "offset": 0, "facets": False})
            if len(deeper.hits) < depth or deeper.hits[-1].score < deeper.hits[want - 1].score:
                break
            depth *= 4
        b.hits = deeper.hits[offset:want]
        key = lambda r: ([h.passage_id for h in r.hits], [h.score for h in r.hits])  # noqa: E731
        if key(a) == key(b) and (a.total, a.total_relation, a.facets, a.documents) == (
            b.total,
            b.total_relation,
            b.facets,
            b.documents,
        ):
            same += 1
        else:
            parts = [
                name
                for name, x, y in (
                    ("hits", [h.passage_id for h in a.hits], [h.passage_id for h in b.hits]),
                    ("scores", [h.score for h in a.hits], [h.score for h in b.hits]),
                    ("total", (a.total, a.total_relation), (b.total, b.total_relation)),
                    ("facets", a.facets, b.facets),
                    ("documents", a.documents, b.documents),
                )
                if x != y
            ]
            first = next((i for i, (x, y) in enumerate(zip(a.hits, b.hits, strict=False)) if x != y), None)
            near = (
                ""
                if first is None
                else f"{a.hits[first].passage_id}/{a.hits[first].score} vs "
                f"{b.hits[first].passage_id}/{b.hits[first].score} (depth {depth}) "
            )
            differ.append(f"{','.join(parts)} {kw} at {first}: {near}{str(query)[:100]}")
        window = kw["limit"] + kw.get("offset", 0)
        q = backend._filtered(query, f, stats)
        count_all = kw.get("exact_up_to") is None or kw.get("facets", False)
        ranked_cases.append((spec, window, kw.get("exact_up_to"), count_all, q))
    s = backend._searcher()
    out: dict[str, Any] = {
        "searches": len(calls),
        "native_shape": planned,
        "same_answers": same,
        "different": differ[:10],
        "whole_search_ms": _timed(
            {
                "tantivy-py": lambda q, f, kw: whole(False, q, f, kw),
                "native": lambda q, f, kw: whole(True, q, f, kw),
            },
            [c for c in calls if c[0] is not None],
            args.rounds,
        ),
        "ranked_pass_ms": _timed(
            {
                "tantivy-py (top k, every match counted)": lambda spec, k, b, ca, q: s.search(
                    q, limit=k, count=True
                ),
                "native (counted to the bound)": lambda spec, k, b, ca, q: native_searcher.search(
                    spec, k, b, False
                ),
                "native (every match counted)": lambda spec, k, b, ca, q: native_searcher.search(
                    spec, k, b, True
                ),
            },
            ranked_cases,
            args.rounds,
        ),
    }
    return out


def _words(seen: list[tuple[Any, Any, int]]) -> list[Any]:
    """Every fuzzy word (``TermNode`` with edits) of the recorded queries, in order."""
    from index.backend import BoolNode, TermNode

    words: list[TermNode] = []

    def collect(n: Any) -> None:
        if isinstance(n, TermNode) and n.fuzzy:
            words.append(n)
        elif isinstance(n, BoolNode):
            for c in (*n.must, *n.should):
                collect(c)

    for query, _, _ in seen:
        collect(query)
    return words


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cmd_vocabulary(args: argparse.Namespace) -> dict[str, Any]:
    import tantivy

    backend, seen = _recorded(args.data_dir)
    vocab = backend._vocab
    built: dict[str, Any] = {"built_now": not vocab.complete()}
    if not vocab.complete():
        t, c = time.perf_counter(), time.process_time()
        terms = backend._body_terms()
        vocab.rebuild(terms)
        built |= {"build_wall_s": time.perf_counter() - t, "build_cpu_s": time.process_time() - c}
    built |= {
        "terms": len(vocab),
        "bytes": _dir_bytes(vocab.root),
        "keyword_index_bytes": _dir_bytes(backend.root / "tantivy"),
    }
    s, schema = backend._searcher(), backend.schema
    words = _words(seen)
    sizes, mismatched = [], []
    for w in words:
        variants = vocab.expand(w.terms[0], w.fuzzy)
        sizes.append(-1 if variants is None else len(variants))
        fq = tantivy.Query.fuzzy_term_query(schema, "body", w.terms[0], distance=w.fuzzy, prefix=False)
        a = s.search(fq, limit=100, count=True)
        b = s.search(backend._fuzzy(w.terms[0], w.fuzzy), limit=100, count=True)
        if a.count != b.count or [(h[0], h[1].doc, h[1].segment_ord) for h in a.hits] != [
            (h[0], h[1].doc, h[1].segment_ord) for h in b.hits
        ]:
            mismatched.append(w.terms[0])

    def search(q: Any, f: Any) -> Any:
        res = backend.keyword_search(q, f, limit=50, facets=True, exact_up_to=10_000)
        return (res.total, res.total_relation, [(h.passage_id, h.score) for h in res.hits], res.facets)

    with_vocab = [search(q, f) for q, f, _ in seen]
    expand = vocab.expand
    vocab.expand = lambda term, distance: None
    try:
        without = [search(q, f) for q, f, _ in seen]
    finally:
        vocab.expand = expand
    return {
        "queries": len(seen),
        "vocabulary": built,
        "fuzzy_words": len(words),
        "expansion_terms": {
            "p50": sorted(sizes)[len(sizes) // 2],
            "max": max(sizes),
            "fallbacks": sizes.count(-1),
        }
        if sizes
        else {},
        "words_whose_matches_differ": mismatched,
        "searches_that_differ": sum(a != b for a, b in zip(with_vocab, without, strict=True)),
        "word_alone_ms": _timed(
            {
                "fuzzy_term_query over the keyword index": lambda w: s.search(
                    tantivy.Query.fuzzy_term_query(
                        schema, "body", w.terms[0], distance=w.fuzzy, prefix=False
                    ),
                    limit=1,
                    count=True,
                ),
                "expanded in the vocabulary, as a term set": lambda w: s.search(
                    backend._fuzzy(w.terms[0], w.fuzzy), limit=1, count=True
                ),
                "the expansion alone": lambda w: vocab.expand(w.terms[0], w.fuzzy),
            },
            [(w,) for w in words],
            args.rounds,
        ),
    }


def cmd_writes(args: argparse.Namespace) -> dict[str, Any]:
    import random
    import tempfile

    from load import sentences

    from archive_search.types import IndexPassage
    from index import embedded
    from index.analysis import Analyzer

    pool, rnd, analyzer = sentences(1), random.Random(1), Analyzer()

    def passages(n: int) -> list[IndexPassage]:
        return [
            IndexPassage(
                passage_id=i + 1,
                document_id=i + 1,
                collection="c",
                text=" ".join(rnd.choice(pool) for _ in range(8)),
                lang="ru",
                doc_type="text",
                seq=0,
            )
            for i in range(n)
        ]

    out: dict[str, Any] = {}
    for per_commit, n in ((1, 60), (20, 1200), (500, 2000)):
        rows: dict[str, list[tuple[float, float]]] = {"kept": [], "not kept": []}
        for _ in range(args.rounds + 1):
            for mode in rows:
                embedded.VOCABULARY_FROM = 0 if mode == "kept" else 10**12
                with tempfile.TemporaryDirectory() as tmp:
                    backend = embedded.EmbeddedBackend(Path(tmp) / "idx", analyzer)
                    batch = passages(n)
                    c, t = time.process_time(), time.perf_counter()
                    for i in range(0, n, per_commit):
                        backend.write(batch[i : i + per_commit])
                    rows[mode].append(
                        ((time.process_time() - c) * 1000 / n, (time.perf_counter() - t) * 1000 / n)
                    )
                    assert backend._vocab.complete() == (mode == "kept")
        out[f"{per_commit} per commit"] = {
            mode: {  # the first round warms the analyser's caches up and is not counted
                "cpu_ms_per_passage": statistics.median(r[0] for r in v[1:]),
                "wall_ms_per_passage": statistics.median(r[1] for r in v[1:]),
            }
            for mode, v in rows.items()
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "cmd", choices=("fuzzy", "facets", "ranked", "vocabulary", "writes", "pruning", "shards", "native")
    )
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--bound", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--candidates", type=int, default=200, help="pruning: flat candidates re-scored")
    ap.add_argument("--half-dir", type=Path, help="shards: a data folder indexing the first half")
    ap.add_argument("--out")
    args = ap.parse_args()
    cmds = {
        "fuzzy": cmd_fuzzy,
        "facets": cmd_facets,
        "ranked": cmd_ranked,
        "vocabulary": cmd_vocabulary,
        "writes": cmd_writes,
        "pruning": cmd_pruning,
        "shards": cmd_shards,
        "native": cmd_native,
    }
    out = cmds[args.cmd](args)
    out["loadavg"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2), "utf-8")


if __name__ == "__main__":
    main()
