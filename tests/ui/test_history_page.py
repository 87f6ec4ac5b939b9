"""The search history page (issue 16, part 3): the searches a user ran in the UI are listed with
their record, open again on the search page, and run again with what changed; another user's
history stays theirs."""

from __future__ import annotations

import re

from tests.ui.conftest import UiArchive
from tests.ui.test_pages import client_for, csrf_of, log_in
from ui.i18n import MESSAGES

EN = MESSAGES["en"]


def test_history_lists_ui_searches_and_runs_them_again(ui_archive: UiArchive) -> None:
    with client_for(ui_archive) as researcher, client_for(ui_archive) as lawyer:
        log_in(researcher, "researcher")
        log_in(lawyer, "lawyer")
        assert researcher.get("/", params={"q": "brotherhood", "mode": "keyword"}).status_code == 200

        page = researcher.get("/history")
        assert page.status_code == 200 and EN["nav_history"] in page.text
        assert "<code>brotherhood</code>" in page.text
        entry_id = int(re.findall(r'href="/history/(\d+)"', page.text)[0])  # newest first
        assert 'href="/?q=brotherhood&amp;mode=keyword"' in page.text

        entry = researcher.get(f"/history/{entry_id}")
        assert entry.status_code == 200
        assert "<code>brotherhood</code>" in entry.text and "<dd>sample</dd>" in entry.text  # readable
        token = csrf_of(entry.text)

        again = researcher.post(f"/history/{entry_id}/rerun", data={"csrf_token": token})
        assert again.status_code == 200
        assert EN["changes_title"].split("{")[0] in again.text
        assert EN["changes_same"] in again.text
        assert EN["changes_access"] not in again.text
        # the rerun is in the history too, saying which search it ran again
        assert EN["history_rerun_of"].format(id=entry_id) in researcher.get("/history").text

        # another user neither sees nor runs it
        assert f'href="/history/{entry_id}"' not in lawyer.get("/history").text
        assert lawyer.get(f"/history/{entry_id}").status_code == 404
        r = lawyer.post(f"/history/{entry_id}/rerun", data={"csrf_token": csrf_of(lawyer.get("/cases").text)})
        assert r.status_code == 404
