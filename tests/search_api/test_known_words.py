"""The known-word rule of the gate (``search_api/known_words.py``, issue 21, item 1), word by word."""

from __future__ import annotations

import pytest

from search_api.known_words import has_known_word, known_word, query_words
from tests.search_api.test_semantic_background import _nonsense


@pytest.mark.parametrize(
    "word",
    [
        # Ukrainian and Russian dictionary words, any inflected form; Belarusian the dictionaries know
        "свідок",
        "свідками",
        "автобуса",
        "блокпосту",
        "задержанных",
        "Харків",
        "учора",
        "дзякуй",
        # apostrophes of Ukrainian, every variant the analyser unifies
        "м'ясо",
        "м’ясо",
        "мʼясо",
        "п'ятниця",
        # function words, ё kept as the lists spell them
        "Ён",
        "её",
        "the",
        "what",
        # English clitics: the word before the apostrophe
        "you're",
        "it'll",
        # whole words of the model's vocabulary
        "court",
        "prison",
        "witness",
        # numbers, dates, ordinals
        "1995",
        "2-й",
        "12.03.2022",
        "№5",
        # abbreviations typed in capitals
        "ДНР",
        "ЗСУ",
        "NATO",
        "UN",
        "XIX",
    ],
)
def test_real_words_are_known(word: str) -> None:
    assert has_known_word(word), word
    if len(query_words(word)) == 1:
        assert known_word(word), word


@pytest.mark.parametrize(
    "word",
    [
        "qwertyzxcv",
        "йцукен",
        "фывапролдж",
        "ячсмить",
        "pjiytb",
        "ююсквя",
        "нєтхммсшєяч",
        "abc",  # a three-letter piece of the vocabulary is not enough
        "Ab",  # two capitals are an abbreviation, one is not
        "asdf",
    ],
)
def test_letter_strings_are_not_known(word: str) -> None:
    assert not known_word(word)
    assert not has_known_word(word)


def test_hyphenated_words_are_read_part_by_part() -> None:
    # the analyser splits at the hyphen: one known part is enough
    assert query_words("Івано-Франківськ") == ["Івано", "Франківськ"]
    assert has_known_word("Івано-Франківськ")
    assert has_known_word("м’ясо-молочний")
    assert not has_known_word("фыва-пролдж")


def test_a_query_is_gated_only_when_no_word_is_known() -> None:
    assert not has_known_word("")
    assert not has_known_word("qwertyzxcv йцукен")
    assert has_known_word("qwertyzxcv автобус")
    assert has_known_word("фывапролдж 1995")
    assert has_known_word("ДНР йцукен")


def test_known_limits_words_the_rule_does_not_know() -> None:
    # no English or Belarusian dictionary: an English word the model splits and a Belarusian word
    # neither the ru nor the uk dictionary has are unknown (why the gate is off by default)
    for word in ("detention", "Kyiv", "checkpoint", "гіпотэза"):
        assert not known_word(word), word
    assert not has_known_word("Tom hates dogs.")


def test_the_generator_s_nonsense_is_mostly_gated() -> None:
    # the harness's generator with a seed of neither the harness nor the calibration
    # (bench/known_words.py): letter strings, keyboard runs, pseudo-words
    texts = _nonsense(200)
    gated = sum(not has_known_word(t) for t in texts)
    assert gated >= 0.95 * len(texts), gated
