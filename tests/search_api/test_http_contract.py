"""What the API does with requests its schema does not describe (issue 15, part 3): the fuzzer
(tests/search_api/test_openapi_fuzz.py) finds such gaps at random; these pin each rule down by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archive_search.settings import Settings
from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR

PASSWORD = "a long enough passphrase"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    root: Path = tmp_path_factory.mktemp("contract")
    svc = ArchiveService(Settings(data_dir=root / "data", embedder="none"))
    svc.ingest([SAMPLE_DIR / "udhr-en.txt"], "sample")
    svc.accounts.create_user("boss", PASSWORD, role="admin")
    with TestClient(create_app(svc.settings, svc)) as c:
        token = c.post("/api/v1/auth/token", json={"username": "boss", "password": PASSWORD}).json()
        yield c, {"Authorization": f"Bearer {token['access_token']}"}
    svc.close()


def test_an_unknown_query_parameter_is_refused_not_ignored(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    assert c.get("/api/v1/search?q=dignity&collection=sample", headers=h).status_code == 200
    r = c.get("/api/v1/search?q=dignity&colection=sample", headers=h)  # misspelt: would widen the search
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_parameters" and "colection" in r.json()["error"]["message"]


def test_a_405_lists_every_method_of_the_path(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    r = c.put("/api/v1/saved-searches", headers=h)  # GET and POST are two routes of one path
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"
    r = c.patch("/api/v1/tags/apply", json={}, headers=h)  # not "apply is not a number"
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = c.get("/api/v1/search/batch/csv", headers=h)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_dates_are_iso_dates_only(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    assert c.get("/api/v1/search?q=x&date_to=2020-01-31", headers=h).status_code == 200
    for bad in ("0", "1700000000", "31.01.2020", "2020-1-31"):
        assert c.get(f"/api/v1/search?q=x&date_to={bad}", headers=h).status_code == 422, bad


def test_an_empty_form_field_is_not_the_default(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    files = {"file": ("names.csv", b"name\nRights\n", "text/csv")}
    ok = c.post("/api/v1/search/batch/csv", files=files, data={"match": "any"}, headers=h)
    assert ok.status_code == 200, ok.text
    r = c.post("/api/v1/search/batch/csv", files=files, data={"match": ""}, headers=h)
    assert r.status_code == 422 and "match" in r.json()["error"]["message"]


def test_state_rules_are_conflicts_and_form_rules_are_in_the_schema(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, h = client
    tag = c.post("/api/v1/tags", json={"name": "evidence"}, headers=h).json()
    r = c.post(f"/api/v1/tags/{tag['id']}/merge", json={"into": tag["id"]}, headers=h)
    assert r.status_code == 409
    for bad in ('say "hi"', "\u200b", "   ", "a\u0007b"):
        assert c.post("/api/v1/tags", json={"name": bad}, headers=h).status_code == 422, repr(bad)
    schema = c.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert "pattern" in schema["TagCreate"]["properties"]["name"]
    assert {"oneOf"} <= set(schema["GrantSet"]) and {"oneOf"} <= set(schema["CaseItemCreate"])


def test_a_page_past_the_window_is_empty_and_says_why(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    first = c.get("/api/v1/search?q=&mode=keyword&group=passage&size=5", headers=h).json()
    assert first["total"] > 5 and first["beyond_window"] is False
    far = c.get("/api/v1/search?q=&mode=keyword&group=document&page=9999&size=10", headers=h)
    assert far.status_code == 200  # a schema-valid page is answered, not refused
    body = far.json()
    assert body["hits"] == [] and body["beyond_window"] is True and body["total"] >= 1
