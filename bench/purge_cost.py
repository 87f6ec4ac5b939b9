"""What a purge costs (issue 20): ingest N texts of the BRUK corpus (embedder off), withdraw one
document, purge it, and time the purge's parts against ``archive reindex`` of the same archive.

    PYTHONPATH=. .venv/bin/python bench/purge_cost.py --files 400 [--backend embedded|opensearch]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from archive_search.catalog.models import Document, Passage
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN
from search_api.service import ArchiveService

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "brown-uk-bruk-good" / "good"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--backend", default="embedded")
    ap.add_argument("--opensearch-url", default=None)
    args = ap.parse_args()
    files = sorted(CORPUS.glob("*.txt"))[: args.files]
    with tempfile.TemporaryDirectory() as tmp:
        extra: dict[str, object] = {}
        if args.backend == "opensearch":
            extra = {
                "backend": "opensearch",
                "opensearch_url": args.opensearch_url,
                "opensearch_index_prefix": "bench-purge",
            }
        settings = Settings(data_dir=Path(tmp), embedder="none", purge_hold_days=0, **extra)  # type: ignore[arg-type]
        svc = ArchiveService(settings)
        try:
            svc.ingest(files, "bruk")
            with svc.catalog.session() as s:
                n_pass = s.scalar(select(func.count(Passage.id))) or 0
                doc = s.scalar(select(Document.id).order_by(Document.id))
            assert doc is not None
            db = Path(tmp) / "catalog.sqlite3"
            t0 = time.perf_counter()
            svc.care.withdraw(doc, "benchmark", LOCAL_ADMIN)
            t_withdraw = time.perf_counter() - t0
            t0 = time.perf_counter()
            svc.care.purge(doc, LOCAL_ADMIN)
            t_purge = time.perf_counter() - t0
            t0 = time.perf_counter()
            svc.reindex()
            t_reindex = time.perf_counter() - t0
            print(
                json.dumps(
                    {
                        "backend": args.backend,
                        "files": len(files),
                        "passages": n_pass,
                        "catalog_mb": round(db.stat().st_size / 1e6, 1),
                        "withdraw_s": round(t_withdraw, 3),
                        "purge_s": round(t_purge, 2),
                        "reindex_s": round(t_reindex, 2),
                    }
                )
            )
        finally:
            if args.backend == "opensearch":
                drop = getattr(svc.backend, "drop", None)
                if drop:
                    drop()
            svc.close()


if __name__ == "__main__":
    main()
