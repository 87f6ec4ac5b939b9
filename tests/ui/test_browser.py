"""End to end in a real headless Chromium (Debian's), driven by Playwright, against the real app
served by uvicorn: log in, search in four languages, filter by a facet, open a document at the
found passage, switch the interface language, log out; access control seen from the browser.

Screenshots of the main pages land in test-artifacts/screenshots/ (see docs/ui.md).
"""

from __future__ import annotations

import re
from typing import Any

from tests.ui.conftest import PASSWORD, UiArchive, shot

QUERIES = {"ru": "братства", "uk": "братерства", "be": "брацтва", "en": "brotherhood"}
ALL_FOUR = " OR ".join(QUERIES.values())


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def log_in(page: Any, base: str, user: str) -> None:
    page.goto(base + "/")
    assert "/login" in page.url
    page.get_by_label(re.compile("User name|Ім'я користувача|Имя пользователя")).fill(user)
    page.get_by_label(re.compile("Password|Пароль")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(Log in|Увійти|Войти)$")).click()
    page.wait_for_url(base + "/")


def search(page: Any, q: str, mode: str = "keyword") -> None:
    page.locator("#mode-" + mode).check()
    page.locator("#q").fill(q)
    page.locator("#q").press("Enter")
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("#result-count")).to_be_visible()


def test_researcher_journey(page: Any, live_server: str) -> None:
    base = live_server
    page.goto(base + "/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Log in to the archive")).to_be_visible()
    shot(page, "login")

    # a wrong password is explained, and the form comes back
    page.get_by_label("User name").fill("researcher")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

    log_in(page, base, "researcher")
    expect(page.get_by_text("Signed in as researcher")).to_be_visible()
    expect(page.get_by_role("link", name="sample")).to_be_visible()
    shot(page, "home")

    # one search per archive language: hits in that language, the word marked in the snippet
    for lang, word in QUERIES.items():
        search(page, word)
        hits = page.locator(".hit")
        assert hits.count() >= 1, word
        expect(page.locator(f'.hit .snippet[lang="{lang}"] mark').first).to_be_visible()
        marked = page.locator(".hit .snippet mark").all_inner_texts()
        assert any(m.lower() == word for m in marked), (word, marked)
        if lang == "uk":
            shot(page, "search-results")

    # filter by language through the facet
    search(page, ALL_FOUR)
    total_all = int(re.sub(r"\D", "", page.locator("#result-count").inner_text()))
    facet = page.locator("#facet-lang")
    expect(facet.get_by_label(re.compile("^Belarusian"))).to_be_visible()
    facet.get_by_label(re.compile("^Belarusian")).check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"lang=be"))
    total_be = int(re.sub(r"\D", "", page.locator("#result-count").inner_text()))
    assert 0 < total_be < total_all
    langs = page.locator(".hit .snippet").evaluate_all("els => els.map(e => e.lang)")
    assert langs and set(langs) == {"be"}, langs
    expect(facet.get_by_label(re.compile("^Belarusian"))).to_be_checked()
    shot(page, "facet-filter")

    # open a PDF hit: the viewer opens at its page with the passage highlighted and in view
    page.get_by_role("link", name="Clear all filters").click()
    search(page, QUERIES["uk"])
    hit = page.locator(".hit").filter(has_text="udhr-uk-articles.pdf").first
    page_no = hit.locator(".provenance div").filter(has_text="Page").locator("dd").inner_text()
    hit.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/documents/\d+\?.*#passage-\d+$"))
    anchor = page.url.rsplit("#", 1)[1]
    mark = page.locator(f"mark.passage#{anchor}")
    expect(mark).to_be_visible()
    expect(mark).to_be_in_viewport()
    expect(mark.locator("mark.term").first).to_have_text(QUERIES["uk"])
    section = page.locator("section.page.hit")
    expect(section).to_have_attribute("id", f"page-{page_no}")
    expect(page.get_by_role("link", name="Download the original")).to_be_visible()
    expect(page.locator("code.hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    shot(page, "document-viewer")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "document-metadata")
    # the page image beside its text
    img = section.locator(".page-image img")
    img.scroll_into_view_if_needed()
    expect(img).to_be_visible()
    page.wait_for_function("i => i.complete && i.naturalWidth > 100", arg=img.element_handle())

    # back to the results, keeping the query
    page.get_by_role("link", name=re.compile("Back to the results")).click()
    expect(page.locator("#q")).to_have_value(QUERIES["uk"])

    # switch the interface language: labels change, and the choice is remembered
    page.get_by_role("button", name="Українська").click()
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.get_by_role("searchbox", name="Пошук в архіві")).to_have_value(QUERIES["uk"])
    expect(page.get_by_role("button", name="Застосувати фільтри")).to_be_visible()
    expect(page.locator("#result-count")).to_have_text(re.compile("^Результатів: "))
    shot(page, "search-uk")
    page.goto(base + "/")
    expect(page.get_by_role("button", name="Вийти")).to_be_visible()
    page.get_by_role("button", name="Русский").click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("button", name="Выйти")).to_be_visible()

    # log out: back at the login page, and the pages are closed again
    page.get_by_role("button", name="Выйти").click()
    page.wait_for_url(re.compile(r"/login\?logged_out=1"))
    expect(page.get_by_role("status")).to_have_text("Вы вышли из системы.")
    page.goto(base + "/?q=brotherhood")
    assert "/login" in page.url


def test_a_transcript_opens_at_the_turn(page: Any, live_server: str) -> None:
    log_in(page, live_server, "researcher")
    search(page, "Оленівки OR табору OR свідок OR допит")
    hit = page.locator(".hit").filter(has_text="interview-uk-sample.srt").first
    expect(hit.locator(".provenance")).to_contain_text("Time")
    hit.get_by_role("link", name="interview-uk-sample.srt").click()  # not "more" passages' time links
    anchor = page.url.rsplit("#", 1)[1]
    turn = page.locator(f"li.turn.hit#{anchor}")
    expect(turn).to_be_visible()
    expect(turn).to_be_in_viewport()
    expect(turn.locator(".time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d"))
    shot(page, "transcript")


def test_no_trace_of_a_collection_without_access(
    chromium: Any, live_server: str, ui_archive: UiArchive
) -> None:
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = ctx.new_page()
    try:
        log_in(page, live_server, "researcher")
        for word in [*QUERIES.values(), "свідка", "witness"]:
            search(page, word)
            body = page.locator("body").inner_text()
            assert "restricted" not in body and "witness-statement" not in body, word
            collections = page.locator("#facet-collection input").evaluate_all("els => els.map(e => e.value)")
            assert set(collections) <= {"sample"}, collections
        page.goto(f"{live_server}/documents/{ui_archive.restricted_doc}")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        resp = page.request.get(f"{live_server}/documents/{ui_archive.restricted_doc}/original")
        assert resp.status == 404
    finally:
        ctx.close()
    # the lawyer, who may read it, does find it
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = ctx.new_page()
    try:
        log_in(page, live_server, "lawyer")
        search(page, "witness")
        expect(page.locator(".hit").filter(has_text="witness-statement-restricted.txt")).to_have_count(1)
        assert set(page.locator("#facet-collection input").evaluate_all("els => els.map(e => e.value)")) == {
            "restricted"
        }
    finally:
        ctx.close()


def test_keyboard_and_tablet_width(chromium: Any, live_server: str) -> None:
    ctx = chromium.new_context(viewport={"width": 820, "height": 1180}, locale="uk-UA")
    page = ctx.new_page()
    try:
        log_in(page, live_server, "researcher")
        expect(page.locator("html")).to_have_attribute("lang", "uk")  # from Accept-Language
        page.locator("body").click(position={"x": 5, "y": 300})
        page.keyboard.press("/")
        expect(page.locator("#q")).to_be_focused()
        page.keyboard.type(QUERIES["uk"])
        page.keyboard.press("Enter")
        page.wait_for_load_state("domcontentloaded")
        expect(page.locator("#result-count")).to_be_visible()
        # nothing wider than the window
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # the focused control shows an outline
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), outline
        # the skip link comes first
        page.goto(live_server + "/")
        page.keyboard.press("Tab")
        expect(page.locator(".skip-link").first).to_be_focused()
        page.goto(live_server + "/?q=" + QUERIES["uk"])
        shot(page, "tablet")
    finally:
        ctx.close()
