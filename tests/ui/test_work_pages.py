"""The research pages over HTTP without a browser: CSRF on every form, roles (viewers read,
editors change, admins administer), and no trace of a collection the user may not read."""

from __future__ import annotations

from fastapi.testclient import TestClient

from archive_search.types import LOCAL_ADMIN
from search_api.cases import CaseCreate, CaseItemCreate, CaseItemsAdd, CaseMemberCreate
from tests.ui.conftest import UiArchive
from tests.ui.test_pages import client_for, csrf_of
from ui.i18n import MESSAGES

POSTS = (
    "/selection",
    "/cases",
    "/cases/1/status",
    "/cases/1/notes",
    "/cases/1/items/1/note",
    "/cases/1/items/1/move",
    "/cases/1/items/1/remove",
    "/cases/1/export",
    "/batch",
    "/saved",
    "/saved/1/delete",
    "/history/1/rerun",
    "/upload",
    "/admin/users",
    "/admin/users/researcher",
    "/admin/groups",
    "/admin/groups/g/members",
    "/admin/groups/g/members/researcher/remove",
    "/admin/grants",
    "/admin/grants/revoke",
)
PAGES = (
    "/cases",
    "/batch",
    "/saved",
    "/history",
    "/history/1",
    "/upload",
    "/admin",
    "/cases/1",
    "/batch/jobs/1",
    "/saved/1/new",
)


def test_every_form_needs_the_csrf_token(admin: TestClient) -> None:
    for path in POSTS:
        r = admin.post(path, data={"csrf_token": "0" * 64, "title": "x"}, follow_redirects=False)
        assert r.status_code == 403, path
        assert MESSAGES["en"]["csrf_failed"] in r.text, path
    # and a form from another site is refused even with the right token
    token = csrf_of(admin.get("/cases").text)
    r = admin.post(
        "/cases", data={"csrf_token": token, "title": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403


def test_pages_need_a_session(ui_archive: UiArchive) -> None:
    with client_for(ui_archive) as anon:
        for path in PAGES:
            r = anon.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


def test_every_form_carries_the_token(admin: TestClient) -> None:
    for path in ("/cases", "/batch", "/upload", "/admin", "/?q=brotherhood&mode=keyword"):
        html = admin.get(path).text
        forms = html.count('<form method="post"')
        assert forms and html.count('name="csrf_token"') >= forms, path


def test_roles(researcher: TestClient, ui_archive: UiArchive) -> None:
    # a viewer: no admin or upload page, no selection controls, tagging refused by the service
    assert researcher.get("/admin").status_code == 404
    assert researcher.get("/upload").status_code == 404
    assert 'href="/admin"' not in researcher.get("/").text
    page = researcher.get("/", params={"q": "brotherhood", "mode": "keyword"}).text
    assert 'action="/selection"' not in page
    token = csrf_of(page)
    doc = ui_archive.sample_doc_ids["udhr-en.txt"]
    r = researcher.post(
        "/selection", data={"csrf_token": token, "document": doc, "action": "tag", "tag": "x"}
    )
    assert r.status_code == 403
    r = researcher.post("/cases", data={"csrf_token": token, "title": "mine"})
    assert r.status_code == 403
    assert researcher.post("/admin/users", data={"csrf_token": token, "username": "x"}).status_code == 404
    # a collection the researcher may not write to
    r = researcher.post("/upload", data={"csrf_token": token, "collection": "sample"})
    assert r.status_code == 404


def test_no_trace_of_an_unreadable_collection(researcher: TestClient, ui_archive: UiArchive) -> None:
    cases = ui_archive.service.cases
    hidden = cases.create_case(CaseCreate(title="Not shared"), LOCAL_ADMIN)
    shared = cases.create_case(CaseCreate(title="Shared, partly hidden"), LOCAL_ADMIN)
    cases.add_items(
        shared.id,
        CaseItemsAdd(
            items=[
                CaseItemCreate(document_id=ui_archive.restricted_doc),
                CaseItemCreate(document_id=ui_archive.sample_doc_ids["udhr-ru.txt"]),
            ]
        ),
        LOCAL_ADMIN,
    )
    cases.set_member(shared.id, CaseMemberCreate(username="researcher"), LOCAL_ADMIN)
    listing = researcher.get("/cases").text
    assert "Shared, partly hidden" in listing and "Not shared" not in listing
    assert researcher.get(f"/cases/{hidden.id}").status_code == 404
    page = researcher.get(f"/cases/{shared.id}").text
    assert "udhr-ru.txt" in page
    assert "witness-statement" not in page and "restricted" not in page
    # the viewer's own export leaves the hidden item out too
    token = csrf_of(page)
    r = researcher.post(f"/cases/{shared.id}/export", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    shown = researcher.get(r.headers["location"]).text
    assert 'id="bundle-sha256"' in shown
    # the batch page and the viewer's side panel: nothing of the restricted collection
    batch = researcher.post("/batch", data={"csrf_token": token, "names": "detainees cell 7\nbrotherhood"})
    assert batch.status_code == 200
    assert "witness-statement" not in batch.text and "restricted" not in batch.text
    doc = ui_archive.sample_doc_ids["udhr-en.txt"]
    viewer = researcher.get(f"/documents/{doc}")
    assert "more-like-this" in viewer.text and "witness-statement" not in viewer.text


def test_export_link_is_the_exporters_only(admin: TestClient, researcher: TestClient) -> None:
    case = admin.post(
        "/cases",
        data={"csrf_token": csrf_of(admin.get("/cases").text), "title": "Admin's"},
        follow_redirects=False,
    )
    case_url = case.headers["location"].split("?")[0]
    r = admin.post(
        case_url + "/export", data={"csrf_token": csrf_of(admin.get(case_url).text)}, follow_redirects=False
    )
    key = r.headers["location"].split("export=")[1].split("#")[0]
    assert researcher.get(f"{case_url}/export/{key}").status_code == 404
    got = admin.get(f"{case_url}/export/{key}")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    # one download per export: the link used again leads back to the case, which says why
    again = admin.get(f"{case_url}/export/{key}", follow_redirects=False)
    assert again.status_code == 303 and "notice=export_gone" in again.headers["location"]
    assert MESSAGES["en"]["notice_export_gone"] in admin.get(again.headers["location"]).text
