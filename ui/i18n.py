"""Interface languages: message catalogs (uk, ru, en), language negotiation, dates and numbers.

Messages are gettext catalogs, ``ui/locale/<lang>/LC_MESSAGES/messages.po``, one per language,
keyed by a short English id (the ``msgid``; the English catalog holds the English text, and each
message of the others carries the English as a comment for translators); a test checks that every
language has every key. Dates, times and numbers are formatted by Babel (CLDR data) for the
interface language, so ``1234`` reads ``1 234`` in Ukrainian and ``1,234`` in English.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Final

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

UI_LANGUAGES: Final[tuple[str, ...]] = ("uk", "ru", "en")
DEFAULT_LANGUAGE: Final = "en"
LANG_COOKIE: Final = "archive_lang"
# English dates the British way ("24 February 2024"): day first, as in the other languages
BABEL_LOCALES: Final[dict[str, str]] = {"en": "en_GB"}

# The name of each interface language in itself, for the switcher.
NATIVE_NAMES: Final[dict[str, str]] = {"uk": "Українська", "ru": "Русский", "en": "English"}

LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
"""gettext catalogs: ``locale/<lang>/LC_MESSAGES/messages.po``, msgid = a short English id."""


def _load_catalogs() -> dict[str, dict[str, str]]:
    """Every interface language's messages from its ``.po`` file (read with Babel, no compile
    step: the catalogs are small and read once per process)."""
    out: dict[str, dict[str, str]] = {}
    for lang in UI_LANGUAGES:
        path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang)
        out[lang] = {str(m.id): str(m.string) for m in catalog if m.id and m.string}
    return out


MESSAGES: Final[dict[str, dict[str, str]]] = _load_catalogs()


def negotiate(cookie_value: str | None, accept_language: str | None) -> str:
    """The interface language: the remembered choice, else the best of Accept-Language, else English."""
    if cookie_value in UI_LANGUAGES:
        return str(cookie_value)
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        if not tag:
            continue
        q = 1.0
        for b in bits[1:]:
            b = b.strip()
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, tag.split("-")[0]))
    for neg_q, _, primary in sorted(ranked):
        if neg_q < 0 and primary in UI_LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


class Translator:
    """Messages and formatting for one interface language (what templates call ``t``, ``num``…)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in UI_LANGUAGES else DEFAULT_LANGUAGE
        self.messages = MESSAGES[self.lang]
        self.locale = Locale.parse(BABEL_LOCALES.get(self.lang, self.lang))

    def __call__(self, key: str, **params: object) -> str:
        text = self.messages.get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key, key)
        return text.format(**params) if params else text

    def num(self, value: float | int) -> str:
        return str(format_decimal(value, locale=self.locale))

    def date(self, value: date | datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            raw = value
            try:
                value = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)
            except ValueError:
                return raw
        if isinstance(value, datetime):
            return str(format_datetime(value, format="medium", locale=self.locale))
        return str(format_date(value, format="long", locale=self.locale))

    def language_name(self, code: str) -> str:
        """A document language's name in the interface language (``uk`` → "українська")."""
        if code == "other":
            return self("lang_other")
        name = self.locale.languages.get(code)
        return str(name) if name else code

    def type_name(self, code: str) -> str:
        key = f"type_{code}"
        return self(key) if key in self.messages else code

    def file_outcome(self, code: str | None) -> str | None:
        """What an ingestion outcome code (``no_text``, ``encrypted``, …) means, in the interface
        language; None for a code without an explanation (the raw message is shown instead)."""
        key = f"file_code_{code}"
        return self(key) if code and key in self.messages else None

    def results(self, count: int, relation: str = "eq") -> str:
        """"12 results"; with ``relation`` ``gte`` (a bounded count) "at least 10,000 results"."""
        if relation == "gte":
            return self("results_at_least", count=self.num(count))
        return self("results_one") if count == 1 else self("results_count", count=self.num(count))


def timecode(seconds: float | None) -> str:
    """``83.5`` → ``00:01:23``."""
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
