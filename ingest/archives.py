"""Archives (zip, tar, tar.gz/.bz2/.xz, single gzip/bzip2/xz files, and 7z where the ``py7zr``
package is installed) read member by member for the pipeline, which ingests each member as a
child document of the archive.

Nothing is unpacked onto the disk by a member's name: each member is streamed straight into the
content-addressed original store, so a name like ``../../etc/passwd`` cannot write anywhere; such
names, links and device files are still refused and recorded. Limits (``ArchiveLimits``) bound the
number of members, the total unpacked bytes (a multiple of the archive's size, never above an
absolute cap, shared by nested archives) and the nesting depth; zip and tar archives whose headers
already exceed them are refused before anything is unpacked (zip bombs).
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import io
import lzma
import posixpath
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from archive_search.settings import Settings

ARCHIVE_TYPES = {
    "application/zip",
    "application/x-tar",
    "application/gzip",
    "application/x-bzip2",
    "application/x-xz",
}
SEVEN_ZIP = "application/x-7z-compressed"
READER = ("archive", "1")
"""(name, version) recorded on an archive's document, as extractors' are on theirs."""
if importlib.util.find_spec("py7zr") is not None:
    ARCHIVE_TYPES.add(SEVEN_ZIP)
_SINGLE_STREAM: dict[str, Callable[..., Any]] = {
    "application/gzip": gzip.open,
    "application/x-bzip2": bz2.open,
    "application/x-xz": lzma.open,
}
_DECOMPRESS_ERRORS = (zlib.error, lzma.LZMAError, EOFError, OSError, ValueError)


@dataclass(frozen=True)
class ArchiveLimits:
    max_depth: int = 3
    """Archives inside archives are unpacked to this many levels; deeper ones are skipped."""
    max_members: int = 10_000
    """Members of one archive tree (nested archives count against their root)."""
    max_ratio: int = 20
    """Unpacked bytes may reach this multiple of the (root) archive's size ..."""
    min_budget: int = 64 * 1024 * 1024
    """... or this many bytes, whichever is more (small archives of text compress well) ..."""
    max_total_bytes: int = 4 * 1024 * 1024 * 1024
    """... but never more than this."""


def archive_limits(settings: Settings) -> ArchiveLimits:
    """The archive limits from the settings (``ARCHIVE_ARCHIVE_*``)."""
    mib = 1024 * 1024
    return ArchiveLimits(
        max_depth=settings.archive_max_depth,
        max_members=settings.archive_max_members,
        max_ratio=settings.archive_max_ratio,
        min_budget=settings.archive_min_unpacked_mb * mib,
        max_total_bytes=settings.archive_max_unpacked_mb * mib,
    )


class ArchiveError(Exception):
    """The archive as a whole cannot be (further) unpacked."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Budget:
    """What is left of one archive tree's limits; nested archives draw on their root's budget."""

    bytes_left: int
    members_left: int
    depth: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_archive(cls, size: int, limits: ArchiveLimits) -> Budget:
        total = min(max(size * limits.max_ratio, limits.min_budget), limits.max_total_bytes)
        return cls(bytes_left=total, members_left=limits.max_members)

    def take_member(self) -> None:
        if self.members_left <= 0:
            raise ArchiveError("too_many_members", "the archive holds more members than the limit")
        self.members_left -= 1

    def take_bytes(self, n: int) -> None:
        if n > self.bytes_left:
            raise ArchiveError(
                "archive_too_large", "the unpacked members exceed the size limit (a decompression bomb?)"
            )
        self.bytes_left -= n


@dataclass
class Member:
    """One member: ``stream`` to read it (valid until the next member is asked for), or ``code``
    and ``message`` when it is refused."""

    name: str
    size: int | None = None
    stream: BinaryIO | None = None
    code: str | None = None
    message: str | None = None


class _Limited(io.RawIOBase):
    """A reader that draws every byte it hands out from the budget."""

    def __init__(self, raw: IO[bytes], budget: Budget) -> None:
        self._raw = raw
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(min(len(b), 1024 * 1024))
        self._budget.take_bytes(len(data))
        n = len(data)
        b[:n] = data
        return n


def safe_name(name: str) -> str | None:
    """The member path with ``/`` separators, or ``None`` when it is absolute, has a drive letter
    or climbs out of the archive with ``..``."""
    n = name.replace("\\", "/")
    if not n or n.startswith("/") or (len(n) > 1 and n[1] == ":") or "\x00" in n:
        return None
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return posixpath.join(*parts)


def iter_members(path: Path, mime: str, budget: Budget, *, name_hint: str = "") -> Iterator[Member]:
    """The members of the archive at ``path``; raises ``ArchiveError`` for an archive that cannot
    be read or that breaks the limits (members already yielded stay yielded)."""
    if mime == "application/zip":
        yield from _zip_members(path, budget)
    elif mime == "application/x-tar" or (mime in _SINGLE_STREAM and _is_compressed_tar(path)):
        _prescan_tar(path, budget)
        yield from _tar_members(path, budget)
    elif mime in _SINGLE_STREAM:
        yield from _single_member(path, mime, budget, name_hint)
    elif mime == SEVEN_ZIP and SEVEN_ZIP in ARCHIVE_TYPES:
        yield from _sevenzip_members(path, budget)
    else:
        raise ArchiveError("unsupported_archive", f"{mime} archives are not unpacked")


def _zip_members(path: Path, budget: Budget) -> Iterator[Member]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError("corrupt_archive", f"not a readable zip archive: {exc}") from exc
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > budget.members_left:
            raise ArchiveError(
                "too_many_members", f"{len(infos)} members exceed the limit of {budget.members_left}"
            )
        declared = sum(i.file_size for i in infos)
        if declared > budget.bytes_left:
            raise ArchiveError(
                "archive_too_large",
                f"{declared} unpacked bytes exceed the limit of {budget.bytes_left} (a decompression bomb?)",
            )
        for info in infos:
            budget.take_member()
            name = safe_name(info.filename)
            mode = (info.external_attr >> 16) & 0o170000
            if name is None:
                yield Member(info.filename, code="unsafe_path", message="absolute path or '..' in the name")
            elif mode not in (0, 0o100000):
                yield Member(name, code="not_a_file", message="a link or special file inside the archive")
            elif info.flag_bits & 0x1:
                yield Member(name, code="encrypted", message="the member is encrypted with a password")
            else:
                try:
                    raw = zf.open(info)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, *_DECOMPRESS_ERRORS) as exc:
                    yield Member(name, code="corrupt_member", message=str(exc) or type(exc).__name__)
                    continue
                with raw:
                    yield Member(name, size=info.file_size, stream=_stream(raw, budget))


def _stream(raw: IO[bytes], budget: Budget) -> BinaryIO:
    return io.BufferedReader(_Limited(raw, budget), buffer_size=1024 * 1024)  # type: ignore[return-value]


def _is_compressed_tar(path: Path) -> bool:
    try:
        with tarfile.open(path, mode="r|*") as tf:
            return tf.next() is not None
    except (tarfile.TarError, *_DECOMPRESS_ERRORS):
        return False


def _prescan_tar(path: Path, budget: Budget) -> None:
    """Refuse a tar whose headers already exceed the limits, before anything is unpacked. The scan
    stops as soon as a limit is passed, so a bomb costs at most the budget in decompression."""
    members = 0
    declared = 0
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for ti in tf:
                if ti.isdir():
                    continue
                members += 1
                declared += ti.size if ti.isreg() else 0
                if members > budget.members_left:
                    raise ArchiveError("too_many_members", f"more than {budget.members_left} members")
                if declared > budget.bytes_left:
                    raise ArchiveError(
                        "archive_too_large",
                        f"more than {budget.bytes_left} unpacked bytes (a decompression bomb?)",
                    )
    except (tarfile.TarError, *_DECOMPRESS_ERRORS):
        return  # a damaged tar: the members before the damage are still read below


def _tar_members(path: Path, budget: Budget) -> Iterator[Member]:
    try:
        tf = tarfile.open(path, mode="r|*")  # noqa: SIM115 - closed by the "with" below
    except (tarfile.TarError, *_DECOMPRESS_ERRORS) as exc:
        raise ArchiveError("corrupt_archive", f"not a readable tar archive: {exc}") from exc
    with tf:
        it = iter(tf)
        while True:
            try:
                ti = next(it)
            except StopIteration:
                return
            except (tarfile.TarError, *_DECOMPRESS_ERRORS) as exc:
                raise ArchiveError("corrupt_archive", f"the tar archive is damaged: {exc}") from exc
            if ti.isdir():
                continue
            budget.take_member()
            name = safe_name(ti.name)
            if name is None:
                yield Member(ti.name, code="unsafe_path", message="absolute path or '..' in the name")
            elif not ti.isreg():
                yield Member(name, code="not_a_file", message="a link or special file inside the archive")
            else:
                try:
                    raw = tf.extractfile(ti)
                except (tarfile.TarError, *_DECOMPRESS_ERRORS) as exc:
                    raise ArchiveError("corrupt_archive", f"the tar archive is damaged: {exc}") from exc
                if raw is None:
                    yield Member(name, code="not_a_file", message="no data for the member")
                    continue
                yield Member(name, size=ti.size, stream=_stream(raw, budget))


def _single_member(path: Path, mime: str, budget: Budget, name_hint: str) -> Iterator[Member]:
    base = posixpath.basename(name_hint.replace("\\", "/")) or "member"
    stem, dot, ext = base.rpartition(".")
    name = stem if dot and ext.lower() in ("gz", "tgz", "bz2", "xz", "z") else base + ".unpacked"
    budget.take_member()
    opener = _SINGLE_STREAM[mime]
    try:
        raw = opener(path, "rb")
    except _DECOMPRESS_ERRORS as exc:
        raise ArchiveError("corrupt_archive", str(exc)) from exc
    with raw:
        yield Member(name, stream=_stream(raw, budget))  # type: ignore[arg-type]


class _TempWriter:
    """Where py7zr writes one member: a numbered temp file (never the member's own name), every
    byte drawn from the budget."""

    def __init__(self, path: Path, budget: Budget) -> None:
        self.path = path
        self._f = path.open("w+b")
        self._budget = budget

    def write(self, data: bytes | bytearray) -> int:
        self._budget.take_bytes(len(data))
        return self._f.write(data)

    def read(self, size: int | None = None) -> bytes:
        return self._f.read(-1 if size is None else size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def flush(self) -> None:
        self._f.flush()

    def size(self) -> int:
        return self._f.seek(0, io.SEEK_END)

    def close(self) -> None:
        self._f.close()


def _sevenzip_members(path: Path, budget: Budget) -> Iterator[Member]:
    import py7zr
    from py7zr.io import Py7zIO, WriterFactory

    class Factory(WriterFactory):
        def __init__(self, folder: Path) -> None:
            self.folder = folder
            self.paths: dict[str, Path] = {}

        def create(self, filename: str) -> Py7zIO:
            target = self.folder / str(len(self.paths))
            self.paths[filename] = target
            return _TempWriter(target, budget)  # type: ignore[return-value]

    try:
        z = py7zr.SevenZipFile(path, "r")
    except Exception as exc:  # py7zr raises its own errors, lzma's, struct's, ...
        if "password" in type(exc).__name__.lower() or "password" in str(exc).lower():
            raise ArchiveError("encrypted", "the 7z archive is encrypted with a password") from exc
        raise ArchiveError("corrupt_archive", f"not a readable 7z archive: {exc}") from exc
    with z, tempfile.TemporaryDirectory(prefix="archive-7z-") as tmp:
        try:
            infos = [i for i in z.list() if not i.is_directory]
            encrypted = z.needs_password()
        except Exception as exc:
            raise ArchiveError("corrupt_archive", f"not a readable 7z archive: {exc}") from exc
        if len(infos) > budget.members_left:
            raise ArchiveError(
                "too_many_members", f"{len(infos)} members exceed the limit of {budget.members_left}"
            )
        declared = sum(i.uncompressed or 0 for i in infos)
        if declared > budget.bytes_left:
            raise ArchiveError(
                "archive_too_large",
                f"{declared} unpacked bytes exceed the limit of {budget.bytes_left} (a decompression bomb?)",
            )
        if encrypted:
            raise ArchiveError("encrypted", "the 7z archive is encrypted with a password")
        wanted = [i.filename for i in infos if safe_name(i.filename) and i.is_file and not i.is_symlink]
        factory = Factory(Path(tmp))
        if wanted:
            try:
                z.extract(targets=wanted, factory=factory)
            except ArchiveError:
                raise
            except Exception as exc:
                raise ArchiveError("corrupt_archive", f"the 7z archive is damaged: {exc}") from exc
        for info in infos:
            budget.take_member()
            name = safe_name(info.filename)
            if name is None:
                yield Member(info.filename, code="unsafe_path", message="absolute path or '..' in the name")
            elif info.is_symlink or not info.is_file:
                yield Member(name, code="not_a_file", message="a link or special file inside the archive")
            elif info.filename not in factory.paths:
                yield Member(name, code="corrupt_member", message="the member could not be unpacked")
            else:
                with factory.paths[info.filename].open("rb") as f:  # bytes already counted
                    yield Member(name, size=info.uncompressed, stream=f)  # type: ignore[arg-type]
