"""Checks, backup and restore of the embedded default (one data folder, SQLite catalog).

``archive check`` re-hashes every original against the catalog and runs SQLite's integrity
check. ``archive backup DEST`` copies a consistent snapshot: the catalog through SQLite's online
backup API (safe while the service runs), every original (verified by its hash on the way), and a
manifest. ``archive restore SRC`` verifies the backup, copies it into an empty data folder; the
search index is then rebuilt from the catalog (it is derived data).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import StoredFile
from archive_search.catalog.private import secure_data_dir
from archive_search.catalog.store import OriginalStore

MANIFEST = "backup-manifest.json"
Progress = Callable[[int, int], None]


@dataclass
class CheckReport:
    originals: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    integrity: str = "ok"
    permissions: list[str] = field(default_factory=list)
    """``MODE PATH`` of what other local accounts may read or enter (``catalog/private.py``)."""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched and self.integrity == "ok" and not self.permissions


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def check(catalog: Catalog, store: OriginalStore, progress: Progress | None = None) -> CheckReport:
    """Re-hash every original the catalog knows; SQLite's ``PRAGMA integrity_check``."""
    report = CheckReport()
    if catalog.dialect == "sqlite":
        with catalog.engine.connect() as c:
            rows = [r[0] for r in c.execute(text("PRAGMA integrity_check"))]
        report.integrity = "ok" if rows == ["ok"] else "; ".join(str(r) for r in rows[:20])
    with catalog.session() as s:
        shas = list(s.scalars(select(StoredFile.sha256).order_by(StoredFile.id)))
    report.originals = len(shas)
    for n, sha in enumerate(shas, start=1):
        path = store.path_for(sha)
        if not path.exists():
            report.missing.append(sha)
        elif _sha256(path) != sha:
            report.mismatched.append(sha)
        if progress:
            progress(n, len(shas))
    return report


def _sqlite_path(catalog: Catalog) -> Path:
    url = make_url(catalog.url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ValueError(
            "archive backup/restore handle the embedded SQLite catalog; back up PostgreSQL with pg_dump "
            "and the data folder's originals/ with any file backup (see docs/operations.md)"
        )
    return Path(url.database)


def backup(
    catalog: Catalog, store: OriginalStore, dest: Path, progress: Progress | None = None
) -> dict[str, object]:
    """Write a verified snapshot of the catalog and the originals to the empty folder ``dest``."""
    src_db = _sqlite_path(catalog)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    secure_data_dir(dest)  # a backup holds what the data folder holds: as private
    target = sqlite3.connect(dest / "catalog.sqlite3")
    source = sqlite3.connect(src_db)
    try:
        source.backup(target)  # a consistent snapshot even while others write
    finally:
        source.close()
        target.close()
    snap = sqlite3.connect(dest / "catalog.sqlite3")
    try:
        shas = [r[0] for r in snap.execute("select sha256 from files order by id")]
        integrity = snap.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        snap.close()
    if integrity != "ok":
        raise RuntimeError(f"the catalog snapshot fails its integrity check: {integrity}")
    out_store = OriginalStore(dest / "originals")
    for n, sha in enumerate(shas, start=1):
        src = store.path_for(sha)
        dst = out_store.path_for(sha)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        if _sha256(dst) != sha:
            raise RuntimeError(f"original {sha} changed while being copied, or is damaged in the archive")
        os.chmod(dst, 0o400)
        if progress:
            progress(n, len(shas))
    manifest: dict[str, object] = {
        "format": 1,
        "created_at": datetime.now(UTC).isoformat(),
        "catalog": {"file": "catalog.sqlite3", "sha256": _sha256(dest / "catalog.sqlite3")},
        "originals": len(shas),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2), "utf-8")
    return manifest


def verify_backup(src: Path) -> list[str]:
    """Problems found in a backup folder (empty list: sound)."""
    problems: list[str] = []
    try:
        manifest = json.loads((src / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return [f"no readable {MANIFEST}: {exc}"]
    db = src / "catalog.sqlite3"
    if not db.exists() or _sha256(db) != manifest.get("catalog", {}).get("sha256"):
        return ["the catalog file is missing or differs from the manifest"]
    conn = sqlite3.connect(db)
    try:
        shas = [r[0] for r in conn.execute("select sha256 from files")]
    finally:
        conn.close()
    store = OriginalStore(src / "originals")
    for sha in shas:
        p = store.path_for(sha)
        if not p.exists():
            problems.append(f"original {sha} is missing")
        elif _sha256(p) != sha:
            problems.append(f"original {sha} does not match its hash")
    return problems


def restore(src: Path, data_dir: Path, catalog_file: Path) -> int:
    """Copy a verified backup into ``data_dir`` (which must hold no catalog); returns originals."""
    problems = verify_backup(src)
    if problems:
        raise RuntimeError("the backup is damaged: " + "; ".join(problems[:10]))
    if catalog_file.exists():
        raise FileExistsError(f"{catalog_file} exists: restore into an empty data folder")
    secure_data_dir(data_dir)
    catalog_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "catalog.sqlite3", catalog_file)
    n = 0
    for f in (src / "originals").rglob("*"):
        if f.is_file() and not f.parent.name.startswith("."):
            rel = f.relative_to(src / "originals")
            dst = data_dir / "originals" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                shutil.copyfile(f, dst)
                os.chmod(dst, 0o400)
            n += 1
    return n
