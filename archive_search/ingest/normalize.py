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


def normalize_text(text: str) -> str:
    """NFC, soft hyphens and zero-width characters removed, end-of-line hyphenation joined,
    runs of spaces collapsed, line ends unified, at most one blank line in a row."""
    t = unicodedata.normalize("NFC", text)
    t = t.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    t = t.replace(_SOFT_HYPHEN + "\n", "").replace(_SOFT_HYPHEN, "")
    t = t.translate(_ZERO_WIDTH)
    t = _EOL_HYPHEN.sub("", t)
    t = "\n".join(_SPACES.sub(" ", line).strip() for line in t.split("\n"))
    t = _BLANK_LINES.sub("\n\n", t)
    return t.strip()
