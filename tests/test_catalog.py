"""The catalog migrates itself on both databases; SQLite runs with WAL, synchronous=FULL, FKs on."""

from __future__ import annotations

from sqlalchemy import inspect, text

from archive_search.catalog.db import Catalog


def test_migrations_create_every_table(catalog_url: str) -> None:
    cat = Catalog(catalog_url)
    try:
        tables = set(inspect(cat.engine).get_table_names())
        assert {
            "collections",
            "files",
            "documents",
            "pages",
            "passages",
            "ingest_jobs",
            "ingest_items",
            "index_meta",
            "alembic_version",
        } <= tables
        # opening again is idempotent
        Catalog(catalog_url).close()
        with cat.engine.connect() as c:
            assert c.execute(text("select version_num from alembic_version")).scalar() == "0001"
    finally:
        cat.close()


def test_sqlite_pragmas(tmp_path: object) -> None:
    cat = Catalog(f"sqlite:///{tmp_path}/c.sqlite3")
    try:
        with cat.engine.connect() as c:
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        cat.close()
