"""A private data folder: the catalog (testimonies, password hashes, audit query texts), the search
index and the originals are readable by the service's own account only.

Every process that opens the data folder (``ArchiveService``: the server, the CLI, workers) calls
:func:`secure_data_dir` first: its umask gets 077 added — so that every file it and its children
create from then on (the SQLite catalog and its journals, tantivy segments, the vector index,
originals, exports, temporary files) is at most 0600 and every folder 0700, whatever umask it was
started with — and the data folder itself is made 0700 (which alone keeps other local accounts out
of everything below it, an older installation's 0644 files included). ``archive check`` lists
anything under it that other accounts could still read or write (:func:`permission_problems`);
``archive check --fix`` tightens it (:func:`fix_permissions`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
PRIVATE_BITS = 0o077
"""Permission bits of group and others: none may be set on anything in the data folder."""


def secure_data_dir(data_dir: Path, catalog_file: Path | None = None) -> None:
    """Add 077 to this process's umask, create ``data_dir`` 0700 (or make it so), and make an
    existing SQLite catalog file (which may lie outside it) 0600."""
    current = os.umask(PRIVATE_BITS)
    os.umask(current | PRIVATE_BITS)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(data_dir)
    if catalog_file is not None and catalog_file.exists():
        _tighten(catalog_file)


def _tighten(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & PRIVATE_BITS:
            os.chmod(path, mode & ~PRIVATE_BITS)
    except OSError as exc:  # not ours (a mounted volume): ``archive check`` reports it
        log.warning("could not make %s private: %s", path, exc)


def _walk(data_dir: Path, catalog_file: Path | None) -> list[Path]:
    paths = [data_dir]
    if data_dir.is_dir():
        for root, dirs, files in os.walk(data_dir, followlinks=False):
            paths += [Path(root) / d for d in dirs]
            paths += [Path(root) / f for f in files]
    if catalog_file is not None and catalog_file.exists() and data_dir not in catalog_file.parents:
        paths.append(catalog_file)
        paths += [p for p in catalog_file.parent.glob(catalog_file.name + "-*") if p.is_file()]
    return [p for p in paths if not p.is_symlink() and p.exists()]


def permission_problems(data_dir: Path, catalog_file: Path | None = None) -> list[tuple[str, Path]]:
    """``(mode, path)`` of the data folder, anything below it, and the SQLite catalog (with its
    journals) that group or other accounts may read, write or enter (octal mode, e.g. ``0644``)."""
    out = []
    for p in _walk(data_dir, catalog_file):
        mode = stat.S_IMODE(p.lstat().st_mode)
        if mode & PRIVATE_BITS:
            out.append((f"{mode:04o}", p))
    return out


def fix_permissions(data_dir: Path, catalog_file: Path | None = None) -> int:
    """Remove group and other bits from everything :func:`permission_problems` lists; returns how
    many paths were changed."""
    changed = 0
    for _, p in permission_problems(data_dir, catalog_file):
        _tighten(p)
        changed += 1
    return changed


def catalog_file_of(url: str) -> Path | None:
    """The file of a SQLite catalog URL (``None`` for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).resolve()
