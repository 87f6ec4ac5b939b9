"""The extractor's rules by category (issue 18, third round): initials, ranks and titles in any
case, patronymics, Latin transliterations in Cyrillic text, lower-cased OCR text, place markers,
Ukrainian toponyms and their inflections, quoted names. Sentences written for these tests (not
those of the dev sets in bench/entities/)."""

from __future__ import annotations

from ingest.entities import extract_mentions, query_key


def _found(text: str, lang: str) -> set[tuple[str, str]]:
    return {(m.type, text[m.start : m.end]) for m in extract_mentions(text, lang)}


def _of(text: str, lang: str, surface: str) -> list[str]:
    return [m.type for m in extract_mentions(text, lang) if text[m.start : m.end] == surface]


def test_initials_belong_to_the_surname() -> None:
    uk = "Заяву прийняв дільничний, її підписала Н. В. Кушнір."
    assert ("person", "Н. В. Кушнір") in _found(uk, "uk")
    ru = "Показания записал дознаватель Сорокин Е. П. в присутствии понятых."
    assert ("person", "Сорокин Е. П.") in _found(ru, "ru")
    en = "The statement was signed by R. Melnychuk on the same day."
    assert ("person", "R. Melnychuk") in _found(en, "en")
    # an initial is not the preposition "в": the surname after "В." is no place
    ru2 = "Протокол подписал В. Кравцов, а затем уехал."
    assert _of(ru2, "ru", "В. Кравцов") == ["person"]
    # abbreviations of places are no initials
    assert not any(
        t == "person" for t, s in _found("Согласно картам U.S. Drought Monitor засуха растёт.", "ru")
    )


def test_titles_and_ranks_in_any_case_and_hyphenated() -> None:
    uk = "Наказ віддав генерал-майором Рябоволом підписаний документ, про це сказав старшина Гуменюк."
    got = _found(uk, "uk")
    assert ("person", "Гуменюк") in got
    assert ("person", "Рябоволом") in got
    be = "Маёр Лысенка загадаў вывезці людзей."
    assert ("person", "Лысенка") in _found(be, "be")
    en = "Private Hrytsenko and Witness Bilyk spoke to the court."
    got = _found(en, "en")
    assert ("person", "Hrytsenko") in got and ("person", "Bilyk") in got


def test_full_names_with_patronymics_and_their_key() -> None:
    uk = "Допитано Кушніра Петра Івановича, жителя села."
    assert ("person", "Кушніра Петра Івановича") in _found(uk, "uk")
    # the patronymic is left out of the key: the same person as "Петро Кушнір"
    assert query_key("person", "Кушнір Петро Іванович") == query_key("person", "Петро Кушнір")


def test_latin_transliterations_in_cyrillic_text() -> None:
    ru = "Материал подготовил корреспондент Dmitry Volkov для агентства."
    assert ("person", "Dmitry Volkov") in _found(ru, "ru")
    uk = "На місці були Hryhorenko та Levchuk, обидва волонтери."
    got = _found(uk, "uk")
    assert ("person", "Hryhorenko") in got and ("person", "Levchuk") in got
    en = "The convoy was stopped on the road to Vovchansk."
    assert ("place", "Vovchansk") in _found(en, "en")


def test_lower_cased_ocr_text() -> None:
    ru = "заявитель сидоренко иван петрович сообщил, что сына увезли из курска в брянск."
    got = _found(ru, "ru")
    assert ("person", "сидоренко иван петрович") in got
    assert ("place", "курска") in got and ("place", "брянск") in got
    uk = "мешканка м. лубни скаржилася на обстріли, вул. садова зруйнована."
    got = _found(uk, "uk")
    assert ("place", "лубни") in got and ("place", "садова") in got
    # ordinary lower-case words of normal text stay out
    assert _found("вчора ввечері ми довго говорили про роботу та погоду.", "ru") == set()


def test_place_markers_and_regions() -> None:
    uk = "Тіла знайшли біля с. Гусарівка Харківської області, а також у смт Великий Бурлук."
    got = _found(uk, "uk")
    assert ("place", "Гусарівка") in got and ("place", "Харківської") in got
    assert ("place", "Великий Бурлук") in got


def test_ukrainian_toponyms_inflected_and_mid_sentence() -> None:
    uk = "Родичі виїхали до Німеччини, а сусіди залишилися у Києві."
    got = _found(uk, "uk")
    assert ("place", "Німеччини") in got and ("place", "Києві") in got
    kyiv = [
        m
        for m in extract_mentions("Він жив у Києві, потім покинув Київ назавжди.", "uk")
        if m.type == "place"
    ]
    assert len(kyiv) == 2 and kyiv[0].key == kyiv[1].key  # Києві and Київ: one place, not the noun "кий"
    assert {m.norm for m in kyiv} == {"Київ"}
    kharkiv = [
        m
        for m in extract_mentions("Обстріл у Харкові тривав, до Харкова не доїхати.", "uk")
        if m.type == "place"
    ]
    assert len(kharkiv) == 2 and kharkiv[0].key == kharkiv[1].key


def test_quoted_names_are_organisations() -> None:
    ru = "Он играл за «Спартак», а потом перешёл в «Динамо»."
    got = _found(ru, "ru")
    assert ("org", "Спартак") in got and ("org", "Динамо") in got
    assert not any(t in ("person", "place") for t, _ in got)


def test_english_names_of_things_after_the_article_are_not_persons() -> None:
    en = "She bought the Acme Blender and watched the Morning Brew Show with Petro Marchenko."
    got = _found(en, "en")
    assert ("person", "Petro Marchenko") in got
    assert not any(t == "person" and ("Acme" in s or "Morning" in s) for t, s in got)


def test_a_capitalised_common_word_mid_sentence_before_a_verb_is_a_surname() -> None:
    ru = "В тот день именно Кузнец подписал протокол допроса."
    assert ("person", "Кузнец") in _found(ru, "ru")
    # a role word is no surname, and a sentence's first word is not read this way
    assert not any(t == "person" for t, _ in _found("Наконец Свидетель сообщил всё.", "ru"))
    assert not any(t == "person" for t, _ in _found("Кузнец подписал протокол.", "ru"))


def test_an_acronym_before_a_name_is_its_own_mention() -> None:
    be = "Пасля сустрэчы прадстаўнік АБСЕ Андрэй Лукашэвіч паехаў дадому."
    got = _found(be, "be")
    assert ("org", "АБСЕ") in got
    assert ("person", "Андрэй Лукашэвіч") in got


def test_two_unknown_english_words_after_in_are_a_place() -> None:
    en = "She was born in Bila Tserkva and moved to Kyiv with Petro Savchenko."
    got = _found(en, "en")
    assert ("place", "Bila Tserkva") in got
    assert ("person", "Petro Savchenko") in got


def test_a_nominative_noun_before_another_name_is_no_ukrainian_place() -> None:
    # "Люк" is also a noun (hatch): before another capitalised word it is not taken for a place
    uk = "Учора тренер Люк Гарнет оголосив склад команди."
    assert not any(t == "place" for t, _ in _found(uk, "uk"))
    # an inflected place before a name still is one
    assert ("place", "Німеччини") in _found("Канцлер Німеччини Ганна Шмідт приїхала до Львова.", "uk")


# -- issue 18, fourth round: Belarusian and Ukrainian persons (sentences written for these tests) --


def test_belarusian_country_names_are_places_not_first_names() -> None:
    be = "Польшча і Расія падпісалі дамову, а Літва адмовілася."
    got = _found(be, "be")
    assert ("place", "Польшча") in got
    assert ("place", "Расія") in got
    assert not any(t == "person" for t, _ in got)


def test_belarusian_yakanye_place_before_a_name_is_split_off() -> None:
    be = "Амбасадар Вялікабрытаніі Джэйн Сміт сустрэлася з журналістамі."
    got = _found(be, "be")
    assert ("place", "Вялікабрытаніі") in got
    assert ("person", "Джэйн Сміт") in got


def test_a_name_after_a_place_in_the_genitive_is_that_places_person() -> None:
    uk = "Учора посол Північної Кореї Кім Сон Нам прибув до Відня."
    got = _found(uk, "uk")
    assert ("place", "Північної Кореї") in got
    assert ("person", "Кім Сон Нам") in got


def test_belarusian_past_tense_and_saying_verbs_make_the_first_word_a_subject() -> None:
    assert _of("Шнайдэр заявіў, што згодны.", "be", "Шнайдэр") == ["person"]
    assert _of("Вайнштэйн кажа, што позна.", "be", "Вайнштэйн") == ["person"]
    # a sentence-initial common word stays no person
    assert _of("Такія справы цягнуцца гадамі.", "be", "Такія") == []
    assert _of("Новыя сведкі з'явіліся ўвосень.", "be", "Новыя") == []


def test_sentence_initial_surname_endings_are_persons() -> None:
    assert _of("Каліноўскі, паводле дакументаў, жыў у Вільні.", "be", "Каліноўскі") == ["person"]
    assert _of("Бондаренко, як свідчать документи, жив у Полтаві.", "uk", "Бондаренко") == ["person"]


def test_plural_adjectives_and_latin_titles_with_the_are_no_persons() -> None:
    assert _of("Камітэт Азіяцкіх гульняў зачыніўся.", "be", "Азіяцкіх") == []
    uk = "Ведучий програми The Evening Report Show пішов у відпустку."
    assert _of(uk, "uk", "The Evening Report Show") == ["org"]


def _norms(text: str, lang: str) -> dict[str, str]:
    return {text[m.start : m.end]: m.norm for m in extract_mentions(text, lang) if m.type == "person"}


def test_a_persons_display_form_is_the_nominative_the_words_agree_on() -> None:
    assert _norms("Вчора ми бачили Петра Коваленка біля ринку.", "uk") == {
        "Петра Коваленка": "Петро Коваленко"
    }
    assert _norms("Вчора Петро Коваленко приїхав.", "uk") == {"Петро Коваленко": "Петро Коваленко"}
    assert _norms("Лист передали Петрові Коваленкові.", "uk") == {"Петрові Коваленкові": "Петро Коваленко"}
    # a woman's surname keeps its gender (Ивановой → Иванова, not the masculine lemma Иванов)
    assert _norms("Письмо передали Анне Сергеевне Ивановой.", "ru") == {
        "Анне Сергеевне Ивановой": "Анна Сергеевна Иванова"
    }


def test_link_surnames_only_when_one_full_name_has_that_surname() -> None:
    from ingest.entities import link_surnames

    def rows(text: str) -> list[tuple[str, int, int, str, str]]:
        return [(m.type, m.start, m.end, m.norm, m.key) for m in extract_mentions(text, "uk")]

    full = rows("Слідчий допитав Олега Бондаря вранці.")
    alone = rows("Потім Бондар заявив, що нічого не бачив.")
    linked = link_surnames([full, alone])
    assert [r[4] for r in linked[1] if r[0] == "person"] == [full[0][4]]
    # two documents: no link across them
    apart = link_surnames([full, alone], documents=[1, 2])
    assert [r[4] for r in apart[1] if r[0] == "person"] == [alone[0][4]]
    # two full names with that surname: ambiguous, left alone
    both = rows("Олег Бондар та Ірина Бондар прийшли.")
    assert [r[4] for r in link_surnames([both, alone])[1] if r[0] == "person"] == [alone[0][4]]
