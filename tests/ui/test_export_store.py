"""Case-file exports of the web interface live in the data folder, not in one process's memory:
a bundle built by one server process is downloaded from another (several uvicorn workers, or
API machines on a shared data folder), once, by its exporter only, and expires.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN
from archive_search.web import create_app
from search_api.cases import CaseCreate, CaseItemCreate, CaseItemsAdd, CaseMemberCreate
from search_api.export import ExportResult
from search_api.export_store import ExportStore
from search_api.service import ArchiveService
from tests.conftest import REPO, ingest_files
from tests.ui.conftest import PASSWORD, _free_port
from tests.ui.test_pages import csrf_of, log_in


def _result(tmp: Path, body: bytes = b"PK fake bundle") -> ExportResult:
    p = tmp / f"case-1-{hashlib.sha256(body).hexdigest()[:8]}.zip"
    p.write_bytes(body)
    return ExportResult(p, "case-1.zip", hashlib.sha256(body).hexdigest(), "m" * 64, 2, 3)


def test_store_keeps_an_export_for_its_owner_once(tmp_path: Path) -> None:
    store = ExportStore(tmp_path / "exports")
    rec = store.put(_result(store.directory()), user="ed", case_id=1)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", rec.key)
    assert sorted(p.name for p in store.root.iterdir()) == [f"{rec.key}.json", f"{rec.key}.zip"]
    # only the service's user reads them: they hold copies of originals
    assert all(p.stat().st_mode & 0o077 == 0 for p in [store.root, *store.root.iterdir()])
    # another store object on the same folder (another process) sees it
    other = ExportStore(tmp_path / "exports")
    assert other.get(rec.key, user="ed", case_id=1) == rec
    assert other.get(rec.key, user="someone", case_id=1) is None
    assert other.get(rec.key, user="ed", case_id=2) is None
    assert other.take(rec.key, user="someone", case_id=1) is None
    for bad in ("../../etc/passwd", "", "x" * 43 + "/", rec.key[:-1]):
        assert other.get(bad, user="ed", case_id=1) is None
        assert other.take(bad, user="ed", case_id=1) is None
    taken = other.take(rec.key, user="ed", case_id=1)
    assert taken is not None and taken[1].read_bytes() == b"PK fake bundle"
    assert store.take(rec.key, user="ed", case_id=1) is None  # once
    assert store.get(rec.key, user="ed", case_id=1) is None
    taken[1].unlink()
    assert list(store.root.iterdir()) == []


def test_store_expires_exports_and_leftovers(tmp_path: Path) -> None:
    store = ExportStore(tmp_path / "exports", ttl_s=60)
    old = store.put(_result(store.directory(), b"old"), user="ed", case_id=1)
    meta = store.root / f"{old.key}.json"
    data = json.loads(meta.read_text())
    data["created"] -= 61
    meta.write_text(json.dumps(data))
    assert store.get(old.key, user="ed", case_id=1) is None  # expired, even before the clean-up
    fresh = store.put(_result(store.directory(), b"fresh"), user="ed", case_id=1)  # cleans up
    assert sorted(p.name for p in store.root.iterdir()) == sorted([f"{fresh.key}.json", f"{fresh.key}.zip"])
    # left-overs: a ZIP without its record, a half-built bundle, a file sent long ago
    orphan = store.root / f"{'A' * 43}.zip"
    building = store.root / "case-9-abc.zip"
    sent = store.root / f"{'B' * 43}.zip.sending-0011"
    for p in (orphan, building, sent):
        p.write_bytes(b"x")
    past = time.time() - 90
    os.utime(orphan, (past, past))
    assert store.expire() == 1  # the orphan; the others are younger than their limits
    past = time.time() - 121
    for p in (building, sent):
        os.utime(p, (past, past))
    assert store.expire() == 2
    assert sorted(p.name for p in store.root.iterdir()) == sorted([f"{fresh.key}.json", f"{fresh.key}.zip"])


# -- two server processes on one data folder -----------------------------------------------------


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArchiveService, int]]:
    tmp = tmp_path_factory.mktemp("export-store")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    statements = {
        "statement-a.txt": "The first statement about the checkpoint.\n",
        "statement-b.txt": "Друге свідчення про блокпост.\n",
    }
    ids = ingest_files(svc, tmp / "in", statements, "statements")
    editor_id = svc.accounts.create_user("editor", PASSWORD, role="editor")
    svc.accounts.create_user("colleague", PASSWORD, role="editor")
    for user in ("editor", "colleague"):
        svc.accounts.grant("statements", "read", user=user)
    editor = svc.accounts.principal_for_user(editor_id)
    case = svc.cases.create_case(CaseCreate(title="Checkpoint"), editor)
    docs = [ids[name] for name in sorted(statements)]
    svc.cases.add_items(case.id, CaseItemsAdd(items=[CaseItemCreate(document_id=d) for d in docs]), editor)
    svc.cases.set_member(case.id, CaseMemberCreate(username="colleague", permission="read"), LOCAL_ADMIN)
    yield svc, case.id
    svc.close()


@pytest.fixture(scope="module")
def second_process(small_archive: tuple[ArchiveService, int]) -> Iterator[str]:
    """Another server process (uvicorn, its own ArchiveService) on the same data folder."""
    svc, _ = small_archive
    port = _free_port()
    env = {
        **os.environ,
        "ARCHIVE_DATA_DIR": str(svc.settings.data_dir),
        "ARCHIVE_EMBEDDER": "none",
        "PYTHONPATH": str(REPO),
        "OMP_THREAD_LIMIT": "1",
    }
    env.pop("ARCHIVE_DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "archive_search.web:create_app"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        env=env,
        cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the second server process did not start")
        time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


def _http_login(c: httpx.Client, user: str) -> None:
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"username": user, "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/"},
    )
    assert r.status_code == 303, r.text


def _gone(r: Any) -> bool:
    """Not served: back to the case page, which says the link was used, expired or not yours."""
    return bool(r.status_code == 303 and "notice=export_gone" in r.headers["location"])


def test_export_built_in_one_process_downloads_from_another(
    small_archive: tuple[ArchiveService, int], second_process: str
) -> None:
    svc, case_id = small_archive
    with TestClient(create_app(svc.settings, svc)) as a:
        log_in(a, "editor")
        token = csrf_of(a.get(f"/cases/{case_id}").text)
        r = a.post(f"/cases/{case_id}/export", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        m = re.search(r"export=([A-Za-z0-9_-]{43})", r.headers["location"])
        assert m, r.headers["location"]
        key = m.group(1)
        shown = a.get(r.headers["location"]).text
        sha = re.search(r'id="bundle-sha256">([0-9a-f]{64})<', shown)
        assert sha, "the page shows the bundle's SHA-256"
        assert f"/cases/{case_id}/export/{key}" in shown
        # the bundle is in the data folder, not in this process
        assert (svc.settings.data_dir / "exports" / f"{key}.zip").is_file()

        with httpx.Client(base_url=second_process, follow_redirects=False, timeout=30) as b:
            _http_login(b, "colleague")  # a member who did not export it: not theirs
            assert _gone(b.get(f"/cases/{case_id}/export/{key}"))
            b.cookies.clear()
            _http_login(b, "editor")
            # the other process shows the export on the case page too
            assert sha.group(1) in b.get(f"/cases/{case_id}", params={"export": key}).text
            got = b.get(f"/cases/{case_id}/export/{key}")
            assert got.status_code == 200, got.text[:500]
            assert got.headers["content-type"] == "application/zip"
            assert hashlib.sha256(got.content).hexdigest() == sha.group(1) == got.headers["x-content-sha256"]
            with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
                assert "manifest.json" in zf.namelist()
            # once: neither process serves it again, and the file is gone
            assert _gone(b.get(f"/cases/{case_id}/export/{key}"))
        assert _gone(a.get(f"/cases/{case_id}/export/{key}", follow_redirects=False))
        deadline = time.monotonic() + 10
        while any((svc.settings.data_dir / "exports").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list((svc.settings.data_dir / "exports").iterdir()) == []
