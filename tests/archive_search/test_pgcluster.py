"""The throwaway PostgreSQL helper really starts a server we can use."""

from __future__ import annotations

import os
import socket

import psycopg
import pytest

try:  # tests/ as a package (tests/__init__.py) or as a plain rootdir-inserted directory
    from tests.pgcluster import PostgresCluster, find_bindir
except ImportError:
    from pgcluster import PostgresCluster, find_bindir  # type: ignore[no-redef]

if find_bindir() is None:
    if os.environ.get("CI"):
        # scripts/setup.sh installs PostgreSQL on CI; its absence there is a bug, not a skip.
        raise RuntimeError("CI is set but no PostgreSQL server installation was found")
    pytest.skip("PostgreSQL server is not installed", allow_module_level=True)


def _conninfo(sqlalchemy_url: str) -> str:
    # psycopg wants a plain libpq URL, without SQLAlchemy's "+psycopg" driver suffix.
    assert sqlalchemy_url.startswith("postgresql+psycopg://")
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_cluster_lifecycle() -> None:
    cluster = PostgresCluster()
    try:
        url = cluster.start()
        port = cluster.port
        tmpdir = cluster.tmpdir
        assert port is not None and tmpdir is not None
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{port}/archive_test"

        with psycopg.connect(_conninfo(url)) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            assert conn.execute("select current_database()").fetchone() == ("archive_test",)
            # UTF-8 database with a UTF-8 ctype: case folding works on Cyrillic.
            assert conn.execute("show server_encoding").fetchone() == ("UTF8",)
            assert conn.execute("select lower('ПРАВА ЛЮДИНИ')").fetchone() == ("права людини",)
            assert conn.execute("select 'Беларусь' ilike '%БЕЛАРУСЬ%'").fetchone() == (True,)
            # Only loopback TCP.
            assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)

        other = cluster.create_database("second_db")
        assert other == f"postgresql+psycopg://postgres@127.0.0.1:{port}/second_db"
        with psycopg.connect(_conninfo(other)) as conn:
            assert conn.execute("select current_database()").fetchone() == ("second_db",)
            # Fresh and empty: no user tables.
            row = conn.execute(
                "select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')"
            ).fetchone()
            assert row == (0,)
            conn.execute("create table t (x int)")
            conn.execute("insert into t values (42)")
            assert conn.execute("select x from t").fetchone() == (42,)

        cluster.drop_database("second_db")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(_conninfo(other), connect_timeout=5).close()

        with pytest.raises(ValueError):
            cluster.create_database("bad; drop")
    finally:
        cluster.stop()

    assert not cluster.running
    assert not tmpdir.exists()
    assert not _port_open(port)
    cluster.stop()  # second stop is a no-op


def test_context_manager_and_sqlalchemy() -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    with PostgresCluster(dbname="ctx_db") as cluster:
        engine = sqlalchemy.create_engine(cluster.url)
        try:
            with engine.connect() as conn:
                assert conn.execute(sqlalchemy.text("select 1")).scalar_one() == 1
        finally:
            engine.dispose()
        tmpdir = cluster.tmpdir
    assert tmpdir is not None and not tmpdir.exists()


def test_methods_require_started_cluster() -> None:
    cluster = PostgresCluster()
    with pytest.raises(RuntimeError):
        cluster.create_database("x")
    with pytest.raises(RuntimeError):
        _ = cluster.url
    cluster.stop()  # stop before start is harmless
