"""The `archive` command as a user runs it: a real process, a real data folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLE_DIR


def _archive(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(data), "ARCHIVE_EMBEDDER": "none"}
    env.pop("ARCHIVE_DATABASE_URL", None)
    exe = Path(sys.executable).with_name("archive")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, input=stdin, timeout=300, check=False
    )


def test_ingest_status_search_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = [SAMPLE_DIR / f"udhr-{lang}.txt" for lang in ("ru", "uk", "be", "en")]
    r = _archive(data, "ingest", *map(str, files), "--collection", "udhr", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [f["outcome"] for f in report["files"]] == ["ok"] * 4
    st = json.loads(_archive(data, "status", "--json").stdout)
    assert st["files"]["ok"] == 4 and st["documents"] == 4 and st["pending_index"] == 0
    r = _archive(data, "search", "брацтва", "--mode", "keyword", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["hits"][0]["filename"] == "udhr-be.txt" and "<mark>брацтва</mark>" in res["hits"][0]["snippet"]
    # again: resumable, nothing new
    again = json.loads(_archive(data, "ingest", *map(str, files), "--collection", "udhr", "--json").stdout)
    assert all(f["duplicate"] for f in again["files"])


def test_batch_queries_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        _archive(data, "ingest", str(SAMPLE_DIR / "udhr-en.txt"), str(SAMPLE_DIR / "udhr-uk.txt")).returncode
        == 0
    )
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(
        '{"_id": "q1", "text": "brotherhood"}\n'
        '{"_id": "q2", "text": "братерства"}\n'
        '{"_id": "q3", "text": "\\"x"}\n',
        "utf-8",
    )
    r = _archive(data, "search", "--queries", str(qfile), "--mode", "keyword", "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["query_id"] for x in lines] == ["q1", "q2", "q3"]
    assert lines[0]["hits"][0]["filename"] == "udhr-en.txt"
    assert lines[1]["hits"][0]["filename"] == "udhr-uk.txt"
    assert lines[2]["error"]["code"] == "query_syntax"


def test_failed_file_gives_nonzero_exit_but_batch_completes(tmp_path: Path) -> None:
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "a-broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (bad / "b-good.txt").write_text("Nobody shall be subjected to torture.", "utf-8")
    r = _archive(tmp_path / "data", "ingest", str(bad), "--json")
    assert r.returncode == 1
    outcomes = [f["outcome"] for f in json.loads(r.stdout)["files"]]
    assert outcomes == ["failed", "ok"]


def test_accounts_grants_and_tokens_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _archive(data, "ingest", str(SAMPLE_DIR / "udhr-en.txt"), "--collection", "udhr").returncode == 0
    r = _archive(data, "user", "create", "alice", "--password-stdin", stdin="a long enough passphrase\n")
    assert r.returncode == 0, r.stderr
    again = _archive(data, "user", "create", "alice", "--password-stdin", stdin="a long enough passphrase\n")
    assert again.returncode == 2 and "exists" in again.stderr
    short = _archive(data, "user", "create", "bob", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "too short" in short.stderr
    assert _archive(data, "group", "create", "researchers").returncode == 0
    assert _archive(data, "group", "add", "researchers", "alice").returncode == 0
    assert _archive(data, "grant", "--group", "researchers", "udhr", "read").returncode == 0
    token = _archive(data, "token", "create", "alice", "--name", "ci").stdout.strip()
    assert len(token) > 30

    from fastapi.testclient import TestClient

    from archive_search.settings import Settings
    from archive_search.web import create_app

    settings = Settings(data_dir=data, embedder="none")
    with TestClient(create_app(settings)) as http:
        headers = {"Authorization": f"Bearer {token}"}
        assert http.get("/api/v1/search", params={"q": "brotherhood"}, headers=headers).json()["total"] == 1
        r = _archive(data, "revoke", "--group", "researchers", "udhr", "read")
        assert r.returncode == 0, r.stderr
        assert http.get("/api/v1/search", params={"q": "brotherhood"}, headers=headers).json()["total"] == 0


def test_ingest_encrypted_pdf_with_password(tmp_path: Path) -> None:
    src = Path("/work/shared/data/aleph-ingest-fixtures/files/password-hunter2.pdf")
    if not src.exists():
        import pytest

        pytest.skip("shared test data is missing")
    locked = tmp_path / "locked.pdf"  # the original's name holds the password
    locked.write_bytes(src.read_bytes())
    data = tmp_path / "data"
    r = _archive(data, "ingest", str(locked), "--json")
    assert r.returncode == 1
    f = json.loads(r.stdout)["files"][0]
    assert (f["outcome"], f["code"]) == ("failed", "encrypted") and "--password" in f["message"]
    r = _archive(data, "ingest", str(locked), "--password", "not-it", "--json")
    f = json.loads(r.stdout)["files"][0]
    assert (f["outcome"], f["code"]) == ("failed", "encrypted") and "does not open" in f["message"]
    r = _archive(data, "ingest", str(locked), "--password-stdin", "--json", stdin="hunter2\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"][0]["outcome"] == "ok"
    assert "hunter2" not in r.stdout + r.stderr
    hits = json.loads(_archive(data, "search", "password", "--mode", "keyword", "--json").stdout)["hits"]
    assert [h["filename"] for h in hits] == ["locked.pdf"]
    # the password is nowhere in the data folder (catalog, index, logs)
    for p in data.rglob("*"):
        if p.is_file():
            assert b"hunter2" not in p.read_bytes(), p
    # not with the queue: workers would need it stored
    r = _archive(data, "ingest", str(locked), "--queue", "--password", "hunter2")
    assert r.returncode == 2 and "--queue" in r.stderr


def test_search_all_writes_every_hit(tmp_path: Path) -> None:
    """`archive search --all` (issue 16): every hit with provenance, the total said first, and the
    search recorded in the audit log with the hash of the hits written."""
    data = tmp_path / "data"
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(30):
        (folder / f"r{n}.txt").write_text(f"Запис {n}: затримання біля мосту.\n", "utf-8")
    (folder / "other.txt").write_text("Погода.\n", "utf-8")
    assert _archive(data, "ingest", str(folder), "--collection", "c").returncode == 0
    r = _archive(data, "search", "затримання", "--mode", "keyword", "--all", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    head, rows = lines[0], lines[1:]
    assert head["total"] == len(rows) == 30 and head["exhaustive"] is True
    assert {row["filename"] for row in rows} == {f"r{n}.txt" for n in range(30)}
    assert all(len(row["sha256"]) == 64 and row["collection"] == "c" for row in rows)
    r = _archive(data, "search", "затримання", "--mode", "keyword", "--all")  # CSV by default
    assert r.stdout.startswith("\ufeff# {") and len(r.stdout.strip().splitlines()) == 32
    audit = _archive(data, "audit", "list", "--limit", "1", "--json")
    assert audit.returncode == 0, audit.stderr
    entry = json.loads(audit.stdout.splitlines()[0])
    record = entry["details"]["record"]
    assert entry["action"] == "search" and entry["details"]["complete"] is True
    listed = "".join(f"{row['document_id']}:{row['passage_id']}\n" for row in rows)
    assert record["hits"] == 30 and record["hits_sha256"] == hashlib.sha256(listed.encode()).hexdigest()
    assert _archive(data, "search", "x", "--all", "--format", "xml").returncode == 2
