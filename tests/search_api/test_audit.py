"""The hash-chained audit log on SQLite and PostgreSQL: what is recorded, appends from many
threads, the database refusing edits, and `archive audit verify` finding edited, removed and
reordered entries."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from archive_search.catalog.db import Catalog
from archive_search.settings import Settings
from archive_search.web import create_app
from search_api.audit import GENESIS, AuditLog, entry_hash, stored_hash
from search_api.service import ArchiveService
from tests.conftest import run_archive
from tests.search_api.test_auth import PASSWORD, login


def _fill(audit: AuditLog, n: int = 6) -> None:
    for i in range(n):
        audit.record(
            "alice", "search", None, None, {"q": f"свідок {i}", "filters": {"lang": ["uk"]}, "total": i}
        )


def _unlock(catalog: Catalog) -> None:
    """What an attacker with database access does first: take the append-only triggers away."""
    with catalog.engine.begin() as c:
        if catalog.dialect == "postgresql":
            c.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            c.execute(text("DROP TRIGGER audit_log_no_update"))
            c.execute(text("DROP TRIGGER audit_log_no_delete"))


def test_entries_chain_and_verify(service: ArchiveService) -> None:
    audit = AuditLog(service.catalog)
    _fill(audit)
    entries = list(audit.entries())
    assert [e.id for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS
    for prev, e in zip([None, *entries], entries, strict=False):
        assert e.prev_hash == (prev.hash if prev else GENESIS)
        assert e.hash == stored_hash(e)
    assert json.loads(entries[2].details)["q"] == "свідок 2"
    res = audit.verify()
    assert res.ok and res.entries == 6 and res.problem is None


def test_the_database_refuses_edits_and_deletes(service: ArchiveService) -> None:
    _fill(AuditLog(service.catalog), 2)
    for stmt in ("UPDATE audit_log SET actor = 'mallory' WHERE id = 1", "DELETE FROM audit_log WHERE id = 2"):
        with pytest.raises(DBAPIError, match="append-only"), service.catalog.engine.begin() as c:
            c.execute(text(stmt))
    assert AuditLog(service.catalog).verify().ok


def _edit(c: object) -> None:
    c.execute(text("UPDATE audit_log SET details = :d WHERE id = 3"), {"d": '{"q":"інше","total":0}'})  # type: ignore[attr-defined]


def _edit_and_rehash(c: object) -> None:
    """Edit entry 3 and recompute its own hash: the next entry's prev_hash gives it away."""
    row = c.execute(text("SELECT * FROM audit_log WHERE id = 3")).mappings().one()  # type: ignore[attr-defined]
    details = '{"q":"інше","total":0}'
    h = entry_hash(
        row["prev_hash"],
        id=3,
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        details=details,
    )
    c.execute(text("UPDATE audit_log SET details = :d, hash = :h WHERE id = 3"), {"d": details, "h": h})  # type: ignore[attr-defined]


def _delete_middle(c: object) -> None:
    c.execute(text("DELETE FROM audit_log WHERE id = 3"))  # type: ignore[attr-defined]


def _delete_newest(c: object) -> None:
    c.execute(text("DELETE FROM audit_log WHERE id = 6"))  # type: ignore[attr-defined]


def _reorder(c: object) -> None:
    """Swap entries 3 and 4 (their ids stay in sequence, their content moves)."""
    c.execute(text("UPDATE audit_log SET id = 1000 WHERE id = 3"))  # type: ignore[attr-defined]
    c.execute(text("UPDATE audit_log SET id = 3 WHERE id = 4"))  # type: ignore[attr-defined]
    c.execute(text("UPDATE audit_log SET id = 4 WHERE id = 1000"))  # type: ignore[attr-defined]


TAMPERING: dict[str, tuple[Callable[[object], None], int, str]] = {
    "edited": (_edit, 3, "entry 3 was edited"),
    "edited-and-rehashed": (_edit_and_rehash, 4, "entry 4: prev_hash"),
    "deleted": (_delete_middle, 3, "entry 3 is missing"),
    "deleted-newest": (_delete_newest, 6, "newest entries were removed"),
    "reordered": (_reorder, 3, "entry 3"),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_found(service: ArchiveService, kind: str) -> None:
    audit = AuditLog(service.catalog)
    _fill(audit)
    _unlock(service.catalog)
    change, first_bad, message = TAMPERING[kind]
    with service.catalog.engine.begin() as c:
        change(c)
    res = audit.verify()
    assert not res.ok
    assert res.first_bad_id == first_bad, res
    assert res.problem is not None and message in res.problem, res.problem


def test_concurrent_appends_keep_one_chain(service: ArchiveService) -> None:
    audit = AuditLog(service.catalog)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                audit.record(f"user{n}", "view", "document", i, {"n": n, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    res = audit.verify()
    assert res.ok and res.entries == 120, res
    assert [e.id for e in audit.entries()] == list(range(1, 121))


def _archive(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_archive(data, *args)


def test_cli_audit_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run_archive(data, "user", "create", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    for perm in ("read", "write"):
        assert _archive(data, "grant", "--user", "carol", "sample", perm).returncode == 0
    assert _archive(data, "revoke", "--user", "carol", "sample", "write").returncode == 0
    r = _archive(data, "audit", "verify")
    assert r.returncode == 0 and "3 entries" in r.stdout, r.stdout + r.stderr
    listed = _archive(data, "audit", "list", "--json").stdout.splitlines()
    entries = [json.loads(line) for line in listed]
    assert [e["action"] for e in entries] == ["grant"] * 3
    assert entries[0]["details"] == {
        "op": "revoke",
        "user": "carol",
        "group": None,
        "from": "write",
        "to": "read",
    }
    db = Settings(data_dir=data).catalog_url.removeprefix("sqlite:///")
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER audit_log_no_update")
    con.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")
    con.commit()
    con.close()
    r = _archive(data, "audit", "verify")
    assert r.returncode == 1 and "entry 2 was edited" in r.stderr, r.stdout + r.stderr
    assert json.loads(_archive(data, "audit", "verify", "--json").stdout)["first_bad_id"] == 2


def test_events_are_recorded(sample_service: ArchiveService) -> None:
    """login, search (query, filters, count), view, download, ingest, tag, case, export, grant."""
    svc = sample_service
    svc.accounts.create_user("auditor", PASSWORD, role="editor")
    svc.accounts.grant("sample", "write", user="auditor", actor="admin-on-cli")
    with TestClient(create_app(svc.settings, svc)) as http:
        bad = http.post("/api/v1/auth/token", json={"username": "auditor", "password": "wrong password!"})
        assert bad.status_code == 401
        who = login(http, "auditor")
        r = http.get(
            "/api/v1/search", params={"q": "братерства", "lang": "uk", "mode": "keyword"}, headers=who
        )
        total = r.json()["total"]
        hit = r.json()["hits"][0]
        doc = hit["document_id"]
        http.get(f"/api/v1/documents/{doc}", headers=who)
        http.get(f"/api/v1/documents/{doc}/text", headers=who)
        http.get(f"/api/v1/documents/{doc}/original", headers=who)
        up = http.post(
            "/api/v1/documents",
            files={"file": ("zvit.txt", "Звіт про обшук.".encode(), "text/plain")},
            data={"collection": "sample"},
            headers=who,
        )
        assert up.status_code == 201, up.text
        http.post("/api/v1/tags/apply", json={"names": ["обшук"], "document_ids": [int(doc)]}, headers=who)
        case = http.post("/api/v1/cases", json={"title": "Аудит"}, headers=who).json()
        http.post(
            f"/api/v1/cases/{case['id']}/items", json={"items": [{"document_id": int(doc)}]}, headers=who
        )
        assert http.get(f"/api/v1/cases/{case['id']}/export", headers=who).status_code == 200
    audit = AuditLog(svc.catalog)
    entries = [e for e in audit.entries() if e.actor in ("auditor", "admin-on-cli")]
    actions = [e.action for e in entries]
    for action in ("grant", "login", "search", "view", "download", "ingest", "tag", "case", "export"):
        assert action in actions, (action, actions)
    logins = [json.loads(e.details) for e in entries if e.action == "login"]
    assert [d["ok"] for d in logins] == [False, True]
    search = next(json.loads(e.details) for e in entries if e.action == "search")
    assert search["q"] == "братерства" and search["filters"]["lang"] == ["uk"] and search["total"] == total
    views = [json.loads(e.details)["part"] for e in entries if e.action == "view"]
    assert views == ["metadata", "text"]
    assert audit.verify().ok
