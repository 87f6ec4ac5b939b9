"""Passages of an extraction: each block normalised, cut at sentence boundaries into passages of
about ``target_chars`` characters that keep page, span, time and speaker, each with its language.

This runs in the extraction worker process when the extraction is sandboxed (the language
detector is the costliest step of the ingesting process after indexing, and the workers are
where the cores are), and in the ingesting process otherwise. The worker sends back only
(block, start, end, language) per passage; ``drafts_from_spans`` checks them against the blocks.
"""

from __future__ import annotations

from archive_search.types import Extraction, MentionRow, PassageDraft
from ingest.extractors.base import ExtractionError
from ingest.lang import LANGUAGES, detect_language
from ingest.normalize import normalize_text
from ingest.split import split_spans
from ingest.wordboxes import align

Span = tuple[int, int, int, str]
"""(block index, start, end, language) of one passage."""


def passage_spans(extraction: Extraction, target_chars: int) -> list[Span]:
    """Normalise every block's text in place and return the passages' spans and languages."""
    out: list[Span] = []
    for i, block in enumerate(extraction.blocks):
        block.text = normalize_text(block.text)
        if block.word_boxes is not None and block.word_boxes.words is not None:
            block.word_boxes = align(block.text, block.word_boxes)  # offsets now, no word texts
        for s, e in split_spans(block.text, target_chars):
            out.append((i, s, e, detect_language(block.text[s:e])))
    return out


def passage_mentions(
    extraction: Extraction, spans: list[Span], documents: list[int] | None = None
) -> list[list[MentionRow]]:
    """The entity mentions of each passage (offsets within the passage text), a surname named
    alone joined to the document's full name (``link_surnames``). The passages are of one
    document, or of the document ``documents[i]`` each when given."""
    from ingest.entities import extract_mentions, link_surnames

    out: list[list[MentionRow]] = []
    for i, s, e, lang in spans:
        found = extract_mentions(extraction.blocks[i].text[s:e], lang)
        out.append([(m.type, m.start, m.end, m.norm, m.key) for m in found])
    return link_surnames(out, documents)


def _checked_mentions(raw: object, length: int) -> list[MentionRow]:
    """Mentions sent by the worker, each field checked (the worker is not trusted)."""
    from ingest.entities import ENTITY_TYPES, MAX_MENTION_CHARS, MAX_MENTIONS_PER_PASSAGE

    if not isinstance(raw, list | tuple) or len(raw) > MAX_MENTIONS_PER_PASSAGE:
        raise ExtractionError("extractor_crashed", "the extraction worker sent malformed mentions")
    out: list[MentionRow] = []
    for m in raw:
        if not (
            isinstance(m, list | tuple)
            and len(m) == 5
            and m[0] in ENTITY_TYPES
            and all(isinstance(x, int) and not isinstance(x, bool) for x in m[1:3])
            and 0 <= m[1] < m[2] <= length
            and m[2] - m[1] <= MAX_MENTION_CHARS
            and all(isinstance(x, str) and 0 < len(x) <= 400 for x in m[3:5])
        ):
            raise ExtractionError("extractor_crashed", "the extraction worker sent malformed mentions")
        out.append((m[0], m[1], m[2], m[3][:300], m[4]))
    return out


def drafts_from_spans(
    extraction: Extraction,
    spans: list[Span],
    mentions: list[list[MentionRow]] | None = None,
    *,
    find: bool = True,
) -> list[PassageDraft]:
    """The passages of (already normalised) blocks; spans (and mentions) that do not fit the
    blocks raise ``ExtractionError`` (the worker is not trusted). Without ``mentions`` they are
    found here."""
    out: list[PassageDraft] = []
    blocks = extraction.blocks
    if mentions is not None and len(mentions) != len(spans):
        raise ExtractionError("extractor_crashed", "the extraction worker sent malformed mentions")
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
    if mentions is None:
        if not find:
            return out
        mentions = passage_mentions(extraction, spans)
    for draft, raw in zip(out, mentions, strict=True):
        draft.mentions = _checked_mentions(raw, len(draft.text))
    return out


def make_passages(extraction: Extraction, target_chars: int, *, find: bool = True) -> list[PassageDraft]:
    """Normalise each block and cut it into passages that keep page, span, time and speaker
    (and, with ``find``, their entity mentions)."""
    return drafts_from_spans(extraction, passage_spans(extraction, target_chars), find=find)
