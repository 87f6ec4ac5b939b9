"""The management pages end to end in Chromium, and their rules over HTTP: members of a case file
(the owner adds, changes and removes them; a member sees what their rights allow), tags (admins
rename, merge, delete; others see counts of what they may read), the collections page (counts,
creation, description, grants), and the upload page's live per-file progress.

These tests run on a small archive of their own (plain-text files, ingested in a second), so
that what they change does not move the counts the other UI tests check.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import Document
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN
from archive_search.web import create_app
from search_api.cases import (
    CaseCreate,
    CaseItemCreate,
    CaseItemsAdd,
    CaseMemberCreate,
)
from search_api.service import ArchiveService
from search_api.tags import TagApply
from tests.conftest import SAMPLE_DIR, ingest_files
from tests.ui.conftest import PASSWORD, _serve, shot
from tests.ui.test_browser import expect, log_in
from tests.ui.test_pages import csrf_of
from tests.ui.test_pages import log_in as http_log_in
from ui.i18n import MESSAGES

TEXTS = {
    "statement-1.txt": "The first witness saw the convoy at the bridge at dawn.\n",
    "statement-2.txt": "Другий свідок бачив колону біля мосту на світанку.\n",
    "statement-3.txt": "Третий свидетель видел колонну у моста на рассвете.\n",
}
SEALED = "A sealed statement about the convoy, for the prosecutor only.\n"


@dataclass
class Mgmt:
    service: ArchiveService
    url: str
    docs: dict[str, int]
    ids: dict[str, int]


@pytest.fixture(scope="module")
def mgmt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mgmt]:
    tmp = tmp_path_factory.mktemp("manage")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    ingest_files(svc, tmp / "in", TEXTS, "statements")
    ingest_files(svc, tmp / "sealed", {"sealed-statement.txt": SEALED}, "sealed")
    acc = svc.accounts
    ids = {"admin": acc.create_user("admin", PASSWORD, role="admin")}
    for name, role in (("editor", "editor"), ("colleague", "editor"), ("viewer", "viewer")):
        ids[name] = acc.create_user(name, PASSWORD, role=role)
        acc.grant("statements", "read", user=name)
    acc.grant("statements", "write", user="editor")
    with svc.catalog.session() as s:
        docs = {d.filename: d.id for d in s.scalars(select(Document))}
    for url in _serve(svc):
        yield Mgmt(svc, url, docs, ids)
    svc.close()


def _click(page: Any, locator: Any) -> None:
    with page.expect_navigation():
        locator.click()


def _second(page: Any, base: str, user: str) -> Any:
    ctx = page.context.browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    ctx.set_default_timeout(15_000)
    other = ctx.new_page()
    log_in(other, base, user)
    return other


# -- members of a case ---------------------------------------------------------------------------


def test_case_members(page: Any, mgmt: Mgmt) -> None:
    svc, base = mgmt.service, mgmt.url
    editor = svc.accounts.principal_for_user(mgmt.ids["editor"])
    case = svc.cases.create_case(CaseCreate(title="Convoy at the bridge"), editor)
    svc.cases.add_items(
        case.id,
        CaseItemsAdd(items=[CaseItemCreate(document_id=mgmt.docs["statement-1.txt"], query="convoy")]),
        editor,
    )
    # an admin adds a document the editor and the colleague may not read
    svc.cases.add_items(
        case.id,
        CaseItemsAdd(items=[CaseItemCreate(document_id=mgmt.docs["sealed-statement.txt"])]),
        LOCAL_ADMIN,
    )

    log_in(page, base, "editor")
    page.goto(f"{base}/cases/{case.id}")
    members = page.locator("#members")
    expect(members).to_contain_text("No members")
    members.get_by_label("User name").fill("colleague")
    members.get_by_label("Permission").select_option("read")
    _click(page, members.get_by_role("button", name="Add member"))
    expect(page.get_by_role("status")).to_have_text("Member saved.")
    row = page.locator("#members tr.member", has_text="colleague")
    expect(row.get_by_label("Permission: colleague")).to_have_value("read")

    # the colleague reads the case (without the sealed item), cannot change it
    other = _second(page, base, "colleague")
    other.goto(f"{base}/cases/{case.id}")
    expect(other.locator("li.case-item")).to_have_count(1)
    assert "sealed" not in other.content()
    expect(other.get_by_text("You may read this case but not change it.")).to_be_visible()
    expect(other.locator("#members")).to_contain_text("read only")
    expect(other.locator("#members form")).to_have_count(0)  # members are the owner's to manage

    # may edit: the colleague gets the controls
    row.get_by_label("Permission: colleague").select_option("edit")
    _click(page, row.get_by_role("button", name="Save: colleague"))
    expect(
        page.locator("#members tr.member", has_text="colleague").get_by_label("Permission: colleague")
    ).to_have_value("edit")
    other.reload()
    expect(other.locator("#case-note")).to_be_visible()

    # a viewer can only be a read member: the service's reason is shown
    page.locator("#member-username").fill("viewer")
    page.locator("#member-permission").select_option("edit")
    _click(page, page.locator("#members").get_by_role("button", name="Add member"))
    expect(page.locator("main")).to_contain_text("viewer is a viewer and can only be a read member")
    page.go_back()
    page.reload()
    page.locator("#member-username").fill("viewer")
    page.locator("#member-permission").select_option("read")
    _click(page, page.locator("#members").get_by_role("button", name="Add member"))
    expect(page.locator("#members tr.member")).to_have_count(2)
    page.locator("#members").scroll_into_view_if_needed()
    shot(page, "case-members")

    # removed: the colleague no longer sees the case at all
    _click(page, page.locator("#members").get_by_role("button", name="Remove: colleague"))
    expect(page.get_by_role("status")).to_have_text("Member removed from the case.")
    expect(page.locator("#members tr.member")).to_have_count(1)
    other.goto(f"{base}/cases/{case.id}")
    expect(other.get_by_role("heading", level=1)).not_to_contain_text("Convoy")
    other.goto(f"{base}/cases")
    expect(other.locator("main")).not_to_contain_text("Convoy at the bridge")
    other.context.close()


# -- tags ----------------------------------------------------------------------------------------


def _tag_row(page: Any, name: str) -> Any:
    return page.locator("tr.tag-row").filter(has=page.get_by_role("link", name=name, exact=True))


def test_tags_rename_merge_delete(page: Any, mgmt: Mgmt) -> None:
    svc, base, docs = mgmt.service, mgmt.url, mgmt.docs
    svc.tags.apply_tags(TagApply(names=["convoy"], document_ids=[docs["statement-1.txt"]]), LOCAL_ADMIN)
    svc.tags.apply_tags(
        TagApply(names=["Convoi"], document_ids=[docs["statement-2.txt"], docs["sealed-statement.txt"]]),
        LOCAL_ADMIN,
    )
    svc.tags.apply_tags(TagApply(names=["to check"], document_ids=[docs["statement-3.txt"]]), LOCAL_ADMIN)
    svc.tags.apply_tags(
        TagApply(names=["prosecutor"], document_ids=[docs["sealed-statement.txt"]]), LOCAL_ADMIN
    )

    # an editor sees the tags with counts of what they may read, and no controls
    log_in(page, base, "editor")
    page.get_by_role("link", name="Tags").click()
    page.wait_for_load_state("domcontentloaded")
    row = _tag_row(page, "Convoi")
    expect(row.locator("td.num").first).to_have_text("1")  # the sealed document is not counted
    expect(page.get_by_role("button", name=re.compile("^(Rename|Merge|Delete)"))).to_have_count(0)
    # a tag used only in a collection the editor cannot read: not even its name
    expect(page.locator("tr.tag-row")).to_have_count(3)
    assert "prosecutor" not in page.content()
    page.context.clear_cookies()

    log_in(page, base, "admin")
    page.goto(base + "/tags")
    row = _tag_row(page, "Convoi")
    expect(row.locator("td.num").first).to_have_text("2")
    row.get_by_label("New name: Convoi").fill("convoy (uk)")
    _click(page, row.get_by_role("button", name="Rename: Convoi"))
    expect(page.get_by_role("status")).to_have_text("Tag renamed.")
    row = _tag_row(page, "convoy (uk)")
    expect(row).to_be_visible()
    shot(page, "tags")
    # the search follows the new name at once
    page.goto(base + "/?q=" + "tag:%22convoy%20(uk)%22&mode=keyword")
    expect(page.locator("#result-count")).to_have_text("2 results")

    page.goto(base + "/tags")
    row = _tag_row(page, "convoy (uk)")
    row.get_by_label("Merge into").select_option(label="convoy")
    _click(page, row.get_by_role("button", name="Merge: convoy (uk)"))
    expect(page.get_by_role("status")).to_have_text("Tags merged.")
    expect(_tag_row(page, "convoy (uk)")).to_have_count(0)
    expect(_tag_row(page, "convoy").locator("td.num").first).to_have_text("3")
    page.goto(base + "/?tag=convoy&mode=keyword")
    expect(page.locator("#result-count")).to_have_text("3 results")

    page.goto(base + "/tags")
    _click(page, page.get_by_role("button", name="Delete: to check"))
    expect(page.get_by_role("status")).to_have_text("Tag deleted.")
    expect(page.locator("tr.tag-row")).to_have_count(2)  # convoy, and the admin sees prosecutor


# -- collections ---------------------------------------------------------------------------------


def test_collections_page(page: Any, mgmt: Mgmt) -> None:
    base = mgmt.url
    log_in(page, base, "viewer")
    page.goto(base + "/admin/collections")
    expect(page.get_by_role("heading", level=1)).not_to_have_text("Administration")
    page.context.clear_cookies()

    log_in(page, base, "admin")
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("link", name="Collections").click()
    page.wait_for_load_state("domcontentloaded")
    listing = page.locator("table.collections-list")
    row = listing.locator("tr", has_text="statements")
    expect(row.locator("td.num").nth(0)).to_have_text("3")
    expect(row.locator("td.num").nth(1)).to_have_text("3")

    page.locator("#new-collection-name").fill("interviews 2024")
    page.locator("#new-collection-description").fill("Recorded interviews, spring 2024.")
    _click(page, page.get_by_role("button", name="Create collection"))
    expect(page.get_by_role("status")).to_have_text("Collection created.")
    section = page.locator("section.collection", has_text="interviews 2024")
    expect(section.locator("textarea")).to_have_value("Recorded interviews, spring 2024.")
    expect(section).to_contain_text("Documents: 0, passages: 0")
    expect(section).to_contain_text("No grants")

    # describe a collection
    stm = page.locator("section.collection", has=page.get_by_role("heading", name="statements", exact=True))
    stm.locator("textarea").fill("Witness statements about the convoy.")
    _click(page, stm.get_by_role("button", name="Save description"))
    expect(page.get_by_role("status")).to_have_text("Description saved.")
    stm = page.locator("section.collection", has=page.get_by_role("heading", name="statements", exact=True))
    expect(stm.locator("textarea")).to_have_value("Witness statements about the convoy.")

    # grant the viewer read access to the new collection, raise it to write, revoke it
    section = page.locator("section.collection", has_text="interviews 2024")
    section.get_by_label("User or group").select_option("user:viewer")
    section.get_by_label("Permission", exact=True).select_option("read")
    _click(page, section.get_by_role("button", name="Grant: interviews 2024"))
    expect(page.get_by_role("status")).to_have_text("Access granted.")
    section = page.locator("section.collection", has_text="interviews 2024")
    grant = section.locator("tr.grant", has_text="viewer")
    expect(grant.get_by_label("Permission: viewer")).to_have_value("read")
    other = _second(page, base, "viewer")
    expect(other.get_by_role("link", name="interviews 2024")).to_be_visible()
    grant.get_by_label("Permission: viewer").select_option("write")
    _click(page, grant.get_by_role("button", name="Save: viewer"))
    section = page.locator("section.collection", has_text="interviews 2024")
    expect(section.locator("tr.grant", has_text="viewer").get_by_label("Permission: viewer")).to_have_value(
        "write"
    )
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "collections", full_page=True)
    _click(page, section.get_by_role("button", name="Revoke: interviews 2024 / viewer"))
    expect(page.get_by_role("status")).to_have_text("Access revoked.")
    expect(page.locator("section.collection", has_text="interviews 2024").locator("tr.grant")).to_have_count(
        0
    )
    other.goto(base + "/")
    expect(other.get_by_role("link", name="interviews 2024")).to_have_count(0)
    other.context.close()


# -- uploads: live progress per file ----------------------------------------------------------------


def test_upload_progress_live(page: Any, mgmt: Mgmt) -> None:
    """Each file's state follows queued → extracting → ok / failed / skipped on the page itself
    (app.js polls the job's JSON): no reload, no navigation."""
    base = mgmt.url
    scan = (SAMPLE_DIR / "scan-ru-article-5.png").read_bytes()  # OCR: takes a few seconds
    log_in(page, base, "editor")
    page.get_by_role("link", name="Add documents").click()
    page.locator("#collection").select_option("statements")
    page.locator("#files").set_input_files(
        files=[
            {"name": "scan-article-5.png", "mimeType": "image/png", "buffer": scan},
            {
                "name": "later-statement.txt",
                "mimeType": "text/plain",
                "buffer": b"A later statement on the convoy.\n",
            },
            {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
            {"name": "noise.bin", "mimeType": "application/octet-stream", "buffer": bytes(range(256)) * 4},
        ]
    )
    _click(page, page.get_by_role("button", name="Upload and ingest"))
    assert re.search(r"/upload/jobs/\d+$", page.url), page.url
    page.evaluate("window.__sameDocument = true")
    rows = page.locator("table.upload-report tbody tr")
    expect(rows).to_have_count(4)
    seen: dict[str, set[str]] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = page.eval_on_selector_all(
            "table.upload-report tbody tr",
            "trs => trs.map(tr => [tr.children[0].textContent.trim(), tr.getAttribute('data-state')])",
        )
        for name, state in states:
            seen.setdefault(name, set()).add(state)
        if page.locator("#upload-progress").get_attribute("data-done") == "1":
            break
        if len(seen.get("later-statement.txt", ())) == 1:
            shot(page, "upload-progress")  # the scan being extracted, the others waiting
        time.sleep(0.1)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
    assert {"running", "ok"} <= seen["scan-article-5.png"], seen
    assert {"queued", "ok"} <= seen["later-statement.txt"], seen
    expect(page.locator("#upload-live")).to_have_text("All files processed.")
    expect(page.locator("#upload-summary")).to_contain_text("2 ingested, 0 failed, 2 skipped")
    row = page.locator("tr", has_text="later-statement.txt")
    expect(row.locator("td.state")).to_have_text("ok")
    expect(page.locator("tr", has_text="empty.txt")).to_contain_text("skipped")
    expect(page.locator("tr", has_text="empty.txt")).to_contain_text("the file is empty")
    expect(page.locator("tr", has_text="noise.bin")).to_contain_text("skipped")
    shot(page, "upload-progress-done")
    # "ok" means searchable: the link opens the document, and the search finds it
    row.get_by_role("link", name="later-statement.txt").click()
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator(".metadata")).to_contain_text("later-statement.txt")
    page.goto(base + "/?q=later+statement+convoy&mode=keyword")
    expect(page.locator("ol.hits")).to_contain_text("later-statement.txt")


# -- over HTTP: CSRF and who may do what ----------------------------------------------------------

POSTS = (
    "/cases/1/members",
    "/cases/1/members/viewer/remove",
    "/tags/1/rename",
    "/tags/1/merge",
    "/tags/1/delete",
    "/admin/collections",
    "/admin/collections/statements/description",
    "/admin/collections/statements/grants",
    "/admin/collections/statements/grants/revoke",
)


def _client(mgmt: Mgmt, user: str) -> TestClient:
    c = TestClient(create_app(mgmt.service.settings, mgmt.service))
    c.__enter__()
    http_log_in(c, user)
    return c


def test_new_forms_need_the_csrf_token_and_the_right_role(mgmt: Mgmt) -> None:
    svc = mgmt.service
    admin = _client(mgmt, "admin")
    for path in POSTS:
        r = admin.post(path, data={"csrf_token": "0" * 64, "name": "x"}, follow_redirects=False)
        assert r.status_code == 403, path
        assert MESSAGES["en"]["csrf_failed"] in r.text, path
    admin.__exit__(None, None, None)

    editor = _client(mgmt, "editor")
    token = csrf_of(editor.get("/tags").text)
    tag = svc.tags.apply_tags(
        TagApply(names=["http-tag"], document_ids=[mgmt.docs["statement-1.txt"]]), LOCAL_ADMIN
    )
    tag_id = tag.tags[0].id
    for path, data in (
        (f"/tags/{tag_id}/rename", {"name": "renamed"}),
        (f"/tags/{tag_id}/delete", {}),
        (f"/tags/{tag_id}/merge", {"into": str(tag_id)}),
    ):
        r = editor.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
        assert r.status_code in (400, 403), (path, r.status_code)
    assert svc.tags.get_tag(tag_id, LOCAL_ADMIN).name == "http-tag"
    # the collections page and its forms are the admins' only: the same 404 as a missing page
    assert editor.get("/admin/collections").status_code == 404
    r = editor.post(
        "/admin/collections", data={"csrf_token": token, "name": "sneaky"}, follow_redirects=False
    )
    assert r.status_code == 404
    r = editor.post(
        "/admin/collections/sealed/grants",
        data={"csrf_token": token, "grantee": "user:editor", "permission": "read"},
        follow_redirects=False,
    )
    assert r.status_code == 404
    assert "sneaky" not in [c["name"] for c in svc.collections(LOCAL_ADMIN)]
    assert not svc.accounts.principal_for_user(mgmt.ids["editor"]).can_read("sealed")

    # members: only the owner (or an admin) manages them; an edit member is refused
    owner = svc.accounts.principal_for_user(mgmt.ids["colleague"])
    case = svc.cases.create_case(CaseCreate(title="The colleague's case"), owner)
    svc.cases.set_member(case.id, CaseMemberCreate(username="editor", permission="edit"), owner)
    page = editor.get(f"/cases/{case.id}").text
    assert f'action="/cases/{case.id}/members"' not in page
    r = editor.post(
        f"/cases/{case.id}/members",
        data={"csrf_token": token, "username": "viewer", "permission": "read"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "owner or an admin" in r.text
    # a case the user may not see is a 404, also for its member forms
    other = svc.cases.create_case(CaseCreate(title="Not shared"), owner)
    r = editor.post(
        f"/cases/{other.id}/members/viewer/remove", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 404
    assert "Not shared" not in r.text
    editor.__exit__(None, None, None)


def test_upload_status_is_the_uploaders_only(mgmt: Mgmt) -> None:
    editor = _client(mgmt, "editor")
    token = csrf_of(editor.get("/upload").text)
    r = editor.post(
        "/upload",
        data={"csrf_token": token, "collection": "statements"},
        files=[("files", ("json-check.txt", b"A statement for the status check.\n", "text/plain"))],
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    job = int(r.headers["location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 60
    while True:
        st = editor.get(f"/upload/jobs/{job}/status.json")
        assert st.status_code == 200
        body = st.json()
        if body["done"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert body["done"] and body["collection"] == "statements"
    assert [(f["name"], f["state"], f["label"]) for f in body["files"]] == [("json-check.txt", "ok", "ok")]
    assert body["counts"]["ok"] == 1 and body["files"][0]["document_id"]
    assert st.headers["cache-control"] == "private, no-store"
    # another user, even an admin, gets the same 404 as for a missing job; no session: 401
    admin = _client(mgmt, "admin")
    assert admin.get(f"/upload/jobs/{job}/status.json").status_code == 404
    assert admin.get(f"/upload/jobs/{job}").status_code == 404
    assert admin.get("/upload/jobs/999999/status.json").status_code == 404
    with TestClient(create_app(mgmt.service.settings, mgmt.service)) as anon:
        assert anon.get(f"/upload/jobs/{job}/status.json").status_code == 401
    # the job's owner is in the catalog (the audit log): another process knows it too
    from search_api.uploads import Uploads

    viewer = mgmt.service.accounts.principal_for_user(mgmt.ids["editor"])
    assert Uploads(mgmt.service).status(job, viewer)["files"][0]["name"] == "json-check.txt"
    admin.__exit__(None, None, None)
    editor.__exit__(None, None, None)


@pytest.mark.parametrize("locale", ["uk-UA", "en-GB"])
def test_management_pages_have_no_wcag_violations(chromium: Any, mgmt: Mgmt, locale: str) -> None:
    """axe-core (WCAG 2.1 A/AA) on the tags page, the collections page, a case with its members
    form, and an upload's progress page, in a Cyrillic and the English interface."""
    from tests.ui.test_accessibility import violations

    svc, base = mgmt.service, mgmt.url
    svc.tags.apply_tags(
        TagApply(names=[f"a11y {locale}"], document_ids=[mgmt.docs["statement-2.txt"]]), LOCAL_ADMIN
    )
    case = svc.cases.create_case(CaseCreate(title=f"Accessibility {locale}"), LOCAL_ADMIN)
    svc.cases.set_member(case.id, CaseMemberCreate(username="colleague", permission="edit"), LOCAL_ADMIN)
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, locale=locale, bypass_csp=True)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        log_in(page, base, "admin")
        for path in ("/tags", "/admin/collections", f"/cases/{case.id}", "/upload"):
            page.goto(base + path)
            found[path] = violations(page)
        page.locator("#collection").select_option("statements")
        page.locator("#files").set_input_files(
            files=[
                {
                    "name": f"a11y-{locale}.txt",
                    "mimeType": "text/plain",
                    "buffer": locale.encode() + b" text\n",
                }
            ]
        )
        page.locator("button.primary[type=submit]").click()
        page.wait_for_url(re.compile(r".*/upload/jobs/\d+$"))
        found["upload-job"] = violations(page)
        expect(page.locator("#upload-progress")).to_have_attribute("data-done", "1", timeout=60_000)
        found["upload-job-done"] = violations(page)
    finally:
        ctx.close()
    bad = {name: v for name, v in found.items() if v}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)


def test_a_long_running_file_shows_how_long_it_has_run(mgmt: Mgmt) -> None:
    """Issue 21, item 9: an 80 s OCR showed no elapsed time. Each file says how long it has run
    (so far while running, in all once done), on the page and in the JSON the page polls."""
    from datetime import UTC, datetime, timedelta

    from archive_search.catalog.models import IngestItem

    editor = _client(mgmt, "editor")
    token = csrf_of(editor.get("/upload").text)
    r = editor.post(
        "/upload",
        data={"csrf_token": token, "collection": "statements"},
        files=[("files", ("elapsed-check.txt", b"A statement whose upload is timed.\n", "text/plain"))],
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    job = int(r.headers["location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 60
    while not (body := editor.get(f"/upload/jobs/{job}/status.json").json())["done"]:
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    done = body["files"][0]
    assert done["elapsed_s"] is not None and done["elapsed_s"] >= 0
    assert re.fullmatch(r"took 00:00:\d\d", done["elapsed"]), done
    # the same file as a long OCR still running (its worker's lease alive): the time so far
    now = datetime.now(UTC)
    with mgmt.service.catalog.session() as s:
        item = s.get(IngestItem, done["id"])
        assert item is not None
        saved = (item.state, item.started_at, item.finished_at, item.lease_expires_at)
        item.state, item.started_at, item.finished_at = "running", now - timedelta(seconds=80), None
        item.lease_expires_at = now + timedelta(hours=1)
        s.commit()
    try:
        running = editor.get(f"/upload/jobs/{job}/status.json").json()["files"][0]
        assert 80 <= running["elapsed_s"] < 200, running
        assert re.fullmatch(r"running for 00:0[1-3]:\d\d", running["elapsed"]), running
        page = editor.get(f"/upload/jobs/{job}").text
        assert re.search(r'<td class="elapsed">running for 00:0[1-3]:\d\d</td>', page), page
    finally:
        with mgmt.service.catalog.session() as s:
            item = s.get(IngestItem, done["id"])
            assert item is not None
            item.state, item.started_at, item.finished_at, item.lease_expires_at = saved
            s.commit()
    editor.__exit__(None, None, None)
