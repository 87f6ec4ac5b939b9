"""Accounts, grants and tokens over HTTP, with role fixtures: nobody sees what they may not read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import User
from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.all_stacks  # also on OpenSearch + PostgreSQL

PASSWORD = "a long enough passphrase"
PUBLIC_ROUTES = {"/api/v1/auth/token", "/api/v1/openapi.json", "/healthz", "/"}


@pytest.fixture(scope="module")
def app_service(sample_service: ArchiveService) -> ArchiveService:
    acc = sample_service.accounts
    acc.create_user("admin", PASSWORD, role="admin")
    acc.create_user("reader", PASSWORD)
    acc.create_user("outsider", PASSWORD)
    acc.create_user("member", PASSWORD)
    acc.create_user("writer", PASSWORD, role="editor")
    acc.grant("sample", "read", user="reader")
    acc.create_group("lawyers")
    acc.add_to_group("lawyers", "member")
    acc.grant("sample", "read", group="lawyers")
    acc.grant("uploads", "write", user="writer")
    acc.grant("secret", "read", user="outsider")  # a collection with no documents
    return sample_service


@pytest.fixture(scope="module")
def http(app_service: ArchiveService) -> Iterator[TestClient]:
    with TestClient(create_app(app_service.settings, app_service)) as c:
        yield c


def login(http: TestClient, user: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_every_api_route_needs_a_token(http: TestClient) -> None:
    """Fails when a route is added without authentication (or without being listed public).
    Routes are taken from the OpenAPI schema, which every route must appear in."""
    paths = http.get("/api/v1/openapi.json").json()["paths"]
    checked = 0
    for route, methods in paths.items():
        if route in PUBLIC_ROUTES:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route)
        for method in methods:
            r = http.request(method.upper(), path)
            assert r.status_code == 401, (method, route, r.status_code)
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
            bad = http.request(method.upper(), path, headers={"Authorization": "Bearer not-a-token"})
            assert bad.status_code == 401, (method, route)
            checked += 1
    assert checked >= 8


def test_reader_sees_the_collection_outsider_sees_nothing(http: TestClient) -> None:
    reader, outsider, member = login(http, "reader"), login(http, "outsider"), login(http, "member")
    r = http.get("/api/v1/search", params={"q": "братства", "mode": "keyword"}, headers=reader).json()
    assert r["total"] == 2
    doc_id = r["hits"][0]["document_id"]
    assert http.get("/api/v1/search", params={"q": "братства"}, headers=member).json()["total"] == 2
    out = http.get("/api/v1/search", params={"q": "братства", "mode": "keyword"}, headers=outsider).json()
    assert out["total"] == 0 and out["hits"] == [] and all(v == {} for v in out["facets"].values())
    everything = http.get("/api/v1/search", params={"q": ""}, headers=outsider).json()
    assert everything["total"] == 0
    # a forbidden document answers exactly like a missing one
    for suffix in ("", "/text", "/original"):
        forbidden = http.get(f"/api/v1/documents/{doc_id}{suffix}", headers=outsider)
        missing = http.get(f"/api/v1/documents/987654{suffix}", headers=outsider)
        assert forbidden.status_code == missing.status_code == 404
        assert forbidden.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
        assert http.get(f"/api/v1/documents/{doc_id}{suffix}", headers=reader).status_code == 200
    names = {c["name"] for c in http.get("/api/v1/collections", headers=outsider).json()}
    assert names == {"secret"}
    me = http.get("/api/v1/auth/me", headers=member).json()
    assert me["readable"] == ["sample"] and me["role"] == "viewer"


def test_revoking_a_grant_takes_effect_at_once(http: TestClient, app_service: ArchiveService) -> None:
    app_service.accounts.create_user("temp", PASSWORD)
    app_service.accounts.grant("sample", "read", user="temp")
    headers = login(http, "temp")
    assert http.get("/api/v1/search", params={"q": "brotherhood"}, headers=headers).json()["total"] == 2
    assert app_service.accounts.revoke("sample", "read", user="temp")
    assert http.get("/api/v1/search", params={"q": "brotherhood"}, headers=headers).json()["total"] == 0


def test_revoke_write_leaves_read(app_service: ArchiveService) -> None:
    acc = app_service.accounts
    acc.create_user("downgrade", PASSWORD)
    acc.grant("sample", "manage", user="downgrade")
    uid = acc.principal_for_user
    with app_service.catalog.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "downgrade"))
    assert user_id is not None
    assert uid(user_id).can_manage("sample")
    assert acc.revoke("sample", "write", user="downgrade")
    p = uid(user_id)
    assert p.can_read("sample") and not p.can_write("sample") and not p.can_manage("sample")


def test_upload_needs_write_access(http: TestClient) -> None:
    body = {"file": ("note.txt", "Протокол допиту свідка.".encode(), "text/plain")}
    r = http.post(
        "/api/v1/documents", files=body, data={"collection": "sample"}, headers=login(http, "reader")
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = http.post(
        "/api/v1/documents", files=body, data={"collection": "uploads"}, headers=login(http, "writer")
    )
    assert r.status_code == 201, r.text
    hits = http.get("/api/v1/search", params={"q": "допиту"}, headers=login(http, "writer")).json()["hits"]
    assert [h["collection"] for h in hits] == ["uploads"]
    seen = http.get(
        "/api/v1/search", params={"q": "допиту", "size": 100}, headers=login(http, "reader")
    ).json()
    assert (
        "uploads" not in {h["collection"] for h in seen["hits"]}
        and "uploads" not in seen["facets"]["collection"]
    )


def test_logout_and_expiry(http: TestClient, app_service: ArchiveService) -> None:
    headers = login(http, "reader")
    assert http.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert http.get("/api/v1/auth/me", headers=headers).status_code == 401
    with app_service.catalog.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "reader"))
    assert uid is not None
    token, _ = app_service.accounts.create_token(uid, name="short", ttl=timedelta(seconds=-1))
    r = http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_wrong_passwords_are_rate_limited(http: TestClient, app_service: ArchiveService) -> None:
    app_service.accounts.create_user("victim", PASSWORD)
    for _ in range(app_service.settings.login_max_failures):
        r = http.post("/api/v1/auth/token", json={"username": "victim", "password": "guess-guess-guess"})
        assert r.status_code == 401
    r = http.post("/api/v1/auth/token", json={"username": "victim", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    # an unknown user gets the same answer as a wrong password
    r = http.post("/api/v1/auth/token", json={"username": "nobody-here", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["error"]["message"] == "wrong user name or password"


def test_passwords_are_argon2_and_short_ones_refused(app_service: ArchiveService) -> None:
    with app_service.catalog.session() as s:
        hashes = list(s.scalars(select(User.password_hash)))
    assert hashes and all(h and h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    with pytest.raises(Exception, match="too short"):
        app_service.accounts.create_user("shorty", "short")


def test_a_fresh_catalog_has_no_accounts(service: ArchiveService) -> None:
    with service.catalog.session() as s:
        assert list(s.scalars(select(User))) == []
    assert SAMPLE_DIR.exists()
