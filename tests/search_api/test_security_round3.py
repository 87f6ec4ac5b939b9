"""Issue 22 (hardening), the remaining findings: request bodies only after authentication and
within limits (3), originals re-hashed when served (8), a private data folder and ``archive check``
(9), audited reads and ``Cache-Control: no-store`` (11). Tried the way the security test tried
them: over real HTTP (uvicorn on a free port, raw sockets where the body must *not* be sent), on
files tampered with on disk."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import run_archive, stack_settings

PASSWORD = "a long enough passphrase"
MAX_FILE = 64 * 1024
MAX_LIST = 8 * 1024
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    """The real app under uvicorn, and a service with an admin ``boss`` and a viewer ``eve``."""

    def __init__(self, svc: ArchiveService, port: int) -> None:
        self.svc = svc
        self.port = port
        self.token = svc.accounts.create_token_for("boss", name="tests", ttl=timedelta(hours=1))[0]
        self.viewer = svc.accounts.create_token_for("eve", name="tests", ttl=timedelta(hours=1))[0]

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        return sock

    def head_only(
        self, path: str, headers: dict[str, str], timeout: float = 15
    ) -> tuple[int, dict[str, str], bytes]:
        """Send a request's head and no byte of its body; the answer, which must come anyway."""
        sock = self.connect()
        try:
            sock.sendall(_head("POST", path, headers))
            return _read_response(sock, timeout)
        finally:
            sock.close()


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    import uvicorn

    tmp = tmp_path_factory.mktemp("round3")
    svc = ArchiveService(
        stack_settings(
            "sqlite",
            tmp,
            request,
            max_file_bytes=MAX_FILE,
            max_list_bytes=MAX_LIST,
            max_concurrent_uploads=1,
        )
    )
    svc.accounts.create_user("boss", PASSWORD, role="admin")
    svc.accounts.create_user("eve", PASSWORD, role="viewer")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(svc.settings, svc), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield Live(svc, port)
    server.should_exit = True
    thread.join(timeout=10)
    svc.close()


MULTIPART = "multipart/form-data; boundary=xyzzy"
HUNDRED_MIB = str(100 * 1024 * 1024)


# -- finding 3: authentication before the body; limits per route; concurrent uploads -------------


@pytest.mark.parametrize("path", ["/api/v1/documents", "/upload", "/api/v1/search/batch", "/batch", "/cases"])
def test_an_anonymous_large_post_is_answered_before_its_body_is_sent(live: Live, path: str) -> None:
    """The security test's 100 MiB anonymous multipart POST: the answer comes with no byte of the
    body sent (before: the server waited for, read and spooled the body before its 401)."""
    status, headers, body = live.head_only(path, {"Content-Type": MULTIPART, "Content-Length": HUNDRED_MIB})
    if path.startswith("/api/"):
        assert status == 401 and headers.get("www-authenticate") == "Bearer"
        assert _code(body) == "unauthorized"
    else:
        assert status == 303 and headers["location"].startswith("/login?next=")
    assert headers.get("cache-control") == "no-store"
    # a revoked or made-up token, or a made-up session, is as anonymous
    bad = (
        {"Authorization": "Bearer not-a-token"}
        if path.startswith("/api/")
        else {"Cookie": "archive_session=nope"}
    )
    status, _, _ = live.head_only(path, {"Content-Type": MULTIPART, "Content-Length": HUNDRED_MIB, **bad})
    assert status in (401, 303)


def test_the_login_form_still_takes_a_body_without_a_token(live: Live) -> None:
    sock = live.connect()
    body = json.dumps({"username": "boss", "password": "wrong password here"}).encode()
    sock.sendall(
        _head(
            "POST",
            "/api/v1/auth/token",
            {"Content-Type": "application/json", "Content-Length": str(len(body))},
        )
        + body
    )
    status, _, answer = _read_response(sock, 30)
    sock.close()
    assert status == 401 and _code(answer) == "unauthorized"  # the password was checked: the body was read


def test_a_signed_in_upload_over_the_limit_is_413_in_the_error_shape(live: Live) -> None:
    auth = {"Authorization": f"Bearer {live.token}"}
    # announced: refused before reading
    status, _, body = live.head_only(
        "/api/v1/documents", {**auth, "Content-Type": MULTIPART, "Content-Length": HUNDRED_MIB}
    )
    assert status == 413 and _code(body) == "too_large"
    status, _, body = live.head_only(
        "/upload",
        {"Cookie": f"archive_session={live.token}", "Content-Type": MULTIPART, "Content-Length": HUNDRED_MIB},
    )
    assert status == 413 and _code(body) == "too_large"
    # not announced (chunked): counted while reading, cut at the limit
    sock = live.connect()
    sock.sendall(
        _head(
            "POST", "/api/v1/documents", {**auth, "Content-Type": MULTIPART, "Transfer-Encoding": "chunked"}
        )
    )
    part = _multipart_file("big.txt", b"")[: -len(b"\r\n--xyzzy--\r\n")]  # a file part left open
    sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    chunk = b"x" * 65000
    sent = 0
    try:
        while sent < MAX_FILE + 2 * 1024 * 1024:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
    except OSError:
        pass  # the server may stop reading and close once it has answered
    status, _, body = _read_response(sock, 30)
    sock.close()
    assert status == 413 and _code(body) == "too_large"
    # a batch list over ARCHIVE_MAX_LIST_BYTES
    listing = b"name\n" + b"x" * (MAX_LIST + 10)
    sock = live.connect()
    sock.sendall(
        _head(
            "POST",
            "/api/v1/search/batch/csv",
            {**auth, "Content-Type": MULTIPART, "Content-Length": str(len(listing))},
        )
        + listing
    )
    status, _, body = _read_response(sock, 30)
    sock.close()
    assert status == 413 and b"8192 bytes" in body


def _code(body: bytes) -> str:
    """The code of an answer in the one error shape (anything else fails the test)."""
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"}
    return str(error["code"])


def _multipart_file(name: str, content: bytes) -> bytes:
    return (
        b"--xyzzy\r\n"
        + f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'.encode()
        + b"Content-Type: text/plain\r\n\r\n"
        + content
        + b"\r\n--xyzzy--\r\n"
    )


def test_one_user_gets_at_most_the_allowed_concurrent_uploads(live: Live) -> None:
    auth = {"Authorization": f"Bearer {live.token}"}
    body = _multipart_file("slow.txt", "Свідок бачив колону біля мосту.\n".encode())
    first = live.connect()
    first.sendall(
        _head(
            "POST", "/api/v1/documents", {**auth, "Content-Type": MULTIPART, "Content-Length": str(len(body))}
        )
        + body[:20]
    )
    time.sleep(1.0)  # the first upload is being received (its body is not complete)
    status, _, answer = live.head_only(
        "/api/v1/documents", {**auth, "Content-Type": MULTIPART, "Content-Length": str(len(body))}
    )
    assert status == 429 and _code(answer) == "too_many_uploads"
    # another user is not held up by it (the viewer may not write: 403 from the route, after reading)
    viewer = {"Authorization": f"Bearer {live.viewer}"}
    sock = live.connect()
    sock.sendall(
        _head(
            "POST",
            "/api/v1/documents",
            {**viewer, "Content-Type": MULTIPART, "Content-Length": str(len(body))},
        )
        + body
    )
    assert _read_response(sock, 60)[0] == 403
    sock.close()
    first.sendall(body[20:])
    status, _, answer = _read_response(first, 120)
    first.close()
    assert status == 201, answer
    sock = live.connect()  # the slot is free again
    again = _multipart_file("again.txt", b"Another witness statement.\n")
    sock.sendall(
        _head(
            "POST",
            "/api/v1/documents",
            {**auth, "Content-Type": MULTIPART, "Content-Length": str(len(again))},
        )
        + again
    )
    assert _read_response(sock, 120)[0] == 201
    sock.close()


# -- finding 8: originals re-hashed when served ---------------------------------------------------


def _pdf(path: Path, text: str) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.set_font("DejaVu", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, text)
    path.write_bytes(bytes(pdf.output()))


def test_a_changed_or_missing_original_is_refused_not_served(live: Live, tmp_path: Path) -> None:
    """A real stored original changed on disk (same size, its modification time put back): the
    download (API and UI), the page image and the case export refuse it with a clear error naming
    the document — before: served with the old ``X-Content-SHA256``. A deleted one is a clear error
    too — before: a bare 500."""
    from fastapi.testclient import TestClient

    svc = live.svc
    src = tmp_path / "testimony.txt"
    src.write_text("Свідок бачив колону біля мосту вранці.\n", encoding="utf-8")
    img = tmp_path / "scan.pdf"
    _pdf(img, "Протокол допиту свідка, сторінка перша.")
    report = svc.ingest([src, img], "tamper")
    assert [f.outcome for f in report.files] == ["ok", "ok"], report.files
    text_id, image_id = (f.document_id for f in report.files)
    assert text_id is not None and image_id is not None
    http = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {live.token}"}
    ok = http.get(f"/api/v1/documents/{text_id}/original", headers=auth)
    assert ok.status_code == 200 and ok.content == src.read_bytes()
    sha = ok.headers["x-content-sha256"]
    assert http.get(f"/api/v1/documents/{image_id}/pages/1", headers=auth).status_code == 200

    stored = svc.store.path_for(sha)
    before = stored.stat()
    stored.chmod(0o600)
    forged = stored.read_bytes().replace("мосту".encode(), "ставу".encode())
    assert len(forged) == before.st_size
    stored.write_bytes(forged)
    os.utime(stored, ns=(before.st_atime_ns, before.st_mtime_ns))  # the modification time put back
    r = http.get(f"/api/v1/documents/{text_id}/original", headers=auth)
    assert r.status_code == 500 and r.json()["error"]["code"] == "original_corrupt"
    assert f"document {text_id}" in r.json()["error"]["message"] and "ставу" not in r.text
    http.cookies.set("archive_session", live.token)
    r = http.get(f"/documents/{text_id}/original")
    assert r.status_code == 500 and "ставу" not in r.text and "original_corrupt" in r.text
    http.cookies.clear()

    img_path = svc.store.path_for(svc.store.put_file(img).sha256)
    img_path.chmod(0o600)
    with img_path.open("r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\0" * 8)
    r = http.get(f"/api/v1/documents/{image_id}/pages/1", headers=auth)
    assert r.status_code == 500 and r.json()["error"]["code"] == "original_corrupt"

    case = http.post("/api/v1/cases", json={"title": "tampered"}, headers=auth).json()
    added = http.post(
        f"/api/v1/cases/{case['id']}/items", json={"items": [{"document_id": text_id}]}, headers=auth
    )
    assert added.status_code in (200, 201), added.text
    r = http.get(f"/api/v1/cases/{case['id']}/export", headers=auth)
    assert r.status_code == 500 and r.json()["error"]["code"] == "export_failed"

    stored.unlink()
    r = http.get(f"/api/v1/documents/{text_id}/original", headers=auth)
    assert r.status_code == 500 and r.json()["error"]["code"] == "original_missing"
    assert f"document {text_id}" in r.json()["error"]["message"]
    r = http.get(f"/api/v1/cases/{case['id']}/export", headers=auth)
    assert r.status_code == 500 and r.json()["error"]["code"] == "export_failed"
    assert f"document {text_id}" in r.json()["error"]["message"] and "missing" in r.json()["error"]["message"]
    # put back, it is served again (and checked again: the file changed since the refusal)
    stored.write_bytes(src.read_bytes())
    assert http.get(f"/api/v1/documents/{text_id}/original", headers=auth).content == src.read_bytes()


# -- finding 9: a private data folder, checked by ``archive check`` --------------------------------


def _archive(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``archive`` command, started with umask 022 (the security test's setting)."""
    return run_archive(data, *args, umask=0o022)


def _open_paths(root: Path) -> list[str]:
    out = []
    for p in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        if not p.is_symlink() and mode & 0o077:
            out.append(f"{mode:04o} {p.relative_to(root)}")
    return out


def test_the_data_folder_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """Under umask 022 the security test found the catalog 0644 and the folders 0755: now the data
    folder is 0700 and everything the service writes in it 0600/0700 — catalog, index, originals."""
    data = tmp_path / "data"
    src = tmp_path / "testimony.txt"
    src.write_text("Свідок бачив колону біля мосту вранці.\n", encoding="utf-8")
    r = _archive(data, "ingest", str(src), "--collection", "c", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"][0]["outcome"] == "ok"
    assert _archive(data, "search", "мосту", "--mode", "keyword", "--json").returncode == 0
    assert (data / "catalog.sqlite3").is_file()
    assert any(p.is_file() for p in (data / "index").rglob("*"))
    assert any(p.is_file() for p in (data / "originals").rglob("*"))
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert _open_paths(data) == []


def test_archive_check_reports_open_permissions_and_changed_originals(tmp_path: Path) -> None:
    data = tmp_path / "data"
    src = tmp_path / "testimony.txt"
    src.write_text("Свідок бачив колону біля мосту вранці.\n", encoding="utf-8")
    report = json.loads(_archive(data, "ingest", str(src), "--collection", "c", "--json").stdout)
    sha = report["files"][0]["sha256"]
    assert _archive(data, "check").returncode == 0
    # an installation from before: folders 0755, catalog 0644; and an original changed on disk
    data.chmod(0o755)
    (data / "catalog.sqlite3").chmod(0o644)
    original = data / "originals" / sha[:2] / sha[2:4] / sha
    original.parent.chmod(0o755)
    original.chmod(0o644)
    original.write_bytes(b"forged")
    r = _archive(data, "check")
    assert r.returncode == 1
    assert f"not private: 0755 {data}\n" in r.stdout
    assert f"not private: 0644 {data / 'catalog.sqlite3'}\n" in r.stdout
    assert f"not private: 0644 {original}\n" in r.stdout
    assert f"changed: {sha}" in r.stdout
    # the check's own service start made the folder and the catalog private already
    assert sorted(_open_paths(data)) == sorted(
        ["0755 originals/" + sha[:2] + "/" + sha[2:4], f"0644 {original.relative_to(data)}"]
    )
    data.chmod(0o755)
    (data / "catalog.sqlite3").chmod(0o644)
    r = _archive(data, "check", "--fix", "--json")
    assert r.returncode == 1  # the changed original is still a problem
    out = json.loads(r.stdout)
    assert out["fixed"] == 4 and out["permissions"] == [] and out["mismatched"] == [sha]
    assert _open_paths(data) == []
    original.chmod(0o600)
    original.write_bytes(src.read_bytes())
    r = _archive(data, "check")
    assert r.returncode == 0, r.stdout
    original.unlink()
    r = _archive(data, "check", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["missing"] == [sha]


# -- finding 11: reads and refusals audited; no-store; a cap on batch jobs --------------------------


class Site:
    """A service with an admin ``boss``, a viewer ``eve`` who may read ``open`` only, a secret
    text and PDF, and the API and UI on a test client."""

    def __init__(self, svc: ArchiveService, tmp: Path) -> None:
        from fastapi.testclient import TestClient

        self.svc = svc
        svc.accounts.create_user("boss", PASSWORD, role="admin")
        svc.accounts.create_user("eve", PASSWORD, role="viewer")
        (tmp / "open.txt").write_text("Свідок бачив колону біля мосту вранці.\n", encoding="utf-8")
        (tmp / "secret.txt").write_text("Таємне свідчення про колону біля мосту.\n", encoding="utf-8")
        _pdf(tmp / "secret.pdf", "Протокол допиту свідка біля мосту.")
        assert svc.ingest([tmp / "open.txt"], "open").files[0].outcome == "ok"
        secret = svc.ingest([tmp / "secret.txt", tmp / "secret.pdf"], "secret").files
        assert [f.outcome for f in secret] == ["ok", "ok"]
        self.secret_txt, self.secret_pdf = (int(f.document_id or 0) for f in secret)
        svc.accounts.grant("open", "read", user="eve")
        self.app = create_app(svc.settings, svc)
        self.http = TestClient(self.app, raise_server_exceptions=False)
        self.boss = self._token("boss")
        self.eve = self._token("eve")

    def _token(self, user: str) -> dict[str, str]:
        token = self.svc.accounts.create_token_for(user, name="tests", ttl=timedelta(hours=1))[0]
        return {"Authorization": f"Bearer {token}"}

    def ui(self, user: str) -> Any:
        from fastapi.testclient import TestClient

        c = TestClient(self.app, raise_server_exceptions=False)
        token = self.svc.accounts.create_token_for(user, name="ui", ttl=timedelta(hours=1))[0]
        c.cookies.set("archive_session", token)
        return c

    def audit_since(self, last: int) -> list[tuple[str, str, str | None, str | None, dict[str, Any]]]:
        return [
            (e.actor, e.action, e.object_type, e.object_id, json.loads(e.details or "{}"))
            for e in self.svc.accounts.audit.entries()
            if e.id > last
        ]

    def last_audit(self) -> int:
        return max((e.id for e in self.svc.accounts.audit.entries()), default=0)


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("round3-audit")
    svc = ArchiveService(stack_settings("sqlite", tmp, request, max_batch_jobs=1))
    yield Site(svc, tmp)
    svc.close()


def test_case_batch_page_and_saved_search_reads_are_audited(site: Site) -> None:
    http, boss = site.http, site.boss
    case = http.post("/api/v1/cases", json={"title": "Міст"}, headers=boss).json()
    cid = case["id"]
    assert http.post(
        f"/api/v1/cases/{cid}/items", json={"items": [{"document_id": site.secret_txt}]}, headers=boss
    ).status_code in (200, 201)
    last = site.last_audit()
    for part in ("", "/items", "/notes", "/members"):
        assert http.get(f"/api/v1/cases/{cid}{part}", headers=boss).status_code == 200
    assert http.get(f"/api/v1/documents/{site.secret_txt}/cases", headers=boss).status_code == 200
    ui = site.ui("boss")
    assert ui.get(f"/cases/{cid}").status_code == 200
    assert ui.get(f"/documents/{site.secret_pdf}/pages/1.png").status_code == 200
    got = site.audit_since(last)
    views = [(a, t, i, d.get("part"), bool(d.get("ui"))) for _, a, t, i, d in got]
    assert views == [
        ("view", "case", str(cid), "case", False),
        ("view", "case", str(cid), "items", False),
        ("view", "case", str(cid), "notes", False),
        ("view", "case", str(cid), "members", False),
        ("view", "document", str(site.secret_txt), "cases", False),
        ("view", "case", str(cid), "case", True),
        ("view", "document", str(site.secret_pdf), "page 1", True),
    ]
    # a batch job's results and CSV, in the API and the UI
    names = [f"мосту {n}" for n in range(150)]
    job = http.post("/api/v1/search/batch", json={"names": names, "match": "any"}, headers=boss).json()
    jid = job["job_id"]
    deadline = time.monotonic() + 300
    while http.get(f"/api/v1/search/batch/{jid}", headers=boss).json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    last = site.last_audit()
    assert http.get(f"/api/v1/search/batch/{jid}", headers=boss).status_code == 200
    assert http.get(f"/api/v1/search/batch/{jid}/csv", headers=boss).status_code == 200
    assert ui.get(f"/batch/jobs/{jid}").status_code == 200
    assert ui.get(f"/batch/jobs/{jid}/results.csv").status_code == 200
    saved = http.post("/api/v1/saved-searches", json={"name": "m", "query": "мосту"}, headers=boss).json()
    assert http.delete(f"/api/v1/saved-searches/{saved['id']}", headers=boss).status_code == 204
    got = site.audit_since(last)
    assert [(a, t, i, d.get("part"), bool(d.get("ui"))) for _, a, t, i, d in got] == [
        ("view", "batch_job", str(jid), "results", False),
        ("view", "batch_job", str(jid), "csv", False),
        ("view", "batch_job", str(jid), "results", True),
        ("view", "batch_job", str(jid), "csv", True),
        ("delete", "saved_search", str(saved["id"]), None, False),
    ]


def test_denied_reads_are_audited_and_probing_cannot_flood_the_log(site: Site) -> None:
    """IDOR probing left no trace before: a viewer's 404s on the secret documents are ``denied``
    entries now (API and UI), at most ``DENIED_LIMIT`` per user and window."""
    from search_api.audit import DENIED_LIMIT, DeniedReads

    last = site.last_audit()
    r = site.http.get(f"/api/v1/documents/{site.secret_txt}/original", headers=site.eve)
    assert r.status_code == 404
    assert site.ui("eve").get(f"/documents/{site.secret_pdf}").status_code == 404
    # an anonymous probe has no name to record (and is refused before any lookup)
    assert site.http.get(f"/api/v1/documents/{site.secret_txt}").status_code == 401
    got = site.audit_since(last)
    assert [(u, a, d["path"], d["status"]) for u, a, _, _, d in got] == [
        ("eve", "denied", f"/api/v1/documents/{site.secret_txt}/original", 404),
        ("eve", "denied", f"/documents/{site.secret_pdf}", 404),
    ]
    last = site.last_audit()
    for n in range(3 * DENIED_LIMIT):
        assert site.http.get(f"/api/v1/documents/{1000 + n}", headers=site.eve).status_code == 404
    flood = site.audit_since(last)
    assert len(flood) == DENIED_LIMIT - 2 and {a for _, a, _, _, _ in flood} == {"denied"}
    # what is left out is counted into the next entry once the window has passed
    limiter = DeniedReads(site.svc.accounts.audit, limit=2, window_s=0.5)
    assert [limiter.record("eve", "GET", f"/x/{n}", 404, "not_found") for n in range(6)] == [True, True] + [
        False
    ] * 4
    time.sleep(0.6)
    assert limiter.record("eve", "GET", "/x/7", 404, "not_found")
    assert site.audit_since(site.last_audit() - 1)[0][4]["suppressed"] == 4


def test_every_signed_in_answer_is_no_store(site: Site) -> None:
    """JSON answers (a login's token too) lacked ``Cache-Control: no-store``, page images were
    ``private, max-age``; static files stay cacheable."""
    http, boss = site.http, site.boss
    for path in (
        "/api/v1/search?q=мосту&mode=keyword",
        f"/api/v1/documents/{site.secret_txt}",
        f"/api/v1/documents/{site.secret_txt}/original",
        f"/api/v1/documents/{site.secret_pdf}/pages/1",
        "/api/v1/cases",
        "/api/v1/documents/999999",  # an error naming an id
    ):
        r = http.get(path, headers=boss)
        assert r.status_code in (200, 404) and r.headers.get("cache-control") == "no-store", (path, r.headers)
    ui = site.ui("boss")
    for path in ("/?q=мосту", f"/documents/{site.secret_pdf}", f"/documents/{site.secret_pdf}/pages/1.png"):
        r = ui.get(path)
        assert r.status_code == 200 and "no-store" in r.headers["cache-control"], path
    token = http.post("/api/v1/auth/token", json={"username": "boss", "password": PASSWORD})
    assert token.status_code == 200 and token.headers["cache-control"] == "no-store"
    static = next(iter((Path(__file__).parents[2] / "ui" / "static").glob("*.css")))
    r = ui.get("/static/" + static.name)
    assert r.status_code == 200 and "no-store" not in r.headers.get("cache-control", "")


def test_one_user_may_queue_at_most_the_allowed_batch_jobs(site: Site) -> None:
    http, boss = site.http, site.boss
    names = [f"колону {n}" for n in range(600)]
    first = http.post("/api/v1/search/batch", json={"names": names}, headers=boss)
    assert first.status_code == 202
    second = http.post("/api/v1/search/batch", json={"names": names}, headers=boss)
    assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_batch_jobs"
    # another user is not held up by it
    other = http.post("/api/v1/search/batch", json={"names": names[:150]}, headers=site.eve)
    assert other.status_code == 202
    # short lists are answered at once, not queued: not limited
    assert http.post("/api/v1/search/batch", json={"names": names[:5]}, headers=boss).status_code == 200
    jid = first.json()["job_id"]
    deadline = time.monotonic() + 600
    while http.get(f"/api/v1/search/batch/{jid}", headers=boss).json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert http.post("/api/v1/search/batch", json={"names": names[:150]}, headers=boss).status_code == 202


# -- finding 2: page images rendered in sandbox workers with a time limit ------------------------


def _segments_pdf(path: Path, segments: int) -> None:
    """A one-page PDF with a readable text layer and ``segments`` line segments: the security
    test's 2.8 KB-per-20,000-segments render bomb (300,000 segments rendered for 159 s)."""
    text = b"BT /F1 12 Tf 72 760 Td (The witness saw the column near the bridge in the morning.) Tj ET\n"
    lines = b"".join(
        b"%d %d m %d %d l\n" % (n % 595, n % 841, (n * 7) % 595, (n * 13) % 841) for n in range(segments)
    )
    content = text + lines + b"S\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(out)


def test_a_render_bomb_is_cut_and_does_not_hold_up_other_pages(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Before: rendered in the API process under one global lock, no time limit — 300,000 segments
    took 159 s and delayed every other page image. Now: a sandbox worker, cut after
    ``ARCHIVE_RENDER_TIMEOUT_S`` (503 ``render_failed``; the viewer's placeholder), while another
    page renders at once in the other worker."""
    from fastapi.testclient import TestClient

    svc = ArchiveService(stack_settings("sqlite", tmp_path, request, render_timeout_s=2))
    try:
        svc.accounts.create_user("boss", PASSWORD, role="admin")
        # 800,000 segments: ~4.6 s to render on a quiet 2-core machine, over twice the limit (300,000
        # took 1.95 s there, under a 3 s limit: the test passed only on a loaded machine)
        _segments_pdf(tmp_path / "bomb.pdf", 800_000)
        _pdf(tmp_path / "plain.pdf", "Протокол допиту свідка біля мосту.")
        files = svc.ingest([tmp_path / "bomb.pdf", tmp_path / "plain.pdf"], "c").files
        assert [f.outcome.value for f in files] == ["ok", "ok"], files
        bomb, plain = (f.document_id for f in files)
        http = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
        token = svc.accounts.create_token_for("boss", name="t", ttl=timedelta(hours=1))[0]
        auth = {"Authorization": f"Bearer {token}"}
        assert http.get(f"/api/v1/documents/{plain}/pages/1", headers=auth).status_code == 200  # warm
        answers: dict[str, tuple[int, float, Any]] = {}

        def get(name: str, doc: str | None) -> None:
            t = time.monotonic()
            r = http.get(f"/api/v1/documents/{doc}/pages/1", headers=auth)
            answers[name] = (r.status_code, time.monotonic() - t, r)

        slow = threading.Thread(target=get, args=("bomb", bomb))
        slow.start()
        time.sleep(0.5)  # the bomb is rendering
        get("plain", plain)
        slow.join(60)
        status, took, r = answers["bomb"]
        assert status == 503 and r.json()["error"]["code"] == "render_failed", r.text
        assert f"document {bomb}" in r.json()["error"]["message"]
        assert took < 2 + 15, took
        status, took, r = answers["plain"]
        assert status == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
        assert took < 3, took  # not behind the bomb
        http.cookies.set("archive_session", token)
        r = http.get(f"/documents/{bomb}/pages/1.png")
        assert r.status_code == 503 and r.headers["content-type"].startswith("image/svg+xml")
        assert b"could not be shown" in r.content
        assert http.get(f"/api/v1/documents/{plain}/pages/1", headers=auth).status_code == 200
        assert http.get(f"/api/v1/documents/{plain}/pages/2", headers=auth).status_code == 404
    finally:
        svc.close()
