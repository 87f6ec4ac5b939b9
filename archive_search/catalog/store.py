"""The original store: every file kept once, content-addressed by SHA-256, read-only."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from archive_search.errors import OriginalCorruptError, OriginalMissingError

CHUNK = 1024 * 1024
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredOriginal:
    sha256: str
    size: int
    path: Path
    created: bool
    """False when the same bytes were already in the store."""


class OriginalStore:
    """Files under ``root/ab/cd/<sha256>``; written via a temp file, fsynced, then made read-only
    to the service's account (0400)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".incoming"
        self._tmp.mkdir(exist_ok=True)
        self._verified: dict[str, tuple[int, int, int, int, int]] = {}
        self._verified_lock = threading.Lock()

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_stream(self, stream: BinaryIO, *, max_bytes: int | None = None) -> StoredOriginal:
        """Hash while copying to a temp file, then move into place unless already present.

        Raises ``FileTooLargeError`` (and keeps nothing) when more than ``max_bytes`` arrive.
        """
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise FileTooLargeError(size, max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path_for(sha)
            if final.exists():
                return StoredOriginal(sha, size, final, created=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o400)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            return StoredOriginal(sha, size, final, created=True)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, path: Path, *, max_bytes: int | None = None) -> StoredOriginal:
        with path.open("rb") as f:
            return self.put_stream(f, max_bytes=max_bytes)

    def open(self, sha256: str) -> BinaryIO:
        return self.path_for(sha256).open("rb")

    def verify(self, sha256: str) -> bool:
        """Re-hash a stored original and compare with its name."""
        path = self.path_for(sha256)
        if not path.exists():
            return False
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256

    def checked_path(self, sha256: str, *, what: str = "a stored original") -> Path:
        """The path of an original about to be served, after checking that it is there and still
        has its SHA-256: re-hashed in full the first time, and again whenever its file changed
        (device, inode, size, modification or status-change time differ from the last check —
        any write to it changes its ``ctime``, which no unprivileged process can set back).
        Raises ``OriginalMissingError`` or ``OriginalCorruptError`` (naming ``what``, e.g. the
        document) and logs it; a corrupt original is never served."""
        path = self.path_for(sha256)
        try:
            st = path.stat()
        except FileNotFoundError:
            log.error("%s is missing from the store: %s", what, path)
            raise OriginalMissingError(
                f"the original of {what} is missing from the store (SHA-256 {sha256}); "
                "restore it from a backup (`archive check` lists every missing original)"
            ) from None
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with self._verified_lock:
            if self._verified.get(sha256) == key:
                return path
        if not self.verify(sha256):
            with self._verified_lock:
                self._verified.pop(sha256, None)
            log.error("%s does not match its SHA-256 %s: %s", what, sha256, path)
            raise OriginalCorruptError(
                f"the stored original of {what} no longer matches its SHA-256 {sha256}: it was "
                "changed on disk and is not served; restore it from a backup (`archive check`)"
            )
        with self._verified_lock:
            self._verified[sha256] = key
        return path

    def copy_to(self, sha256: str, dest: Path) -> None:
        shutil.copyfile(self.path_for(sha256), dest)


class FileTooLargeError(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"file exceeds the size limit of {limit} bytes")
        self.size = size
        self.limit = limit


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
