"""``SimilarOptions``: the one value object of a similar-passages request, checked once where it
is made (issue 15)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from archive_search.errors import InvalidRequestError
from archive_search.types import SIMILAR_EXCLUDE, SimilarOptions


def test_defaults_are_the_routes() -> None:
    opts = SimilarOptions()
    assert (opts.size, opts.exclude, opts.lang, opts.by_family) == (10, "source", (), True)


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "10", None])
def test_a_size_that_is_no_whole_number_from_one_is_refused(size: Any) -> None:
    with pytest.raises(InvalidRequestError, match="size"):
        SimilarOptions(size=size)


@pytest.mark.parametrize("exclude", ["all", "", "Source", None])
def test_exclude_is_one_of_three(exclude: Any) -> None:
    with pytest.raises(InvalidRequestError, match="exclude must be one of source, document, none"):
        SimilarOptions(exclude=exclude)
    for ok in SIMILAR_EXCLUDE:
        assert SimilarOptions(exclude=ok).exclude == ok


@pytest.mark.parametrize("lang", ["en", b"en", ("en", 1), [None], {"en"}, 5])
def test_lang_is_a_list_of_codes(lang: Any) -> None:
    """A bare string would otherwise filter on its letters ("e", "n")."""
    with pytest.raises(InvalidRequestError, match="lang must be a list of language codes"):
        SimilarOptions(lang=lang)


def test_lang_codes_are_kept_as_given_in_a_tuple() -> None:
    """Any code is taken (the API's schema says any string; an unknown one matches nothing), and
    a list becomes a tuple, so that the options stay hashable."""
    opts = SimilarOptions(lang=["uk", "xx", ""])  # type: ignore[arg-type]
    assert opts.lang == ("uk", "xx", "")
    assert hash(opts) == hash(SimilarOptions(lang=("uk", "xx", "")))


def test_frozen() -> None:
    opts = SimilarOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.size = 3  # type: ignore[misc]


def test_the_upper_bound_is_the_settings() -> None:
    SimilarOptions(size=100).check_size(100)
    with pytest.raises(InvalidRequestError, match="size must be between 1 and 20"):
        SimilarOptions(size=21).check_size(20)


def test_sized_keeps_the_other_options() -> None:
    opts = SimilarOptions(size=5, exclude="document", lang=("ru",), by_family=False)
    wider = opts.sized(15)
    assert wider == SimilarOptions(size=15, exclude="document", lang=("ru",), by_family=False)
    assert opts.size == 5
    with pytest.raises(InvalidRequestError):
        opts.sized(0)
