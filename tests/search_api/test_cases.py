"""Tags and case files over HTTP, on SQLite and PostgreSQL: tags as filter and facet, case access,
and items of collections a user cannot read left out of everything (lists, counts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archive_search.web import create_app
from index.backend import Filters
from search_api.service import ArchiveService
from tests.search_api.test_auth import PASSWORD, login

pytestmark = pytest.mark.all_stacks  # also on OpenSearch + PostgreSQL

RESTRICTED_TEXT = "Протокол допиту свідка Іваненка. Свідок розповів про катування в ізоляторі у 2014 році.\n"


def setup_people(svc: ArchiveService, tmp: Path) -> int:
    """Users and grants shared by the case tests; returns the id of a document in ``restricted``."""
    acc = svc.accounts
    acc.create_user("admin", PASSWORD, role="admin")
    acc.create_user("ed", PASSWORD, role="editor")  # reads sample and restricted
    acc.create_user("ed2", PASSWORD, role="editor")  # reads sample only
    acc.create_user("vi", PASSWORD)  # a viewer of sample
    acc.create_user("out", PASSWORD, role="editor")  # reads nothing
    acc.grant("sample", "read", user="ed")
    acc.grant("restricted", "read", user="ed")
    acc.grant("sample", "read", user="ed2")
    acc.grant("sample", "read", user="vi")
    f = tmp / "protokol-dopytu.txt"
    f.write_text(RESTRICTED_TEXT, encoding="utf-8")
    report = svc.ingest([f], "restricted")
    assert report.files[0].outcome == "ok", report.files[0]
    assert report.files[0].document_id is not None
    return int(report.files[0].document_id)


@pytest.fixture(scope="module")
def env(
    sample_service: ArchiveService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, ArchiveService, int]]:
    restricted = setup_people(sample_service, tmp_path_factory.mktemp("restricted"))
    with TestClient(create_app(sample_service.settings, sample_service)) as c:
        yield c, sample_service, restricted


def _search(http: TestClient, who: dict[str, str], q: str, **params: object) -> dict:  # type: ignore[type-arg]
    r = http.get("/api/v1/search", params={"q": q, "mode": "keyword", "size": 100, **params}, headers=who)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def backend_tagged(svc: ArchiveService, tag: str) -> set[int]:
    """Passage ids the search backend itself has under ``tag`` (whatever the API's grouping)."""
    res = svc.backend.keyword_search(None, Filters(allowed_collections=None, tags=(tag,)), limit=10_000)
    return {h.passage_id for h in res.hits}


def test_tags_are_a_filter_and_facet_that_respect_access(env: tuple[TestClient, ArchiveService, int]) -> None:
    http, svc, restricted = env
    ed, ed2, vi, out = (login(http, u) for u in ("ed", "ed2", "vi", "out"))
    hit = _search(http, ed, "братерства", lang="uk")["hits"][0]
    passage_id, sample_doc = int(hit["passage_id"]), int(hit["document_id"])

    # a viewer may not tag; an editor may not tag what it cannot read (and learns nothing from it)
    body = {"names": ["свідчення"], "passage_ids": [passage_id], "document_ids": [restricted]}
    assert http.post("/api/v1/tags/apply", json=body, headers=vi).json()["error"]["code"] == "forbidden"
    r = http.post("/api/v1/tags/apply", json=body, headers=ed2)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = http.post("/api/v1/tags/apply", json={**body, "document_ids": [987654]}, headers=ed2)
    assert r.status_code == 404

    r = http.post("/api/v1/tags/apply", json=body, headers=ed)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["changed"] == 2 and res["reindexed"] >= 2
    tag = res["tags"][0]
    assert tag["name"] == "свідчення" and tag["documents"] == 1 and tag["passages"] == 1

    # at once: tag:NAME as filter and the tag facet (document tag ∪ passage tag)
    mine = _search(http, ed, 'tag:"свідчення"')
    assert {h["passage_id"] for h in mine["hits"]} >= {str(passage_id)}
    assert {h["collection"] for h in mine["hits"]} == {"sample", "restricted"}
    assert mine["facets"]["tag"]["свідчення"] == mine["total"]
    via_param = _search(http, ed, "", tag="свідчення")
    assert via_param["total"] == mine["total"]
    # ed2 cannot read restricted: neither its hits nor its facet counts
    theirs = _search(http, ed2, 'tag:"свідчення"')
    assert [h["passage_id"] for h in theirs["hits"]] == [str(passage_id)]
    assert theirs["facets"]["tag"] == {"свідчення": 1}
    assert "restricted" not in theirs["facets"]["collection"]
    none = _search(http, out, 'tag:"свідчення"')
    assert none["total"] == 0 and none["facets"]["tag"] == {}
    # tag listing: the name is global, the counts are per reader
    tags = {t["name"]: t for t in http.get("/api/v1/tags", headers=ed2).json()}
    assert tags["свідчення"]["documents"] == 0 and tags["свідчення"]["passages"] == 1
    tags = {t["name"]: t for t in http.get("/api/v1/tags", headers=ed).json()}
    assert tags["свідчення"]["documents"] == 1

    # a whole-document tag reaches every passage of the document
    http.post("/api/v1/tags/apply", json={"names": ["udhr"], "document_ids": [sample_doc]}, headers=ed)
    n_passages = http.get(f"/api/v1/documents/{sample_doc}", headers=ed).json()["passages"]
    assert n_passages > 1 and len(backend_tagged(svc, "udhr")) == n_passages
    assert {h["document_id"] for h in _search(http, ed, "tag:udhr")["hits"]} == {str(sample_doc)}
    assert backend_tagged(svc, "свідчення") >= {passage_id}
    # removing it takes it out of the index at once
    r = http.post(
        "/api/v1/tags/apply",
        json={"names": ["udhr"], "document_ids": [sample_doc], "remove": True},
        headers=ed,
    )
    assert r.json()["changed"] == 1
    assert _search(http, ed, "tag:udhr")["total"] == 0 and backend_tagged(svc, "udhr") == set()
    assert backend_tagged(svc, "свідчення") >= {passage_id}  # other tags of those passages stay


def test_rename_merge_delete_follow_in_the_index(env: tuple[TestClient, ArchiveService, int]) -> None:
    http, _, restricted = env
    admin, ed = login(http, "admin"), login(http, "ed")
    a = http.post("/api/v1/tags", json={"name": "torture"}, headers=ed)
    assert a.status_code == 201, a.text
    assert http.post("/api/v1/tags", json={"name": "torture"}, headers=ed).status_code == 409
    assert http.post("/api/v1/tags", json={"name": 'bad"name'}, headers=ed).status_code == 422
    b = http.post("/api/v1/tags", json={"name": "катування"}, headers=ed).json()
    a_id, b_id = a.json()["id"], b["id"]
    http.post("/api/v1/tags/apply", json={"tag_ids": [a_id], "document_ids": [restricted]}, headers=ed)
    assert _search(http, ed, "tag:torture")["total"] >= 1
    # global effects need the admin role
    assert http.patch(f"/api/v1/tags/{a_id}", json={"name": "x"}, headers=ed).status_code == 403
    r = http.patch(f"/api/v1/tags/{a_id}", json={"name": "torture-2014"}, headers=admin)
    assert r.status_code == 200 and r.json()["name"] == "torture-2014"
    assert _search(http, ed, "tag:torture")["total"] == 0
    assert _search(http, ed, "tag:torture-2014")["total"] >= 1
    r = http.post(f"/api/v1/tags/{a_id}/merge", json={"into": b_id}, headers=admin)
    assert r.status_code == 200 and r.json()["documents"] == 1
    assert http.get(f"/api/v1/tags/{a_id}", headers=ed).status_code == 404
    assert _search(http, ed, "tag:torture-2014")["total"] == 0
    assert _search(http, ed, "tag:катування")["total"] >= 1
    assert http.delete(f"/api/v1/tags/{b_id}", headers=ed).status_code == 403
    assert http.delete(f"/api/v1/tags/{b_id}", headers=admin).status_code == 204
    assert _search(http, ed, "tag:катування")["total"] == 0


def test_case_access_and_hidden_items(env: tuple[TestClient, ArchiveService, int]) -> None:
    http, _, restricted = env
    ed, ed2, vi, out, admin = (login(http, u) for u in ("ed", "ed2", "vi", "out", "admin"))
    assert http.post("/api/v1/cases", json={"title": "x"}, headers=vi).status_code == 403
    r = http.post("/api/v1/cases", json={"title": "Справа №1", "description": "Свідчення"}, headers=ed)
    assert r.status_code == 201, r.text
    case = r.json()
    cid = case["id"]
    assert case["access"] == "owner" and case["status"] == "open" and case["item_count"] == 0
    hits = _search(http, ed, "братерства", lang="uk")["hits"]
    items = [
        {"passage_id": int(hits[0]["passage_id"]), "query": "братерства", "note": "ст. 1"},
        {"document_id": restricted, "query": "допиту", "note": "протокол"},
        {"document_id": int(hits[0]["document_id"])},
    ]
    r = http.post(f"/api/v1/cases/{cid}/items", json={"items": items}, headers=ed)
    assert r.status_code == 201, r.text
    added = r.json()
    assert [i["position"] for i in added] == [1, 2, 3]
    assert added[0]["text"] and added[0]["lang"] == "uk" and added[0]["added_by"] == "ed"
    assert added[0]["query"] == "братерства" and len(added[0]["sha256"]) == 64
    dup = http.post(f"/api/v1/cases/{cid}/items", json={"items": items[:1]}, headers=ed)
    assert dup.status_code == 409
    assert (
        http.post(f"/api/v1/cases/{cid}/notes", json={"text": "Перевірити дату"}, headers=ed).status_code
        == 201
    )

    # members: ed2 may edit, vi may read; a viewer cannot be an edit member
    assert (
        http.post(f"/api/v1/cases/{cid}/members", json={"username": "vi", "permission": "edit"}, headers=ed)
    ).status_code == 409
    http.post(f"/api/v1/cases/{cid}/members", json={"username": "vi", "permission": "read"}, headers=ed)
    r = http.post(f"/api/v1/cases/{cid}/members", json={"username": "ed2", "permission": "edit"}, headers=ed)
    assert {m["username"] for m in r.json()} == {"vi", "ed2"}
    assert http.post(f"/api/v1/cases/{cid}/members", json={"username": "out"}, headers=ed2).status_code == 403

    # what each one sees: the restricted item is neither shown nor counted to ed2 and vi
    full = http.get(f"/api/v1/cases/{cid}", headers=ed).json()
    assert (
        full["item_count"] == 3 and len(full["items"]) == 3 and full["notes"][0]["text"] == "Перевірити дату"
    )
    for who in (ed2, vi):
        seen = http.get(f"/api/v1/cases/{cid}", headers=who).json()
        assert seen["item_count"] == 2 and [i["collection"] for i in seen["items"]] == ["sample", "sample"]
        assert [i["position"] for i in seen["items"]] == [1, 2]
        listed = {c["id"]: c for c in http.get("/api/v1/cases", headers=who).json()}
        assert listed[cid]["item_count"] == 2
        assert http.get(f"/api/v1/documents/{restricted}/cases", headers=who).status_code == 404
        hidden_id = full["items"][1]["id"]
        assert (
            http.patch(f"/api/v1/cases/{cid}/items/{hidden_id}", json={"note": "x"}, headers=ed2).status_code
            == 404
        )
    assert [c["id"] for c in http.get(f"/api/v1/documents/{restricted}/cases", headers=ed).json()] == [cid]
    assert cid in {c["id"] for c in http.get("/api/v1/cases", headers=admin).json()}
    # outsiders: the same 404 as a missing case; no list entry
    assert http.get(f"/api/v1/cases/{cid}", headers=out).status_code == 404
    assert http.get("/api/v1/cases/987654", headers=out).status_code == 404
    assert cid not in {c["id"] for c in http.get("/api/v1/cases", headers=out).json()}
    # a read member cannot change anything
    assert http.patch(f"/api/v1/cases/{cid}", json={"title": "y"}, headers=vi).status_code == 403
    assert http.post(f"/api/v1/cases/{cid}/notes", json={"text": "y"}, headers=vi).status_code == 403

    # ed2 reorders what it sees; the hidden item keeps its slot
    vis = [i["id"] for i in http.get(f"/api/v1/cases/{cid}/items", headers=ed2).json()]
    bad = http.put(f"/api/v1/cases/{cid}/items", json={"item_ids": vis[:1]}, headers=ed2)
    assert bad.status_code == 409
    r = http.put(f"/api/v1/cases/{cid}/items", json={"item_ids": vis[::-1]}, headers=ed2)
    assert [i["id"] for i in r.json()] == vis[::-1]
    order = [i["id"] for i in http.get(f"/api/v1/cases/{cid}/items", headers=ed).json()]
    assert order == [vis[1], full["items"][1]["id"], vis[0]]
    # notes on items, removal
    r = http.patch(f"/api/v1/cases/{cid}/items/{vis[0]}", json={"note": "головне"}, headers=ed2)
    assert r.status_code == 200 and r.json()["note"] == "головне"
    assert http.delete(f"/api/v1/cases/{cid}/items/{vis[1]}", headers=ed2).status_code == 204
    assert http.get(f"/api/v1/cases/{cid}", headers=ed).json()["item_count"] == 2
    # closed cases keep their items; reopening allows changes again
    r = http.patch(f"/api/v1/cases/{cid}", json={"status": "closed"}, headers=ed)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = http.post(f"/api/v1/cases/{cid}/items", json={"items": [{"document_id": restricted}]}, headers=ed)
    assert r.status_code in (409,) and r.json()["error"]["code"] == "conflict"
    assert [c["id"] for c in http.get("/api/v1/cases", params={"status": "closed"}, headers=ed).json()] == [
        cid
    ]
    assert http.patch(f"/api/v1/cases/{cid}", json={"status": "open"}, headers=ed2).status_code == 200
    assert http.delete(f"/api/v1/cases/{cid}/members/vi", headers=ed).status_code == 204
    assert http.get(f"/api/v1/cases/{cid}", headers=vi).status_code == 404


def test_case_routes_are_in_the_openapi_schema(env: tuple[TestClient, ArchiveService, int]) -> None:
    http, _, _ = env
    schema = http.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for p in (
        "/api/v1/tags",
        "/api/v1/tags/{tag_id}",
        "/api/v1/tags/{tag_id}/merge",
        "/api/v1/tags/apply",
        "/api/v1/cases",
        "/api/v1/cases/{case_id}",
        "/api/v1/cases/{case_id}/items",
        "/api/v1/cases/{case_id}/items/{item_id}",
        "/api/v1/cases/{case_id}/notes",
        "/api/v1/cases/{case_id}/members",
        "/api/v1/documents/{document_id}/cases",
        "/api/v1/cases/{case_id}/export",
    ):
        assert p in paths, p
    for name in ("TagPublic", "CaseCreate", "CasePublic", "CaseDetail", "CaseItemPublic", "TagApplyResult"):
        assert name in schema["components"]["schemas"], name
    get_case = paths["/api/v1/cases/{case_id}"]["get"]
    assert get_case["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "CaseDetail"
    )
    assert get_case["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorResponse"
    )
