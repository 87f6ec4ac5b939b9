"""Bounded totals and facets through the service, the HTTP API, the CLI and the web interface
(issue 17, part 3), on both backends: a search counts exactly up to ``ARCHIVE_TOTAL_HITS_EXACT_UP_TO``
and says "at least N" beyond it, its facets then marked approximate; restricted, withdrawn and
unreadable documents are never counted; cursor paging and exports still reach every hit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import Document, Passage, User
from archive_search.types import LOCAL_ADMIN, Principal, SearchRequest
from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import stack_settings

PASSWORD = "a long enough passphrase"
BOUND = 50
SHORT = 4
"""Short readable documents that hold the word once."""


def _paragraphs(label: str, n: int) -> str:
    return "\n\n".join(f"{label} {i}: затримання біля блокпоста номер {i}." for i in range(n)) + "\n"


@pytest.fixture(scope="module", params=["sqlite", "opensearch"])
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveService]:
    tmp = tmp_path_factory.mktemp(f"bounded-{request.param}")
    service = ArchiveService(
        stack_settings(str(request.param), tmp, request, passage_chars=100, total_hits_exact_up_to=BOUND)
    )
    records, secret = tmp / "records", tmp / "secret"
    records.mkdir()
    secret.mkdir()
    (records / "book.txt").write_text(_paragraphs("Запис", 240), "utf-8")
    for i in range(SHORT):
        (records / f"short-{i}.txt").write_text(f"Коротке повідомлення {i} про затримання.\n", "utf-8")
    (records / "restricted.txt").write_text(_paragraphs("Закрите", 120), "utf-8")
    (records / "withdrawn.txt").write_text(_paragraphs("Відкликане", 120), "utf-8")
    (secret / "secret.txt").write_text(_paragraphs("Таємне", 160), "utf-8")
    for folder, collection in ((records, "records"), (secret, "secret")):
        report = service.ingest([folder], collection)
        assert all(f.outcome == "ok" for f in report.files), report.files
    with service.catalog.session() as s:
        ids = {d.filename: d.id for d in s.scalars(select(Document))}
    service.care.restrict(ids["restricted.txt"], LOCAL_ADMIN, users=[])
    service.care.withdraw(ids["withdrawn.txt"], "consent withdrawn", LOCAL_ADMIN)
    service.accounts.create_user("reader", PASSWORD)
    service.accounts.grant("records", "read", user="reader")
    yield service
    service.close()


def _passages(svc: ArchiveService, filename: str) -> int:
    """Passages of a document (the splitter decides how many paragraphs make one)."""
    with svc.catalog.session() as s:
        doc = s.scalar(select(Document.id).where(Document.filename == filename))
        return len(list(s.scalars(select(Passage.id).where(Passage.document_id == doc))))


@pytest.fixture(scope="module")
def book(svc: ArchiveService) -> int:
    """Passages of the readable book, each holding the word (more than ``BOUND``)."""
    n = _passages(svc, "book.txt")
    assert n > BOUND + SHORT
    return n


def _uid(svc: ArchiveService, username: str) -> int:
    with svc.catalog.session() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
    assert uid is not None
    return int(uid)


@pytest.fixture(scope="module")
def reader(svc: ArchiveService) -> Principal:
    return svc.accounts.principal_for_user(_uid(svc, "reader"))


def test_exact_below_the_bound_at_least_beyond(svc: ArchiveService, reader: Principal, book: int) -> None:
    # passages: the book's and the 4 short ones match; counting stops at 50
    res = svc.search(SearchRequest(q="затримання", mode="keyword", group="passage"), reader)
    assert (res.total, res.total_relation, res.facets_approximate) == (BOUND, "gte", True)
    assert set(res.facets["collection"]) == {"records"}
    assert 0 < res.facets["collection"]["records"] <= book + SHORT
    # documents (the default grouping): a lower bound, never more than the 5 readable documents
    grouped = svc.search(SearchRequest(q="затримання", mode="keyword"), reader)
    assert grouped.total_relation == "gte" and 1 <= grouped.total <= 1 + SHORT
    # a search below the bound is exact, facets included
    small = svc.search(SearchRequest(q="Коротке", mode="keyword", group="passage"), reader)
    assert (small.total, small.total_relation, small.facets_approximate) == (SHORT, "eq", False)
    assert small.facets["collection"] == {"records": SHORT}
    small_docs = svc.search(SearchRequest(q="Коротке", mode="keyword"), reader)
    assert (small_docs.total, small_docs.total_relation) == (SHORT, "eq")


def test_unreadable_documents_are_never_counted(svc: ArchiveService, reader: Principal, book: int) -> None:
    # the restricted, withdrawn and secret documents hold many matching passages between them:
    # without them the reader's matches stay under a bound of 1,000
    hidden, secret = _passages(svc, "restricted.txt"), _passages(svc, "secret.txt")
    assert hidden > BOUND and secret > BOUND and _passages(svc, "withdrawn.txt") > BOUND
    wide = svc.settings.model_copy(update={"total_hits_exact_up_to": 1000})
    service = ArchiveService(wide)
    try:
        res = service.search(SearchRequest(q="затримання", mode="keyword", group="passage"), reader)
        assert (res.total, res.total_relation, res.facets_approximate) == (book + SHORT, "eq", False)
        assert res.facets["collection"] == {"records": book + SHORT}
        grouped = service.search(SearchRequest(q="затримання", mode="keyword"), reader)
        assert (grouped.total, grouped.total_relation) == (1 + SHORT, "eq")
        admin = service.search(SearchRequest(q="затримання", mode="keyword", group="passage"), LOCAL_ADMIN)
        assert admin.total == book + SHORT + hidden + secret  # the restricted one too; never the withdrawn
        assert admin.facets["collection"] == {"records": book + SHORT + hidden, "secret": secret}
    finally:
        service.close()
    # bounded: the sample is drawn from what the reader may read only
    for q in ("Закрите", "Відкликане", "Таємне"):
        res = svc.search(SearchRequest(q=q, mode="keyword", group="passage"), reader)
        assert (res.total, res.total_relation, res.hits) == (0, "eq", [])
        assert not any(res.facets["collection"].values())


def test_cursor_paging_and_export_reach_every_hit(svc: ArchiveService, reader: Principal, book: int) -> None:
    req = SearchRequest(q="затримання", mode="keyword", group="passage", size=40)
    res = svc.search(req, reader)
    seen = [h.passage_id for h in res.hits]
    while res.next_cursor is not None:
        res = svc.search(replace(req, cursor=res.next_cursor), reader)
        assert (res.total, res.total_relation) == (BOUND, "gte")
        seen += [h.passage_id for h in res.hits]
    assert len(seen) == len(set(seen)) == book + SHORT
    info, hits = svc.retrieval.export_hits(
        SearchRequest(q="затримання", mode="keyword", group="passage"), reader
    )
    exported = [h.passage_id for h in hits]
    assert info.total == len(exported) == book + SHORT and set(exported) == set(seen)


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _count_line(html: str) -> str:
    m = re.search(r'id="result-count">([^<]*)<', html)
    assert m, "no result count in the page"
    return m.group(1)


def test_api_and_pages_say_at_least(svc: ArchiveService) -> None:
    with TestClient(create_app(svc.settings, svc)) as http:
        tok = http.post("/api/v1/auth/token", json={"username": "reader", "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {tok['access_token']}"}
        params = {"q": "затримання", "mode": "keyword", "group": "passage"}
        body = http.get("/api/v1/search", params=params, headers=auth).json()
        assert (body["total"], body["total_relation"], body["facets_approximate"]) == (BOUND, "gte", True)
        small = http.get("/api/v1/search", params={"q": "Коротке", "mode": "keyword"}, headers=auth).json()
        assert (small["total"], small["total_relation"], small["facets_approximate"]) == (SHORT, "eq", False)
    # the page groups by document: at least as many documents as it counted among the matches
    reader = svc.accounts.principal_for_user(_uid(svc, "reader"))
    docs = svc.search(SearchRequest(q="затримання", mode="keyword"), reader)
    assert docs.total_relation == "gte" and 1 <= docs.total <= 1 + SHORT
    n = docs.total
    for lang, words, exact_words in (
        ("uk", f"Результатів: щонайменше {n}", f"Результатів: {SHORT}"),
        ("ru", f"Результатов: не менее {n}", f"Результатов: {SHORT}"),
        ("en", f"At least {n} results", f"{SHORT} results"),
    ):
        with TestClient(create_app(svc.settings, svc), headers={"Accept-Language": lang}) as c:
            token = _csrf(c.get("/login").text)
            form = {"username": "reader", "password": PASSWORD, "csrf_token": token, "next": "/"}
            assert c.post("/login", data=form, follow_redirects=False).status_code == 303
            page = c.get("/", params={"q": "затримання", "mode": "keyword"})
            assert page.status_code == 200
            assert _count_line(page.text) == words, lang
            assert 'id="facets-approximate"' in page.text
            exact = c.get("/", params={"q": "Коротке", "mode": "keyword"})
            assert _count_line(exact.text) == exact_words, lang
            assert 'id="facets-approximate"' not in exact.text


def test_command_line_says_at_least(svc: ArchiveService) -> None:
    st = svc.settings
    env = {
        **os.environ,
        "ARCHIVE_DATA_DIR": str(st.data_dir),
        "ARCHIVE_DATABASE_URL": str(st.database_url),
        "ARCHIVE_EMBEDDER": "none",
        "ARCHIVE_BACKEND": st.backend,
        "ARCHIVE_TOTAL_HITS_EXACT_UP_TO": str(BOUND),
        "ARCHIVE_OPENSEARCH_INDEX_PREFIX": st.opensearch_index_prefix,
    }
    if st.opensearch_url:
        env["ARCHIVE_OPENSEARCH_URL"] = st.opensearch_url
    exe = Path(sys.executable).with_name("archive")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(exe), "search", *args, "--mode", "keyword"]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)

    r = run("затримання")
    assert r.returncode == 0, r.stderr
    # documents, as the command line groups: a lower bound among the admin's 7 documents
    assert re.match(r"at least [1-7] matches \(keyword", r.stdout), r.stdout[:200]
    r = run("Коротке")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{SHORT} matches (keyword"), r.stdout[:200]
    as_json = json.loads(run("затримання", "--json").stdout)
    assert as_json["total_relation"] == "gte" and as_json["facets_approximate"] is True
