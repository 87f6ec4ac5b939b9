"""The document viewer (issue 21, item 8; entities of issue 18) in a real Chromium: the page image
beside its text on wide screens and stacked on phones, hit-to-hit navigation across pages (links,
keys, without JavaScript too), the found passage's tint on its matching sentences only, the
query's other spellings marked as the snippets mark them, entity names as links, and the result
cards' "also in this document" links saying which passage.

Its own archive: a three-page PDF with a text layer about one witness (his name on pages 1 and 3,
none on page 2), a long note with several passages, and a restricted document; served by the
real app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Passage
from archive_search.settings import Settings
from search_api.service import ArchiveService
from tests.conftest import ingest_files
from tests.ui.conftest import PASSWORD, ServedArchive, _serve, shot
from tests.ui.test_browser import expect, log_in

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FILLER = (
    "Ніч була тиха, у дворі горів ліхтар, а сусіди довго не виходили з дому. "
    "Вранці пройшов дощ, і дорога до села стала важкою. "
)
PAGES = [
    # page 1: his name in the second sentence, then enough other text for one long passage
    "Протокол опитування свідка, складений у березні. "
    "Свідок Петро Коваленко розповів, що його затримали біля мосту в Херсоні. " + FILLER * 6,
    # page 2: nothing about him
    FILLER * 5,
    # page 3: his name inflected
    FILLER * 2 + "Коваленка тримали три дні в підвалі, потім відпустили. " + FILLER * 2,
]
NOTE = "\n\n".join(
    f"Запис {i}. Водій автобуса розповів про блокпост біля мосту. " + FILLER * 5 for i in range(1, 5)
)


def text_pdf(path: Path, pages: list[str]) -> Path:
    """A PDF with a real text layer, one page per text (DejaVu Sans: Cyrillic)."""
    from fpdf import FPDF

    pdf = FPDF(format=(148, 210))
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    path.write_bytes(bytes(pdf.output()))
    return path


@pytest.fixture(scope="module")
def viewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedArchive]:
    tmp = tmp_path_factory.mktemp("viewer")
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    src = tmp / "incoming"
    src.mkdir()
    text_pdf(src / "witness-kovalenko.pdf", PAGES)
    ids = ingest_files(
        svc,
        src,
        {
            "witness-kovalenko.pdf": (src / "witness-kovalenko.pdf").read_bytes(),
            "driver-notes.txt": NOTE + "\n",
        },
        "viewer",
    )
    ids |= ingest_files(
        svc, tmp / "sealed", {"sealed-kovalenko.txt": "Петро Коваленко у закритій справі.\n"}, "sealed"
    )
    svc.accounts.create_user("reader", PASSWORD)
    svc.accounts.grant("viewer", "read", user="reader")
    for url in _serve(svc):
        yield ServedArchive(svc, ids, url)
    svc.close()


def passages(v: ServedArchive, name: str) -> list[tuple[int, int | None, str]]:
    """(id, page, text) of a document's passages in order."""
    with v.service.catalog.session() as s:
        return [
            (p.id, p.page, p.text)
            for p in s.scalars(
                select(Passage).where(Passage.document_id == v.doc_ids[name]).order_by(Passage.seq)
            )
        ]


def first_hit_url(v: ServedArchive, q: str = "Kovalenko") -> str:
    pid = next(i for i, _, text in passages(v, "witness-kovalenko.pdf") if "Коваленко" in text)
    return f"{v.url}/documents/{v.doc_ids['witness-kovalenko.pdf']}?passage={pid}&q={q}#passage-{pid}"


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], (page.url, width)


def box(page: Any, selector: str) -> dict[str, float]:
    b = page.locator(selector).first.bounding_box()
    assert b is not None, selector
    return dict(b)


def test_the_page_image_sits_beside_the_text_and_phones_do_not_scroll_sideways(
    chromium: Any, viewer: ServedArchive
) -> None:
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = ctx.new_page()
    try:
        log_in(page, viewer.url, "reader")
        page.goto(first_hit_url(viewer))
        text, image = box(page, "#page-1 .page-text"), box(page, "#page-1 .page-image img")
        # two columns: the image right of the text, level with it
        assert image["x"] >= text["x"] + text["width"] - 1, (text, image)
        assert image["y"] < text["y"] + text["height"] and text["y"] < image["y"] + image["height"]
        page.wait_for_function(
            "i => i.complete && i.naturalWidth > 100",
            arg=page.locator("#page-1 .page-image img").element_handle(),
        )
        no_sideways_scroll(page)
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        no_sideways_scroll(page)
        text, image = box(page, "#page-1 .page-text"), box(page, "#page-1 .page-image img")
        assert image["y"] >= text["y"] + text["height"] - 1, (text, image)  # stacked: image below
        assert image["width"] <= 390
    finally:
        ctx.close()


def test_next_hit_moves_through_every_match_across_pages(page: Any, viewer: ServedArchive) -> None:
    log_in(page, viewer.url, "reader")
    page.goto(first_hit_url(viewer))
    count = page.locator("#hit-count")
    expect(count).to_have_text(re.compile(r"^hit 1 of \d+$"))
    total = int(count.inner_text().rsplit(" ", 1)[1])
    expect(page.locator("#prev-hit")).not_to_have_attribute("href", re.compile("."))
    expect(page.locator("section.page.hit")).to_have_attribute("id", "page-1")
    seen_pages = ["page-1"]
    for k in range(2, total + 1):
        nxt = page.locator("a#next-hit")
        if k % 2:  # by the keyboard shortcut
            page.keyboard.press("n")
        else:
            nxt.click()
        page.wait_for_url(re.compile(r"passage=\d+.*#passage-\d+$"))
        expect(count).to_have_text(f"hit {k} of {total}")
        anchor = page.url.rsplit("#", 1)[1]
        expect(page.locator(f"mark.passage#{anchor}")).to_be_in_viewport()
        seen_pages.append(str(page.locator("section.page.hit").get_attribute("id")))
    # the last match is on page 3; the name is not on page 2, so no hit stops there
    assert seen_pages[-1] == "page-3" and "page-2" not in seen_pages, seen_pages
    expect(page.locator("#next-hit")).not_to_have_attribute("href", re.compile("."))
    # back by keyboard: Tab reaches "Previous hit", Enter follows it
    prev = page.locator("a#prev-hit")
    prev.focus()
    page.keyboard.press("Enter")
    expect(count).to_have_text(f"hit {total - 1} of {total}")
    # the hit links keep the query and the way back to the results
    expect(page.locator("a#next-hit")).to_have_attribute("href", re.compile(r"q=Kovalenko"))


def test_hit_links_work_without_javascript(chromium: Any, viewer: ServedArchive) -> None:
    ctx = chromium.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-GB", java_script_enabled=False
    )
    page = ctx.new_page()
    try:
        log_in(page, viewer.url, "reader")
        page.goto(first_hit_url(viewer))
        page.locator("a#next-hit").click()
        expect(page.locator("#hit-count")).to_have_text(re.compile(r"^hit 2 of \d+$"))
    finally:
        ctx.close()


PASSAGE_TINT = "rgb(227, 238, 252)"  # --passage in app.css


def test_the_tint_covers_the_matching_sentence_inside_the_passage_only(
    page: Any, viewer: ServedArchive
) -> None:
    log_in(page, viewer.url, "reader")
    page.goto(first_hit_url(viewer))
    anchor = page.url.rsplit("#", 1)[1]
    tinted = page.evaluate(
        """tint => [...document.querySelectorAll('.doc-text *')]
             .filter(e => getComputedStyle(e).backgroundColor === tint)
             .map(e => ({text: e.textContent, inPassage: !!e.closest('mark.passage'), tag: e.tagName}))""",
        PASSAGE_TINT,
    )
    assert tinted, "nothing tinted"
    assert all(t["inPassage"] for t in tinted), tinted  # never the page, never another passage
    passage_text = page.locator(f"mark.passage#{anchor}").inner_text()
    tinted_len = sum(len(t["text"]) for t in tinted)
    # the sentence with the name, not the whole passage (most of the page)
    assert "Петро Коваленко" in "".join(t["text"] for t in tinted)
    assert tinted_len < len(passage_text) / 3, (tinted_len, len(passage_text))
    for sel in ("section.page.hit", "section.page.hit .page-text", f"mark.passage#{anchor}"):
        bg = page.locator(sel).evaluate("e => getComputedStyle(e).backgroundColor")
        assert bg in ("rgba(0, 0, 0, 0)", "transparent"), (sel, bg)


def test_other_scripts_and_inflections_are_marked_as_in_the_snippet(page: Any, viewer: ServedArchive) -> None:
    log_in(page, viewer.url, "reader")
    # the snippet of the search marks the Cyrillic name for the Latin query…
    page.goto(viewer.url + "/?q=Kovalenko&mode=keyword")
    hit = page.locator(".hit").filter(has_text="witness-kovalenko.pdf").first
    snippet_marks = set(hit.locator(".snippet mark").all_inner_texts())
    assert "Коваленко" in snippet_marks or "Коваленка" in snippet_marks, snippet_marks
    hit_classes = hit.locator(".snippet mark").evaluate_all("ms => ms.map(m => m.className)")
    # …and so does the viewer, on every page: the form of page 1 and the inflected one of page 3
    hit.locator("h3 a").click()
    page.wait_for_url(re.compile(r"/documents/\d+\?"))
    expect(page.locator("#page-1 .page-text mark.term").first).to_have_text("Коваленко")
    expect(page.locator("#page-3 .page-text mark.term").first).to_have_text("Коваленка")
    assert page.locator("#page-2 .page-text mark.term").count() == 0
    # the same way as in the snippet: an other-spelling mark, styled apart from exact ones
    snippet_classes = {c for c in hit_classes if c}
    viewer_classes = set(
        page.locator(".page-text mark.term").evaluate_all("ms => ms.map(m => m.classList[1] || '')")
    )
    assert snippet_classes == viewer_classes == {"m-translit"}, (snippet_classes, viewer_classes)
    # an inflected Cyrillic query marks both forms as well
    page.goto(first_hit_url(viewer, "Коваленком"))
    marked = set(page.locator(".page-text mark.term").all_inner_texts())
    assert {"Коваленко", "Коваленка"} <= marked, marked
    expect(page.locator("#page-1 .page-text mark.term").first).to_have_class("term m-lemma")


def test_entities_in_the_text_link_to_their_pages(page: Any, viewer: ServedArchive) -> None:
    log_in(page, viewer.url, "reader")
    page.goto(first_hit_url(viewer))
    person = page.locator("#page-1 a.entity.entity-person").filter(has_text="Петро Коваленко")
    expect(person).to_have_count(1)
    expect(person).to_have_attribute("href", re.compile(r"^/entities/\d+$"))
    # the inflected mention on page 3 links too
    expect(page.locator("#page-3 a.entity.entity-person")).to_have_text("Коваленка")
    # the name is also a query match: the mark sits inside the link
    expect(person.locator("mark.term")).to_have_text("Коваленко")
    expect(page.locator(".entity-legend")).to_be_visible()
    person.click()
    page.wait_for_url(re.compile(r"/entities/\d+$"))
    expect(page.locator("h1")).to_contain_text("Коваленко")
    # the entity page lists only what the reader may read: never the sealed document
    expect(page.locator("main")).not_to_contain_text("sealed-kovalenko.txt")
    expect(page.locator("main")).to_contain_text("witness-kovalenko.pdf")
    # the sealed document's viewer is not found, hits and entities with it
    page.goto(f"{viewer.url}/documents/{viewer.doc_ids['sealed-kovalenko.txt']}?q=Kovalenko")
    expect(page.locator("a.entity")).to_have_count(0)
    expect(page.locator("#hit-nav")).to_have_count(0)


def test_also_in_this_document_says_which_passage(chromium: Any, viewer: ServedArchive) -> None:
    for locale, word in (("uk-UA", "фрагмент"), ("ru-RU", "фрагмент"), ("en-GB", "passage")):
        ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, locale=locale)
        page = ctx.new_page()
        try:
            log_in(page, viewer.url, "reader")
            page.goto(viewer.url + "/?q=автобуса&mode=keyword")
            more = page.locator(".hit").filter(has_text="driver-notes.txt").locator(".more li > a")
            expect(more.first).to_be_visible()
            # one unit for counts: the result count says documents, the filters' numbers passages
            units = {"uk-UA": ("документів", "фрагментів"), "ru-RU": ("документов", "фрагментов")}
            docs_unit, passages_unit = units.get(locale, ("documents", "passages"))
            expect(page.locator("#result-unit")).to_have_text(f"({docs_unit})")
            expect(page.locator("#facet-unit")).to_contain_text(passages_unit)
            labels = [t.strip() for t in more.all_inner_texts()]
            assert labels and all(re.fullmatch(rf"{word} \d+", t) for t in labels), labels
            # the number is the passage's place in the document: the link opens that passage
            n = int(labels[0].rsplit(" ", 1)[1])
            more.first.click()
            page.wait_for_url(re.compile(r"#passage-\d+$"))
            pid = int(page.url.rsplit("-", 1)[1])
            assert [p[0] for p in passages(viewer, "driver-notes.txt")][n - 1] == pid
            # a PDF's further passages name their page, and the passage where a page holds several
            page.goto(viewer.url + "/?q=Вранці&mode=keyword")
            card = page.locator(".hit").filter(has_text="witness-kovalenko.pdf")
            pdf_labels = [t.strip() for t in card.locator(".more li > a").all_inner_texts()]
            page_word = {"uk-UA": "Сторінка", "ru-RU": "Страница"}.get(locale, "Page")
            assert pdf_labels and all(
                re.fullmatch(rf"{page_word} \d+(, {word} \d+)?", t) for t in pdf_labels
            ), pdf_labels
            assert len(set(pdf_labels)) == len(pdf_labels), pdf_labels
        finally:
            ctx.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_viewer_has_no_serious_axe_violations(chromium: Any, viewer: ServedArchive, width: int) -> None:
    from tests.ui.test_accessibility import serious, violations

    found: dict[str, list[dict[str, Any]]] = {}
    for locale in ("uk-UA", "en-GB"):
        ctx = chromium.new_context(viewport={"width": width, "height": 844}, locale=locale, bypass_csp=True)
        page = ctx.new_page()
        try:
            log_in(page, viewer.url, "reader")
            page.goto(first_hit_url(viewer))
            found[f"viewer-{locale}"] = violations(page)
            page.goto(viewer.url + "/?q=автобуса&mode=keyword")
            found[f"results-{locale}"] = violations(page)
        finally:
            ctx.close()
    bad = serious(found)
    assert not bad, bad


@pytest.mark.parametrize("lang", ["uk", "ru", "en"])
def test_viewer_screenshots_in_each_language(chromium: Any, viewer: ServedArchive, lang: str) -> None:
    """The viewer opened from a search at 390 px and 1280 px, in test-artifacts/screenshots/
    (docs/screenshots/viewer-*.png are copies)."""
    counts = {"uk": r"збіг 1 з \d+", "ru": r"совпадение 1 из \d+", "en": r"hit 1 of \d+"}
    for width in (390, 1280):
        ctx = chromium.new_context(viewport={"width": width, "height": 900}, locale=lang)
        page = ctx.new_page()
        try:
            log_in(page, viewer.url, "reader")
            page.goto(first_hit_url(viewer))
            expect(page.locator("#hit-count")).to_have_text(re.compile(counts[lang]))
            page.wait_for_function(
                "i => i.complete && i.naturalWidth > 100",
                arg=page.locator("#page-1 .page-image img").element_handle(),
            )
            no_sideways_scroll(page)
            shot(page, f"viewer-{lang}-{width}")
        finally:
            ctx.close()
