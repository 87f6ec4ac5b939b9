"""The extractor registry: every extractor bids on a sniffed type and the best bid extracts the
file (``ingest/extractors/base.py`` has the protocol, the limits and the errors)."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.extractors.base import (
    GENERIC,
    NO_BID,
    SPECIALIST,
    ExtractionError,
    Extractor,
    Limits,
    SandboxLimits,
    Skip,
)

__all__ = [
    "GENERIC",
    "NO_BID",
    "SPECIALIST",
    "ExtractionError",
    "Extractor",
    "ExtractorRegistry",
    "Limits",
    "SandboxLimits",
    "Skip",
    "default_registry",
]


@dataclass(frozen=True)
class Bid:
    extractor: Extractor
    score: int


class ExtractorRegistry:
    """Extractors in registration order; the highest bid on a MIME type wins."""

    def __init__(self, extractors: list[Extractor] | None = None) -> None:
        self._extractors: list[Extractor] = list(extractors or [])

    def register(self, extractor: Extractor) -> None:
        self._extractors.append(extractor)

    def bids(self, mime: str) -> list[Bid]:
        """Every extractor's bid above :data:`NO_BID` on ``mime``, best first (stable: on a tie
        the one registered first)."""
        offers = [Bid(ex, ex.bid(mime)) for ex in self._extractors]
        return sorted((b for b in offers if b.score > NO_BID), key=lambda b: -b.score)

    def for_mime(self, mime: str) -> Extractor | None:
        """The extractor with the best bid on ``mime``, or None when nobody bids."""
        bids = self.bids(mime)
        return bids[0].extractor if bids else None

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._extractors]


def default_registry() -> ExtractorRegistry:
    from ingest.extractors.djvu import DjvuExtractor
    from ingest.extractors.image import ImageOcrExtractor
    from ingest.extractors.pdf import PdfExtractor
    from ingest.extractors.subtitles import SubtitleExtractor
    from ingest.extractors.text import PlainTextExtractor
    from ingest.extractors.tika import TikaExtractor

    return ExtractorRegistry(
        [
            PdfExtractor(),
            ImageOcrExtractor(),
            DjvuExtractor(),
            SubtitleExtractor(),
            PlainTextExtractor(),
            TikaExtractor(),
        ]
    )
