"""Name matching across scripts and languages (transliteration keys, version 3): the variant
classes that the key merges, what it keeps apart, and a keyword search through the real
analyser and index that finds a name written in another spelling (phrases still work)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_search.types import LOCAL_ADMIN, SearchRequest
from index.analysis import ANALYZER_VERSION, Analyzer
from index.translit import translit_key, translit_keys
from search_api.service import ArchiveService
from tests.conftest import ingest_texts
from tests.conftest import keyword_files as files

pytestmark = pytest.mark.all_stacks  # the service tests also run on OpenSearch + PostgreSQL

AN = Analyzer()


def meet(query_word: str, text: str) -> bool:
    """Whether ``query_word`` matches the (second, capitalised) word of ``text`` as indexed."""
    written = AN.tokens(text)[1].terms
    return bool(set(AN.query_terms(query_word)) & set(written))


@pytest.mark.parametrize(
    "names",
    [
        # о/а initial, akanie, яканне, Ukrainian і, x = ks
        ["Александр", "Олександр", "Аляксандр", "Aleksandr", "Oleksandr", "Aliaksandr", "Alexandr"],
        ["Сергей", "Сергій", "Сяргей", "Sergei", "Serhiy", "Siarhei"],
        ["Оленовка", "Оленівка", "Olenivka", "Olenovka"],
        ["Харьков", "Харків", "Kharkov", "Kharkiv"],
        # -ский/-ський/-скі/-sky and -ская/-ська/-ouskaya, цеканне, ў
        ["Зеленский", "Зеленський", "Зяленскі", "Zelensky", "Zelenskyi", "Zelenskyy"],
        ["Тихановская", "Ціханоўская", "Тихановська", "Tsikhanouskaya", "Tikhanovskaya", "Cichanoŭskaja"],
        ["Кадыров", "Кадиров", "Кадыраў", "Kadyrov", "Kadyrow", "Qadyrov", "Kadyrau"],
        # German w, Polish sz/cz/ł, ISO 9 diacritics, шч/щ
        ["Шевченко", "Shevchenko", "Szewczenko", "Ševčenko", "Schewtschenko"],
        ["Лукашенко", "Лукашэнка", "Lukashenko", "Łukaszenka", "Lukaschenko"],
        ["Польща", "Польшча"],
        # soft sign, doubled letters, ю after a consonant, ё
        ["Мариуполь", "Маріуполь", "Mariupol", "Mariupol'"],
        ["Массачусетс", "Масачусэтс", "Massachusetts"],
        ["Людмила", "Lyudmila", "Liudmyla"],
        ["Йорк", "Ёрк"],
    ],
)
def test_spelling_variants_share_a_key(names: list[str]) -> None:
    keys = [set(translit_keys(n)) for n in names]
    common = set.intersection(*keys)
    assert common, {n: translit_keys(n) for n in names}


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        ("Johnson", "Джонсон"),
        ("Spencer", "Спенсер"),
        ("Hunter", "Хантер"),
        ("Theresa", "Тереза"),
        ("Armitage", "Армитаж"),
        ("McIlroy", "Макилрой"),
        ("Christine", "Кристин"),
        ("Bruce", "Брюс"),
    ],
)
def test_english_reading_of_a_latin_word_is_a_second_key(latin: str, cyrillic: str) -> None:
    assert translit_key(cyrillic) in translit_keys(latin), (translit_keys(latin), translit_key(cyrillic))
    assert translit_key(cyrillic) != translit_key(latin)  # the romanisation reading is first


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("сало", "село"),
        ("жена", "зона"),
        ("мир", "мера"),
        ("суд", "сад"),
        ("Кадыров", "Кадр"),
        ("Yulia", "Ilya"),
        ("Navalny", "Новый"),
        ("Ольга", "Волга"),
        ("Тимошенко", "Тимченко"),
    ],
)
def test_different_words_keep_different_keys(a: str, b: str) -> None:
    assert not set(translit_keys(a)) & set(translit_keys(b)), (translit_keys(a), translit_keys(b))


def test_inflected_forms_meet_through_lemma_and_stem_keys() -> None:
    # Belarusian genitive (no dictionary: the stem's key), Russian/Ukrainian inflection (the
    # lemma's key), and an English query
    assert meet("London", "У Лондана ёсць")
    assert meet("Лондон", "У Лондана ёсць")
    assert meet("Лукашенко", "Выступ Лукашэнкі быў")
    assert meet("Tsikhanouskaya", "Письмо Тихановской пришло")
    assert meet("Тихановская", "Ліст Ціханоўскай прыйшоў")
    assert meet("Zelensky", "Звернення Зеленського")


def test_keys_are_index_terms_only_of_likely_names() -> None:
    text = "Закон принят. По Закону был Зеленский."
    toks = {text[t.start : t.end] + f"@{t.start}": t.terms for t in AN.tokens(text)}
    assert not any(t.startswith("~") for t in toks["Закон@0"])  # sentence start, a dictionary word
    assert any(t.startswith("~") for t in toks["Закону@17"])  # capitalised inside a sentence
    assert ANALYZER_VERSION == "3"  # terms changed: embedded indexes rebuild on the marker


TEXTS = {
    "be-letter.txt": "Святлана Ціханоўская напісала ліст Аляксандру Лукашэнку з Вільні.",
    "en-letter.txt": "Sviatlana Tsikhanouskaya wrote to Aleksandr Lukashenko from Vilnius.",
    "uk-olenivka.txt": "Полонених тримали в Оленівці під Донецьком.",
    "ru-other.txt": "В Олене и в Донецке говорили о другом.",
}


@pytest.fixture
def name_archive(service: ArchiveService, tmp_path: Path) -> ArchiveService:
    return ingest_texts(service, tmp_path / "texts", TEXTS)


def test_keyword_search_finds_names_in_other_spellings(name_archive: ArchiveService) -> None:
    letters = {"be-letter.txt", "en-letter.txt"}
    for q in ("Тихановская", "Тихановська", "Tsikhanouskaya", "Tikhanovskaya", "тихановской"):
        assert files(name_archive, q) == letters, q
    for q in ("Лукашенко", "Łukaszenka", "Олександр", "Александр"):
        assert letters <= files(name_archive, q), q
    # Russian query, Ukrainian locative in the text (о/і alternation)
    assert files(name_archive, "Оленовка") == {"uk-olenivka.txt"}
    res = name_archive.search(SearchRequest(q="Тихановская", mode="keyword"), LOCAL_ADMIN)
    snippets = {h.filename: h.snippet for h in res.hits}
    assert "<mark>Ціханоўская</mark>" in snippets["be-letter.txt"]
    assert "<mark>Tsikhanouskaya</mark>" in snippets["en-letter.txt"]


def test_phrase_and_proximity_queries_with_names_still_work(name_archive: ArchiveService) -> None:
    assert files(name_archive, '"Святлана Ціханоўская"') == {"be-letter.txt"}
    assert files(name_archive, '"Sviatlana Tsikhanouskaya wrote"') == {"en-letter.txt"}
    assert files(name_archive, '"Tsikhanouskaya Sviatlana"') == set()  # order still matters
    assert files(name_archive, '"Sviatlana Lukashenko"~4') == {"en-letter.txt"}
    assert files(name_archive, '"Sviatlana Lukashenko"~1') == set()
