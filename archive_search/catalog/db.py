"""Engine and sessions for the catalog; SQLite gets WAL, ``synchronous=FULL`` and foreign keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from archive_search.catalog.models import Collection
from archive_search.errors import InvalidRequestError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=]*)?\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for the catalog URL with the pragmas or pool settings the dialect needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def head_revision() -> str | None:
    """The newest migration's id, read from the migration files' ``revision`` and
    ``down_revision`` lines; ``None`` when that is not one clear head (alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text("utf-8")
        rev, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the catalog already stands at the newest migration (a plain query: importing
    alembic costs ~0.5 s, which every command-line start would pay; issue 17, part 6)."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:  # no version table yet (a new catalog): alembic creates it
        return False
    return list(rows) == [head]


def migrate(engine: Engine) -> None:
    """Bring the catalog schema to the newest migration (idempotent; alembic is imported only
    when there is something to do)."""
    if _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Catalog:
    """The catalog database: an engine, migrated on open, and a session factory."""

    def __init__(self, url: str, *, run_migrations: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()


COLLECTION_NAME_PATTERN = r"^\s*[^\s/\\\x00]([^/\\\x00]*[^\s/\\\x00])?\s*$"
r"""A collection name: 1-200 characters once trimmed, a visible one at each end, no ``/``, ``\``
or NUL (the API schema states it; :func:`ensure_collection` checks it)."""


def ensure_collection(catalog: Catalog, name: str) -> int:
    """The id of the collection called ``name``, created if missing (safe under concurrency)."""
    if not re.fullmatch(COLLECTION_NAME_PATTERN, name):
        raise InvalidRequestError(f"invalid collection name: {name!r} (1-200 characters, no '/', '\\')")
    name = name.strip()
    if len(name) > 200:
        raise InvalidRequestError(f"invalid collection name: {name!r} (1-200 characters, no '/', '\\')")
    with catalog.session() as s:
        cid = s.scalar(select(Collection.id).where(Collection.name == name))
        if cid is not None:
            return cid
    try:
        with catalog.session() as s:
            col = Collection(name=name)
            s.add(col)
            s.flush()
            return col.id
    except IntegrityError:  # created concurrently
        with catalog.session() as s:
            cid = s.scalar(select(Collection.id).where(Collection.name == name))
            assert cid is not None
            return cid
