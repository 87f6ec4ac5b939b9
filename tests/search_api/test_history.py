"""Search history and "run again" (issue 16, part 3): a user's recorded searches, read back from
the audit log, and a rerun that says what changed — on both backends, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import stack_settings

PASSWORD = "a long enough passphrase"


@pytest.fixture(params=["sqlite", "opensearch"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveService]:
    s = ArchiveService(stack_settings(str(request.param), tmp_path, request))
    for name, texts in {
        "east": {"e1.txt": "Затримання біля блокпоста в Бахмуті.", "e2.txt": "Погода була ясна."},
        "west": {"w1.txt": "Ще одне затримання на кордоні."},
    }.items():
        folder = tmp_path / name
        folder.mkdir()
        for fn, text in texts.items():
            (folder / fn).write_text(text + "\n", "utf-8")
        assert all(f.outcome == "ok" for f in s.ingest([folder], name).files)
    s.accounts.create_user("reader", PASSWORD)
    s.accounts.grant("east", "read", user="reader")
    s.accounts.grant("west", "read", user="reader")
    s.accounts.create_user("other", PASSWORD)
    s.accounts.grant("east", "read", user="other")
    yield s
    s.close()


def _auth(http: TestClient, user: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_history_lists_own_searches_and_rerun_says_what_changed(svc: ArchiveService, tmp_path: Path) -> None:
    with TestClient(create_app(svc.settings, svc)) as http:
        reader, other = _auth(http, "reader"), _auth(http, "other")
        r = http.get(
            "/api/v1/search",
            params={"q": "затримання", "mode": "keyword", "group": "passage", "lang": "uk"},
            headers=reader,
        )
        assert r.status_code == 200 and r.json()["total"] == 2
        first_hits = [f"{h['document_id']}:{h['passage_id']}" for h in r.json()["hits"]]
        http.get("/api/v1/search", params={"q": "погода", "mode": "keyword"}, headers=reader)

        hist = http.get("/api/v1/searches", headers=reader).json()
        assert [h["q"] for h in hist] == ["погода", "затримання"]  # newest first
        rec = hist[1]
        assert rec["total"] == 2 and rec["mode"] == "keyword" and rec["group"] == "passage"
        assert rec["filters"] == {"lang": ["uk"]}
        assert rec["record"]["hit_ids"] == first_hits
        assert rec["record"]["readable"] == ["east", "west"]
        assert http.get("/api/v1/searches", params={"size": 1}, headers=reader).json()[0]["q"] == "погода"
        older = http.get("/api/v1/searches", params={"before": hist[0]["id"]}, headers=reader).json()
        assert [h["id"] for h in older] == [rec["id"]]

        # another user's history is theirs alone: not listed, not readable, not re-runnable
        assert http.get("/api/v1/searches", headers=other).json() == []
        assert http.get(f"/api/v1/searches/{rec['id']}", headers=other).status_code == 404
        assert http.post(f"/api/v1/searches/{rec['id']}/rerun", headers=other).status_code == 404
        # an audit entry that is not a search is not a search record
        login_id = rec["id"] - 1
        assert http.get(f"/api/v1/searches/{login_id}", headers=reader).status_code == 404

        # unchanged archive: the same hits
        same = http.post(f"/api/v1/searches/{rec['id']}/rerun", headers=reader).json()
        ch = same["changes"]
        assert ch["same_hits"] and ch["new_hits"] == [] == ch["gone_hits"]
        assert ch["total_before"] == ch["total_now"] == 2 and not ch["access_changed"]

        # a new matching document and a revoked collection: one hit new, one gone
        folder = tmp_path / "more"
        folder.mkdir()
        (folder / "e3.txt").write_text("Затримання волонтера в Ізюмі.\n", "utf-8")
        assert all(f.outcome == "ok" for f in svc.ingest([folder], "east").files)
        svc.accounts.revoke("west", "read", user="reader")
        later = http.post(f"/api/v1/searches/{rec['id']}/rerun", headers=reader).json()
        ch = later["changes"]
        assert ch["total_before"] == 2 and ch["total_now"] == 2 and not ch["same_hits"]
        assert ch["access_changed"] and not ch["index_changed"]
        files = {h["filename"] for h in later["results"]["hits"]}
        assert files == {"e1.txt", "e3.txt"}  # nothing of the revoked collection
        (new,) = ch["new_hits"]
        (gone,) = ch["gone_hits"]
        assert new in {f"{h['document_id']}:{h['passage_id']}" for h in later["results"]["hits"]}
        assert gone in first_hits
        assert later["now"]["rerun_of"] == rec["id"] and later["now"]["record"]["readable"] == ["east"]

        # the reruns are searches of the history too, pointing at the search they ran again
        hist = http.get("/api/v1/searches", headers=reader).json()
        assert [h["rerun_of"] for h in hist[:2]] == [rec["id"], rec["id"]]
        assert http.post("/api/v1/searches/999999/rerun", headers=reader).status_code == 404
