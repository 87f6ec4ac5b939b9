"""The research desk (issue 21) in a real Chromium: result cards that say what each hit is and how
it matched, "nothing found" that says why, the layout at phone width and by keyboard.

Its own small archive (a few dated e-mails about one detention and some undated notes), served
by the real app; the sample archive of conftest serves the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Document
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN
from search_api.service import ArchiveService
from search_api.tags import TagApply
from tests.ui.conftest import PASSWORD, _serve, shot
from tests.ui.test_browser import expect, log_in

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


@dataclass
class DeskArchive:
    service: ArchiveService
    doc_ids: dict[str, int]
    url: str


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskArchive]:
    tmp = tmp_path_factory.mktemp("desk")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    src = tmp / "incoming"
    src.mkdir()
    for name, text in DESK_FILES.items():
        (src / name).write_text(text, encoding="utf-8")
    rep = svc.ingest(sorted(src.iterdir()), "desk")
    assert all(f.outcome == "ok" for f in rep.files), rep
    svc.accounts.create_user("clerk", PASSWORD, role="editor")
    svc.accounts.grant("desk", "write", user="clerk")
    svc.accounts.create_user("reader", PASSWORD)
    svc.accounts.grant("desk", "read", user="reader")
    with svc.catalog.session() as s:
        ids = {d.filename: d.id for d in s.scalars(select(Document))}
    svc.tags.apply_tags(TagApply(names=[TAG], document_ids=[ids["detention-1.eml"]]), LOCAL_ADMIN)
    for url in _serve(svc):
        yield DeskArchive(svc, ids, url)
    svc.close()


def card(page: Any, text: str) -> Any:
    return page.locator(".hit").filter(has_text=text).first


def test_hit_cards_show_date_tags_and_how_each_word_matched(page: Any, desk: DeskArchive) -> None:
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
def test_nothing_found_says_why(page: Any, desk: DeskArchive, query: str, reason: str) -> None:
    log_in(page, desk.url, "reader")
    page.goto(desk.url + "/" + query)
    expect(page.locator("#result-count")).to_have_text("0 results")
    expect(page.locator("#empty-state h3")).to_have_text("Nothing found")
    expect(page.locator("#empty-state")).to_contain_text(reason)


def test_filters_that_exclude_everything_offer_the_search_without_them(page: Any, desk: DeskArchive) -> None:
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
