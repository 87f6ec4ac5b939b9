"""Transliteration keys: one script-neutral phonetic skeleton per word, so that a name's Cyrillic
(Russian, Ukrainian, Belarusian) and Latin spellings meet: Кадыров, Кадиров, Кадыраў, Kadyrov,
Kadyrow and Qadyrov all give ``~kadar``; Александр, Олександр, Аляксандр, Aleksandr, Oleksandr and
Aliaksandr give ``~alaksandr``; Тихановская, Ціханоўская, Тихановська and Tsikhanouskaya give
``~taganask``; Зеленский, Зеленський, Зяленскі, Zelensky and Zelenskyy give ``~zalansk``.

How a key is made (the same steps for both scripts):

1. Letters and digraphs become one of a reduced set of sound classes. Consonants that the
   romanisation schemes and the three languages swap are merged: г/ґ/х/g/h/kh (Ukrainian and
   Belarusian г is h, Russian х is kh), ж/з/zh/z, ш/щ/sh/shch/sz/sch, ч/ch/cz/tsch, ц/ts/tz,
   к/q/ck/hard c, в/ў/w/v, дз/dz/дж → d (Belarusian дзекання: Дзмітрый/Дмитрий), soft c
   (before e/i/y) is ц, x is ks, тс is ц and тч is ч. A Latin word has a second key, its English
   reading: j and soft g are дж, soft c is s, h after a vowel, gh and a final e are silent, Mc- is
   Мак- (Johnson/Джонсон, Spencer/Спенсер, Prince/Принс, McIlroy/Макилрой).
2. Belarusian цеканне: ц (and ts) before a front vowel is т (Ціханоўская/Тихановская). A word-initial
   у before a vowel is в (Уоллес/Воллес/Wallace). A Belarusian ў, a Latin u after a/e/o (Kadyrau,
   Poulter) and a Cyrillic у after а/о/е/э are в; в after a vowel and before a consonant or at the
   end of the word is then a vowel (Кадыраў/Кадыров, Мелроўз/Мелроуз, Львів/Lviv).
3. Every vowel and semivowel except у/u (а о е э ё є и ы і ї й я; a e i o y j) is one class ``a``
   and a run of vowels is one vowel: Belarusian akanie and яканне (Аляксандр, Сяргей),
   Ukrainian і for о/е in closed syllables (Оленівка/Оленовка, Харків/Харьков), iotation
   (я = ya/ia, Yevgeny/Евгений), и/ы/і/y/i, and the endings -ский/-ський/-скі/-sky/-ski/-skyi and
   -ская/-ська/-skaya then need no rules. у/u/ю stay apart (суд/сад); Latin oo is u.
4. ь, ъ and apostrophes vanish; doubled consonants are single (Стаття/Статья).
5. A final vowel (у/u included) is dropped: it is mostly an ending (Гватэмалу/Гватемала,
   Арэне/Арена, Russia/России), and -ский/-ська/-sky/-skaya all end in ``sk``.

Vowel *positions* are kept (only their quality is dropped). Steps 2 (в after a vowel), 3 and 5
apply to skeletons of three or more consonants; shorter ones keep three vowel classes (а/о,
е/и/і/ы/я..., у) and their final vowel, since one class makes short words collide (сало/село,
мир/мор); keys of fewer than two consonants are not made (too ambiguous).

The analyser also keys the lemma or stem of a Cyrillic word (``analysis``), so that Лондана
(Belarusian genitive) meets Лондон and London.
"""

from __future__ import annotations

import re
import unicodedata

KEY_PREFIX = "~"
MIN_CONSONANTS = 2
MIN_LENGTH_ONE_CONSONANT = 4
"""A skeleton with one consonant is kept from this length on (Юлия, Ольга); shorter ones are not."""
COARSE_MIN_CONSONANTS = 3
"""Skeletons with fewer consonants keep three vowel classes: with one class, short words collide
too often (сало/село, жена/зона, мир/мор)."""

_VOWELS = frozenset("aiu")
_FRONT_AFTER_C = re.compile(r"c(?=i)")  # ц before a front vowel (internal class i) is т
_V_BEFORE_CONSONANT = re.compile(r"(?<=[aiu])v(?![aiu])")  # в/ў/w after a vowel, before a consonant
_INITIAL_U = re.compile(r"^u(?=[ai])")
_IU_AFTER_CONSONANT = re.compile(r"(?<=[^aiu])iu")  # ю after a consonant is u (Брюс/Брус, Lyudmila)

# Cyrillic letters (after lower-casing; ё/є/ї/й handled as vowels)
_CYR = {
    "а": "a", "о": "a", "е": "i", "ё": "ia", "є": "i", "и": "i", "і": "i", "ї": "i", "й": "i",
    "ы": "i", "э": "i", "у": "u", "ю": "iu", "я": "ia",
    "б": "b", "в": "v", "ў": "v", "г": "g", "ґ": "g", "х": "g", "д": "d", "ж": "z", "з": "z",
    "к": "k", "л": "l", "м": "m", "н": "n", "п": "p", "р": "r", "с": "s", "т": "t", "ф": "f",
    "ц": "c", "ч": "C", "ш": "S", "щ": "S", "ь": "", "ъ": "", "'": "",
}  # fmt: skip

# Latin digraphs first (longest first), then single letters
_LAT_MULTI = [
    ("shch", "S"), ("tsch", "C"), ("dzh", "z"), ("sch", "S"), ("tch", "C"), ("sh", "S"), ("sz", "S"),
    ("ch", "C"), ("cz", "C"), ("zh", "z"), ("kh", "g"), ("ts", "c"), ("tz", "c"), ("ck", "k"),
    ("ph", "f"), ("th", "t"), ("oo", "u"), ("ee", "i"),
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
_CYR_U_AFTER_VOWEL = re.compile(r"(?<=[аоеэ])у")
_SLAVIC_LATIN = re.compile(r"[ŭłšžčćśźżńěř]|cz|sz")
_APOS = str.maketrans({"’": "'", "ʼ": "'", "`": "'", "\u02bb": "'"})


# The English reading of a Latin word (a second key): j and soft g are дж, soft c is s, h after a
# vowel and gh are silent, a final e after a consonant is silent, Mc- is Мак-.
_EN_REWRITES = [
    (re.compile(r"^mc"), "mak"),
    (re.compile(r"^chr"), "kr"),
    (re.compile(r"j"), "zh"),
    (re.compile(r"g(?=[eiy])"), "zh"),
    (re.compile(r"c(?=[eiy])"), "s"),
    (re.compile(r"gh|(?<=[aeiou])h(?![aeiouy])"), ""),
    (re.compile(r"(?<=..[^aeiouy])e$"), ""),
    (re.compile(r"(?<=[aeiouy])s(?=[aeiouy])"), "z"),  # Theresa, Rosenberg, President
    (re.compile(r"(?<=[^aeiouyq])u(?=[bcdfgklmnprstvz]{2})"), "a"),  # Hunter, Dustin, Sunderland
]


def _latin_classes(word: str, english: bool = False) -> str | None:
    out: list[str] = []
    w = word.replace("dž", "ž")  # dž is дж
    if english:
        for pattern, repl in _EN_REWRITES:
            w = pattern.sub(repl, w)
    w = _SOFT_C.sub("\x00", w)  # c before e/i/y is ц (Cerkov, Lucia, Cichanoŭskaja), elsewhere k
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
        elif ch == "\x01":
            out.append("d")
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
    w = word.replace("дз", "d").replace("дж", "ж").replace("тч", "ч").replace("тс", "ц")
    w = _CYR_U_AFTER_VOWEL.sub("ў", w)
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


def translit_keys(word: str) -> tuple[str, ...]:
    """The transliteration keys of one word (``~`` + skeleton): one for a Cyrillic word, one or
    two for a Latin word (its romanisation reading and, where it differs, its English reading:
    Johnson/Джонсон, Virginia/Вирджиния, Spencer/Спенсер); none when the word is not purely
    Cyrillic or purely Latin letters or its skeleton is too short."""
    w = unicodedata.normalize("NFC", word).casefold().translate(_APOS).replace("\u0301", "")
    if not w:
        return ()
    if any("\u0400" <= ch <= "\u04ff" for ch in w):
        readings = [_cyrillic_classes(w)]
    elif _SLAVIC_LATIN.search(w):  # Polish, Czech, Belarusian Łacinka: ch is х, no English reading
        readings = [_latin_classes(w.replace("ch", "kh"))]
    else:
        readings = [_latin_classes(w), _latin_classes(w, english=True)]
    return tuple(dict.fromkeys(k for k in map(_key, readings) if k))


def translit_key(word: str) -> str | None:
    """The first (for a Latin word, the romanisation-reading) transliteration key of one word."""
    keys = translit_keys(word)
    return keys[0] if keys else None


def _key(classes: str | None) -> str | None:
    if classes is None:
        return None
    # dz (from дз/дж or a Latin dz/dzh) is d; Belarusian ц for т
    classes = classes.replace("dz", "d").replace("tc", "c").replace("SC", "S")
    classes = _INITIAL_U.sub("v", _FRONT_AFTER_C.sub("t", _IU_AFTER_CONSONANT.sub("u", classes)))
    # coarse: в/ў after a vowel is a vowel, one vowel class besides u; collapse runs (vowel runs
    # and double consonants)
    skeleton = _RUNS.sub(r"\1", _V_BEFORE_CONSONANT.sub("", classes).replace("i", "a"))
    consonants = _consonants(skeleton)
    if consonants >= COARSE_MIN_CONSONANTS:
        # the final vowel is mostly an ending (Лондона, Гватэмалу/Гватемала, Shevchenko/Шевченка)
        skeleton = skeleton.rstrip("au")
    else:
        # short skeletons keep the three vowel classes (a: а/о, i: е/и/і/ы/я..., u) and в
        skeleton = _RUNS.sub(r"\1", classes)
        consonants = _consonants(skeleton)
    if consonants < MIN_CONSONANTS and not (consonants and len(skeleton) >= MIN_LENGTH_ONE_CONSONANT):
        return None
    return KEY_PREFIX + skeleton


def _consonants(skeleton: str) -> int:
    return sum(1 for ch in skeleton if ch not in _VOWELS)
