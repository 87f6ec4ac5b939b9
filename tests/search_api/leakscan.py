"""Byte scans for leak tests (duty of care, redaction, passage restriction): the byte forms of a
word, the files of a data folder that hold any of them, and the members of ZIP bundles."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path


def needles(word: str) -> tuple[bytes, ...]:
    """The stored forms of ``word``: UTF-8 as written and lower-cased, and UTF-16-LE."""
    return (word.encode(), word.lower().encode(), word.encode("utf-16-le"))


def _holds(data: bytes, found_in: tuple[bytes, ...]) -> list[bytes]:
    low = data.lower()
    return [n for n in found_in if n in data or n.lower() in low]


def scan(root: Path, found_in: tuple[bytes, ...], *, skip: tuple[str, ...] = ()) -> list[str]:
    """Files under ``root`` (but those whose name or relative path starts with one of ``skip``)
    holding any of the byte strings (as stored, or with ASCII letters lower-cased)."""
    out = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if skip and (name.startswith(skip) or str(path.relative_to(root)).startswith(skip)):
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            out.extend(f"{path.relative_to(root)}: {n!r}" for n in _holds(data, found_in))
    return out


def scan_zip(data: bytes, found_in: tuple[bytes, ...], *, label: str = "") -> list[str]:
    """Members of a ZIP archive (decompressed; their names too) holding any of the byte strings."""
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for n in zf.namelist():
            out.extend(f"{label}{n}: {x!r}" for x in _holds(zf.read(n) + b"\n" + n.encode(), found_in))
    return out


def scan_exports(root: Path, found_in: tuple[bytes, ...]) -> list[str]:
    """Members of the stored bundles of a data folder (compressed inside the ZIP) holding any of
    the byte strings."""
    out = []
    for z in sorted((root / "exports").glob("*.zip")):
        out.extend(scan_zip(z.read_bytes(), found_in, label=f"{z.name}/"))
    return out
