"""Text normalisation applied to every extracted block before it is split and stored."""

from __future__ import annotations

import re
import unicodedata

_SOFT_HYPHEN = "\u00ad"
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
# a word broken at the end of a line: "свобод-\nными" -> "свободными"
_EOL_HYPHEN = re.compile(r"(?<=[^\W\d_])[-\u2010\u2011]\s*\n\s*(?=[^\W\d_]*[a-zа-яёіїєўґ])", re.UNICODE)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# a word with letters of both scripts (lookaheads from each word start; one pass in C)
_MIXED_WORD = re.compile(
    r"(?<![^\W\d_])(?=[^\W\d_]*[A-Za-z\u00c0-\u024f])(?=[^\W\d_]*[\u0400-\u04ff])[^\W\d_]+", re.UNICODE
)
_CYR = re.compile(r"[\u0400-\u04ff]")
_LAT = re.compile(r"[A-Za-z\u00c0-\u024f]")

# Latin letters that look like Cyrillic ones, and back (OCR output and hand-typed text mix them:
# "пpaвa" with Latin p and a is not found by a search for "права").
LATIN_TO_CYRILLIC = dict(zip("aceopxyiABCEHIKMOPTXYëïË", "асеорхуіАВСЕНІКМОРТХУёїЁ", strict=True))
CYRILLIC_TO_LATIN = dict(zip("асеорхуіјѕАВСЕНІЈКМОРЅТХ", "aceopxyijsABCEHIJKMOPSTX", strict=True))
_TO_CYR = str.maketrans(LATIN_TO_CYRILLIC)
_TO_LAT = str.maketrans(CYRILLIC_TO_LATIN)


def _is_cyr(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _fix_word(word: str, prefer_cyrillic: bool) -> str:
    cyr = [ch for ch in word if _is_cyr(ch)]
    if not cyr or len(cyr) == len(word):
        return word
    lat = [ch for ch in word if not _is_cyr(ch)]
    if not all(_LAT.match(ch) for ch in lat):
        return word  # a third script: leave it alone
    # A letter without a look-alike in the other script shows what the word really is.
    can_cyr = all(ch in LATIN_TO_CYRILLIC for ch in lat)
    can_lat = all(ch in CYRILLIC_TO_LATIN for ch in cyr)
    if can_cyr and can_lat:  # look-alikes only: the script of most letters, on a tie the text's
        to_cyr = len(cyr) > len(lat) or (len(cyr) == len(lat) and prefer_cyrillic)
        return word.translate(_TO_CYR if to_cyr else _TO_LAT)
    if can_cyr:
        return word.translate(_TO_CYR)
    if can_lat:
        return word.translate(_TO_LAT)
    return word


def fix_lookalikes(text: str) -> str:
    """Latin look-alike letters inside Cyrillic words made Cyrillic ("пpaвa" -> "права"), and
    Cyrillic look-alikes inside Latin words made Latin ("Нello" -> "Hello"). A word is changed
    only when every letter of the foreign script has a look-alike and the word's other letters
    show its script; a word of look-alikes only follows the majority of its letters, or on a
    tie the script of most of the text. Words in a third script, or with letters of both
    scripts that have no look-alike ("iPhoneовский"), stay as they are. The length is kept."""
    if not (_CYR.search(text) and _LAT.search(text)):
        return text
    prefer_cyrillic = len(_CYR.findall(text)) >= len(re.findall(r"[A-Za-z]", text))

    return _MIXED_WORD.sub(lambda m: _fix_word(m.group(), prefer_cyrillic), text)


def normalize_text(text: str) -> str:
    """NFC, soft hyphens and zero-width characters removed, end-of-line hyphenation joined,
    runs of spaces collapsed, line ends unified, at most one blank line in a row, look-alike
    letters of the other script inside Cyrillic or Latin words repaired (``fix_lookalikes``)."""
    t = unicodedata.normalize("NFC", text)
    t = t.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    t = t.replace(_SOFT_HYPHEN + "\n", "").replace(_SOFT_HYPHEN, "")
    t = t.translate(_ZERO_WIDTH)
    t = _EOL_HYPHEN.sub("", t)
    t = "\n".join(_SPACES.sub(" ", line).strip() for line in t.split("\n"))
    t = _BLANK_LINES.sub("\n\n", t)
    t = fix_lookalikes(t)
    return t.strip()
