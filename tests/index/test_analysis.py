"""The language-aware analyser: lemmas (ru, uk), Belarusian stems, English stems, transliteration
keys, folding, and that phrases and highlighting still work through the embedded backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_search.types import LOCAL_ADMIN, SearchRequest
from index import morph
from index.analysis import Analyzer, fold, highlight
from index.translit import translit_key
from search_api.service import ArchiveService
from tests.conftest import ingest_texts
from tests.conftest import keyword_files as files

pytestmark = pytest.mark.all_stacks  # the service tests also run on OpenSearch + PostgreSQL

AN = Analyzer()


def canonical(word: str) -> str:
    return AN.terms_for(word)[0]


def meet(query_word: str, text_word: str) -> bool:
    """Whether a query word matches a word of the text (any shared term at that position)."""
    return bool(set(AN.query_terms(query_word)) & set(AN.terms_for(text_word)))


# -- lemmas --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "lemma"),
    [
        ("пыткам", "пытка"),
        ("задержанию", "задержание"),
        ("Задержанных", "задержать"),
        ("катуванням", "катування"),
        ("свідків", "свідок"),
        ("рождаются", "рождаться"),
    ],
)
def test_russian_and_ukrainian_inflections_share_the_canonical_lemma(form: str, lemma: str) -> None:
    assert canonical(form) == lemma
    assert canonical(form) == canonical(lemma)
    assert meet(lemma, form)
    assert meet(form, lemma)


def test_surface_form_is_kept_beside_the_lemma() -> None:
    terms = AN.terms_for("пыткам")
    assert terms[0] == "пытка"
    assert "пыткам" in terms
    # a query word's first term is its surface form: prefix and fuzzy queries work on it
    assert AN.query_terms("пыткам")[0] == "пыткам"
    assert AN.query_terms("катув")[0] == "катув"


def test_homonyms_keep_every_dictionary_lemma() -> None:
    terms = AN.terms_for("стали")
    assert terms[0] == "стать"  # the most probable reading is canonical
    assert "сталь" in terms
    assert meet("сталь", "стали")


def test_word_known_to_both_dictionaries_gets_both_lemmas() -> None:
    # мене: Russian мена (exchange), Ukrainian я (me)
    terms = AN.terms_for("мене")
    assert "мена" in terms
    assert "я" in terms


def test_language_letters_choose_the_dictionary() -> None:
    # ы rules out Ukrainian, і rules out Russian, ў rules out both
    assert morph.cyrillic_lemmas("пыткам")[1] == "ru"
    assert morph.cyrillic_lemmas("свідків")[1] == "uk"
    assert morph.cyrillic_lemmas("правоў") == ((), "", False)
    assert morph.cyrillic_lemmas("катуванням")[1] == "uk"  # Russian does not know it


@pytest.mark.parametrize("apostrophe", ["'", "’", "ʼ", "`"])
def test_ukrainian_apostrophe_variants_fold_and_still_lemmatise(apostrophe: str) -> None:
    word = f"пам{apostrophe}яті"
    assert AN.terms_for(word) == AN.terms_for("пам'яті")
    assert canonical(word) == canonical("пам'ять") == "память"
    assert canonical(f"м{apostrophe}ясо") == "мясо"


def test_yo_and_stress_marks_fold() -> None:
    assert fold("Ёлка") == "елка"
    assert canonical("ёлки") == canonical("елки")
    assert fold("запи\u0301сан") == "записан"


def test_latin_look_alikes_inside_cyrillic_words_are_folded() -> None:
    assert fold("мiнiстэрства") == fold("міністэрства")  # Latin i, Belarusian і
    assert fold("Cвoбoда") == "свобода"  # Latin C and o
    assert fold("Kadyrov") == "kadyrov"  # a Latin word is left alone


# -- Belarusian -----------------------------------------------------------------------------------


def test_belarusian_is_folded() -> None:
    assert fold("ЎВОГУЛЕ") == "ўвогуле"
    assert fold("Нарадзіліся") == "нарадзіліся"
    assert "ў" in fold("Кадыраў")


@pytest.mark.parametrize(
    ("form", "lemma"),
    [
        ("чалавека", "чалавек"),
        ("чалавекам", "чалавек"),
        ("правоў", "права"),
        ("нарадзіліся", "нарадзіцца"),
        ("сітуацыях", "сітуацыя"),
        ("сітуацыі", "сітуацыя"),
        ("падраздзяленняў", "падраздзяленне"),
        ("горада", "горад"),
        ("гарады", "горад"),
    ],
)
def test_belarusian_stemmer_meets_inflections(form: str, lemma: str) -> None:
    assert morph.be_stem(fold(form)) == morph.be_stem(fold(lemma))


def test_belarusian_words_no_dictionary_knows_are_stemmed_in_the_index() -> None:
    assert canonical("чалавекам") == canonical("чалавека") == morph.be_stem("чалавек")
    assert meet("чалавека", "чалавекам")
    assert "чалавекам" in AN.terms_for("чалавекам")


def test_belarusian_stemmer_keeps_distinct_words_apart() -> None:
    assert morph.be_stem("свабода") != morph.be_stem("сваякі")
    assert morph.be_stem("права") != morph.be_stem("правда")
    assert morph.be_stem("суд") != morph.be_stem("сад")
    assert len(morph.be_stem("ад")) == 2  # short words are left whole


# -- English ------------------------------------------------------------------------------------


def test_english_is_snowball_stemmed() -> None:
    assert canonical("rights") == canonical("right") == "right"
    assert canonical("tortured") == canonical("torture")
    assert canonical("Detention") == canonical("detentions")
    assert meet("detained", "detain")
    assert "rights" in AN.terms_for("Rights")
    # possessive
    assert canonical("Kadyrov's") == canonical("Kadyrov")


# -- transliteration keys -------------------------------------------------------------------------

KADYROV = ["Кадыров", "Кадиров", "Кадыраў", "Kadyrov", "Kadyrow", "Qadyrov", "Kadyrau", "Kadyraŭ"]


def test_name_spellings_across_scripts_share_one_key() -> None:
    keys = {translit_key(w) for w in KADYROV}
    assert len(keys) == 1
    key = keys.pop()
    assert key is not None and key.startswith("~")
    for w in KADYROV:
        assert key in AN.terms_for(w), w
        assert key in AN.query_terms(w.lower()), w  # a query word in lower case has it too


@pytest.mark.parametrize(
    "names",
    [
        ["Олександр", "Александр", "Aleksandr", "Oleksandr"],
        ["Зеленский", "Зеленський", "Zelensky", "Zelenskyy"],
        ["Лукашенко", "Лукашэнка", "Lukashenko", "Lukashenka"],
        ["Шевченко", "Shevchenko", "Szewczenko", "Ševčenko"],
        ["Дмитрий", "Дзмітрый", "Dmitry", "Dzmitry"],
        ["Евгений", "Yevgeny", "Evgeny"],
        ["Ціханоўская", "Tsikhanouskaya"],
        ["Київ", "Kyiv", "Киев", "Kiev"],
        ["Чечня", "Chechnya"],
    ],
)
def test_more_names_meet_across_scripts(names: list[str]) -> None:
    assert len({translit_key(w) for w in names}) == 1, {w: translit_key(w) for w in names}


def test_inflected_cyrillic_name_also_carries_its_lemma_key() -> None:
    assert translit_key("Kadyrov") in AN.terms_for("Кадырова")  # genitive: lemma кадыров
    assert translit_key("Kadyrova") in AN.terms_for("Кадырова")  # and the surface form


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("права", "правда"),
        ("мир", "мера"),
        ("свобода", "суббота"),
        ("закон", "заказ"),
        ("суд", "сад"),
        ("человек", "чулок"),
        ("пытка", "попытка"),
        ("Кадыров", "Кадр"),
        ("Navalny", "Новый"),
        ("Мемориал", "Memory"),
        ("рада", "рыба"),
        ("Yulia", "Ilya"),
    ],
)
def test_unrelated_words_do_not_share_a_key(a: str, b: str) -> None:
    assert translit_key(a) != translit_key(b)


def test_short_words_get_no_key() -> None:
    for w in ("он", "On", "на", "in", "і", "Анна", "Она"):
        assert translit_key(w) is None, w


def test_only_likely_names_carry_keys_in_the_index() -> None:
    text = "Архив хранит документы. Суд вызвал Кадырова и Свободу. Кадыров не пришёл. свобода"
    toks = {text[t.start : t.end] + f"@{t.start}": t.terms for t in AN.tokens(text)}

    def keys(word: str) -> list[str]:
        at = next(k for k in toks if k.startswith(word + "@"))
        return [t for t in toks[at] if t.startswith("~")]

    assert keys("Архив") == []  # capitalised only because it begins a sentence
    assert keys("документы") == []  # lower case
    assert keys("свобода") == []
    assert keys("Свободу") != []  # capitalised inside a sentence
    assert keys("Кадырова") != []
    assert keys("Кадыров") != []  # begins a sentence, but the dictionary reads it as a surname
    # terms_for() knows no context: a capitalised word is taken as inside a sentence
    assert any(t.startswith("~") for t in AN.terms_for("Архив"))


# -- positions, phrases and highlighting through the service -------------------------------------


def test_tokens_keep_positions_and_spans() -> None:
    text = "Задержанных подвергали пыткам."
    toks = AN.tokens(text)
    assert [t.position for t in toks] == [0, 1, 2]
    assert [text[t.start : t.end] for t in toks] == ["Задержанных", "подвергали", "пыткам"]
    assert [t.terms[0] for t in toks] == ["задержать", "подвергать", "пытка"]


def test_highlight_marks_inflected_forms() -> None:
    text = "Право на свободу. Свободы мало; люди рождаются свободными."
    snippet = highlight(AN, text, AN.query_terms("свобода"))
    assert "<mark>свободу</mark>" in snippet
    assert "<mark>Свободы</mark>" in snippet
    assert "<mark>свободными</mark>" not in snippet  # another lemma (свободный)
    snippet = highlight(AN, "The tribunal heard Kadyrov's men.", AN.query_terms("Кадыров"))
    assert "<mark>Kadyrov&#x27;s</mark>" in snippet or "<mark>Kadyrov's</mark>" in snippet


TEXTS = {
    "ru-torture.txt": "Никто не должен подвергаться пыткам. Задержанных подвергали пыткам в изоляторе.",
    "ru-other.txt": "Пытка запрещена законом. Подвергали ли их допросам, неизвестно.",
    "uk-witness.txt": "Ми записали свідчення свідків катування у слідчому ізоляторі.",
    "en-report.txt": "The report names Ramzan Kadyrov as responsible for the detentions.",
    "be-report.txt": "Праваабаронцы паведамілі, што Рамзан Кадыраў адказвае за затрыманні.",
    "ru-report.txt": "Правозащитники утверждают, что Рамзан Кадыров несёт ответственность.",
}


@pytest.fixture
def small_archive(service: ArchiveService, tmp_path: Path) -> ArchiveService:
    return ingest_texts(service, tmp_path / "texts", TEXTS)


def test_phrase_of_inflected_words_matches_through_canonical_lemmas(small_archive: ArchiveService) -> None:
    # the text says "подвергали пыткам"; the phrase is in other forms of the same lemmas
    assert files(small_archive, '"подвергать пытка"') == {"ru-torture.txt"}
    assert files(small_archive, '"подвергали пыткам"') == {"ru-torture.txt"}
    assert files(small_archive, '"пыткам подвергали"') == set()  # order still matters
    assert files(small_archive, '"подвергали допросам"') == set()  # "ли их" in between
    assert files(small_archive, '"подвергали допросам"~3') == {"ru-other.txt"}
    # Ukrainian: свідків катування <- "свідок катуванням"
    assert files(small_archive, '"свідок катуванням"') == {"uk-witness.txt"}


def test_inflected_query_word_finds_every_form(small_archive: ArchiveService) -> None:
    assert files(small_archive, "пытка") == {"ru-torture.txt", "ru-other.txt"}
    assert files(small_archive, "пыткам") == {"ru-torture.txt", "ru-other.txt"}
    assert files(small_archive, "катування") == {"uk-witness.txt"}
    assert files(small_archive, "detention") == {"en-report.txt"}


def test_name_query_finds_every_script(small_archive: ArchiveService) -> None:
    expected = {"en-report.txt", "be-report.txt", "ru-report.txt"}
    for q in ("Кадыров", "Kadyrov", "кадыров", "Kadyraŭ", "Qadyrov"):
        assert files(small_archive, q) == expected, q
    res = small_archive.search(SearchRequest(q="Кадыров", mode="keyword"), LOCAL_ADMIN)
    snippets = {h.filename: h.snippet for h in res.hits}
    assert "<mark>Kadyrov</mark>" in snippets["en-report.txt"]
    assert "<mark>Кадыраў</mark>" in snippets["be-report.txt"]


def test_prefix_query_still_works_on_surface_forms(small_archive: ArchiveService) -> None:
    assert files(small_archive, "пытк*") == {"ru-torture.txt", "ru-other.txt"}
    assert files(small_archive, "катув*") == {"uk-witness.txt"}
