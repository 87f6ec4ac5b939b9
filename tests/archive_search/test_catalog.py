"""The catalog migrates itself on both databases; SQLite runs with WAL, synchronous=FULL, FKs on."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from archive_search.catalog.db import MIGRATIONS_DIR, Catalog


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
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with cat.engine.connect() as c:
            assert c.execute(text("select version_num from alembic_version")).scalar() == head
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
