"""Language of a passage and of a document among ru, uk, be, en (else ``other``).

lingua restricted to the four languages in play: langdetect has no Belarusian.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any

_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_CODES = {"RUSSIAN": "ru", "UKRAINIAN": "uk", "BELARUSIAN": "be", "ENGLISH": "en"}
LANGUAGES = frozenset([*_CODES.values(), "other"])
"""Every code ``detect_language`` returns."""
MIN_LETTERS = 3
MIN_CONFIDENCE = 0.3


@lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(
        Language.RUSSIAN, Language.UKRAINIAN, Language.BELARUSIAN, Language.ENGLISH
    ).build()


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or ``other`` when unsure or not one of the four."""
    letters = _LETTERS.findall(text)
    if len(letters) < MIN_LETTERS:
        return "other"
    scripts = Counter(
        "cyr" if "\u0400" <= ch <= "\u04ff" else "lat" if ch.isascii() else "x" for ch in letters
    )
    if scripts["x"] > len(letters) / 2:
        return "other"
    values = _detector().compute_language_confidence_values(text[:2000])
    if not values or values[0].value < MIN_CONFIDENCE:
        return "other"
    return _CODES.get(values[0].language.name, "other")


def document_language(passages: list[tuple[str, str]]) -> str:
    """The language holding most characters among (lang, text) passages."""
    weight: Counter[str] = Counter()
    for lang, text in passages:
        weight[lang] += len(text)
    if not weight:
        return "other"
    known = {k: v for k, v in weight.items() if k != "other"}
    return max(known, key=lambda k: known[k]) if known else "other"
