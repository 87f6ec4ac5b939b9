"""What a purge costs (issue 20): ingest N texts of the BRUK corpus (embedder off), withdraw one
document, purge it, and time the purge's parts against ``archive reindex`` of the same archive.

    PYTHONPATH=. .venv/bin/python bench/purge_cost.py --files 400 [--backend embedded|opensearch]
"""

from __future__ import annotations

import time

from bruk_archive import arguments, bruk_archive, report

from archive_search.types import LOCAL_ADMIN


def main() -> None:
    args = arguments(__doc__)
    with bruk_archive(args, "bench-purge", purge_hold_days=0) as run:
        svc, doc = run["svc"], run["first"]
        db = run["data_dir"] / "catalog.sqlite3"
        t0 = time.perf_counter()
        svc.care.withdraw(doc, "benchmark", LOCAL_ADMIN)
        t_withdraw = time.perf_counter() - t0
        t0 = time.perf_counter()
        svc.care.purge(doc, LOCAL_ADMIN)
        t_purge = time.perf_counter() - t0
        t0 = time.perf_counter()
        svc.reindex()
        t_reindex = time.perf_counter() - t0
        report(
            args,
            run,
            catalog_mb=round(db.stat().st_size / 1e6, 1),
            withdraw_s=round(t_withdraw, 3),
            purge_s=round(t_purge, 2),
            reindex_s=round(t_reindex, 2),
        )


if __name__ == "__main__":
    main()
