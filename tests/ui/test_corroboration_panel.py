"""The corroboration panel (issue 21 item 3) in a real Chromium: more than five similar passages
with "more" (the sixth and seventh reachable, without JavaScript), each with its match strength,
title, date, language and the people named, grouped by source (independent witnesses apart from a
retyped copy of the note), add to case with a note staying on the page and keeping how the item
was found, nothing from a collection the reader cannot read, and axe-core on the panel at 390 px
and desktop width. Screenshots in each interface language (docs/screenshots/ holds copies).

Its own archive: a field note about an arrest, a retyped copy of it, twelve witnesses who tell the
same arrest in their own words (one also forwarded), and a sealed witness in another collection.
Keyword similarity (no embedder): the entries and their order are deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Document, Passage
from archive_search.settings import Settings
from search_api.service import ArchiveService
from tests.ui.conftest import PASSWORD, _serve, shot
from tests.ui.test_accessibility import violations
from tests.ui.test_browser import expect, log_in
from tests.ui.test_desk import no_sideways_scroll

EMAIL = """From: {sender} <field@example.org>
To: desk@example.org
Date: {date}
Subject: {subject}
Content-Type: text/plain; charset=utf-8

{body}
"""
NOTE = (
    "Польова нотатка. Сергія Гончаренка затримали біля мосту третього березня. Військові посадили "
    "його в автобус і повезли до блокпосту. Свідки бачили номер автобуса.\n"
)
# twelve witnesses of the same arrest, each in their own words (independent sources: no two are
# copies of each other), sharing only the facts with the note
WITNESSES = [
    (
        "Олена Марченко",
        "Я дивилася з вікна п'ятого поверху, коли Сергія Гончаренка затримали біля мосту. "
        "Потім його штовхнули в автобус, і той рушив у бік блокпосту.",
    ),
    (
        "Павло Бондар",
        "На зупинці навпроти я чекав маршрутку. Гончаренка схопили двоє в масках просто біля "
        "мосту, а сірий автобус забрав його до блокпосту за містом.",
    ),
    (
        "Ірина Ткаченко",
        "Поверталася з ринку з повними сумками й побачила: чоловіка, якого всі звуть "
        "Гончаренком, ведуть до автобуса. Міст тоді перекрили, блокпост стояв далі.",
    ),
    (
        "Андрій Мельник",
        "Таксі запізнювалось, тож я курив біля мосту. Сергій Гончаренко кричав, що нічого "
        "не зробив. Його кинули в автобус без номерів; поїхали до блокпосту.",
    ),
    (
        "Оксана Шевчук",
        "Квіти на розі я продаю вже десять років. Того ранку військові оточили міст і "
        "затримали Гончаренка; автобус відвіз його на блокпост.",
    ),
    (
        "Василь Кравець",
        "Лагодив карбюратор у гаражі, почув гамір. Вибіг — Гончаренка заштовхують в автобус "
        "біля мосту. Водій розвернувся до блокпосту.",
    ),
    (
        "Галина Савчук",
        "Собака загавкав на солдатів. Я побачила, як Сергія Гончаренка тягнуть від мосту "
        "до автобуса. Автобус потім стояв на блокпосту годину.",
    ),
    (
        "Микола Лисенко",
        "Рибалив під мостом з самого світанку. Нагорі затримали Гончаренка, я впізнав його "
        "голос. Автобус поїхав у напрямку блокпосту.",
    ),
    (
        "Тетяна Руденко",
        "Їхала велосипедом на роботу, мене зупинили перед мостом. Попереду Гончаренка "
        "садили в автобус; на блокпосту нас усіх перевіряли.",
    ),
    (
        "Богдан Коваль",
        "Ніс хліб із пекарні для матері. Коло мосту зібрався натовп: Гончаренко лежав на "
        "асфальті, потім його підняли й повели до автобуса, що їхав на блокпост.",
    ),
    (
        "Світлана Гнатюк",
        "Чекала доньку зі школи біля мосту. Гончаренка затримали на моїх очах, дитина "
        "злякалася. Автобус був білий, поїхав на блокпост.",
    ),
    (
        "Роман Поліщук",
        "Виходив з аптеки з ліками для батька. Чоловіки в формі затримали Гончаренка біля "
        "мосту та відвезли автобусом до блокпосту на трасі.",
    ),
]
CORR_FILES: dict[str, str] = {
    "field-note.txt": NOTE,
    # the same note retyped: the same source as the note, not a corroboration of it
    "field-note-retyped.txt": NOTE.replace("Польова нотатка.", "Польова нотатка (передрук).").replace(
        "номер автобуса", "номер того автобуса"
    ),
}
for _i, (_name, _what) in enumerate(WITNESSES, start=1):
    CORR_FILES[f"witness-{_i:02d}.txt"] = (
        f"Свідчення {_i}\n\n{3 + _i} березня 2025 р. Свідок {_name}.\n\n{_what}\n"
    )
CORR_FILES["witness-04-forwarded.txt"] = "Переслано від польового офісу.\n\n" + CORR_FILES["witness-04.txt"]
SEALED = (
    "Свідчення 13\n\n16 березня 2025 р. Свідок Ярослав Запечатаний.\n\nЯ бачив, як Сергія Гончаренка "
    "затримали біля мосту й повезли автобусом до блокпосту.\n"
)


@dataclass
class CorrArchive:
    service: ArchiveService
    doc_ids: dict[str, int]
    passage_id: int
    url: str

    def viewer(self) -> str:
        return f"{self.url}/documents/{self.doc_ids['field-note.txt']}?passage={self.passage_id}"

    def full_page(self, shown: int | None = None) -> str:
        extra = f"&shown={shown}" if shown else ""
        doc = self.doc_ids["field-note.txt"]
        return f"{self.url}/documents/{doc}/corroboration?passage={self.passage_id}{extra}"


@pytest.fixture(scope="module")
def corr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorrArchive]:
    tmp = tmp_path_factory.mktemp("corr-panel")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    src, sealed = tmp / "incoming", tmp / "sealed"
    src.mkdir()
    sealed.mkdir()
    for name, text in CORR_FILES.items():
        (src / name).write_text(text, encoding="utf-8")
    (sealed / "witness-13-sealed.txt").write_text(SEALED, encoding="utf-8")
    for folder, col in ((src, "witnesses"), (sealed, "sealed")):
        rep = svc.ingest(sorted(folder.iterdir()), col)
        assert all(f.outcome == "ok" for f in rep.files), rep
    svc.accounts.create_user("clerk", PASSWORD, role="editor")
    svc.accounts.grant("witnesses", "write", user="clerk")
    svc.accounts.create_user("reader", PASSWORD)
    svc.accounts.grant("witnesses", "read", user="reader")
    svc.accounts.create_user("boss", PASSWORD, role="admin")
    with svc.catalog.session() as s:
        ids = {d.filename: d.id for d in s.scalars(select(Document))}
        pid = s.scalar(
            select(Passage.id).where(Passage.document_id == ids["field-note.txt"]).order_by(Passage.seq)
        )
    assert pid is not None
    for url in _serve(svc):
        yield CorrArchive(svc, ids, int(pid), url)
    svc.close()


def entries(page: Any) -> Any:
    return page.locator("#similar-passages li.corr-entry")


def test_more_than_five_entries_and_more_reaches_the_rest(page: Any, corr: CorrArchive) -> None:
    log_in(page, corr.url, "reader")
    page.goto(corr.viewer())
    panel = page.locator("#similar-passages")
    expect(entries(page)).to_have_count(10)  # was 5, with no way to the sixth
    # each entry: strength (label and score), title, file, date, language, the people named
    w4 = panel.locator("li.corr-entry", has_text="witness-04.txt").first
    expect(w4.locator(".corr-title")).to_have_text("Свідчення 4")
    expect(w4.locator(".corr-strength .strength-label")).to_have_text(
        re.compile("^(Strong|Moderate|Weak) match$")
    )
    expect(w4.locator(".corr-strength .score")).to_have_text(re.compile(r"^score \d+(\.\d+)?$"))
    expect(w4.locator(".corr-date dd")).to_have_text("7 March 2025")
    expect(w4.locator(".corr-meta")).to_contain_text("Ukrainian")
    expect(w4.locator(".corr-people")).to_contain_text("Андрій Мельник")
    expect(w4.locator(".corr-people")).to_contain_text("Гончаренко")
    # "more": a plain link to the full list, landing at the 11th entry
    more = panel.get_by_role("link", name="More similar passages")
    expect(more).to_have_attribute("href", re.compile(r"/corroboration\?passage=\d+&shown=20#corr-entry-11$"))
    more.click()
    page.wait_for_load_state("domcontentloaded")
    expect(entries(page)).to_have_count(13)
    expect(page.locator("#corr-entry-11")).to_be_in_viewport()
    expect(page.locator("#corr-entry-13")).to_be_visible()
    expect(page.get_by_role("link", name="More similar passages")).to_have_count(0)
    # the full page pages too: 5 at a time here, "more" reaches the 6th and 7th
    page.goto(corr.full_page(5))
    expect(entries(page)).to_have_count(5)
    expect(page.locator("#corr-entry-6")).to_have_count(0)
    page.get_by_role("link", name="More similar passages").click()
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("#corr-entry-6")).to_be_visible()
    expect(page.locator("#corr-entry-7")).to_be_visible()
    expect(page.locator("#corr-entry-6 .corr-date dd")).to_have_text(re.compile(r"^\d+ March 2025$"))


def test_entries_grouped_by_source(page: Any, corr: CorrArchive) -> None:
    """Twelve independent witnesses apart from the retyped copy of the note (same source); the
    forwarded copy of a witness folded into that witness's entry, not counted again."""
    log_in(page, corr.url, "reader")
    page.goto(corr.full_page())
    panel = page.locator("#similar-passages")
    expect(panel.locator(".independent-count")).to_have_text("Independent sources: 12 · Same source: 1")
    independent = panel.locator("ol[aria-labelledby=corr-group-independent] > li")
    same = panel.locator("ol[aria-labelledby=corr-group-same_source] > li")
    expect(panel.locator("#corr-group-independent")).to_have_text("Independent sources 12")
    expect(independent).to_have_count(12)
    expect(same).to_have_count(1)
    expect(same.first).to_contain_text("field-note-retyped.txt")
    expect(same.first).to_contain_text("same source: edited copy of field-note.txt")
    files = independent.locator(".corr-meta").all_inner_texts()
    assert not any("field-note" in f for f in files), files
    w4 = independent.filter(has_text="witness-04.txt")
    expect(w4).to_have_count(1)
    expect(w4.locator(".source-also")).to_contain_text("witness-04-forwarded.txt")
    assert "witness-04-forwarded.txt" not in " ".join(files)
    # the sealed witness (another collection) is nowhere: not as an entry, not as a person
    body = page.locator("body").inner_text()
    assert "Запечатаний" not in body and "sealed" not in body
    # the administrator does see it: a leak would show above
    page.context.clear_cookies()
    log_in(page, corr.url, "boss")
    page.goto(corr.full_page())
    expect(page.locator("#similar-passages")).to_contain_text("Ярослав Запечатаний")


def test_add_to_case_with_a_note_stays_on_the_entry_and_keeps_found_by(page: Any, corr: CorrArchive) -> None:
    log_in(page, corr.url, "clerk")
    page.goto(corr.viewer())
    entry = page.locator("#corr-entry-3")
    title = entry.locator(".corr-title").inner_text()
    entry.locator("summary").click()
    entry.get_by_label("or a new case").fill("Гончаренко: свідки")
    entry.get_by_label("Note (optional)").fill("Independent eyewitness, dated.")
    with page.expect_navigation():
        entry.get_by_role("button", name="Add the passage to the case").click()
    # still the viewer at the same passage, back at that entry, with a confirmation there
    assert re.search(rf"/documents/{corr.doc_ids['field-note.txt']}\?passage={corr.passage_id}&", page.url), (
        page.url
    )
    assert page.url.endswith("#corr-entry-3"), page.url
    added = page.locator("#corr-entry-3 .corr-added")
    expect(added).to_contain_text("Added to the case (1)")
    expect(page.locator("#similar-passages")).to_be_visible()
    expect(entries(page)).to_have_count(10)
    added.get_by_role("link", name="Open the case").click()
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("body")).to_contain_text(title)
    expect(page.locator("body")).to_contain_text("Independent eyewitness, dated.")
    found = f"similar to passage {corr.passage_id} of document {corr.doc_ids['field-note.txt']}"
    expect(page.locator("body")).to_contain_text(found)


@pytest.mark.parametrize("width", [390, 1280])
def test_panel_accessible_and_fits(chromium: Any, corr: CorrArchive, width: int) -> None:
    ctx = chromium.new_context(viewport={"width": width, "height": 900}, locale="uk-UA", bypass_csp=True)
    page = ctx.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        log_in(page, corr.url, "clerk")
        for name, url in (("viewer", corr.viewer()), ("full", corr.full_page())):
            page.goto(url)
            page.locator("#corr-entry-2 summary").click()
            no_sideways_scroll(page)
            found[name] = violations(page)
    finally:
        ctx.close()
    bad = {k: v for k, v in found.items() if v}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("lang", ["uk", "ru", "en"])
def test_panel_screenshots_in_each_language(chromium: Any, corr: CorrArchive, lang: str) -> None:
    labels = {"uk": "Незалежні джерела", "ru": "Независимые источники", "en": "Independent sources"}
    for width in (390, 1280):
        ctx = chromium.new_context(viewport={"width": width, "height": 900}, locale=lang)
        page = ctx.new_page()
        try:
            log_in(page, corr.url, "clerk")
            page.goto(corr.viewer())
            expect(page.locator("#corr-group-independent")).to_contain_text(labels[lang])
            page.evaluate("document.getElementById('similar-passages').scrollIntoView()")
            no_sideways_scroll(page)
            shot(page, f"corroboration-{lang}-{width}")
            page.goto(corr.full_page())
            page.locator("#corr-entry-2 summary").click()
            expect(page.locator("#corr-entry-2 .corr-found-by")).to_contain_text(str(corr.passage_id))
            page.evaluate("window.scrollTo(0, 0)")
            no_sideways_scroll(page)
            shot(page, f"corroboration-page-{lang}-{width}")
        finally:
            ctx.close()


def test_bad_parameters_never_crash_and_hide_what_is_not_readable(corr: CorrArchive) -> None:
    """Malformed or hostile parameters answer a page or a 404, never a server error; a passage of
    another document, or of a document the reader may not read, is a 404 like a missing one."""
    from fastapi.testclient import TestClient

    from archive_search.web import create_app
    from tests.ui.test_pages import log_in as form_log_in

    doc = corr.doc_ids["field-note.txt"]
    sealed = corr.doc_ids["witness-13-sealed.txt"]
    with corr.service.catalog.session() as s:
        sealed_passage = s.scalar(select(Passage.id).where(Passage.document_id == sealed))
        other_passage = s.scalar(
            select(Passage.id).where(Passage.document_id == corr.doc_ids["witness-01.txt"])
        )
    with TestClient(create_app(corr.service.settings, corr.service)) as c:
        form_log_in(c, "reader", PASSWORD)
        base = f"/documents/{doc}/corroboration"
        for params, status in (
            ({"passage": corr.passage_id}, 200),
            ({"passage": corr.passage_id, "shown": "-5"}, 200),
            ({"passage": corr.passage_id, "shown": "abc"}, 200),
            ({"passage": corr.passage_id, "shown": "9" * 30}, 200),
            ({"passage": "abc"}, 404),
            ({"passage": "9" * 30}, 404),
            ({"passage": "-1"}, 404),
            ({}, 404),
            ({"passage": other_passage}, 404),
        ):
            r = c.get(base, params=params)
            assert r.status_code == status, (params, r.status_code)
        assert (
            c.get(f"/documents/{sealed}/corroboration", params={"passage": sealed_passage}).status_code == 404
        )
        for big in ("9" * 30, str(2**31)):  # past any catalog id (SQLite, PostgreSQL raise on them)
            assert c.get(f"/documents/{big}/corroboration", params={"passage": 1}).status_code == 404
            assert c.get(f"/documents/{big}", params={"passage": big}).status_code == 404
        one = c.get(base, params={"passage": corr.passage_id, "shown": "-5"})
        assert one.text.count('class="corr-entry"') == 1
        many = c.get(base, params={"passage": corr.passage_id, "shown": "9" * 30})
        assert many.text.count('class="corr-entry"') == 13
