"""archive check, backup and restore on the embedded default, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLE_DIR


def _archive(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(data), "ARCHIVE_EMBEDDER": "none"}
    env.pop("ARCHIVE_DATABASE_URL", None)
    exe = Path(sys.executable).with_name("archive")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def _search(data: Path, q: str) -> dict[str, object]:
    r = _archive(data, "search", q, "--mode", "keyword", "--json")
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    return out


def test_backup_restore_then_search(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = [SAMPLE_DIR / "udhr-be.txt", SAMPLE_DIR / "udhr-en-articles.pdf"]
    assert _archive(data, "ingest", *map(str, files)).returncode == 0
    before = _search(data, "брацтва")
    check = _archive(data, "check", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["ok"]

    assert _archive(data, "backup", str(tmp_path / "bk")).returncode == 0
    assert _archive(data, "backup", str(tmp_path / "bk")).returncode == 2  # not empty: refused
    restored = tmp_path / "restored"
    r = _archive(restored, "restore", str(tmp_path / "bk"))
    assert r.returncode == 0, r.stderr
    after = _search(restored, "брацтва")
    assert after["total"] == before["total"] == 1
    assert _search(restored, "brotherhood")["total"] == 1
    assert _archive(restored, "check").returncode == 0
    # restoring over an existing catalog is refused
    assert _archive(restored, "restore", str(tmp_path / "bk")).returncode == 2


def test_damage_is_detected(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _archive(data, "ingest", str(SAMPLE_DIR / "udhr-uk.txt")).returncode == 0
    assert _archive(data, "backup", str(tmp_path / "bk")).returncode == 0
    stored = next(p for p in (data / "originals").rglob("*") if p.is_file() and ".incoming" not in p.parts)
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b"tampered")
    r = _archive(data, "check")
    assert r.returncode == 1 and "changed:" in r.stdout
    stored.unlink()
    r = _archive(data, "check", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["missing"]
    # a damaged backup is refused before anything is restored
    bk_orig = next(p for p in (tmp_path / "bk" / "originals").rglob("*") if p.is_file())
    bk_orig.chmod(0o644)
    bk_orig.write_bytes(b"x")
    r = _archive(tmp_path / "other", "restore", str(tmp_path / "bk"))
    assert r.returncode == 2 and "damaged" in r.stderr
    assert not (tmp_path / "other" / "catalog.sqlite3").exists()
