"""A nonsense query in the default mode (hybrid) over an archive with e5-onnx vectors, in a real
Chromium (issue 21, item 1): with the known-word gate (on by default), "qwertyzxcv" lists no note by
meaning, and the page shows the "nothing found" state with the reason, in the interface's language,
and a link to the same search by meaning only (semantic mode, never gated: a word newer than every
dictionary costs one click).

Before the gate the same search listed most of the notes "by meaning" (every short note is ~0.8
cosine to anything). docs/decisions.md, "Known-word gate, round 3".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from archive_search.settings import Settings
from search_api.service import ArchiveService
from tests.ui.conftest import PASSWORD, _serve, shot
from tests.ui.test_browser import expect, log_in
from tests.ui.test_desk import no_sideways_scroll
from tests.ui.test_hybrid_paging import UNRELATED, WITNESS
from ui.i18n import MESSAGES


@dataclass
class GateArchive:
    service: ArchiveService
    url: str


@pytest.fixture(scope="module")
def gate_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateArchive]:
    pytest.importorskip("onnxruntime")
    tmp = tmp_path_factory.mktemp("gate-ui")
    models = tmp_path_factory.getbasetemp() / "e5-models"
    svc = ArchiveService(
        Settings(data_dir=tmp / "data", embedder="e5-onnx", model_cache_dir=models)  # type: ignore[arg-type]
    )
    src = tmp / "incoming"
    src.mkdir()
    for i in range(12):
        (src / f"witness-{i:02d}.txt").write_text(WITNESS[i % 4].format(n=i + 1) + "\n", "utf-8")
    for i in range(8):
        (src / f"other-{i:02d}.txt").write_text(UNRELATED[i % 4].format(n=i + 1) + "\n", "utf-8")
    rep = svc.ingest(sorted(src.iterdir()), "notes")
    assert all(f.outcome == "ok" for f in rep.files), rep
    assert svc.embed_pending() == 20
    svc.accounts.create_user("reader", PASSWORD)
    svc.accounts.grant("notes", "read", user="reader")
    for url in _serve(svc):
        yield GateArchive(svc, url)
    svc.close()


@pytest.mark.parametrize("locale", ["uk-UA", "en-GB"])
def test_nonsense_shows_nothing_found_and_why(chromium: Any, gate_archive: GateArchive, locale: str) -> None:
    lang = locale[:2]
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = ctx.new_page()
    try:
        log_in(page, gate_archive.url, "reader")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.locator("#q").fill("qwertyzxcv")  # the default mode: hybrid
        page.locator("#q").press("Enter")
        page.wait_for_load_state("domcontentloaded")
        expect(page.locator("#mode-hybrid")).to_be_checked()
        expect(page.locator("#empty-state")).to_be_visible()
        expect(page.locator("#empty-state h3")).to_have_text(MESSAGES[lang]["empty_heading"])
        expect(page.locator("#empty-state")).to_contain_text(MESSAGES[lang]["empty_no_known_word"])
        expect(page.locator(".hit")).to_have_count(0)
        # the way out for a word no dictionary knows: the same search by meaning only
        link = page.locator("#empty-state a", has_text=MESSAGES[lang]["empty_search_by_meaning"])
        expect(link).to_have_count(1)
        link.click()
        page.wait_for_load_state("domcontentloaded")
        expect(page.locator("#mode-semantic")).to_be_checked()
        expect(page.locator("#q")).to_have_value("qwertyzxcv")
        expect(page.locator("#empty-state")).to_have_count(0)
        assert page.locator(".hit").count() > 0
        # a real question in the same mode still lists the witness notes, by meaning or by words
        page.locator("#mode-hybrid").check()
        page.locator("#q").fill("автобус блокпост свідок")
        page.locator("#q").press("Enter")
        page.wait_for_load_state("domcontentloaded")
        expect(page.locator("#empty-state")).to_have_count(0)
        assert page.locator(".hit").count() > 0
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", ["uk", "ru", "en"])
def test_the_nothing_found_state_at_390_px_and_desktop(
    chromium: Any, gate_archive: GateArchive, lang: str
) -> None:
    """The gated empty state, its reason and its link fit a phone's width and a desktop's, in each
    interface language (docs/screenshots/nothing-found-*.png are copies)."""
    for width in (390, 1280):
        ctx = chromium.new_context(viewport={"width": width, "height": 900}, locale=lang)
        page = ctx.new_page()
        try:
            log_in(page, gate_archive.url, "reader")
            page.goto(gate_archive.url + "/?q=qwertyzxcv")
            expect(page.locator("#empty-state")).to_contain_text(MESSAGES[lang]["empty_no_known_word"])
            link = page.locator("#empty-state a", has_text=MESSAGES[lang]["empty_search_by_meaning"])
            expect(link).to_be_visible()
            assert link.get_attribute("href") == "/?q=qwertyzxcv&mode=semantic"
            no_sideways_scroll(page)
            shot(page, f"nothing-found-{lang}-{width}")
        finally:
            ctx.close()
