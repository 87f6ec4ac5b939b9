"""The keyword index's vocabulary: every term its ``body`` field holds, once each.

A rare query word gets OCR tolerance: it also matches the terms within one or two edits of it
(``search_api/retrieval.py``, ``_fuzziness``). Tantivy finds those terms by walking a Levenshtein
automaton over the term dictionary of *every segment*, and every segment of a large index holds
most of the common vocabulary again: at 1M passages in 12 segments one two-edit walk cost ~9.5 ms
of a keyword search. This module keeps the same terms once, as the documents of a small tantivy
index of their own beside the keyword index, so that the walk is done over one dictionary; the
terms it finds are then searched as a term set. Both a fuzzy query and a term set score a constant
(tantivy's ``AutomatonWeight``), so the matches and scores are the same as the fuzzy query's
(``tests/index/test_vocabulary.py`` compares them word by word).

The vocabulary is a **superset** of the keyword index's terms at every moment a search can see:

* a write adds its new terms here and commits them *before* the keyword index commits; a term
  of a deleted passage stays (it then matches nothing);
* a reader reloads the keyword index first and this index after it, and hands out the keyword
  searcher only after both (``EmbeddedBackend._searcher``);
* a purge rebuilds it from the rewritten keyword index, so that no term of a purged document is
  left in its files either; ``clear`` empties it.

An index written before the vocabulary existed has none, and a small index gets none
(``index.embedded.VOCABULARY_FROM``): searches then let tantivy walk the keyword index as before
(the same results), until a write builds it from the keyword index's term dictionary
(``COMPLETE`` marks a vocabulary that covers the index).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import tantivy

from archive_search.errors import BackendError

FIELD = "term"
MAX_EXPANSION = 4096
"""Terms a fuzzy word may expand to through the vocabulary; beyond, tantivy's own fuzzy query
is used (the same matches: a term set of thousands of terms saves nothing)."""
_COMPLETE = "COMPLETE"
_WRITER_HEAP = 32_000_000


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field(FIELD, tokenizer_name="raw", index_option="basic", fast=True)
    return sb.build()


class Vocabulary:
    """The terms of a keyword index's ``body`` field, in ``root`` (one writer process, many
    reading threads; the writer must hold the keyword index's own writer lock)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.schema = _schema()
        self._index: Any = None
        self._lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------

    def _opened(self) -> Any:
        """The vocabulary's index, or ``None`` while no complete vocabulary exists."""
        if self._index is None and (self.root / _COMPLETE).exists():
            with self._lock:
                if self._index is None:
                    self._index = tantivy.Index(self.schema, path=str(self.root))
        return self._index

    def reload(self) -> None:
        """See the vocabulary's latest commit (call after reloading the keyword index)."""
        index = self._opened()
        if index is not None:
            index.reload()

    def expand(self, term: str, distance: int) -> list[str] | None:
        """The terms within ``distance`` edits of ``term`` (a transposition counts one, as in
        tantivy's fuzzy query), ``term`` itself included when present; ``None`` when the
        vocabulary cannot answer (none built yet, or more than ``MAX_EXPANSION`` terms)."""
        index = self._opened()
        if index is None:
            return None
        query = tantivy.Query.fuzzy_term_query(self.schema, FIELD, term, distance=distance, prefix=False)
        spec = {"t": {"terms": {"field": FIELD, "size": MAX_EXPANSION + 1}}}
        raw = index.searcher().aggregate(query, spec).get("t", {})
        buckets = raw.get("buckets", [])
        if len(buckets) > MAX_EXPANSION or raw.get("sum_other_doc_count"):
            return None
        return [str(b["key"]) for b in buckets]

    def complete(self) -> bool:
        return self._opened() is not None

    def __len__(self) -> int:
        index = self._opened()
        return 0 if index is None else int(index.searcher().num_docs)

    # -- writing (under the keyword index's writer lock) ------------------------------------

    def add(self, terms: Iterable[str], existing: Callable[[], Iterable[str]]) -> None:
        """Commit those of ``terms`` not yet held, before the keyword index commits them.

        Without a complete vocabulary it is first built from ``existing()`` (every term the
        keyword index's committed segments hold)."""
        index = self._opened()
        if index is None:
            self.rebuild([*existing(), *terms])
            return
        searcher = index.searcher()
        new = sorted({t for t in terms if not searcher.doc_freq(FIELD, t)})
        if not new:
            return
        _commit(index, new, replace=False)
        index.reload()

    def renew(self, terms: Callable[[], Iterable[str]]) -> None:
        """After the keyword index lost terms (a purge, a clear): a complete vocabulary is rebuilt
        to hold exactly ``terms()``; the files of one whose build never completed are removed (a
        purge must leave no term in them), and none is started."""
        if self.complete():
            self.rebuild(terms())
            return
        with self._lock:
            self._drop_partial()

    def _drop_partial(self) -> None:
        """(Under ``_lock``.) Remove ``root`` when it holds an unopened, incomplete vocabulary."""
        if self._index is None and self.root.exists() and not (self.root / _COMPLETE).exists():
            shutil.rmtree(self.root)

    def rebuild(self, terms: Iterable[str]) -> None:
        """Hold exactly ``terms`` (deduplicated): one commit replaces every earlier segment,
        then the files no longer used are removed (a purge leaves none of the purged terms)."""
        with self._lock:
            if self._index is None:
                self._drop_partial()  # a half-built vocabulary of an interrupted build
                self.root.mkdir(parents=True, exist_ok=True)
                self._index = tantivy.Index(self.schema, path=str(self.root))
            index = self._index
        _commit(index, sorted(set(terms)), replace=True)
        writer = _writer(index)
        writer.garbage_collect_files()
        writer.wait_merging_threads()
        index.reload()
        (self.root / _COMPLETE).touch()


def _writer(index: Any) -> Any:
    try:
        return index.writer(_WRITER_HEAP, 1)
    except ValueError as exc:  # as the keyword index's own writer (``EmbeddedBackend._writing``)
        raise BackendError(f"the keyword index's vocabulary is locked by another writer: {exc}") from exc


def _commit(index: Any, terms: Iterable[str], *, replace: bool) -> None:
    """One commit adding ``terms`` (``replace``: instead of every term held), or none at all."""
    writer = _writer(index)
    try:
        if replace:
            writer.delete_all_documents()
        for t in terms:
            d = tantivy.Document()
            d.add_text(FIELD, t)
            writer.add_document(d)
        writer.commit()
        writer.wait_merging_threads()
    except BaseException:
        writer.rollback()
        raise
