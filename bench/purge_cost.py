"""What a purge costs (issue 20): ingest N texts of the BRUK corpus (embedder off), withdraw one
document, purge it, and time the purge's parts against ``archive reindex`` of the same archive.

    PYTHONPATH=. .venv/bin/python bench/purge_cost.py --files 400 [--backend embedded|opensearch]
"""

from __future__ import annotations

from bruk_archive import arguments, bruk_archive, report, timed

from archive_search.types import LOCAL_ADMIN


def main() -> None:
    args = arguments(__doc__)
    with bruk_archive(args, "bench-purge", purge_hold_days=0) as run:
        svc, doc = run["svc"], run["first"]
        db = run["data_dir"] / "catalog.sqlite3"
        t_withdraw, _ = timed(lambda: svc.care.withdraw(doc, "benchmark", LOCAL_ADMIN))
        t_purge, _ = timed(lambda: svc.care.purge(doc, LOCAL_ADMIN))
        t_reindex, _ = timed(svc.reindex)
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
