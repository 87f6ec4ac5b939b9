"""The original store: content-addressed, stored once, byte-identical, read-only, size-limited."""

from __future__ import annotations

import hashlib
import io
import stat
from pathlib import Path

import pytest

from archive_search.catalog.store import FileTooLargeError, OriginalStore


def test_stored_once_byte_identical_and_read_only(tmp_path: Path) -> None:
    store = OriginalStore(tmp_path / "originals")
    data = "Свідчення №17\n".encode() * 1000
    src = tmp_path / "a.txt"
    src.write_bytes(data)
    first = store.put_file(src)
    second = store.put_stream(io.BytesIO(data))
    assert first.sha256 == hashlib.sha256(data).hexdigest() == second.sha256
    assert first.created and not second.created
    assert first.path == second.path == store.path_for(first.sha256)
    assert first.path.read_bytes() == data
    assert not first.path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert store.verify(first.sha256)
    assert list((tmp_path / "originals" / ".incoming").iterdir()) == []


def test_size_limit_keeps_nothing(tmp_path: Path) -> None:
    store = OriginalStore(tmp_path / "o")
    with pytest.raises(FileTooLargeError):
        store.put_stream(io.BytesIO(b"x" * 5000), max_bytes=4096)
    assert [p for p in (tmp_path / "o").rglob("*") if p.is_file()] == []


def test_verify_detects_a_changed_original(tmp_path: Path) -> None:
    store = OriginalStore(tmp_path / "o")
    stored = store.put_stream(io.BytesIO(b"original bytes"))
    stored.path.chmod(0o644)
    stored.path.write_bytes(b"tampered bytes")
    assert not store.verify(stored.sha256)
    with pytest.raises(ValueError):
        store.path_for("../../etc/passwd")
