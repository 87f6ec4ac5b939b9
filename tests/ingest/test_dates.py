"""A document's date found in its text (ingest/dates.py) and stored as the document date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from archive_search.catalog.models import Document
from archive_search.types import LOCAL_ADMIN, SearchRequest
from ingest.dates import document_date, find_dates
from search_api.service import ArchiveService

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Київ, 12 березня 2022 р.\nЗаява свідка", date(2022, 3, 12)),
        ("Москва «12» марта 2022 г.", date(2022, 3, 12)),
        ("12 сакавіка 2022 года, Мінск", date(2022, 3, 12)),
        ("Dated March 12, 2022, London", date(2022, 3, 12)),
        ("London, 12 March 2022", date(2022, 3, 12)),
        ("Протокол від 12.03.2022 № 5", date(2022, 3, 12)),
        ("report 2022-03-12 final", date(2022, 3, 12)),
        ("1 января 1995 года", date(1995, 1, 1)),
        ("3 жніўня 1999", date(1999, 8, 3)),
        ("Sept. 3rd 2001", date(2001, 9, 3)),
        ("«05» листопада 2014 р.", date(2014, 11, 5)),
        ("05/11/2014", date(2014, 11, 5)),
    ],
)
def test_forms_of_dates(text: str, expected: date) -> None:
    assert document_date(text, today=TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31.02.2022",  # no such day
        "12.13.2022",  # no month 13
        "12 березня 2099 р.",  # in the future
        "версія 1.2.2022.5",  # a version number, not a date
        "тел. 12.03.20225",
        "12 березня",  # no year
        "ISBN 978-5-2022-03-12",
        "",
    ],
)
def test_not_dates(text: str) -> None:
    assert document_date(text, today=TODAY) is None


def test_first_date_of_the_head_wins_and_only_the_head_counts() -> None:
    text = "Рішення від 20 травня 2015 р. Свідок народився 01.02.1960."
    assert document_date(text, today=TODAY) == date(2015, 5, 20)
    assert [d for _, d in find_dates(text, today=TODAY)] == [date(2015, 5, 20), date(1960, 2, 1)]
    late = "слово " * 1000 + "12.03.2022"
    assert document_date(late, today=TODAY) is None
    assert document_date(late, today=TODAY, head_chars=len(late)) == date(2022, 3, 12)


def test_ingested_text_gets_its_date_from_the_text(service: ArchiveService, tmp_path: Path) -> None:
    dated = tmp_path / "statement.txt"
    dated.write_text("Харків, 12 березня 2022 р.\n\nЯ, свідок, бачив обстріл школи.\n", "utf-8")
    undated = tmp_path / "note.txt"
    undated.write_text("Записка без дати про обстріл школи.\n", "utf-8")
    rep = service.ingest([dated, undated], "dates")
    assert [f.outcome for f in rep.files] == ["ok", "ok"]
    with service.catalog.session() as s:
        got = {d.filename: d.doc_date for d in s.query(Document).all()}
    assert got == {"statement.txt": date(2022, 3, 12), "note.txt": None}
    # the date is a filter of search
    res = service.search(
        SearchRequest(q="обстріл", mode="keyword", date_from=date(2022, 1, 1), date_to=date(2022, 12, 31)),
        LOCAL_ADMIN,
    )
    assert [h.filename for h in res.hits] == ["statement.txt"]
