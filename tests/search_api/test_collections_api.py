"""Collection administration over the API (``/api/v1/collections…``), on SQLite and PostgreSQL:
admins create, describe, grant and revoke; everybody else gets 403; every change is audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import AuditEntry
from archive_search.web import create_app
from search_api.service import ArchiveService

pytestmark = pytest.mark.all_stacks  # the service tests also run on OpenSearch + PostgreSQL

PASSWORD = "a long enough passphrase"


def _token(c: TestClient, user: str) -> dict[str, str]:
    r = c.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_collections_are_administered_by_admins(service: ArchiveService, tmp_path: Path) -> None:
    svc = service
    (tmp_path / "a.txt").write_text("A statement about the bridge.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Another statement, about the river.\n", encoding="utf-8")
    svc.ingest([tmp_path / "a.txt", tmp_path / "b.txt"], "statements")
    svc.accounts.create_user("root", PASSWORD, role="admin")
    svc.accounts.create_user("ed", PASSWORD, role="editor")
    svc.accounts.create_group("lawyers")
    svc.accounts.grant("statements", "manage", user="ed")
    with TestClient(create_app(svc.settings, svc)) as c:
        admin, ed = _token(c, "root"), _token(c, "ed")
        r = c.post(
            "/api/v1/collections", json={"name": "interviews", "description": " Spring 2024. "}, headers=admin
        )
        assert r.status_code == 201, r.text
        assert r.json() == {
            "name": "interviews",
            "description": "Spring 2024.",
            "created_at": r.json()["created_at"],
            "documents": 0,
            "passages": 0,
            "grants": [],
        }
        assert c.post("/api/v1/collections", json={"name": "interviews"}, headers=admin).status_code == 409
        assert c.post("/api/v1/collections", json={"name": "a/b"}, headers=admin).status_code == 400
        got = c.get("/api/v1/collections/statements", headers=admin).json()
        assert (got["documents"], got["passages"]) == (2, 2)
        assert got["grants"] == [{"kind": "user", "name": "ed", "permission": "manage"}]
        r = c.patch("/api/v1/collections/statements", json={"description": "Witnesses."}, headers=admin)
        assert r.status_code == 200 and r.json()["description"] == "Witnesses."
        r = c.put(
            "/api/v1/collections/interviews/grants",
            json={"group": "lawyers", "permission": "read"},
            headers=admin,
        )
        assert r.status_code == 200 and r.json() == [
            {"kind": "group", "name": "lawyers", "permission": "read"}
        ]
        r = c.put(
            "/api/v1/collections/interviews/grants",
            json={"group": "lawyers", "permission": "write"},
            headers=admin,
        )
        assert r.json() == [{"kind": "group", "name": "lawyers", "permission": "write"}]
        assert c.get("/api/v1/collections/interviews/grants", headers=admin).json() == r.json()
        assert (
            c.delete("/api/v1/collections/interviews/grants/group/lawyers", headers=admin).status_code == 204
        )
        assert c.get("/api/v1/collections/interviews/grants", headers=admin).json() == []
        # unknown collections and grantees
        assert c.get("/api/v1/collections/nope", headers=admin).status_code == 404
        assert c.put("/api/v1/collections/nope/grants", json={"user": "ed"}, headers=admin).status_code == 404
        assert c.put("/api/v1/collections/interviews/grants", json={}, headers=admin).status_code == 400
        assert c.delete("/api/v1/collections/interviews/grants/role/ed", headers=admin).status_code == 422
        # anyone else, even a user who manages a collection: 403, nothing changed
        for method, path, body in (
            ("POST", "/api/v1/collections", {"name": "sneaky"}),
            ("GET", "/api/v1/collections/statements", None),
            ("PATCH", "/api/v1/collections/statements", {"description": "x"}),
            ("GET", "/api/v1/collections/statements/grants", None),
            ("PUT", "/api/v1/collections/statements/grants", {"user": "ed", "permission": "manage"}),
            ("DELETE", "/api/v1/collections/statements/grants/user/ed", None),
        ):
            r = c.request(method, path, json=body, headers=ed)
            assert r.status_code == 403, (method, path, r.status_code)
            assert r.json()["error"]["code"] == "forbidden"
        names = [x["name"] for x in c.get("/api/v1/collections", headers=admin).json()]
        assert "sneaky" not in names and "interviews" in names
        assert c.get("/api/v1/collections/statements", headers=admin).json()["description"] == "Witnesses."
    with svc.catalog.session() as s:
        ops = [
            (a.actor, a.object_id, a.details)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action == "grant").order_by(AuditEntry.id))
        ]
    assert any(a == "root" and o == "interviews" and "create_collection" in d for a, o, d in ops)
    assert any(a == "root" and o == "statements" and "describe_collection" in d for a, o, d in ops)
    assert sum(1 for a, o, _ in ops if a == "root" and o == "interviews") >= 4  # create, 2 grants, revoke
