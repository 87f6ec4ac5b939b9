"""The extractor registry (issue 15, part 5): the best bid on a sniffed type wins, and the winner's
name and version are recorded on the document it made."""

from __future__ import annotations

from pathlib import Path

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Document
from archive_search.catalog.store import OriginalStore
from archive_search.types import LOCAL_ADMIN, Extraction, SourceFile, TextBlock
from ingest.extractors.base import GENERIC, NO_BID, SPECIALIST, Limits
from ingest.extractors.text import PlainTextExtractor
from ingest.pipeline import Ingestor
from ingest.registry import ExtractorRegistry, default_registry
from ingest.sniff import DOCX
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR


class _Bidder:
    """An extractor for text/plain that bids ``score`` and leaves its name in the text."""

    def __init__(self, name: str, score: int) -> None:
        self.name, self.version, self.score = name, f"test {score}", score

    def bid(self, mime: str) -> int:
        return self.score if mime == "text/plain" else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        return Extraction(doc_type="text", blocks=[TextBlock(text=f"made by {self.name}")])


def test_the_best_bid_wins_whatever_the_order() -> None:
    generic, specialist = _Bidder("generic", GENERIC), _Bidder("specialist", SPECIALIST)
    for order in ([generic, specialist], [specialist, generic]):
        reg = ExtractorRegistry(list(order))
        assert reg.for_mime("text/plain") is specialist
        assert [b.extractor.name for b in reg.bids("text/plain")] == ["specialist", "generic"]
        assert reg.for_mime("application/pdf") is None and reg.bids("application/pdf") == []


def test_a_tie_goes_to_the_extractor_registered_first() -> None:
    first, second = _Bidder("first", SPECIALIST), _Bidder("second", SPECIALIST)
    assert ExtractorRegistry([first, second]).for_mime("text/plain") is first
    assert ExtractorRegistry([second, first]).for_mime("text/plain") is second


def test_default_extractors_bid_for_their_types_and_carry_a_version() -> None:
    reg = default_registry()
    cases = {"application/pdf": "pdf", "image/png": "image-ocr", "application/x-subrip": "subtitles"}
    cases |= {"text/plain": "text", DOCX: "tika"}
    for mime, name in cases.items():
        ex = reg.for_mime(mime)
        assert ex is not None and ex.name == name, mime
        assert ex.version and ex.version.strip() == ex.version
    assert "pypdfium2" in next(e for e in reg._extractors if e.name == "pdf").version
    assert reg.for_mime("application/x-unknown-thing") is None


def test_a_higher_bid_takes_over_ingestion_and_is_recorded(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    store = OriginalStore(tmp_path / "originals")
    better = _Bidder("better-text", SPECIALIST + 1)
    registry = ExtractorRegistry([PlainTextExtractor(), better])
    ingestor = Ingestor(catalog, store, registry=registry, limits=Limits(sandbox=False))
    report = ingestor.ingest([SAMPLE_DIR / "udhr-en.txt", SAMPLE_DIR / "udhr-en-articles.pdf"], "c")
    with catalog.session() as s:
        made = {d.filename: (d.extractor, d.extractor_version) for d in s.query(Document)}
    assert made == {"udhr-en.txt": ("better-text", f"test {SPECIALIST + 1}")}
    # nobody bids on a PDF in this registry: skipped, no document
    outcomes = {Path(f.path).name: (f.outcome.value, f.code) for f in report.files}
    assert outcomes["udhr-en-articles.pdf"] == ("skipped", "unsupported_type")


def test_the_document_api_shows_the_extractor(service: ArchiveService) -> None:
    files = [SAMPLE_DIR / "udhr-uk-articles.pdf", SAMPLE_DIR / "interview-uk-sample.srt"]
    report = service.ingest(files, "c")
    docs = {f.path.rsplit("/", 1)[-1]: f.document_id for f in report.files}
    pdf = service.document(int(docs["udhr-uk-articles.pdf"]), LOCAL_ADMIN)
    assert pdf["extractor"] == "pdf" and "pypdfium2" in pdf["extractor_version"]
    srt = service.document(int(docs["interview-uk-sample.srt"]), LOCAL_ADMIN)
    assert (srt["extractor"], srt["extractor_version"]) == ("subtitles", "1")
