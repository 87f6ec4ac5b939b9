"""The function-word lists are looked up by folded words (``index.analysis.fold``)."""

from __future__ import annotations

import pytest

from index.analysis import fold
from index.stopwords import ALL_STOP_WORDS, STOP_WORDS, is_stop_word


def test_every_listed_word_is_found_as_the_query_gives_it_folded() -> None:
    # a list kept ё (ён, ёсць, ёй, её) while queries are folded to е: those were never found
    missing = sorted(w for w in ALL_STOP_WORDS if not is_stop_word(fold(w)))
    assert missing == []


@pytest.mark.parametrize(
    ("lang", "word"),
    [("be", "ён"), ("be", "ёсць"), ("be", "ёй"), ("ru", "её"), ("ru", "ещё"), ("ru", "всё"), ("ru", "Её")],
)
def test_words_with_yo_are_function_words(lang: str, word: str) -> None:
    assert fold(word) in STOP_WORDS[lang]
    assert is_stop_word(fold(word))


def test_content_words_are_not_function_words() -> None:
    for word in ("ёлка", "Москва", "суд", "witness", "катування"):
        assert not is_stop_word(fold(word))
