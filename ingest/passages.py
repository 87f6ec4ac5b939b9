"""Passages of an extraction: each block normalised, cut at sentence boundaries into passages of
about ``target_chars`` characters that keep page, span, time and speaker, each with its language.

This runs in the extraction worker process when the extraction is sandboxed (the language
detector is the costliest step of the ingesting process after indexing, and the workers are
where the cores are), and in the ingesting process otherwise. The worker sends back only
(block, start, end, language) per passage; ``drafts_from_spans`` checks them against the blocks.
"""

from __future__ import annotations

from archive_search.types import Extraction, PassageDraft
from ingest.extractors.base import ExtractionError
from ingest.lang import LANGUAGES, detect_language
from ingest.normalize import normalize_text
from ingest.split import split_spans

Span = tuple[int, int, int, str]
"""(block index, start, end, language) of one passage."""


def passage_spans(extraction: Extraction, target_chars: int) -> list[Span]:
    """Normalise every block's text in place and return the passages' spans and languages."""
    out: list[Span] = []
    for i, block in enumerate(extraction.blocks):
        block.text = normalize_text(block.text)
        for s, e in split_spans(block.text, target_chars):
            out.append((i, s, e, detect_language(block.text[s:e])))
    return out


def drafts_from_spans(extraction: Extraction, spans: list[Span]) -> list[PassageDraft]:
    """The passages of (already normalised) blocks; spans that do not fit the blocks raise
    ``ExtractionError`` (the worker is not trusted)."""
    out: list[PassageDraft] = []
    blocks = extraction.blocks
    for i, s, e, lang in spans:
        if not (0 <= i < len(blocks) and 0 <= s <= e <= len(blocks[i].text)) or lang not in LANGUAGES:
            raise ExtractionError("extractor_crashed", "the extraction worker sent malformed passages")
        block = blocks[i]
        out.append(
            PassageDraft(
                seq=len(out),
                text=block.text[s:e],
                page=block.page,
                char_start=s,
                char_end=e,
                time_start=block.time_start,
                time_end=block.time_end,
                speaker=block.speaker,
                lang=lang,
            )
        )
    return out


def make_passages(extraction: Extraction, target_chars: int) -> list[PassageDraft]:
    """Normalise each block and cut it into passages that keep page, span, time and speaker."""
    return drafts_from_spans(extraction, passage_spans(extraction, target_chars))
