"""Automated accessibility checks (axe-core, WCAG 2.1 A and AA rules: labels, contrast, landmarks,
lang, names, …) of the main pages in both a Cyrillic and the English interface, in Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import UiArchive
from tests.ui.test_browser import QUERIES, log_in, search

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def serious(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The serious and critical violations of each page (by name) that has some."""
    bad = {name: [v for v in vs if v["impact"] in ("serious", "critical")] for name, vs in found.items()}
    return {name: vs for name, vs in bad.items() if vs}


@pytest.mark.parametrize("locale", ["uk-UA", "en-GB"])
def test_main_pages_have_no_wcag_violations(
    chromium: Any, live_server: str, ui_archive: UiArchive, locale: str
) -> None:
    # the pages forbid inline scripts (CSP); this context lets the test inject axe
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, locale=locale, bypass_csp=True)
    page = ctx.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        page.goto(live_server + "/login")
        found["login"] = violations(page)
        log_in(page, live_server, "researcher")
        found["home"] = violations(page)
        search(page, QUERIES["uk"])
        found["results"] = violations(page)
        page.locator(".hit a").first.click()
        page.wait_for_load_state("domcontentloaded")
        found["viewer"] = violations(page)
        transcript = ui_archive.sample_doc_ids["interview-uk-sample.srt"]
        page.goto(f"{live_server}/documents/{transcript}")
        found["transcript"] = violations(page)
        page.goto(f"{live_server}/documents/999999")
        found["not-found"] = violations(page)
    finally:
        ctx.close()
    bad = {name: v for name, v in found.items() if v}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("locale", ["uk-UA", "en-GB"])
def test_research_pages_have_no_wcag_violations(
    chromium: Any, live_server: str, ui_archive: UiArchive, locale: str
) -> None:
    """The editor's and the admin's pages: results with selection, viewer with the side panel,
    cases, a case, batch, saved searches, upload, admin."""
    from archive_search.types import LOCAL_ADMIN
    from search_api.cases import CaseCreate, CaseItemCreate, CaseItemsAdd

    cases = ui_archive.service.cases
    case = cases.create_case(CaseCreate(title=f"Accessibility {locale}", description="A check."), LOCAL_ADMIN)
    cases.add_items(
        case.id,
        CaseItemsAdd(items=[CaseItemCreate(document_id=ui_archive.sample_doc_ids["udhr-uk.txt"], query="q")]),
        LOCAL_ADMIN,
    )
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, locale=locale, bypass_csp=True)
    page = ctx.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        log_in(page, live_server, "admin")
        search(page, QUERIES["uk"])
        found["results-editor"] = violations(page)
        page.locator(".hit h3 a").first.click()
        page.wait_for_load_state("domcontentloaded")
        found["viewer-side-panel"] = violations(page)
        for path in ("/cases", f"/cases/{case.id}", "/batch", "/saved", "/upload", "/admin"):
            page.goto(live_server + path)
            found[path] = violations(page)
        page.goto(live_server + "/batch")
        page.locator("#names").fill("brotherhood\nсвобода")
        page.locator("button.primary[type=submit]").click()
        page.wait_for_load_state("domcontentloaded")
        found["batch-results"] = violations(page)
    finally:
        ctx.close()
    bad = {name: v for name, v in found.items() if v}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)
