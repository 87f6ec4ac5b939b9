"""Transliteration keys: one script-neutral phonetic skeleton per word, so that a name's Cyrillic
(Russian, Ukrainian, Belarusian) and Latin spellings meet: Кадыров, Кадиров, Кадыраў, Kadyrov,
Kadyrow and Qadyrov all give ``~kadarav``.

How a key is made (the same steps for both scripts):

1. Letters and digraphs become one of a reduced set of sound classes. Consonants that the
   romanisation schemes and the three languages swap are merged: г/ґ/х/g/h/kh (Ukrainian and
   Belarusian г is h, Russian х is kh), ж/з/zh/z, ш/щ/sh/shch/sz, ч/ch/cz, ц/ts/tz,
   к/q/ck/hard c, в/ў/w/v, дз/dz/дж → d (Belarusian дзекання: Дзмітрый/Дмитрий).
2. Every vowel and semivowel (а о у е э ё є и ы і ї й я ю; a o u e i y j) is one class ``a``
   and a run of them is one ``a``: Belarusian akanie (Кадыраў), Ukrainian і for о/е (Харків/
   Харьков), iotation (я = ya/ia, Yevgeny/Евгений) and и/ы/і/y/i then need no rules.
3. ь, ъ and apostrophes vanish; doubled consonants are single (Стаття/Статья).

Vowel *positions* are kept (only their quality is dropped), which keeps keys far more specific
than a consonant-only skeleton; keys shorter than two consonants are not made (too ambiguous).
"""

from __future__ import annotations

import re
import unicodedata

KEY_PREFIX = "~"
MIN_CONSONANTS = 2
MIN_LENGTH_ONE_CONSONANT = 4
"""A skeleton with one consonant is kept from this length on (Юлия, Ольга); shorter ones are not."""

_VOWELS = frozenset("aiu")

# Cyrillic letters (after lower-casing; ё/є/ї/й handled as vowels)
_CYR = {
    "а": "a", "о": "a", "е": "i", "ё": "i", "є": "i", "и": "i", "і": "i", "ї": "i", "й": "i",
    "ы": "i", "э": "i", "у": "u", "ю": "iu", "я": "ia",
    "б": "b", "в": "v", "ў": "v", "г": "g", "ґ": "g", "х": "g", "д": "d", "ж": "z", "з": "z",
    "к": "k", "л": "l", "м": "m", "н": "n", "п": "p", "р": "r", "с": "s", "т": "t", "ф": "f",
    "ц": "c", "ч": "C", "ш": "S", "щ": "S", "ь": "", "ъ": "", "'": "",
}  # fmt: skip

# Latin digraphs first (longest first), then single letters
_LAT_MULTI = [
    ("shch", "S"), ("tsch", "C"), ("sch", "S"), ("tch", "C"), ("sh", "S"), ("sz", "S"),
    ("ch", "C"), ("cz", "C"), ("zh", "z"), ("kh", "g"), ("ts", "c"), ("tz", "c"), ("ck", "k"),
    ("ph", "f"), ("th", "t"),
]  # fmt: skip
_LAT = {
    "a": "a", "e": "i", "i": "i", "o": "a", "u": "u", "y": "i", "j": "i",
    "b": "b", "v": "v", "w": "v", "g": "g", "h": "g", "d": "d", "z": "z", "k": "k", "q": "k",
    "l": "l", "m": "m", "n": "n", "p": "p", "r": "r", "s": "s", "t": "t", "f": "f", "x": "ks",
    "'": "",
}  # fmt: skip
# letters with diacritics of the romanisation schemes (ISO 9, Belarusian and Polish Latin)
_LAT_MARKED = {
    "š": "S", "ś": "s", "ž": "z", "ź": "z", "ż": "z", "č": "C", "ć": "c", "ŭ": "v", "ł": "l",
    "ń": "n", "ě": "i", "ė": "i", "ą": "a", "ę": "i", "ó": "a", "ý": "i", "ü": "u", "ö": "a",
    "ä": "i", "é": "i", "è": "i", "á": "a", "í": "i", "ú": "u", "ï": "i", "ë": "i", "ç": "s",
    "ğ": "g", "ş": "S", "ř": "r", "ť": "t", "ď": "d", "ň": "n",
}  # fmt: skip
_LAT_MULTI_RE = re.compile("|".join(re.escape(a) for a, _ in _LAT_MULTI))
_LAT_MULTI_MAP = dict(_LAT_MULTI)
_SOFT_C = re.compile(r"c(?=[eiy])")
_U_AFTER_VOWEL = re.compile(r"([aeo])u")
_APOS = str.maketrans({"’": "'", "ʼ": "'", "`": "'", "\u02bb": "'"})


def _latin_classes(word: str) -> str | None:
    out: list[str] = []
    w = _SOFT_C.sub("\x00", word)  # c before e/i/y is ц (Cerkov, Lucia), elsewhere k
    w = _U_AFTER_VOWEL.sub(r"\1v", w)  # u after a vowel is ў in Belarusian Latin (Kadyrau)
    i = 0
    while i < len(w):
        m = _LAT_MULTI_RE.match(w, i)
        if m:
            out.append(_LAT_MULTI_MAP[m.group(0)])
            i = m.end()
            continue
        ch = w[i]
        if ch == "\x00":
            out.append("c")
        elif ch == "c":
            out.append("k")
        elif ch in _LAT:
            out.append(_LAT[ch])
        elif ch in _LAT_MARKED:
            out.append(_LAT_MARKED[ch])
        else:
            base = unicodedata.normalize("NFD", ch)[0]
            if base not in _LAT:
                return None
            out.append(_LAT[base])
        i += 1
    return "".join(out)


def _cyrillic_classes(word: str) -> str | None:
    w = word.replace("дз", "d").replace("дж", "d")
    out: list[str] = []
    for ch in w:
        if ch == "d":
            out.append("d")
        elif ch in _CYR:
            out.append(_CYR[ch])
        else:
            return None
    return "".join(out)


_RUNS = re.compile(r"(.)\1+")


def translit_key(word: str) -> str | None:
    """The transliteration key of one word (``~`` + skeleton), or ``None`` when the word is
    not purely Cyrillic or purely Latin letters, or its skeleton has fewer than two consonants."""
    w = unicodedata.normalize("NFC", word).casefold().translate(_APOS).replace("\u0301", "")
    if not w:
        return None
    cyrillic = any("\u0400" <= ch <= "\u04ff" for ch in w)
    classes = _cyrillic_classes(w) if cyrillic else _latin_classes(w)
    if classes is None:
        return None
    # dz (from дз/дж or a Latin dz/dzh) is d; collapse runs (vowel runs and double consonants)
    skeleton = _RUNS.sub(r"\1", classes.replace("dz", "d"))
    consonants = sum(1 for ch in skeleton if ch not in _VOWELS)
    if consonants < MIN_CONSONANTS and not (consonants and len(skeleton) >= MIN_LENGTH_ONE_CONSONANT):
        return None
    return KEY_PREFIX + skeleton
