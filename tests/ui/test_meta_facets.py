"""Structured metadata on the search page (issue 18): the ``meta.NAME`` facets in the facet
panel, counted only over what the user may read, the bulk edit of selected results, and the page
where a collection's managers edit its field definitions, in a real Chromium against the real
app; axe-core on those pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN
from search_api.metadata import MetadataApply, SelectFieldCreate
from search_api.service import ArchiveService
from tests.conftest import ingest_files
from tests.ui.conftest import PASSWORD, _serve
from tests.ui.test_browser import expect, log_in

FILES = {
    "open": {
        f"open-{i}.txt": f"Свідок {i} бачив блокпост біля мосту і колону техніки.\n" for i in range(1, 5)
    },
    "closed": {
        f"closed-{i}.txt": f"Закритий запис {i}: блокпост біля мосту, імена свідків.\n" for i in range(1, 4)
    },
}


@dataclass
class MetaArchive:
    service: ArchiveService
    ids: dict[str, int]
    url: str


@pytest.fixture(scope="module")
def meta_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetaArchive]:
    tmp = tmp_path_factory.mktemp("meta-ui")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    ids: dict[str, int] = {}
    for col, files in FILES.items():
        ids |= ingest_files(svc, tmp / col, files, col)
        svc.metadata.create_field(
            col,
            SelectFieldCreate(
                name="consent", label="Consent level", type="select", options=["full", "partial", "none"]
            ),
            LOCAL_ADMIN,
        )
    # the closed collection's documents all say "none": a reader of "open" must never count them
    svc.metadata.apply(
        MetadataApply(values={"consent": "none"}, document_ids=[ids[f] for f in FILES["closed"]]), LOCAL_ADMIN
    )
    svc.metadata.apply(
        MetadataApply(values={"consent": "partial"}, document_ids=[ids["open-1.txt"]]), LOCAL_ADMIN
    )
    svc.accounts.create_user("clerk", PASSWORD, role="editor")
    svc.accounts.grant("open", "write", user="clerk")
    svc.accounts.create_user("reader", PASSWORD)
    svc.accounts.grant("open", "read", user="reader")
    svc.accounts.create_user("boss", PASSWORD, role="admin")
    for url in _serve(svc):
        yield MetaArchive(svc, ids, url)
    svc.close()


def _facet(page: Any) -> Any:
    return page.locator("#facet-meta-consent")


def test_meta_facets_count_only_readable_documents(page: Any, meta_archive: MetaArchive) -> None:
    log_in(page, meta_archive.url, "reader")
    page.goto(meta_archive.url + "/?q=блокпост&mode=keyword")
    expect(page.locator("#result-count")).to_have_text("4 results")
    facet = _facet(page)
    expect(facet.locator("legend")).to_have_text("Consent level")
    expect(facet).to_contain_text("partial")
    # three "none" documents exist, all in the collection the reader may not read
    expect(facet).not_to_contain_text("none")
    # a viewer has no bulk edit
    expect(page.locator("#sel-meta-field")).to_have_count(0)
    # checking the value filters the search
    facet.get_by_label(re.compile("^partial")).check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"meta=consent"))
    expect(page.locator("#result-count")).to_have_text("1 result")
    expect(_facet(page).get_by_label(re.compile("^partial"))).to_be_checked()


def test_bulk_edit_of_selected_results(page: Any, meta_archive: MetaArchive) -> None:
    log_in(page, meta_archive.url, "clerk")
    page.goto(meta_archive.url + "/?q=блокпост&mode=keyword")
    page.locator("#sel-1").check()
    page.locator("#sel-2").check()
    page.locator("#sel-meta-field").select_option("consent")
    # a value the field does not allow changes nothing and says why
    page.locator("#sel-meta-value").fill("maybe")
    page.get_by_role("button", name="Set the field").click()
    expect(page.locator(".error, [role=alert]").first).to_contain_text("maybe")
    page.goto(meta_archive.url + "/?q=блокпост&mode=keyword")
    page.locator("#sel-meta-field").select_option("consent")
    page.locator("#sel-meta-value").fill("full")
    page.get_by_role("button", name="Set the field").click()
    page.wait_for_url(re.compile(r"notice=metadata_applied"))
    expect(page.get_by_role("status").filter(has_text="Metadata set")).to_contain_text("2")
    expect(_facet(page).locator("label", has_text="full")).to_have_text(re.compile(r"full\s+2$"))
    # the values reached the catalog and the audit log
    full = [
        d
        for d in (meta_archive.ids[f] for f in FILES["open"])
        if any(
            v.value == "full"
            for fv in meta_archive.service.metadata.get(d, LOCAL_ADMIN).fields
            for v in fv.values
        )
    ]
    assert len(full) == 2
    page.get_by_role("button", name="Clear selection").click()


@pytest.mark.parametrize("locale", ["uk-UA", "en-GB"])
def test_meta_facets_and_bulk_edit_have_no_serious_axe_violations(
    chromium: Any, meta_archive: MetaArchive, locale: str
) -> None:
    from tests.ui.test_accessibility import violations

    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, locale=locale, bypass_csp=True)
    page = ctx.new_page()
    try:
        log_in(page, meta_archive.url, "clerk")
        page.goto(meta_archive.url + "/?q=блокпост&mode=keyword")
        expect(_facet(page)).to_be_visible()
        expect(page.locator("#sel-meta-field")).to_be_visible()
        found = [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    finally:
        ctx.close()
    assert not found, found


def test_a_manager_edits_a_field_definition(page: Any, meta_archive: MetaArchive) -> None:
    svc = meta_archive.service
    svc.metadata.apply(
        MetadataApply(values={"consent": "partial"}, document_ids=[meta_archive.ids["open-3.txt"]]),
        LOCAL_ADMIN,
    )
    # a reader sees the definitions, without a form
    log_in(page, meta_archive.url, "reader")
    page.goto(meta_archive.url + "/collections/open/fields")
    expect(page.locator("#field-consent")).to_contain_text("Consent level")
    expect(page.locator("form.field-edit")).to_have_count(0)
    page.goto(meta_archive.url + "/collections/closed/fields")
    expect(page.locator("h1")).not_to_contain_text("closed")
    # the admin renames the label, adds an option, makes it required
    page.context.clear_cookies()
    log_in(page, meta_archive.url, "boss")
    page.goto(meta_archive.url + "/collections/open/fields")
    form = page.locator("#field-consent form")
    form.get_by_label("Label").fill("Consent given")
    form.get_by_label("Options").fill("full\npartial\nnone\nwithdrawn")
    form.get_by_label(re.compile("^Required")).check()
    form.get_by_role("button", name=re.compile("^Save the field")).click()
    page.wait_for_url(re.compile(r"notice=field_saved"))
    expect(page.get_by_role("status")).to_contain_text("Field saved.")
    expect(page.locator("#field-consent h2")).to_contain_text("Consent given")
    fields = {f.name: f for f in svc.metadata.list_fields("open", LOCAL_ADMIN)}
    assert (
        fields["consent"].options == ["full", "partial", "none", "withdrawn"] and fields["consent"].required
    )
    # an option documents hold cannot be removed: nothing changes, and the page says why
    form = page.locator("#field-consent form")
    form.get_by_label("Options").fill("full\nnone\nwithdrawn")
    form.get_by_role("button", name=re.compile("^Save the field")).click()
    expect(page.locator("body")).to_contain_text("partial")
    assert svc.metadata.list_fields("open", LOCAL_ADMIN)[0].options == [
        "full",
        "partial",
        "none",
        "withdrawn",
    ]
    # the search page's facet panel shows the new label (to a reader of this collection only)
    page.context.clear_cookies()
    log_in(page, meta_archive.url, "reader")
    page.goto(meta_archive.url + "/?q=блокпост&mode=keyword")
    expect(_facet(page).locator("legend")).to_have_text("Consent given")


@pytest.mark.parametrize("locale", ["uk-UA", "en-GB"])
def test_the_fields_page_has_no_serious_axe_violations(
    chromium: Any, meta_archive: MetaArchive, locale: str
) -> None:
    from tests.ui.test_accessibility import violations

    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, locale=locale, bypass_csp=True)
    page = ctx.new_page()
    try:
        log_in(page, meta_archive.url, "boss")
        page.goto(meta_archive.url + "/collections/open/fields")
        expect(page.locator("form.field-edit").first).to_be_visible()
        found = [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    finally:
        ctx.close()
    assert not found, found


def test_a_saved_search_keeps_its_meta_filter(page: Any, meta_archive: MetaArchive) -> None:
    """Saving a search filtered by a metadata value keeps the filter: opened again from the saved
    searches page, it finds what it found (issue 18, fourth round)."""
    log_in(page, meta_archive.url, "reader")
    page.goto(meta_archive.url + "/?q=блокпост&mode=keyword")
    expect(page.locator("#result-count")).to_have_text("4 results")
    page.goto(meta_archive.url + "/?q=блокпост&mode=keyword&meta=consent%3Dpartial")
    filtered = page.locator("#result-count").inner_text()  # fewer: the other tests set values too
    assert filtered != "4 results" and filtered.endswith(("result", "results"))
    page.locator("#save-name").fill("partial consent only")
    page.get_by_role("button", name="Save search").click()
    page.wait_for_url(re.compile(r"/saved"))
    row = page.locator("table.saved-list tbody tr", has_text="partial consent only")
    expect(row).to_contain_text("consent=partial")
    row.get_by_role("link", name="partial consent only").click()
    page.wait_for_url(re.compile(r"meta=consent%3Dpartial"))
    expect(page.locator("#result-count")).to_have_text(filtered)
    expect(_facet(page).get_by_label(re.compile("^partial"))).to_be_checked()
