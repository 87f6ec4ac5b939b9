"""Morphology for the analyser: pymorphy3 lemmas (ru, uk), a light Belarusian stemmer, Snowball for
English, and the choice of dictionary for one word whose document language is unknown.

Everything here works on one already case-folded word (see ``analysis.morph_form``) and is
cached per word by the caller.
"""

from __future__ import annotations

import threading
from typing import Any

import snowballstemmer

NOT_UK = frozenset("ыэёъ")
"""Letters Ukrainian never writes: such a word is not looked up in the Ukrainian dictionary."""
NOT_RU = frozenset("іїєґў'")
"""Letters (and the apostrophe) Russian never writes: not looked up in the Russian dictionary."""

_CYR = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґў'")
_MAX_LEMMAS = 4


def is_cyrillic(word: str) -> bool:
    """Only Cyrillic letters of the three languages (and the apostrophe), lower case."""
    return bool(word) and all(ch in _CYR for ch in word)


# -- pymorphy3 ---------------------------------------------------------------------------------

_lock = threading.Lock()
_analyzers: dict[str, Any] = {}


def _morph(lang: str) -> Any:
    """The shared pymorphy3 analyser of ``lang`` (loaded once, ~0.1 s each)."""
    m = _analyzers.get(lang)
    if m is None:
        with _lock:
            m = _analyzers.get(lang)
            if m is None:
                import pymorphy3

                m = pymorphy3.MorphAnalyzer(lang=lang)
                _analyzers[lang] = m
    return m


_PROPER = frozenset({"Name", "Surn", "Patr", "Geox", "Orgn", "Trad"})


def dictionary_lemmas(word: str, lang: str) -> tuple[tuple[str, ...], bool]:
    """Distinct normal forms of ``word`` (lower case, apostrophe as ``'``) that ``lang``'s
    dictionary knows, most probable first, and whether one reading is a proper name (first name,
    surname, patronymic, place, organisation). Empty when the dictionary does not know the word:
    pymorphy3's guesses for unknown words are not used, they are too noisy to index."""
    m = _morph(lang)
    if not m.word_is_known(word):
        return (), False
    weight: dict[str, float] = {}
    proper = False
    for p in m.parse(word):
        if type(p.methods_stack[0][0]).__name__ != "DictionaryAnalyzer":
            continue
        proper = proper or not _PROPER.isdisjoint(p.tag.grammemes)
        weight[p.normal_form] = weight.get(p.normal_form, 0.0) + p.score
    # Russian scores are corpus estimates; the Ukrainian dictionary scores every reading 1.0, so
    # there a lemma read by more of the word's analyses wins (рік: рік ×2 over ріка ×1), and on a
    # tie the word itself when it is a lemma. sorted() is stable: the dictionary order breaks ties.
    ranked = sorted(weight, key=lambda nf: (-round(weight[nf], 6), nf != word))
    return tuple(ranked[:_MAX_LEMMAS]), proper


def cyrillic_lemmas(word: str) -> tuple[tuple[str, ...], str, bool]:
    """Lemmas of a Cyrillic ``word`` from the dictionaries that may know it, the language that
    gave the first (canonical) one (``ru``, ``uk``, or ``""`` when no dictionary knows the word),
    and whether a reading is a proper name.

    The word's language is not known (mixed documents), so letters decide which dictionaries are
    asked: ы/э/ё/ъ rule out Ukrainian, і/ї/є/ґ/ў/' rule out Russian, so ў (Belarusian) rules out
    both. When both dictionaries know the word, the Russian lemmas come first and the
    Ukrainian ones are added.
    """
    letters = set(word)
    ru, ru_proper = dictionary_lemmas(word, "ru") if letters.isdisjoint(NOT_RU) else ((), False)
    uk, uk_proper = (
        dictionary_lemmas(word, "uk") if letters.isdisjoint(NOT_UK) and "ў" not in letters else ((), False)
    )
    if ru:
        return ru + tuple(x for x in uk if x not in ru), "ru", ru_proper or uk_proper
    if uk:
        return uk, "uk", uk_proper
    return (), "", False


# -- Belarusian --------------------------------------------------------------------------------

# Inflectional endings of Belarusian nouns, adjectives, verbs and participles, after the
# normalisation of ``_be_norm`` (ў→в, ё→е, о→а, э→е, ь dropped). Longest match first.
_BE_REFLEXIVE = ("ся", "ца")
_BE_ENDINGS = (
    # adjectives / participles
    "ая", "яя", "ае", "яе", "ее", "ага", "яга", "аму", "яму", "ым", "ім", "ай", "яй", "ый", "ій",
    "ую", "юю", "ых", "іх", "ымі", "імі", "ыя", "ія", "ыі", "ые",
    # nouns
    "а", "я", "у", "ю", "е", "ы", "і", "ам", "ям", "ем", "ах", "ях", "амі", "ямі", "ав", "яв",
    "ей", "ею", "аю", "яю",
    # verbs: infinitive, present, past, gerunds
    "ць", "ці", "чы", "ла", "лі", "ле", "еш", "еце", "уць", "юць", "аць", "яць", "іць", "ыць",
    "іш", "ыш", "іце", "ыце", "ут", "ют", "аюць", "яюць", "аваць", "уючы", "ючы", "учы", "ачы",
    "ячы", "ала", "яла", "ілі", "ылі", "алі", "ялі", "іла", "ыла", "ів", "ыв",
    # Russian/Ukrainian endings with и (never Belarusian), for words no dictionary knows
    "ами", "ями", "ими", "ыми", "ии", "ие", "ия", "ий", "ить", "ит", "ишь", "ити", "ими", "ови",
)  # fmt: skip
_BE_MIN_STEM = 2


def _be_norm(word: str) -> str:
    """Belarusian spelling variation that inflection brings: ў/в alternate (правоў/правоў-ва),
    unstressed о/ё become а/е (горад/гарады, сёлы/сяло), э/е after hard consonants, ь is
    dropped (soft sign in old 'тарашкевіца' spelling), initial ў is у."""
    if word.startswith("ў"):
        word = "у" + word[1:]
    return word.translate(_BE_TABLE)


_BE_TABLE = str.maketrans({"ў": "в", "ё": "е", "о": "а", "э": "е", "ь": None, "'": None})


def _init_endings() -> tuple[str, ...]:
    normed = {_be_norm(e) for e in _BE_ENDINGS}
    return tuple(sorted(normed, key=len, reverse=True))


_BE_ENDINGS_NORM = _init_endings()


def be_stem(word: str) -> str:
    """A light Belarusian stem: spelling-normalised, reflexive particle and one inflectional
    ending removed (keeping at least two letters). Also fair for unknown Russian/Ukrainian words."""
    w = _be_norm(word)
    for r in _BE_REFLEXIVE:
        if w.endswith(r) and len(w) - len(r) >= _BE_MIN_STEM + 2:
            w = w[: -len(r)]
            break
    for e in _BE_ENDINGS_NORM:
        if w.endswith(e) and len(w) - len(e) >= _BE_MIN_STEM:
            w = w[: -len(e)]
            break
    # a stem-final ы/і/й left by -ыя/-ыі/-ый nouns (сітуацыя, сітуацыі, сітуацый)
    if len(w) > _BE_MIN_STEM + 1 and w[-1] in "ыій":
        w = w[:-1]
    return w


# -- English -----------------------------------------------------------------------------------

_english = snowballstemmer.stemmer("english")
_english_lock = threading.Lock()


def english_stem(word: str) -> str:
    with _english_lock:  # Snowball stemmers keep state between calls
        return str(_english.stemWord(word))
