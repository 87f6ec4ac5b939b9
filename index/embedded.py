"""The embedded backend: tantivy for keywords, an HNSW index (hnswlib) for vectors.

Everything lives in one folder of the data directory. Keyword terms are the shared analyser's
terms, stored pre-tokenised so the positions (phrases, proximity) are the analyser's own.
The vector side (``index/vectors.py``) keeps, beside the HNSW graph, the few fields filters need
(collection, language, type, tags, date) as numpy columns so that filters, the access filter
included, run *inside* the graph search; a selective filter falls back to an exact scan of the
allowed passages so a top-k is never emptied. It is read at its first use: a keyword search
loads neither numpy nor hnswlib.

Why one module: one backend class; its keyword side and the vector store it drives share the
passage ids, the readable-set statistics and the save and rebuild protocol, which must stay
consistent with each other.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tantivy

from archive_search.errors import BackendError, CursorStaleError, QuerySyntaxError
from archive_search.types import IndexPassage
from index import native_rank
from index.analysis import ANALYZER_VERSION, STORED_TERMS_VERSION, Analyzer, stored_terms
from index.backend import (
    ENTITY_FACETS,
    LABEL_FIELDS,
    META_FIELD,
    NO_DATE,
    BackendHit,
    BackendResult,
    BoolNode,
    Cursor,
    Filters,
    PhraseNode,
    QueryNode,
    RankStats,
    TermNode,
    bm25_idf,
    bounded_total,
    day_number,
    entity_field_values,
    epoch_ms,
    readable_filters,
    scored_terms,
    year_number,
)
from index.native_rank import FilterSpec
from index.vocabulary import Vocabulary

if TYPE_CHECKING:
    from index.vectors import VectorStore

_WRITER_HEAP = 64_000_000
_DOC_COUNT_MEMO = 64
"""Document counts remembered from the facet pass (for the same query, filters and index state)."""
_MAX_COLLECTIONS = 65_000
"""Buckets of the per-collection counts behind the ranking statistics (tantivy's bucket limit)."""
_DF_CACHE_TERMS = 100_000
"""Terms whose per-collection counts are remembered at most (then the cache starts again)."""
_META_FACET_SIZE = 1000
"""Metadata values counted by the ``meta`` facet (all fields together)."""
_FACET_TANTIVY_FIELD = {
    "lang": "lang",
    "collection": "collection",
    "type": "doc_type",
    "tag": "tags",
    **ENTITY_FACETS,
    "meta": META_FIELD,
}


VOCABULARY_FROM = 100_000
"""Passages in the index from which the vocabulary of fuzzy expansions is kept
(``index/vocabulary.py``). Below, tantivy's fuzzy query walks few and small term dictionaries (at
50k passages 0.9 ms a word, as fast as through a vocabulary), while keeping a vocabulary costs
every write a second commit (~6 ms CPU, ~12 ms wall: ``docs/benchmarks.md``). Once kept, it is
kept (also if the index shrinks again)."""

SAMPLE_BUCKETS = 64
"""Every passage carries one of this many sample buckets (a hash of its id): a bounded search's
facets over a huge match set are counted over the matches in the first few buckets only, an
even sample that tantivy reaches through the buckets' posting lists rather than by a pass over
every match (``docs/decisions.md``, "Bounded totals and facets")."""


def sample_bucket(passage_id: int) -> int:
    """The sample bucket of a passage: the top bits of a multiplicative hash of its id, so that
    consecutive passages (one document's) spread over the buckets."""
    return ((passage_id * 0x9E3779B1) & 0xFFFFFFFF) * SAMPLE_BUCKETS >> 32


SCHEMA_VERSION = f"7/analyzer-{ANALYZER_VERSION}/{STORED_TERMS_VERSION}"
"""Bumped whenever the stored fields change; an index of another version is rebuilt from the catalog."""


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("passage_id", stored=True, indexed=True, fast=True)
    sb.add_integer_field("document_id", stored=True, indexed=True, fast=True)
    sb.add_text_field("collection", tokenizer_name="raw", fast=True)
    sb.add_text_field("lang", tokenizer_name="raw", fast=True)
    sb.add_text_field("doc_type", tokenizer_name="raw", fast=True)
    sb.add_text_field("tags", tokenizer_name="raw", fast=True)
    sb.add_integer_field("day", indexed=True, fast=True)
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_integer_field("added", indexed=True, fast=True)
    sb.add_text_field("speaker", tokenizer_name="raw", fast=True)
    for fld in LABEL_FIELDS:  # entity ids (person, place, org) and metadata values (meta)
        sb.add_text_field(fld, tokenizer_name="raw", fast=True)
    sb.add_integer_field("sample", indexed=True)
    sb.add_text_field("body", tokenizer_name="raw", index_option="position")
    # the analysed terms of each word, for the snippets (``stored_terms``): stored, not indexed
    sb.add_bytes_field("terms", stored=True, indexed=False, fast=False)
    return sb.build()


class EmbeddedBackend:
    """Tantivy + hnswlib in ``root``; safe for one writing process, many reading threads."""

    name = "embedded"

    def __init__(
        self,
        root: Path,
        analyzer: Analyzer,
        *,
        dim: int | None = None,
        vector_flush_s: float = 0.0,
        native: bool = True,
    ) -> None:
        """``vector_flush_s``: new vectors are saved at most this often (0: after every write).
        Saving rewrites the whole HNSW graph and its filter fields (~0.4 s CPU at 60k vectors,
        growing linearly: as much as embedding a batch of 16 from ~600k vectors); vectors added
        since the last save are lost by a crash, and ``missing_vectors`` lets the indexer write
        them again. ``native``: rank with the native extension where it is installed and the query
        has its shape (``index/native_rank.py``), else always with tantivy-py."""
        self.root = root
        self.vector_flush_s = vector_flush_s
        self._last_flush = time.monotonic()
        self.analyzer = analyzer
        self._lock = threading.RLock()
        self._rebuilt = self._check_schema_version(root)
        kw_dir = root / "tantivy"
        kw_dir.mkdir(parents=True, exist_ok=True)
        self.schema = _schema()
        try:
            self.index = tantivy.Index(self.schema, path=str(kw_dir))
        except ValueError as exc:  # incompatible or damaged index files
            raise BackendError(f"cannot open keyword index at {kw_dir}: {exc}") from exc
        self._meta_file = kw_dir / "meta.json"
        self._vocab = Vocabulary(root / "vocabulary")
        """Every term of ``body``, once each: fuzzy words are expanded there (``index/vocabulary.py``)."""
        self._facet_pool: ThreadPoolExecutor | None = None
        self._expansions: dict[tuple[int, str, int], list[str] | None] = {}
        """Vocabulary expansions of this index view (``_expand``)."""
        self._pending_terms: set[str] | None = None
        """The terms of the documents added in the open commit (``_writing``), for the vocabulary."""
        self._current = self.index.searcher()
        """The keyword searcher searches use: replaced only after the vocabulary has been reloaded
        too, so that the vocabulary a search expands its fuzzy words in holds every term of it."""
        self._native = native_rank.open_index(str(kw_dir)) if native else None
        """The native ranked pass's handle on the same folder (``index/native_rank.py``; ``None``:
        every query on tantivy-py)."""
        self._native_current: Any | None = self._native.searcher() if self._native is not None else None
        self._meta_stamp = self._stamp()
        """The index's commit file as of the last reload (its ``mtime_ns``, size): another
        process's commit changes it, so the cached counts of ``_collection_counts`` start again."""
        self._last_reload = time.monotonic()
        self._generation = 0
        """Bumped whenever the searcher may see other documents (commit, reload)."""
        self._doc_counts: dict[tuple[Any, Filters], tuple[int, int]] = {}
        self._doc_counts_lock = threading.Lock()
        self._writes = 0
        """Bumped by every commit of this process (a key of the ranking statistics' cache)."""
        self._stats_lock = threading.Lock()
        self._stats_key: tuple[int, int, int, tuple[int, int]] | None = None
        self._df_cache: dict[str, dict[str, int]] = {}
        """term → passages holding it, per collection (for the index state ``_stats_key``)."""
        self._n_cache: dict[str, int] | None = None
        """Passages per collection (for the index state ``_stats_key``)."""
        self._vec_mtime = 0.0
        self._vec_path = root / "vectors.hnsw"
        self._meta_path = root / "vectors-columns.npz"
        self._legacy_meta_path = root / "vectors-meta.json"
        """Filter fields as JSON, one list per vector (schema 4 before issue 17): read once, then
        replaced by the columns file at the next save."""
        self._store_obj: VectorStore | None = None
        self._vec_dirty = False
        self._vec_loaded = False
        """The vector index is read at its first use, not on opening: a keyword search (the
        command line's ``--mode keyword`` above all) never pays for it (issue 17, part 6)."""

    @staticmethod
    def _check_schema_version(root: Path) -> bool:
        """Wipe an index written with another schema; True when the folder was (re)started empty
        while older index files existed, so the caller must rebuild it from the catalog."""
        marker = root / "SCHEMA"
        root.mkdir(parents=True, exist_ok=True)
        if marker.exists() and marker.read_text("utf-8").strip() == SCHEMA_VERSION:
            return False
        had_files = any(p.name != "SCHEMA" for p in root.iterdir())
        for child in root.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        marker.write_text(SCHEMA_VERSION, "utf-8")
        return had_files

    def needs_rebuild(self) -> bool:
        """True once after opening an index whose files had to be discarded (schema change)."""
        return self._rebuilt

    def rebuilt(self) -> None:
        self._rebuilt = False

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """A tantivy writer for one commit. It is released afterwards so that another process
        (``archive ingest`` beside a running ``archive serve``) can take the index lock next."""
        with self._lock:
            try:
                writer = self.index.writer(_WRITER_HEAP, 1)
            except ValueError as exc:
                raise BackendError(f"keyword index is locked by another writer: {exc}") from exc
            self._pending_terms = set()
            try:
                yield writer
                # the vocabulary commits the new terms first; it is kept from VOCABULARY_FROM
                # passages on (below, one fuzzy walk costs as little as the vocabulary's own,
                # and a second commit per write would be the whole cost of it)
                if self._pending_terms and (
                    self._vocab.complete() or self._current.num_docs >= VOCABULARY_FROM
                ):
                    self._vocab.add(self._pending_terms, self._body_terms)
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
            finally:
                self._pending_terms = None
            self.index.reload()
            self._current = self.index.searcher()
            self._refresh_native()
            self._last_reload = time.monotonic()
            self._generation += 1
            self._writes += 1

    def _stamp(self) -> tuple[int, int]:
        try:
            st = self._meta_file.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def _searcher(self) -> Any:
        now = time.monotonic()
        if now - self._last_reload > 1.0:
            # read before the reload: the searcher then holds this commit or a newer one, and a
            # newer one changes the stamp again at the next reload
            self._meta_stamp = self._stamp()
            self.index.reload()
            self._vocab.reload()  # after the keyword index: it then holds every term the searcher has
            self._current = self.index.searcher()
            self._refresh_native()
            self._maybe_reload_vectors()
            self._last_reload = now
            self._generation += 1
        return self._current

    def _refresh_native(self) -> None:
        """The native ranked pass's view of the index, taken right after tantivy-py's."""
        if self._native is not None:
            self._native_current = self._native.searcher()

    def _body_terms(self) -> list[str]:
        """Every term the committed segments of the keyword index hold (to build the vocabulary)."""
        self.index.reload()
        return [str(t) for t, _ in self.index.searcher().terms_with_prefix("body", "")]

    def write(self, passages: Sequence[IndexPassage]) -> None:
        if not passages:
            return
        with self._writing() as w:
            for p in passages:
                w.delete_documents_by_term("passage_id", p.passage_id)
                w.add_document(self._to_doc(p))
        with self._lock:
            store = self._store()
            vecs = [p for p in passages if p.vector is not None]
            # only brand-new vectors may wait for the next save: a changed or removed vector (and
            # its filter fields, which could let it through another collection's access filter)
            # is saved at once, so a crash can never bring an old one back
            changed = any(p.passage_id in store for p in passages)
            if vecs:
                store.add(vecs)
                self._vec_dirty = True
            # a passage rewritten without a vector must not keep its old vector (nor its old
            # filter fields)
            dropped = [p.passage_id for p in passages if p.vector is None and p.passage_id in store]
            if dropped:
                store.remove(dropped)
                self._vec_dirty = True
            if changed or time.monotonic() - self._last_flush >= self.vector_flush_s:
                self.flush_vectors()

    def _to_doc(self, p: IndexPassage) -> tantivy.Document:
        d = tantivy.Document()
        d.add_integer("passage_id", p.passage_id)
        d.add_integer("document_id", p.document_id)
        d.add_text("collection", p.collection)
        d.add_text("lang", p.lang)
        d.add_text("doc_type", p.doc_type)
        for tag in p.tags:
            d.add_text("tags", tag)
        for fld, ids in entity_field_values(p.entities).items():
            for ident in ids:
                d.add_text(fld, ident)
        d.add_integer("day", day_number(p.doc_date))
        d.add_integer("year", year_number(p.doc_date))
        d.add_integer("added", epoch_ms(p.added_at))
        d.add_integer("sample", sample_bucket(p.passage_id))
        if p.speaker:
            d.add_text("speaker", p.speaker.casefold())
        analysed = self.analyzer.tokens(p.text)
        tokens = [
            tantivy.Token(term, tok.position, tok.start, tok.end) for tok in analysed for term in tok.terms
        ]
        if self._pending_terms is not None:
            self._pending_terms.update(t.text for t in tokens)
        d.add_pre_tokenized_text("body", tantivy.PreTokenizedString(p.text, tokens))
        stored = stored_terms(self.analyzer, p.text, analysed)
        if stored is not None:
            d.add_bytes("terms", stored.encode("utf-8", "surrogatepass"))
        return d

    def delete_documents(self, document_ids: Sequence[int]) -> None:
        if not document_ids:
            return
        with self._writing() as w:
            for doc_id in document_ids:
                w.delete_documents_by_term("document_id", doc_id)
        with self._lock:
            store = self._store()
            labels = store.labels_of_documents(list(document_ids))
            store.remove(labels)
            if labels:
                self._vec_dirty = True
                self.flush_vectors()

    def purge_documents(
        self, document_ids: Sequence[int], passages: Callable[[], Iterable[IndexPassage]]
    ) -> None:
        """Delete the documents and leave nothing of their text in the index files.

        Tantivy keeps the terms of a deleted document in its segment (and earlier deleted copies
        of a rewritten passage in older segments) until the segment is merged away, so the keyword
        index is rewritten: every other passage (``passages()``, from the catalog) is added again
        and all old segments deleted in one commit (readers see the old index until then, never
        an empty one), then the files no longer in use are removed. The vectors of the documents
        are overwritten with noise before being marked deleted, so the saved HNSW file no longer
        holds them."""
        gone = {int(i) for i in document_ids}
        with self._lock:
            store = self._store()
            labels = store.labels_of_documents(sorted(gone))
            store.overwrite_with_noise(labels)
            with self._writing() as w:
                w.delete_all_documents()
                for p in passages():
                    if p.document_id not in gone:
                        w.add_document(self._to_doc(p))
            with self._writing() as w:
                w.garbage_collect_files()
            # the vocabulary still holds the purged documents' terms: it is rebuilt from the
            # rewritten index (until then it holds more terms than needed, never fewer)
            self._vocab.renew(self._body_terms)
            self.delete_documents(sorted(gone))  # the vectors (and any write that raced)
            if labels:
                self._vec_dirty = True
                self.flush_vectors()

    def clear(self) -> None:
        with self._writing() as w:
            w.delete_all_documents()
        with self._lock:
            self._vocab.renew(list)
            self._store_obj = None
            self._vec_loaded = False  # the next use starts an empty store (no files are left)
            self._vec_dirty = False
            self._vec_path.unlink(missing_ok=True)
            self._meta_path.unlink(missing_ok=True)
            self._legacy_meta_path.unlink(missing_ok=True)

    # -- vectors -----------------------------------------------------------------------------

    def _store(self) -> VectorStore:
        """The vector store, read from disk at this process's first use (see ``_vec_loaded``)."""
        self._ensure_vectors()
        assert self._store_obj is not None
        return self._store_obj

    def _ensure_vectors(self) -> None:
        if not self._vec_loaded:
            with self._lock:
                if not self._vec_loaded:
                    self._load_vectors()
                    self._vec_loaded = True

    def _maybe_reload_vectors(self) -> None:
        """Pick up vectors another process wrote (for example ``archive worker`` beside the API)."""
        if not self._vec_loaded:
            return  # the first use reads the newest
        try:
            mtime = self._meta_path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._vec_mtime and not self._vec_dirty:
            with self._lock:
                self._load_vectors()

    def _load_vectors(self) -> None:
        from index.vectors import VectorStore

        store = VectorStore(self._vec_path, self._meta_path, self._legacy_meta_path)
        if store.exists():
            store.load()
            self._vec_mtime = (
                (self._meta_path if self._meta_path.exists() else self._legacy_meta_path).stat().st_mtime
            )
        self._store_obj = store

    def flush_vectors(self) -> None:
        """Write the vector index and its filter fields to disk (atomically, by rename)."""
        with self._lock:
            if not self._vec_dirty or self._store_obj is None or self._store_obj.hnsw is None:
                return
            self._store_obj.save()
            self._vec_mtime = self._meta_path.stat().st_mtime
            self._vec_dirty = False
            self._last_flush = time.monotonic()

    def discard_unsaved_vectors(self) -> None:
        """Forget vectors added since the last save, so that ``close`` does not write them: a
        writer that lost its lease must not overwrite what the next writer saved (the catalog
        holds the vectors; ``missing_vectors`` finds them for whoever writes next)."""
        with self._lock:
            self._vec_dirty = False

    def missing_vectors(self, embedded_ids: Iterable[int]) -> list[int]:
        """Those of ``embedded_ids`` (passages the catalog holds a vector for) that this index
        has no vector for: added after the last save of a process that then crashed."""
        with self._lock:
            store = self._store()
            return [pid for pid in embedded_ids if pid not in store]

    def vector_ids(self) -> set[int]:
        with self._lock:
            return set(self._store().labels())

    def has_vectors(self) -> bool:
        return len(self._store()) > 0

    def vector_search(self, vector: Sequence[float], filters: Filters, *, limit: int) -> BackendResult:
        self._maybe_reload_vectors()
        with self._lock:
            return self._store().search(vector, filters, limit=limit)

    # -- keyword search ----------------------------------------------------------------------

    def _rank_stats(self, node: QueryNode | None, f: Filters) -> RankStats | None:
        """Document frequencies of the query's scored terms and the passage count, over the
        passages the principal may read (``None``: nothing is readable).

        Counts are kept per collection (one aggregation pass per term) and summed over the
        readable collections; they are remembered until the index changes, so a frequent word is
        counted once, not at every search."""
        readable = readable_filters(f).effective_collections()
        if readable is not None and not readable:
            return None
        terms = sorted(scored_terms(node))
        self._searcher()  # reloaded when due: the native view with it
        native = self._native_current
        if readable is None and native is not None:
            # every passage readable: the live document frequencies themselves, from the term
            # dictionaries (no pass over the postings where nothing was deleted)
            return RankStats(
                num_docs=int(native.num_docs),
                doc_freq=dict(zip(terms, native.doc_freqs("body", terms), strict=True)),
            )
        counts, n_cache = self._collection_counts(terms, passages=True)
        assert n_cache is not None
        return RankStats(
            num_docs=_summed(n_cache, readable), doc_freq={t: _summed(counts[t], readable) for t in terms}
        )

    def _collection_counts(
        self, terms: Sequence[str], *, passages: bool = False
    ) -> tuple[dict[str, dict[str, int]], dict[str, int] | None]:
        """Passages holding each of ``terms`` per collection, and (``passages``) every passage per
        collection: from the cache of the present index state, else one aggregation per term."""
        searcher = self._searcher()
        key = (int(searcher.num_docs), int(searcher.num_segments), self._writes, self._meta_stamp)

        def per_collection(q: tantivy.Query) -> dict[str, int]:
            raw = searcher.aggregate(q, {"c": {"terms": {"field": "collection", "size": _MAX_COLLECTIONS}}})
            return {str(b["key"]): int(b["doc_count"]) for b in raw.get("c", {}).get("buckets", [])}

        with self._stats_lock:
            if self._stats_key != key or len(self._df_cache) > _DF_CACHE_TERMS:
                self._stats_key, self._df_cache, self._n_cache = key, {}, None
            cached = {t: self._df_cache[t] for t in terms if t in self._df_cache}
            n_cache = self._n_cache
        new = [t for t in terms if t not in cached]
        fresh = {t: per_collection(tantivy.Query.term_query(self.schema, "body", t)) for t in new}
        if n_cache is None and passages:
            n_cache = per_collection(tantivy.Query.all_query())
        with self._stats_lock:
            if self._stats_key == key:
                self._df_cache.update(fresh)
                if n_cache is not None:
                    self._n_cache = n_cache
        return {**cached, **fresh}, n_cache

    def _term_count(self, query: QueryNode | None, f: Filters) -> int | None:
        """The exact number of matches of a one-term query from the cached per-collection counts,
        when nothing but collections narrows ``f`` (``None``: it has to be counted). Retrieval
        asks this of every longer word of a query (is it rare enough for OCR tolerance?): one
        count pass per word, ~0.2 ms each at 1M passages, which the cache answers at once."""
        if not (isinstance(query, TermNode) and len(query.terms) == 1 and not query.fuzzy):
            return None
        if query.prefix or f != Filters(allowed_collections=f.allowed_collections, collections=f.collections):
            return None
        cols = f.effective_collections()
        if cols is not None and not cols:
            return 0
        self._searcher()  # reloaded when due: the native view with it
        native = self._native_current
        if cols is None and native is not None:
            return int(native.doc_freqs("body", list(query.terms))[0])
        counts, _ = self._collection_counts(query.terms)
        return _summed(counts[query.terms[0]], cols)

    def _idf_ratio(self, terms: Sequence[str], stats: RankStats | None) -> float:
        """The factor that turns tantivy's idf (over the whole index) into the readable set's:
        tantivy multiplies a term's (a phrase's: its terms' summed) idf into the score, so a
        boost of readable / global idf leaves a score computed with the readable statistics."""
        if stats is None:
            return 1.0
        searcher = self._searcher()
        n = searcher.num_docs
        glob = sum(bm25_idf(int(searcher.doc_freq("body", t)), n) for t in terms)
        if glob <= 0.0:
            return 1.0
        return sum(stats.idf(t) for t in terms) / glob

    def _node(self, node: QueryNode, stats: RankStats | None = None) -> tantivy.Query:
        s = self.schema

        def scored(q: tantivy.Query, terms: Sequence[str]) -> tantivy.Query:
            return q if stats is None else tantivy.Query.boost_query(q, self._idf_ratio(terms, stats))

        if isinstance(node, TermNode):
            subs: list[tantivy.Query] = []
            for i, term in enumerate(node.terms):
                if node.prefix and i == 0:
                    subs.append(tantivy.Query.regex_query(s, "body", _regex_escape(term) + ".*"))
                elif node.fuzzy and i == 0 and len(term) > 3:
                    subs.append(scored(tantivy.Query.term_query(s, "body", term), [term]))
                    subs.append(tantivy.Query.boost_query(self._fuzzy(term, node.fuzzy), 0.3))
                else:
                    subs.append(scored(tantivy.Query.term_query(s, "body", term), [term]))
            query = subs[0] if len(subs) == 1 else tantivy.Query.disjunction_max_query(subs, 0.1)
            return query if node.boost == 1.0 else tantivy.Query.boost_query(query, node.boost)
        if isinstance(node, PhraseNode):
            if len(node.words) == 1:
                return self._node(TermNode(node.words[0]), stats)
            # alternatives at one position are indexed at the same position: the canonical
            # (first) term of each word forms the phrase
            words: list[str | tuple[int, str]] = [w[0] for w in node.words]
            phrase = tantivy.Query.phrase_query(s, "body", words, slop=node.slop)
            return scored(phrase, [w[0] for w in node.words])
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        clauses += [(tantivy.Occur.Must, self._node(n, stats)) for n in node.must]
        optional = [self._node(n, stats) for n in node.should]
        clauses += [(tantivy.Occur.MustNot, self._node(n)) for n in node.must_not]
        if node.must and len(optional) > 1:
            # Required clauses with several optional ones (a question's content words and its
            # down-weighted function words): each optional clause wraps the required part in
            # turn. The matches and the summed score are the same, but tantivy then looks an
            # optional clause up only at the required part's matches, instead of merging every
            # optional clause's postings (the function words', the longest of the index) into
            # one union first: the ranked pass 28% less at p50 at 1M passages (the sum's order
            # differs, so its last bit may: ``docs/decisions.md``, "Keyword search at 1M: ...").
            query = tantivy.Query.boolean_query(clauses)
            for opt in optional:
                nested = [(tantivy.Occur.Must, query), (tantivy.Occur.Should, opt)]
                query = tantivy.Query.boolean_query(nested)
            return query
        clauses += [(tantivy.Occur.Should, q) for q in optional]
        if node.must_not and not node.must and not node.should:
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses)

    def _expand(self, term: str, distance: int) -> list[str] | None:
        """The vocabulary's variants of ``term`` (``Vocabulary.expand``), remembered until the
        index view changes: a search asks twice (the native pass's query, then the facets')."""
        key = (self._generation, term, distance)
        memo = self._expansions
        if key not in memo:
            first = next(iter(memo), None)
            if len(memo) > 1000 or (first is not None and first[0] != key[0]):
                memo.clear()
            memo[key] = self._vocab.expand(term, distance)
        return memo[key]

    def _fuzzy(self, term: str, distance: int) -> tantivy.Query:
        """The passages holding a term within ``distance`` edits of ``term``, scoring a constant:
        the variants found in the vocabulary as a term set (one dictionary walked), else tantivy's
        fuzzy query (a walk of every segment's dictionary; the same matches and scores)."""
        variants = self._expand(term, distance)
        if variants is None:
            return tantivy.Query.fuzzy_term_query(self.schema, "body", term, distance=distance, prefix=False)
        return tantivy.Query.term_set_query(self.schema, "body", variants or [term])

    def _filter_queries(self, f: Filters) -> list[tantivy.Query] | None:
        """Filter clauses; ``None`` when the filters can match nothing."""
        specs = _filter_specs(f)
        return None if specs is None else [self._spec_query(spec) for spec in specs]

    def _spec_query(self, spec: FilterSpec) -> tantivy.Query:
        s = self.schema
        if spec.kind == "range":
            lo, hi = spec.values
            return tantivy.Query.range_query(s, spec.field, tantivy.FieldType.Integer, lo, hi)
        if spec.kind == "any":
            return tantivy.Query.boolean_query([(tantivy.Occur.Should, self._spec_query(x)) for x in spec.of])
        if spec.kind == "nothing":
            return tantivy.Query.boolean_query([(tantivy.Occur.MustNot, tantivy.Query.all_query())])
        return tantivy.Query.term_set_query(s, spec.field, list(spec.values))

    def _filtered(
        self, node: QueryNode | None, f: Filters, stats: RankStats | None = None
    ) -> tantivy.Query | None:
        filt = self._filter_queries(f)
        if filt is None:
            return None
        base = self._node(node, stats) if node is not None else tantivy.Query.all_query()
        exclusions = _exclusion_specs(f)
        if not filt and not exclusions:
            return base
        clauses = [(tantivy.Occur.Must, base)]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(q, 0.0)) for q in filt]
        # passage-level confidentiality inside the query, like the documents'
        clauses += [(tantivy.Occur.MustNot, self._spec_query(x)) for x in exclusions]
        return tantivy.Query.boolean_query(clauses)

    def keyword_search(
        self,
        query: QueryNode | None,
        filters: Filters,
        *,
        limit: int,
        offset: int = 0,
        facets: bool = False,
        exact_up_to: int | None = None,
    ) -> BackendResult:
        with _query_errors():
            return self._keyword_search(
                query, filters, limit=limit, offset=offset, facets=facets, exact_up_to=exact_up_to
            )

    def _keyword_search(
        self,
        query: QueryNode | None,
        filters: Filters,
        *,
        limit: int,
        offset: int,
        facets: bool,
        exact_up_to: int | None = None,
    ) -> BackendResult:
        if limit <= 0 and not facets:
            counted = self._term_count(query, filters)
            if counted is not None:
                total, relation = bounded_total(counted, exact_up_to)
                return BackendResult(hits=[], total=total, total_relation=relation)
        # scores from the readable set's statistics, never the whole index's (issue 22)
        stats = self._rank_stats(query, filters) if limit > 0 and query is not None else None
        generation = self._generation  # read before the searcher: a reload in between only misses
        # the searcher before the query: its fuzzy words are expanded in a vocabulary at least
        # as new as the searcher (``index/vocabulary.py``)
        searcher = self._searcher()
        native_searcher = self._native_current  # the same view of the index (``_searcher``)
        specs = _filter_specs(filters)
        if specs is None:  # the filters match nothing
            documents = 0 if facets and exact_up_to is not None else None
            empty = _empty_facets() if facets else {}
            return BackendResult(hits=[], total=0, facets=empty, documents=documents)
        window = limit + max(offset, 0)
        spec = self._native_plan(native_searcher, query, filters, specs, stats, window)
        hits: list[BackendHit] = []
        q: tantivy.Query | None = None
        pending: Future[tuple[dict[str, dict[str, int]], int | None, bool]] | None = None
        if spec is not None:  # pruned (``index/native_rank.py``): the same window, the same count
            assert native_searcher is not None
            if exact_up_to is None or facets:
                # every match counted first, in a pass without scoring (the facet sample's size
                # rests on the count): the facets are then counted in another thread while the
                # ranked pass prunes from its start
                matches = estimate = int(native_searcher.count(spec))
                if facets:
                    relation = bounded_total(matches, exact_up_to)[1]
                    pending = self._pool().submit(
                        self._facets,
                        searcher,
                        query,
                        filters,
                        None,
                        relation,
                        matches,
                        exact_up_to,
                        generation,
                    )
                raw = native_searcher.search(spec, window, exact_up_to, False, None, True)[0]
            else:
                raw, matches, _exact, estimate = native_searcher.search(spec, window, exact_up_to)
            hits = [BackendHit(int(p), int(d), float(score), _stored_terms(t)) for score, p, d, t in raw]
        else:
            q = self._filtered(query, filters, stats)
            assert q is not None
            if stats is None:
                res = searcher.search(q, limit=max(limit, 0) or 1, offset=offset, count=True)
            else:  # the whole window: its order is settled below, then cut
                res = searcher.search(q, limit=window, count=True)
            if limit > 0:
                hits = self._hits(searcher, res)
            matches = estimate = int(res.count)
        if stats is not None:
            # tantivy multiplies its own (whole-index) idf by the correcting boost in 32-bit
            # floats: the last bits of equal scores would still depend on unreadable documents
            # and order ties by them. Scores are rounded to 6 significant digits and ties go by
            # passage id, as on OpenSearch.
            hits = [replace(h, score=float(f"{h.score:.6g}")) for h in hits]
            hits.sort(key=lambda h: (-h.score, h.passage_id))
            hits = hits[max(offset, 0) : max(offset, 0) + limit]
        # tantivy counts every match in the ranked pass; the native pass counts them up to the
        # bound and prunes beyond it, or counts them all in a pass of their own (``estimate``:
        # the count the facet sample is sized by). Either way the total is reported as
        # OpenSearch reports it under the same bound, so that an answer does not depend on the
        # backend.
        total, relation = bounded_total(matches, exact_up_to)
        out = BackendResult(hits=hits, total=total, total_relation=relation)
        if facets:
            done = pending.result() if pending is not None else None
            if done is None:
                done = self._facets(searcher, query, filters, q, relation, estimate, exact_up_to, generation)
            out.facets, out.documents, out.facets_approximate = done
        return out

    def _facets(
        self,
        searcher: Any,
        query: QueryNode | None,
        filters: Filters,
        q: tantivy.Query | None,
        relation: str,
        matches: int,
        exact_up_to: int | None,
        generation: int,
    ) -> tuple[dict[str, dict[str, int]], int | None, bool]:
        """The facets of a search, its distinct documents (``None`` without a bound) and whether
        the facets are a sample's. ``q``: the search's tantivy query, when it was built (else it
        is built here, without the ranking's boosts, which change no match); ``matches``: the
        number of matches, which sizes the sample."""

        def matching() -> tantivy.Query:
            found = q if q is not None else self._filtered(query, filters)
            assert found is not None
            return found

        if exact_up_to is None:
            return self._aggregate(searcher, matching(), (query, filters), generation), None, False
        key: tuple[Any, Filters] | None = (query, filters)
        exact = _without_fuzzy(query) if relation == "gte" else query
        if relation != "gte":
            target = matching()
        else:
            # the sample is drawn from the matches of the words as written: a rare word's
            # OCR-tolerant expansion walks the whole term dictionary of every segment again
            # (~10 ms at 1M passages for two edits), so it is left out of the sample
            base = matching() if exact is query else self._filtered(exact, filters)
            assert base is not None
            target = self._sampled(base, matches, exact_up_to) or base
            if target is not base or exact is not query:
                key = None  # a sample's count is no answer
        facets, documents = self._counted(searcher, target, key, generation)
        # as OpenSearch marks them: whenever more match than the bound (up to twice the bound
        # every match of the words as written is counted, and still said to be a sample)
        return facets, documents, relation == "gte"

    def _pool(self) -> ThreadPoolExecutor:
        """Threads that count a search's facets while its ranked pass runs."""
        if self._facet_pool is None:
            with self._lock:
                if self._facet_pool is None:
                    self._facet_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="facets")
        return self._facet_pool

    def _native_plan(
        self,
        native: Any | None,
        query: QueryNode | None,
        filters: Filters,
        specs: list[FilterSpec],
        stats: RankStats | None,
        window: int,
    ) -> str | None:
        """The native ranked pass's query for a search (``index/native_rank.py``; ``specs``: its
        filters, ``_filter_specs``); ``None`` when the search has no ranked window, the query is
        not of its shape or the extension is not installed."""
        if native is None or query is None or stats is None or window <= 0:
            return None
        return native_rank.plan(
            query,
            ratio=lambda terms: self._idf_ratio(terms, stats),
            variants=self._expand,
            filters=specs,
            exclude=_exclusion_specs(filters),
        )

    def _sampled(self, q: tantivy.Query, matches: int, bound: int) -> tantivy.Query | None:
        """``q`` restricted to the first sample buckets that hold about ``bound`` of its
        ``matches`` (``None``: count them all — there are at most twice ``bound``)."""
        buckets = -(-SAMPLE_BUCKETS * bound // max(matches, 1))
        if buckets * 2 > SAMPLE_BUCKETS:
            return None
        sample = tantivy.Query.term_set_query(self.schema, "sample", list(range(buckets)))
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q), (tantivy.Occur.Must, sample)])

    def _hits(self, searcher: Any, res: Any, rounded: bool = False) -> list[BackendHit]:
        """``rounded``: scores from readable-set statistics, cut to 6 significant digits as in
        ``keyword_search`` (their last bits would depend on the whole index)."""
        out: list[BackendHit] = []
        for score, addr in res.hits:
            doc = searcher.doc(addr)
            value = float(f"{score:.6g}") if rounded else float(score)
            terms = _stored_terms(doc.get_first("terms"))
            out.append(BackendHit(int(doc["passage_id"][0]), int(doc["document_id"][0]), value, terms))
        return out

    def keyword_after(
        self, query: QueryNode | None, filters: Filters, *, after: Cursor | None, size: int
    ) -> list[BackendHit]:
        # the same readable-set statistics as keyword_search (issue 22), on every page
        stats = self._rank_stats(query, filters) if query is not None else None
        searcher = self._searcher()  # before the query (see ``_keyword_search``)
        q = self._filtered(query, filters, stats)
        if q is None or size <= 0:
            return []
        ranked = stats is not None
        if after is None or after.position == 0:
            return _ties_by_id(
                self._hits(searcher, searcher.search(q, limit=size, offset=0, count=False), ranked)
            )
        page = self._hits(
            searcher, searcher.search(q, limit=size + 1, offset=after.position - 1, count=False), ranked
        )
        # with readable-set scores, ties are served by passage id inside a page (not in tantivy's
        # order, which hangs on whole-index bits), so the last hit served is checked by score only
        same = page and (ranked or page[0].passage_id == after.passage_id)
        if not same or abs(page[0].score - after.score) > 1e-6:
            raise CursorStaleError(
                "the index changed since this page was served: search again from the first page"
            )
        return _ties_by_id(page[1:])

    def iter_keyword(
        self, query: QueryNode | None, filters: Filters, *, chunk: int = 1000
    ) -> Iterator[BackendHit]:
        stats = self._rank_stats(query, filters) if query is not None else None
        searcher = self._searcher()  # one view of the index for the whole iteration, taken first
        q = self._filtered(query, filters, stats)
        if q is None:
            return
        offset = 0
        while True:
            res = searcher.search(q, limit=chunk, offset=offset, count=False)
            page = self._hits(searcher, res, stats is not None)
            yield from page
            if len(page) < chunk:
                return
            offset += chunk

    def _aggregate(
        self, searcher: Any, q: tantivy.Query, key: tuple[Any, Filters], generation: int
    ) -> dict[str, dict[str, int]]:
        return self._counted(searcher, q, key, generation)[0]

    def _counted(
        self, searcher: Any, q: tantivy.Query, key: tuple[Any, Filters] | None, generation: int
    ) -> tuple[dict[str, dict[str, int]], int]:
        """Facet counts of the passages matching ``q``. The number of distinct documents is
        computed in the same pass over the matches and remembered for ``count_documents`` under
        ``key`` (``None``: ``q`` is a sample, its count is no answer): a grouped search asks for
        both, and each is a full pass over every match (at 1M passages the costliest part of a
        keyword search)."""
        spec: dict[str, Any] = {
            name: {"terms": {"field": fld, "size": _META_FACET_SIZE if name == "meta" else 200}}
            for name, fld in _FACET_TANTIVY_FIELD.items()
        }
        spec["date"] = {"terms": {"field": "year", "size": 500}}
        spec["_documents"] = {"cardinality": {"field": "document_id"}}
        raw = searcher.aggregate(q, spec)
        documents = int(raw.get("_documents", {}).get("value") or 0)
        with self._doc_counts_lock:
            if key is not None:
                if len(self._doc_counts) >= _DOC_COUNT_MEMO:
                    self._doc_counts.clear()
                self._doc_counts[key] = (generation, documents)
        del spec["_documents"]
        out = {
            name: {_bucket_key(b["key"]): int(b["doc_count"]) for b in raw.get(name, {}).get("buckets", [])}
            for name in spec
        }
        out["date"] = dict(sorted((k, v) for k, v in out["date"].items() if k != str(NO_DATE)))
        return out, documents

    def count_documents(self, query: QueryNode | None, filters: Filters) -> int:
        """Number of distinct documents with a matching passage (from the facet pass of the same
        query when the index has not changed since, else one pass of its own)."""
        with self._doc_counts_lock:
            memo = self._doc_counts.get((query, filters))
        if memo is not None and memo[0] == self._generation:
            return memo[1]
        with _query_errors():
            searcher = self._searcher()  # before the query (see ``_keyword_search``)
            q = self._filtered(query, filters)
            if q is None:
                return 0
            return int(searcher.cardinality(q, "document_id"))

    def facet_counts(self, query: QueryNode | None, filters: Filters) -> dict[str, dict[str, int]]:
        with _query_errors():
            generation = self._generation
            searcher = self._searcher()  # before the query (see ``_keyword_search``)
            q = self._filtered(query, filters)
            if q is None:
                return _empty_facets()
            return self._aggregate(searcher, q, (query, filters), generation)

    def count(self, filters: Filters) -> int:
        q = self._filtered(None, filters)
        if q is None:
            return 0
        return int(self._searcher().search(q, limit=1, count=True).count)

    def health(self) -> dict[str, object]:
        try:
            n = self.index.searcher().num_docs
            return {"status": "ok", "backend": self.name, "passages": n, "vectors": len(self._store())}
        except Exception as exc:  # pragma: no cover - reported, not raised
            return {"status": f"error: {exc}", "backend": self.name}

    def close(self) -> None:
        self.flush_vectors()


def _without_fuzzy(node: QueryNode | None) -> QueryNode | None:
    """``node`` without the OCR-tolerant expansions of its words (the same object when it has
    none): its matches are a subset of ``node``'s, reached without a walk of the term
    dictionaries."""
    return None if node is None else _exact_words(node)


def _exact_words(node: QueryNode) -> QueryNode:
    if isinstance(node, TermNode):
        return replace(node, fuzzy=0) if node.fuzzy else node
    if isinstance(node, BoolNode):
        must = tuple(_exact_words(n) for n in node.must)
        should = tuple(_exact_words(n) for n in node.should)
        if all(a is b for a, b in zip((*must, *should), (*node.must, *node.should), strict=True)):
            return node
        return BoolNode(must=must, should=should, must_not=node.must_not)
    return node


def _filter_specs(f: Filters) -> list[FilterSpec] | None:
    """The filters of a search (``None`` when they can match nothing), in the form both
    tantivy-py's queries (``_spec_query``) and the native ranked pass are built from."""
    out: list[FilterSpec] = []
    cols = f.effective_collections()
    if cols is not None:
        if not cols:
            return None
        out.append(FilterSpec("text", "collection", tuple(sorted(cols))))
    if f.langs:
        out.append(FilterSpec("text", "lang", tuple(f.langs)))
    if f.types:
        out.append(FilterSpec("text", "doc_type", tuple(f.types)))
    if f.tags:
        out.append(FilterSpec("text", "tags", tuple(f.tags)))
    if f.date_from is not None or f.date_to is not None:
        lo = day_number(f.date_from) if f.date_from is not None else NO_DATE + 1
        hi = day_number(f.date_to) if f.date_to is not None else 10**9
        out.append(FilterSpec("range", "day", (lo, hi)))
    if f.speakers:
        out.append(FilterSpec("text", "speaker", tuple(sp.casefold() for sp in f.speakers)))
    if f.added_after is not None:
        out.append(FilterSpec("range", "added", (epoch_ms(f.added_after) + 1, 2**62)))
    if f.document_ids:
        out.append(FilterSpec("int", "document_id", tuple(f.document_ids)))
    for group in f.entities:
        out.append(_entity_spec(group))
    return out


def _exclusion_specs(f: Filters) -> list[FilterSpec]:
    """What no hit may be: excluded and hidden documents, hidden passages."""
    out: list[FilterSpec] = []
    if excluded_ids := f.excluded_documents():
        out.append(FilterSpec("int", "document_id", tuple(excluded_ids)))
    if hidden_passages := f.excluded_passages():
        out.append(FilterSpec("int", "passage_id", tuple(hidden_passages)))
    return out


def _entity_spec(group: tuple[str, ...]) -> FilterSpec:
    """Passages mentioning one of the entities of ``group`` (``person:3``, ``org:9``)."""
    per_field = [(fld, ids) for fld, ids in entity_field_values(list(group)).items() if ids]
    if not per_field:
        return FilterSpec("nothing")
    subs = tuple(FilterSpec("text", fld, tuple(ids)) for fld, ids in per_field)
    return subs[0] if len(subs) == 1 else FilterSpec("any", of=subs)


@contextmanager
def _query_errors() -> Iterator[None]:
    """tantivy refuses some queries with ``ValueError`` (a regex beyond its state limit, say): the
    query is the user's, so it is a ``QuerySyntaxError`` (400), not a failure of the service."""
    try:
        yield
    except ValueError as exc:
        raise QuerySyntaxError(f"the query is too complex to run: {str(exc)[:200]}") from exc


def _summed(counts: dict[str, int], collections: frozenset[str] | None) -> int:
    """Per-collection counts summed over ``collections`` (``None``: all of them)."""
    if collections is None:
        return sum(counts.values())
    return sum(n for c, n in counts.items() if c in collections)


def _empty_facets() -> dict[str, dict[str, int]]:
    return {name: {} for name in (*_FACET_TANTIVY_FIELD, "date")}


def _bucket_key(key: object) -> str:
    """Aggregation keys: strings stay, numbers (years) print without a decimal point."""
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def _stored_terms(stored: Any) -> str | None:
    """A passage's stored analysed terms (``stored_terms``) as the snippets read them."""
    return bytes(stored).decode("utf-8", "surrogatepass") if stored else None


def _regex_escape(term: str) -> str:
    return "".join("\\" + c if c in r".^$*+?()[]{}|\\" else c for c in term)


def _ties_by_id(hits: list[BackendHit]) -> list[BackendHit]:
    """Hits in score order, equal scores by passage id (as ``keyword_search`` and OpenSearch)."""
    return sorted(hits, key=lambda h: (-h.score, h.passage_id))
