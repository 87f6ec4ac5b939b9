"""Editing a metadata field's definition after creation (issue 18): label, description, options,
required-ness and ``multiple`` through the API, with the manage right, audited; type changes
refused; values, filters and facets unchanged on every stack (nothing needs re-indexing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import AuditEntry
from archive_search.types import LOCAL_ADMIN
from archive_search.web import create_app
from search_api.metadata import FieldUpdate
from search_api.service import ArchiveService
from tests.search_api.test_metadata import PASSWORD, _facets, _files, _setup


@pytest.mark.all_stacks
def test_field_definitions_can_be_edited(service: ArchiveService, tmp_path: Path) -> None:
    svc = service
    ids, reader, _clerk = _setup(svc, tmp_path)
    svc.accounts.create_user("root", PASSWORD, role="admin")
    client = TestClient(create_app(svc.settings, svc))

    def auth(user: str) -> dict[str, str]:
        r = client.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    root, clerk, rd = auth("root"), auth("clerk"), auth("reader")
    base = "/api/v1/collections/open/fields"
    field = {"name": "consent", "label": "Consent", "type": "select", "options": ["full", "partial"]}
    assert client.post(base, json=field, headers=root).status_code == 201
    note = {"name": "note", "label": "Note", "type": "text"}
    assert client.post(base, json=note, headers=root).status_code == 201
    r = client.post(
        "/api/v1/metadata/apply",
        json={"document_ids": [ids["ru.txt"], ids["uk.txt"]], "values": {"consent": "partial"}},
        headers=clerk,
    )
    assert r.status_code == 200, r.text

    # only managers; a collection the caller may not read is missing
    assert client.patch(f"{base}/consent", json={"label": "X"}, headers=clerk).status_code == 403
    assert client.patch(f"{base}/consent", json={"label": "X"}, headers=rd).status_code == 403
    closed = "/api/v1/collections/closed/fields/consent"
    assert client.patch(closed, json={"label": "X"}, headers=clerk).status_code == 404
    assert client.patch(f"{base}/nothing", json={"label": "X"}, headers=root).status_code == 404

    # rename the label, add an option, make it required
    r = client.patch(
        f"{base}/consent",
        json={"label": "Consent  level", "options": ["full", "partial", "withdrawn"], "required": True},
        headers=root,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["label"], got["options"], got["required"], got["type"]) == (
        "Consent level",
        ["full", "partial", "withdrawn"],
        True,
        "select",
    )
    assert client.get(base, headers=rd).json()[0]["label"] == "Consent level"
    # the new option is accepted at once; the values, filters and facets are as before
    url = f"/api/v1/documents/{ids['en.txt']}/metadata"
    assert client.put(url, json={"values": {"consent": "withdrawn"}}, headers=clerk).status_code == 200
    assert _files(svc, reader, meta=["consent=partial"]) == {"ru.txt", "uk.txt"}
    assert _files(svc, reader, meta=["consent=withdrawn"]) == {"en.txt"}
    assert _facets(svc, reader)["meta.consent"] == {"partial": 2, "withdrawn": 1}
    # required: a value can change but not be cleared
    r = client.put(url, json={"values": {"consent": None}}, headers=clerk)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_metadata"
    assert client.put(url, json={"values": {"consent": "full"}}, headers=clerk).status_code == 200

    # an option in use cannot be removed; an unused one can
    r = client.patch(f"{base}/consent", json={"options": ["full", "withdrawn"]}, headers=root)
    assert r.status_code == 409 and "partial" in r.json()["error"]["message"]
    r = client.patch(f"{base}/consent", json={"options": ["partial", "full"]}, headers=root)
    assert r.status_code == 200 and r.json()["options"] == ["partial", "full"]
    # type changes are refused, as are options on a text field and bad input
    r = client.patch(f"{base}/consent", json={"type": "text"}, headers=root)
    assert r.status_code == 409 and "cannot change" in r.json()["error"]["message"]
    assert client.patch(f"{base}/consent", json={"type": "select"}, headers=root).status_code == 200
    assert client.patch(f"{base}/note", json={"options": ["a"]}, headers=root).status_code == 409
    assert client.patch(f"{base}/note", json={"multiple": True}, headers=root).status_code == 409
    assert client.patch(f"{base}/note", json={"name": "other"}, headers=root).status_code == 422
    assert client.patch(f"{base}/note", json={"label": ""}, headers=root).status_code == 422
    # multiple: on, then back to single only while no document holds several values
    assert client.patch(f"{base}/consent", json={"multiple": True}, headers=root).status_code == 200
    r = client.put(url, json={"values": {"consent": ["full", "partial"]}}, headers=clerk)
    assert r.status_code == 200, r.text
    assert client.patch(f"{base}/consent", json={"multiple": False}, headers=root).status_code == 409
    assert client.put(url, json={"values": {"consent": "full"}}, headers=clerk).status_code == 200
    assert client.patch(f"{base}/consent", json={"multiple": False}, headers=root).status_code == 200

    # every change is one audit entry with the old and new definition; refused ones leave none
    with svc.catalog.session() as s:
        edits = [
            json.loads(e.details)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "metadata_field"))
        ]
    edits = [e for e in edits if e["op"] == "edit"]
    assert [sorted(e["changes"]) for e in edits] == [
        ["label", "options", "required"],
        ["options"],
        ["multiple"],
        ["multiple"],
    ]
    assert edits[0]["changes"]["label"] == ["Consent", "Consent level"]
    # an empty change is no change: no audit entry
    assert svc.metadata.update_field("open", "consent", FieldUpdate(), LOCAL_ADMIN).label == "Consent level"
    with svc.catalog.session() as s:
        n = len(list(s.scalars(select(AuditEntry).where(AuditEntry.action == "metadata_field"))))
    assert n == 2 + len(edits)
