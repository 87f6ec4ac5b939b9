"""Split a block of text into passages of about a target length, at sentence boundaries."""

from __future__ import annotations

import re
from collections.abc import Iterator

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"»”)]*\s+|\n\s*\n", re.UNICODE)


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.start() if text[m.start()].isspace() else m.end()
        if end > start:
            yield start, m.end()
        start = m.end()
    if start < len(text):
        yield start, len(text)


def _hard_split(text: str, start: int, end: int, target: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long sentence at whitespace near ``target`` characters."""
    while end - start > target * 1.5:
        cut = text.rfind(" ", start + target // 2, start + target)
        if cut <= start:
            cut = start + target
        yield start, cut
        start = cut
    yield start, end


def split_spans(text: str, target: int) -> list[tuple[int, int]]:
    """Character spans of passages (stripped of surrounding whitespace), in order, covering all text."""
    pieces: list[tuple[int, int]] = []
    for s, e in _sentences(text):
        pieces.extend(_hard_split(text, s, e, target))
    spans: list[tuple[int, int]] = []
    cur_s: int | None = None
    cur_e = 0
    for s, e in pieces:
        if cur_s is None:
            cur_s, cur_e = s, e
        elif e - cur_s <= target:
            cur_e = e
        else:
            spans.append((cur_s, cur_e))
            cur_s, cur_e = s, e
    if cur_s is not None:
        spans.append((cur_s, cur_e))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out
