"""The search history and the duty-of-care pages at phone width (390 px) and desktop width, in
all three interface languages, in a real Chromium: nothing scrolls sideways, axe-core finds no
serious or critical violation, and a screenshot of each goes to ``test-artifacts/screenshots``
(issue 21: every page a user works on, at both widths)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.ui.conftest import UiArchive, shot
from tests.ui.test_accessibility import violations
from tests.ui.test_browser import log_in
from tests.ui.test_desk import no_sideways_scroll

LOCALES = {"uk": "uk-UA", "ru": "ru-RU", "en": "en-GB"}


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_history_and_care_pages_fit_and_pass_axe(
    chromium: Any, live_server: str, ui_archive: UiArchive, lang: str, width: int
) -> None:
    ctx = chromium.new_context(
        viewport={"width": width, "height": 800}, locale=LOCALES[lang], bypass_csp=True
    )
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    bad: dict[str, list[dict[str, Any]]] = {}
    try:
        log_in(page, live_server, "admin")
        assert page.locator("html").get_attribute("lang") == lang
        page.goto(live_server + "/?q=brotherhood&mode=keyword")
        page.goto(live_server + "/history")
        entry = page.locator('a[href^="/history/"]').first
        entry_href = entry.get_attribute("href")
        assert entry_href and re.fullmatch(r"/history/\d+", entry_href)
        doc = ui_archive.sample_doc_ids["udhr-uk.txt"]
        for name, path in (
            ("history", "/history"),
            ("history-entry", entry_href),
            ("care", "/care"),
            ("care-document", f"/care/documents/{doc}"),
        ):
            page.goto(live_server + path)
            assert page.url.endswith(path), (path, page.url)
            no_sideways_scroll(page)
            shot(page, f"{name}-{lang}-{width}")
            found = [v for v in violations(page) if v["impact"] in ("serious", "critical")]
            if found:
                bad[name] = found
    finally:
        ctx.close()
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)
