"""Look-alike letters of the other script inside Cyrillic and Latin words are repaired."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Passage
from ingest.normalize import fix_lookalikes, normalize_text
from search_api.service import ArchiveService


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # Latin look-alikes inside Cyrillic words
        ("Всеобщая декларация пpaв чeлoвeкa", "Всеобщая декларация прав человека"),
        ("пpaвa", "права"),
        ("Cтaтья 5. Hикто не должен", "Статья 5. Никто не должен"),
        ("пpивiт, як справи", "привіт, як справи"),  # Latin i in a Ukrainian word -> і
        ("Ëлка", "Ёлка"),
        # Cyrillic look-alikes inside Latin words
        ("Нello world and Сomputer", "Hello world and Computer"),
        ("Universal Declaration of Human Rightѕ", "Universal Declaration of Human Rights"),
        # look-alikes only: the majority of the word's letters decides
        ("ХIV век", "XIV век"),
        ("Рос", "Рос"),
    ],
)
def test_lookalikes_are_repaired(text: str, want: str) -> None:
    got = fix_lookalikes(text)
    assert got == want
    assert len(got) == len(text)


@pytest.mark.parametrize(
    "text",
    [
        "iPhoneовский",  # letters without look-alikes in both scripts: a real mixed word
        "Moscow, Россия, CO2 и H2O, ABC",  # words of one script each
        "Ζeus и Зевс",  # Greek is a third script
        "Статья 5",
        "plain English only",
        "",
    ],
)
def test_words_of_one_script_or_real_mixtures_stay(text: str) -> None:
    assert fix_lookalikes(text) == text


def test_ties_follow_the_script_of_the_text() -> None:
    # "Ра" (Cyrillic Р, Latin a): one letter of each, only look-alikes
    mixed = "Р" + "a"
    assert fix_lookalikes(f"Это слово {mixed} в русском тексте") == "Это слово Ра в русском тексте"
    assert fix_lookalikes(f"This word {mixed} is in an English text") == "This word Pa is in an English text"


def test_normalize_text_repairs_lookalikes_along_with_the_rest() -> None:
    assert normalize_text("Ocнoвныe  пpaвa\u00ad и  сво-\nбоды") == "Основные права и свободы"


def test_ingested_text_is_searchable_under_the_real_spelling(service: ArchiveService, tmp_path: Path) -> None:
    p = tmp_path / "ocr.txt"
    p.write_text("Кaждый чeлoвeк имeeт пpaвo нa cвoбoду мыcли, coвecти и peлигии.", "utf-8")
    rep = service.ingest([p], "c")
    assert rep.files[0].outcome == "ok"
    with service.catalog.session() as s:
        text = s.scalars(select(Passage.text)).one()
    assert text == "Каждый человек имеет право на свободу мысли, совести и религии."
