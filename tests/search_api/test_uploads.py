"""Uploads of the web interface as ingest jobs (search_api/uploads.py), on SQLite and PostgreSQL:
queued through the ingest queue with the uploaded names, worked by a thread of the submitting
process that claims only its own job's items, watched through a status that any process can
answer (the owner is in the audit log); with ARCHIVE_INGEST_QUEUE the workers do the work."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from archive_search.catalog.models import AuditEntry
from archive_search.errors import NotFoundError
from archive_search.types import Principal, SearchRequest
from ingest.queue import IngestQueue
from search_api.service import ArchiveService
from search_api.uploads import Uploads
from tests.conftest import make_settings


def _principal(svc: ArchiveService, name: str) -> Principal:
    uid = svc.accounts.create_user(name, "a long enough passphrase", role="editor")
    svc.accounts.grant("uploads", "write", user=name)
    return svc.accounts.principal_for_user(uid)


def _staged(tmp: Path, files: dict[str, bytes]) -> list[tuple[Path, str]]:
    out = []
    for n, (name, body) in enumerate(files.items()):
        p = tmp / f"staging-{n}" / name
        p.parent.mkdir(parents=True)
        p.write_bytes(body)
        out.append((p, name))
    return out


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


def _wait_done(up: Uploads, job: int, who: Principal, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = up.status(job, who)
        if st["done"] or time.monotonic() > deadline:
            return st
        time.sleep(0.1)


def test_an_upload_is_worked_in_the_background_and_watched(service: ArchiveService, tmp_path: Path) -> None:
    svc = service
    ed = _principal(svc, "ed")
    other = _principal(svc, "other")
    # a job queued by `archive ingest --queue` meanwhile: the upload's thread must leave it alone
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "queued-by-cli.txt").write_text("Queued for a worker.\n", encoding="utf-8")
    cli_job = IngestQueue(svc.catalog, svc.store).submit([tmp_path / "cli"], "uploads").job_id

    up = Uploads(svc)
    job = up.submit(
        _staged(
            tmp_path,
            {
                "statement.txt": b"A statement about the convoy at the bridge.\n",
                "empty.txt": b"",
                "bundle.zip": _zip({"inner-a.txt": b"First inner statement.\n", "inner-b.txt": b""}),
            },
        ),
        "uploads",
        ed,
    )
    up.wait(job, timeout=60)
    st = _wait_done(up, job, ed)
    assert st["done"] and st["collection"] == "uploads"
    rows = [(f["name"], f["state"], f["code"]) for f in st["files"]]
    assert rows[:3] == [
        ("statement.txt", "ok", None),
        ("empty.txt", "skipped", "empty"),
        ("bundle.zip", "ok", None),
    ]
    # an uploaded archive's members are rows of their own
    assert sorted(rows[3:]) == [
        ("bundle.zip!/inner-a.txt", "ok", None),
        ("bundle.zip!/inner-b.txt", "skipped", "empty"),
    ]
    assert st["counts"] == {"queued": 0, "running": 0, "ok": 3, "failed": 0, "skipped": 2}
    # "ok" means searchable
    hits = svc.search(SearchRequest(q="convoy bridge", mode="keyword"), ed)
    assert [h.filename for h in hits.hits] == ["statement.txt"]
    # the other job was not touched
    with pytest.raises(NotFoundError):  # the CLI's job has no uploader: it is nobody's upload
        up.status(cli_job, ed)
    assert IngestQueue(svc.catalog, svc.store).job_counts(cli_job) == {"queued": 1}
    # the uploader's only — also for an Uploads of another process, which finds the owner in the
    # audit log
    with pytest.raises(NotFoundError):
        up.status(job, other)
    with pytest.raises(NotFoundError):
        up.status(987654, ed)
    elsewhere = Uploads(svc)
    assert elsewhere.status(job, ed)["files"][0]["name"] == "statement.txt"
    with pytest.raises(NotFoundError):
        elsewhere.status(job, other)
    # each file is audited, as for POST /api/v1/documents
    with svc.catalog.session() as s:
        rows = s.execute(
            select(AuditEntry.object_type, AuditEntry.actor).where(AuditEntry.action == "ingest")
        ).all()
    assert sorted(rows) == [("document", "ed")] * 3 + [("ingest_job", "ed")]


def test_with_the_ingest_queue_setting_workers_do_the_work(catalog_url: str, tmp_path: Path) -> None:
    svc = ArchiveService(make_settings(tmp_path / "data", catalog_url, ingest_queue=True))
    try:
        ed = _principal(svc, "ed")
        up = Uploads(svc)
        job = up.submit(_staged(tmp_path, {"later.txt": b"A later statement.\n"}), "uploads", ed)
        time.sleep(0.5)
        st = up.status(job, ed)
        assert not st["done"] and [f["state"] for f in st["files"]] == ["queued"]
        # an `archive worker` takes it
        q = IngestQueue(svc.catalog, svc.store, name="worker-1")
        assert q.work_one(svc.ingestor()) is not None
        q.release()
        st = up.status(job, ed)
        assert st["done"] and [(f["name"], f["state"]) for f in st["files"]] == [("later.txt", "ok")]
    finally:
        svc.close()


def test_a_file_finished_while_the_status_is_read_never_shows_a_done_job_with_a_running_row(
    catalog_url: str, tmp_path: Path
) -> None:
    """The status reads the job, then its items. A worker that finishes the file right after the
    items were read must not make the answer "done" with the row still queued: the page stops
    polling on "done" and would show that row as unfinished for good (a CI failure of issue 21's
    duplicate-upload test). The worker really runs between the two reads, on the same catalog."""
    svc = ArchiveService(make_settings(tmp_path / "data", catalog_url, ingest_queue=True))
    try:
        ed = _principal(svc, "ed")
        up = Uploads(svc)
        job = up.submit(_staged(tmp_path, {"raced.txt": b"A raced statement.\n"}), "uploads", ed)
        worker = IngestQueue(svc.catalog, svc.store, name="worker-race")
        worked: list[int] = []

        def finish_after_items_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if not worked and "ingest_items.started_at" in statement:
                worked.append(1)
                assert worker.work_one(svc.ingestor()) is not None

        event.listen(svc.catalog.engine, "after_cursor_execute", finish_after_items_read)
        try:
            st = up.status(job, ed)
        finally:
            event.remove(svc.catalog.engine, "after_cursor_execute", finish_after_items_read)
            worker.release()
        assert worked, "the worker did not run between the reads"
        states = [f["state"] for f in st["files"]]
        # read before the worker finished: not done, and the row as it was when read
        assert states == ["queued"] and not st["done"], st
        # the next poll sees both the file and the job finished
        st = up.status(job, ed)
        assert st["done"] and [f["state"] for f in st["files"]] == ["ok"]
    finally:
        svc.close()


def test_an_upload_nobody_works_is_resumed_by_the_next_status_request(
    catalog_url: str, tmp_path: Path
) -> None:
    """The process that took the upload stopped before working it: the page's next poll, served
    by another process, works the job there."""
    first = ArchiveService(make_settings(tmp_path / "data", catalog_url, ingest_queue=True))
    try:
        ed = _principal(first, "ed")
        job = Uploads(first).submit(
            _staged(tmp_path, {"resumed.txt": b"A resumed statement.\n"}), "uploads", ed
        )
    finally:
        first.close()
    second = ArchiveService(make_settings(tmp_path / "data", catalog_url))
    try:
        up = Uploads(second)
        st = up.status(job, ed)  # just submitted: the submitter may be about to work it
        assert [f["state"] for f in st["files"]] == ["queued"]
        time.sleep(0.3)
        assert up.status(job, ed)["files"][0]["state"] == "queued"
        up.resume_after_s = 0.5  # (30 s by default)
        time.sleep(0.6)
        st = _wait_done(up, job, ed)
        assert st["done"] and [(f["name"], f["state"]) for f in st["files"]] == [("resumed.txt", "ok")]
        hits = second.search(SearchRequest(q="resumed statement", mode="keyword"), ed)
        assert [h.filename for h in hits.hits] == ["resumed.txt"]
    finally:
        second.close()


def test_api_upload_job_answers_at_once_and_is_followed(service: ArchiveService) -> None:
    """``POST /api/v1/uploads`` answers 202 with the job before the files are searchable (issue
    22, item 10); ``GET /api/v1/uploads/{id}`` follows them, for the uploader alone."""
    from fastapi.testclient import TestClient

    from archive_search.web import create_app

    svc = service
    _principal(svc, "uploader")
    _principal(svc, "other")
    svc.accounts.create_user("reader", "a long enough passphrase")
    svc.accounts.grant("uploads", "read", user="reader")

    def auth(c: TestClient, user: str) -> dict[str, str]:
        r = c.post("/api/v1/auth/token", json={"username": user, "password": "a long enough passphrase"})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    with TestClient(create_app(svc.settings, svc)) as c:
        me, other, reader = auth(c, "uploader"), auth(c, "other"), auth(c, "reader")
        files = [
            (
                "files",
                ("свідчення.txt", "Свідок бачив затримання волонтера біля мосту.\n".encode(), "text/plain"),
            ),
            ("files", ("notes.txt", b"The volunteer was detained near the bridge.\n", "text/plain")),
            ("files", ("empty.txt", b"", "text/plain")),
        ]
        r = c.post("/api/v1/uploads", files=files, data={"collection": "uploads"}, headers=me)
        assert r.status_code == 202, r.text
        job = r.json()
        assert [f["name"] for f in job["files"]] == ["свідчення.txt", "notes.txt", "empty.txt"]
        deadline = time.monotonic() + 60
        while not job["done"] and time.monotonic() < deadline:
            time.sleep(0.1)
            job = c.get(f"/api/v1/uploads/{job['id']}", headers=me).json()
        assert job["done"], job
        assert [(f["state"], f["code"]) for f in job["files"]] == [
            ("ok", None),
            ("ok", None),
            ("skipped", "empty"),
        ]
        assert job["counts"]["ok"] == 2 and job["counts"]["skipped"] == 1
        # searchable once "ok"
        hits = c.get("/api/v1/search", params={"q": "затримання", "mode": "keyword"}, headers=me).json()
        assert {h["filename"] for h in hits["hits"]} == {"свідчення.txt"}
        # the job is the uploader's: another user gets the 404 of a missing job
        assert c.get(f"/api/v1/uploads/{job['id']}", headers=other).status_code == 404
        # writing needs the write right (a reader is refused before anything is stored)
        r = c.post("/api/v1/uploads", files=files[:1], data={"collection": "uploads"}, headers=reader)
        assert r.status_code == 403
        # the job and every file were audited (as sent through the API), each file as it ended
        with svc.catalog.session() as s:
            entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "ingest")))
        per_file = [json.loads(e.details) for e in entries if e.object_type == "document"]
        assert sorted(d["file"] for d in per_file) == ["empty.txt", "notes.txt", "свідчення.txt"]
        assert all(d["ui"] is False and d["job"] == job["id"] for d in per_file)
        (submitted,) = [json.loads(e.details) for e in entries if e.object_type == "ingest_job"]
        assert submitted["ui"] is False
