"""Built evidence bundles waiting for their download, kept in the data folder (``exports/``).

The web interface builds a bundle on ``POST /cases/{id}/export``, shows its SHA-256, and serves
it on a later ``GET``. That later request may reach another process (several uvicorn workers,
several API machines on a shared data folder), so nothing of the export is kept in a process's
memory: each export is two files in ``<data folder>/exports/``:

- ``<key>.json`` — who built it, for which case, when, its file name and hashes (written to a
  temporary name and renamed, so a reader never sees half of it), then
- ``<key>.zip`` — the bundle, written in that folder by ``build_bundle`` and renamed (no copy).

``key`` is 32 random bytes (URL-safe base64): it is never guessed, and it is only ever matched
against ``[A-Za-z0-9_-]{43}`` before it touches a path. A download is the exporter's only (user
and case must match) and happens once: :meth:`ExportStore.take` renames the ZIP to a name of its
own before sending it — ``rename`` is atomic, so of two concurrent downloads in two processes one
wins and the other gets ``None`` — and the sent file is deleted afterwards. Exports not fetched
within ``ttl_s`` (an hour) are deleted by :meth:`ExportStore.expire`, which every export and
download runs first; so are left-overs of a process killed while sending.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from search_api.export import ExportResult

EXPORT_TTL_S = 3600
_KEY = re.compile(r"[A-Za-z0-9_-]{43}")
_SENDING = ".sending-"


@dataclass(frozen=True)
class StoredExport:
    key: str
    user: str
    case_id: int
    filename: str
    sha256: str
    manifest_sha256: str
    items: int
    created: float
    """Wall-clock time (seconds since the epoch) of the export: comparable between processes."""


class ExportStore:
    """The ``exports/`` folder of one data folder; safe to use from several processes at once."""

    def __init__(self, root: Path, *, ttl_s: float = EXPORT_TTL_S) -> None:
        self.root = root
        self.ttl_s = ttl_s

    def directory(self) -> Path:
        """Where ``build_bundle`` should write (so that :meth:`put` only renames)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)  # bundles hold copies of originals
        return self.root

    def _paths(self, key: str) -> tuple[Path, Path] | None:
        if not _KEY.fullmatch(key):
            return None
        return self.root / f"{key}.zip", self.root / f"{key}.json"

    def put(self, res: ExportResult, *, user: str, case_id: int) -> StoredExport:
        """Keep a built bundle for its exporter; returns its record (with the download key)."""
        self.expire()
        self.directory()
        key = secrets.token_urlsafe(32)
        paths = self._paths(key)
        assert paths is not None
        zip_path, meta_path = paths
        rec = StoredExport(
            key=key,
            user=user,
            case_id=case_id,
            filename=res.filename,
            sha256=res.sha256,
            manifest_sha256=res.manifest_sha256,
            items=res.items,
            created=time.time(),
        )
        try:
            tmp = meta_path.with_name(f"{key}.tmp-{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(rec)))
            os.replace(tmp, meta_path)  # the record first: a ZIP is never there without it
            os.chmod(res.path, 0o600)
            os.replace(res.path, zip_path)
        except BaseException:
            res.path.unlink(missing_ok=True)
            zip_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            raise
        return rec

    def _read(self, key: str) -> tuple[StoredExport, Path, Path] | None:
        paths = self._paths(key)
        if paths is None:
            return None
        zip_path, meta_path = paths
        try:
            rec = StoredExport(**json.loads(meta_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if rec.key != key or time.time() - rec.created > self.ttl_s or not zip_path.exists():
            return None
        return rec, zip_path, meta_path

    def get(self, key: str, *, user: str, case_id: int) -> StoredExport | None:
        """The export ``key`` if it is ``user``'s, of ``case_id``, not expired and not fetched yet."""
        found = self._read(key)
        if found is None or found[0].user != user or found[0].case_id != case_id:
            return None
        return found[0]

    def take(self, key: str, *, user: str, case_id: int) -> tuple[StoredExport, Path] | None:
        """Claim the export for its one download: the file to send (delete it once sent), or
        ``None`` when it is not ``user``'s, expired, or already taken (by any process)."""
        self.expire()
        found = self._read(key)
        if found is None or found[0].user != user or found[0].case_id != case_id:
            return None
        rec, zip_path, meta_path = found
        sending = zip_path.with_name(f"{zip_path.name}{_SENDING}{secrets.token_hex(8)}")
        try:
            os.rename(zip_path, sending)  # atomic: only one taker succeeds
        except FileNotFoundError:
            return None
        meta_path.unlink(missing_ok=True)
        return rec, sending

    def expire(self) -> int:
        """Delete exports older than the time to live (and left-overs); returns how many files."""
        if not self.root.is_dir():
            return 0
        now = time.time()
        removed = 0
        expired: set[str] = set()
        # records first, so that the ZIP of a record just removed goes in the same pass
        for path in sorted(self.root.iterdir(), key=lambda p: not p.name.endswith(".json")):
            name = path.name
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if _SENDING in name:  # renamed at its download (keeps the ZIP's time): sent long ago
                stale = age > 2 * self.ttl_s
            elif name.endswith(".json") and _KEY.fullmatch(name[:-5]):
                try:  # the recorded time decides
                    created = float(json.loads(path.read_text(encoding="utf-8"))["created"])
                    stale = now - created > self.ttl_s
                except (OSError, ValueError, KeyError, TypeError):
                    stale = age > 60
            elif name.endswith(".zip") and _KEY.fullmatch(name[:-4]):
                # its record expired, or the process died between the two renames
                stale = (
                    name[:-4] in expired
                    or age > self.ttl_s
                    or (age > 60 and not path.with_suffix(".json").exists())
                )
            else:  # a bundle being built, a record being written
                stale = age > self.ttl_s
            if stale:
                if name.endswith(".json"):
                    expired.add(name[:-5])
                path.unlink(missing_ok=True)
                removed += 1
        return removed
