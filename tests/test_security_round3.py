"""Issue 22 (hardening), the remaining findings: request bodies only after authentication and
within limits (3), originals re-hashed when served (8), a private data folder and ``archive check``
(9), audited reads and ``Cache-Control: no-store`` (11). Tried the way the security test tried
them: over real HTTP (uvicorn on a free port, raw sockets where the body must *not* be sent), on
files tampered with on disk."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import stack_settings

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
