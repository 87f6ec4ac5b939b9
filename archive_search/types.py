"""Shared data types: the one small module every layer imports.

Plain dataclasses for what flows inside the pipeline (source file, extraction, passage, index
records, search request, principal); pydantic models for what leaves the service as JSON (the
search response of ``docs/architecture.md``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from archive_search.errors import InvalidRequestError

Language = Literal["ru", "uk", "be", "en", "other"]
MAX_ID = 2_147_483_647
"""Largest catalog id (PostgreSQL INTEGER); a path id outside 1..MAX_ID is refused with 422."""
LANGUAGES: tuple[str, ...] = ("ru", "uk", "be", "en", "other")
SearchMode = Literal["hybrid", "keyword", "semantic"]


class Outcome(enum.StrEnum):
    """The one recorded end state of every file handed to ingestion."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SourceFile:
    """A file received for ingestion, already hashed and kept in the original store."""

    filename: str
    sha256: str
    size: int
    path: Path
    """Path of the stored, read-only original."""
    mime: str
    """MIME type found by sniffing the bytes (not the extension)."""


@dataclass
class WordBoxes:
    """Where OCR found the words of one page (``ingest/wordboxes.py``): the size in pixels of the
    image Tesseract read and each word's pixel box ``[x0, y0, x1, y1]`` in it. ``words`` holds the
    words' texts only until they are aligned to the page's normalised text; then ``spans`` holds,
    per box, its ``[start, end]`` in that text, and the texts are dropped (what is stored is
    offsets and boxes, never a second copy of the words)."""

    width: int
    height: int
    boxes: list[list[int]]
    words: list[str] | None = None
    spans: list[list[int]] | None = None


@dataclass
class TextBlock:
    """A unit of extracted text with provenance: a page, a transcript turn, or a whole text file."""

    text: str
    page: int | None = None
    time_start: float | None = None
    time_end: float | None = None
    speaker: str | None = None
    method: str = "text"
    """How the text was obtained: ``text`` (plain file), ``text-layer`` (PDF), ``ocr``, ``transcript``."""
    confidence: float | None = None
    """OCR confidence 0..100 where the text came from OCR."""
    word_boxes: WordBoxes | None = None
    """Where the OCR'd words are on the page image (a block whose text came from OCR)."""


MentionRow = tuple[str, int, int, str, str]
"""One entity mention in a passage: type, start, end (offsets in the passage text), display form
and match key (see ``ingest/entities.py``)."""


@dataclass
class Extraction:
    """What an extractor returns for one file."""

    doc_type: str
    """Coarse type used for the ``type`` facet: ``text``, ``pdf``, ``scan``, ``transcript``, ..."""
    blocks: list[TextBlock]
    title: str | None = None
    page_count: int | None = None
    doc_date: date | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    passage_spans: list[tuple[int, int, int, str]] | None = None
    """(block, start, end, language) of each passage when the extraction worker already cut the
    (then normalised) blocks into passages (``ingest/passages.py``); None: not cut yet."""
    passage_mentions: list[list[MentionRow]] | None = None
    """Entity mentions of each passage of ``passage_spans`` (``ingest/entities.py``), when the
    extraction worker found them; None: not looked for yet."""
    incomplete: tuple[str, str] | None = None
    """(code, message) when the extraction is usable but not whole (an OCR budget ran out): the
    file ends ``ok`` with that code and message."""


@dataclass
class PassageDraft:
    """A passage cut from an extraction, before it has a catalog id."""

    seq: int
    text: str
    page: int | None
    char_start: int
    """Start offset of the passage inside its block (page or turn)."""
    char_end: int
    time_start: float | None = None
    time_end: float | None = None
    speaker: str | None = None
    lang: str = "other"
    mentions: list[MentionRow] = field(default_factory=list)
    """Entity mentions: (type, start, end, display form, match key), offsets in ``text``."""


@dataclass(frozen=True)
class AnalyzedToken:
    """One token of analysed text: the terms it is indexed under, its position and character span."""

    terms: tuple[str, ...]
    position: int
    start: int
    end: int


@dataclass
class IndexPassage:
    """A passage as the search backends store it (terms come from the shared analyser)."""

    passage_id: int
    document_id: int
    collection: str
    text: str
    lang: str
    doc_type: str
    seq: int
    doc_date: date | None = None
    tags: list[str] = field(default_factory=list)
    vector: list[float] | None = None
    speaker: str | None = None
    added_at: datetime | None = None
    """When the document entered the archive (for "new since" searches)."""
    entities: list[str] = field(default_factory=list)
    """Named entities mentioned in the passage, as ``person:ID``, ``place:ID``, ``org:ID``."""


@dataclass(frozen=True)
class Principal:
    """Who is asking, and what they may touch.

    ``readable``/``writable``/``manageable`` are sets of collection names; ``None`` means every
    collection (administrators and the local command line); an empty set means nothing at all
    (fail closed: no principal or no grants means no results).
    """

    name: str
    readable: frozenset[str] | None = frozenset()
    writable: frozenset[str] | None = frozenset()
    manageable: frozenset[str] | None = frozenset()
    role: str = "viewer"
    user_id: int | None = None
    hidden_documents: frozenset[int] = frozenset()
    """Restricted documents of readable collections that this principal may not read (document-level
    confidentiality, ``search_api/care.py``); every search excludes them inside the backend query."""
    hidden_passages: frozenset[int] = frozenset()
    """Restricted passages of readable documents that this principal may not read (passage-level
    confidentiality): excluded inside every backend query, withheld wherever a document's text is shown."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_read_document(self, collection: str, document_id: int) -> bool:
        """Whether the principal may read one document: its collection, and not restricted away."""
        return self.can_read(collection) and document_id not in self.hidden_documents

    def can_read_passage(self, collection: str, document_id: int, passage_id: int) -> bool:
        """Whether the principal may read one passage: its document, and not restricted away."""
        return self.can_read_document(collection, document_id) and passage_id not in self.hidden_passages

    def can_read(self, collection: str) -> bool:
        return self.readable is None or collection in self.readable

    def can_write(self, collection: str) -> bool:
        return self.writable is None or collection in self.writable

    def can_manage(self, collection: str) -> bool:
        return self.manageable is None or collection in self.manageable


LOCAL_ADMIN = Principal(name="local", readable=None, writable=None, manageable=None, role="admin")
"""The principal of the local command line, which has the data folder anyway."""


@dataclass
class SearchRequest:
    """A parsed-enough search request; the query text is parsed by the search service."""

    q: str
    mode: SearchMode = "hybrid"
    lang: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    speakers: list[str] = field(default_factory=list)
    added_after: datetime | None = None
    persons: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    """Entity filters by name (any spelling): passages that mention that person, place or org."""
    meta: list[str] = field(default_factory=list)
    """Metadata filters ``NAME=VALUE`` or ``NAME=FROM..TO`` (``search_api/metadata.py``)."""
    group: Literal["document", "passage"] = "document"
    page: int = 1
    size: int = 10
    cursor: str | None = None
    """``next_cursor`` of the previous page (search-after; ``group=passage``, keyword or semantic)."""
    explain: bool = False
    """Say per hit how each query word matched (``Hit.explain``)."""


SimilarExclude = Literal["source", "document", "none"]
SIMILAR_EXCLUDE: tuple[SimilarExclude, ...] = ("source", "document", "none")


@dataclass(frozen=True)
class SimilarOptions:
    """How similar passages are asked for: built once where the request comes in (the route
    ``GET /passages/{id}/similar``, the viewer's corroboration panel) and handed unchanged through
    ``ArchiveService.corroborate`` → ``similar_by_source`` → ``Retrieval.similar_passages``.

    Checked here and nowhere else: ``size`` is a whole number from 1 (its upper bound is the
    settings' ``max_page_size``, :meth:`check_size`), ``exclude`` one of :data:`SIMILAR_EXCLUDE`,
    ``lang`` a sequence of codes (a bare string would be read letter by letter). The codes
    themselves are not checked against :data:`LANGUAGES`: the API takes any string, as the
    search's ``lang`` filter does, and an unknown code matches nothing."""

    size: int = 10
    """Entries wanted."""
    exclude: SimilarExclude = "source"
    """``source``: leave out the passage's document and every copy of the same file;
    ``document``: its document only; ``none``: nothing."""
    lang: tuple[str, ...] = ()
    """Only passages in these languages; empty: any."""
    by_family: bool = True
    """One entry per source family, labelled same source or independent (``families.py``);
    ``False``: one per document. ``Retrieval.similar_passages`` always answers per document."""

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise InvalidRequestError("size must be a whole number from 1")
        if self.exclude not in SIMILAR_EXCLUDE:
            raise InvalidRequestError(f"exclude must be one of {', '.join(SIMILAR_EXCLUDE)}")
        codes: object = self.lang
        if isinstance(codes, str | bytes) or not isinstance(codes, tuple | list):
            raise InvalidRequestError("lang must be a list of language codes")
        if not all(isinstance(c, str) for c in codes):
            raise InvalidRequestError("lang must be a list of language codes")
        object.__setattr__(self, "lang", tuple(codes))  # a list given: kept as a tuple (hashable)

    def check_size(self, largest: int) -> None:
        """Refuse a ``size`` above ``largest`` (the settings' ``max_page_size``)."""
        if self.size > largest:
            raise InvalidRequestError(f"size must be between 1 and {largest}")

    def sized(self, size: int) -> SimilarOptions:
        """The same options for ``size`` entries (a wider candidate list before grouping)."""
        return replace(self, size=size)


class MatchExplanation(BaseModel):
    """How one query word matched a hit's passage (``explain=true``)."""

    word: str | None = Field(description="The query word (null for a match by meaning only).")
    how: Literal["exact", "lemma", "transliteration", "misspelling", "prefix", "meaning"] = Field(
        description="exact: the same word; lemma: another form of it; transliteration: a name's "
        "spelling in another script; misspelling: a close misspelling (OCR tolerance of rare words; "
        "`edits` says how close); prefix: a word opened by a `prefix*` term (word ends in *); "
        "meaning: none of the words, found by meaning (semantic ranking)."
    )
    matched: list[str] = Field(description="The forms in the passage that matched (up to five).")
    edits: int | None = Field(
        default=None, description="With how=misspelling: the edits from the query word."
    )


class CollapsedMember(BaseModel):
    """Another document of the same family among the hits, folded into this entry."""

    document_id: str
    passage_id: str | None = None
    filename: str
    collection: str
    lang: str
    kind: str | None = Field(description="How it is linked to the entry's document: copy, rescan, …")


class SourceInfo(BaseModel):
    """Which source a hit belongs to (document families, issue 19)."""

    family_id: str = Field(description="Smallest document id of the family among those you may read")
    family_size: int = Field(description="Documents of the family you may read")
    relation: Literal["same_source", "independent"] | None = Field(
        default=None,
        description="Similar passages: same source as the passage asked about (a copy, re-scan or "
        "translation of it) or an independent source; null in search results",
    )
    kind: str | None = Field(default=None, description="copy, edited_copy, rescan or translation")
    of_document_id: str | None = Field(default=None, description="The document it is a copy/translation of")
    of_filename: str | None = Field(default=None, description="That document's file name")
    label: str
    collapsed: list[CollapsedMember] = Field(default_factory=list)


class Hit(BaseModel):
    """One search hit: a passage with its document's provenance and a highlighted snippet."""

    document_id: str
    passage_id: str
    score: float
    filename: str
    title: str | None = None
    collection: str
    lang: str
    type: str
    page: int | None = None
    seq: int | None = Field(
        default=None,
        description="The passage's place in its document, counted from 0 (as ``seq`` of GET /passages/{id})",
    )
    time_start: float | None = None
    time_end: float | None = None
    speaker: str | None = None
    sha256: str
    snippet: str = Field(description="Passage excerpt, HTML-escaped, matches wrapped in <mark>.")
    matching_passages: int | None = Field(
        default=None, description="With group=document: how many of the document's passages were ranked."
    )
    more: list[PassageRef] = Field(
        default_factory=list, description="With group=document: further matching passages of the document."
    )
    explain: list[MatchExplanation] | None = Field(
        default=None, description="With explain=true: how each query word matched this passage."
    )
    source: SourceInfo | None = Field(
        default=None,
        description="Its document family (copies, re-scans, translations), as far as you may read it: "
        "in similar passages always, in search results with collapse=family",
    )


class PassageRef(BaseModel):
    """Another matching passage of a hit's document."""

    passage_id: str
    score: float
    page: int | None = None
    seq: int | None = Field(default=None, description="The passage's place in its document, counted from 0")
    time_start: float | None = None
    time_end: float | None = None
    speaker: str | None = None
    snippet: str

    @classmethod
    def from_hit(cls, hit: Hit) -> PassageRef:
        return cls(
            passage_id=hit.passage_id,
            score=hit.score,
            page=hit.page,
            seq=hit.seq,
            time_start=hit.time_start,
            time_end=hit.time_end,
            speaker=hit.speaker,
            snippet=hit.snippet,
        )


Hit.model_rebuild()


class SearchResponse(BaseModel):
    """The search response shared by the HTTP API and ``archive search --json``."""

    total: int
    took_ms: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]]
    total_relation: Literal["eq", "gte"] = Field(
        default="eq",
        description="`eq`: `total` is exact; `gte`: more passages match than a search counts "
        "(`ARCHIVE_TOTAL_HITS_EXACT_UP_TO`, 10,000 by default) and `total` is a lower bound: "
        '"at least" that many.',
    )
    facets_approximate: bool = Field(
        default=False,
        description="The facets were counted over a sample of the matches only (about "
        "`ARCHIVE_TOTAL_HITS_EXACT_UP_TO` passages of a larger result; each count at most the true "
        "one); exact when false. True whenever `total_relation` is `gte`.",
    )
    mode: str = Field(
        description="The mode that ran (hybrid falls back to keyword while nothing is embedded)."
    )
    group: str = "document"
    query_lang: str | None = Field(default=None, description="Detected language of the query's words.")
    next_cursor: str | None = Field(
        default=None,
        description="With group=passage in keyword or semantic mode: pass as `cursor` for the next page "
        "(stable deep paging by score and passage id, no depth limit); null on the last page.",
    )
    beyond_window: bool = Field(
        default=False,
        description="Page and size reach past the first 1,000 hits, which is as far as `page` goes: "
        "the hits stop there (total and facets are still the whole search's). Every hit is reached "
        "with `cursor` (group=passage, keyword or semantic) or GET /search/export.",
    )
    no_known_word: bool = Field(
        default=False,
        description="The known-word gate (`ARCHIVE_KNOWN_WORD_GATE`) took this semantic or hybrid "
        "search's meaning-only hits away: no word of the query is a known word (a dictionary word of "
        "ru/uk, a function word, a whole word of the embedding model's vocabulary, a number, a "
        "capitalised abbreviation), so nothing is listed by meaning; hybrid keeps its keyword hits.",
    )


class FileReport(BaseModel):
    """The recorded outcome of one ingested file."""

    path: str
    outcome: Outcome
    code: str | None = None
    message: str | None = None
    document_id: str | None = None
    sha256: str | None = None
    duplicate: bool = False


class JobReport(BaseModel):
    """Summary of one ingestion job."""

    job_id: int
    files: list[FileReport]
    started_at: datetime
    finished_at: datetime | None = None

    def counts(self) -> dict[str, int]:
        out = {o.value: 0 for o in Outcome}
        for f in self.files:
            out[f.outcome.value] += 1
        return out
