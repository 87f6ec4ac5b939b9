"""OCR word positions of a scanned page (issue 20: redaction on scans).

Tesseract reports each word with its pixel box in the image it read (``ocr.py``). The page's
text is then normalised (``normalize.py``: hyphenation joined, spaces collapsed, look-alike letters
repaired), so the words' offsets in the raw OCR text are not those of the stored page text.
:func:`align` finds each word, in order, in the normalised text and keeps, per word, its
``[start, end]`` there and its box; the words' texts are then dropped, so that what is stored
(:func:`to_json`: one compact JSON value per page, ``pages.word_boxes``) is offsets and boxes
only — never a second copy of the words, which a redaction (that masks the stored texts) would
not reach.

A redacted span of a page (offsets in its text) maps to the boxes of the words it touches
(:func:`boxes_for`); a non-space character of the span that no aligned word covers makes the
page's mask *unlocatable*, and its image is refused rather than shown with the word visible.
Boxes are handed to the renderers as fractions of the page (0..1), so that they fit an image of
any size rendered from the same page.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from archive_search.types import WordBoxes
from ingest.normalize import CYRILLIC_TO_LATIN, normalize_text

MAX_WORDS = 50_000
"""Most word boxes kept for one page (a page of tiny print has a few thousand)."""
WINDOW = 200
"""How far past the previous word (in characters of the page text) a word is looked for."""
_FOLD = str.maketrans(CYRILLIC_TO_LATIN)

PDFIUM_LOCK = threading.Lock()
"""PDFium is not thread-safe: its uses in a server process (bundle renderings, a region's text
layer; page images are rendered in sandbox workers) take this lock."""

Box = tuple[float, float, float, float]
"""A rectangle as fractions of the page: left, top, right, bottom (0..1)."""


def _fold(text: str) -> str:
    """Lower case, Cyrillic look-alikes as Latin, character by character (the length is kept)."""
    out = []
    for ch in text.translate(_FOLD):
        low = ch.lower()
        out.append(low if len(low) == 1 else ch)
    return "".join(out).translate(_FOLD)


def _keys(word: str) -> list[str]:
    """What ``word`` may look like in the normalised text: itself normalised, and without a
    trailing hyphen (a word broken at a line end is joined to its second half)."""
    key = normalize_text(unicodedata.normalize("NFC", word))
    if not key or any(ch.isspace() for ch in key):
        return []
    out = [_fold(key)]
    if len(key) > 1 and key[-1] in "-\u2010\u2011\u00ad":
        out.append(_fold(key[:-1]))
    return out


def align(text: str, found: WordBoxes) -> WordBoxes:
    """``found``'s words located, in order, in ``text`` (the page's normalised text): a
    ``WordBoxes`` with ``spans`` and without the words' texts, holding only the words found."""
    words = found.words or []
    folded = _fold(text)
    cursor = 0
    boxes: list[list[int]] = []
    spans: list[list[int]] = []
    for word, box in zip(words[:MAX_WORDS], found.boxes, strict=False):
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        at = cursor
        while at < len(text) and text[at].isspace():
            at += 1
        hit: tuple[int, int] | None = None
        keys = _keys(word)
        for key in keys:  # right after the previous word
            if folded.startswith(key, at):
                hit = (at, at + len(key))
                break
        if hit is None:  # a word OCR put elsewhere, or one the text lost: look a little further
            for key in keys:
                pos = folded.find(key, cursor, cursor + WINDOW + len(key))
                if pos >= 0:
                    hit = (pos, pos + len(key))
                    break
        if hit is None:
            continue
        spans.append([hit[0], hit[1]])
        boxes.append([int(v) for v in box])
        cursor = hit[1]
    return WordBoxes(width=found.width, height=found.height, boxes=boxes, spans=spans)


def unredacted_text(text: str, spans: list[tuple[int, int, str]]) -> str:
    """A page text with each masked character put back from the spans' originals."""
    chars = list(text)
    for a, b, original in spans:
        for i, ch in enumerate(original[: b - a]):
            if a + i < len(chars) and ch != "█":
                chars[a + i] = ch
    return "".join(chars)


def to_json(wb: WordBoxes) -> str:
    """The stored form: ``{"w": W, "h": H, "b": [[start, end, x0, y0, x1, y1], ...]}``."""
    rows = [[s[0], s[1], *b] for s, b in zip(wb.spans or [], wb.boxes, strict=True)]
    return json.dumps({"w": wb.width, "h": wb.height, "b": rows}, separators=(",", ":"))


@dataclass(frozen=True)
class PageWords:
    """The stored word boxes of one page: image size and ``(start, end, x0, y0, x1, y1)`` rows."""

    width: int
    height: int
    rows: list[tuple[int, int, int, int, int, int]]

    def box(self, row: Sequence[int]) -> Box:
        """A word's box as fractions of the page."""
        _, _, x0, y0, x1, y1 = row
        return (x0 / self.width, y0 / self.height, x1 / self.width, y1 / self.height)


def from_json(raw: str | None, text_length: int) -> PageWords | None:
    """The stored boxes of a page whose text has ``text_length`` characters, every field checked;
    ``None`` when there are none or they do not fit the text (then nothing can be located)."""
    if not raw:
        return None
    try:
        d = json.loads(raw)
        w, h, rows = int(d["w"]), int(d["h"]), d["b"]
    except (ValueError, TypeError, KeyError):
        return None
    if w <= 0 or h <= 0 or not isinstance(rows, list):
        return None
    out: list[tuple[int, int, int, int, int, int]] = []
    for r in rows:
        if not (isinstance(r, list) and len(r) == 6 and all(isinstance(v, int) for v in r)):
            return None
        s, e, x0, y0, x1, y1 = r
        if not (0 <= s < e <= text_length and 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            return None
        out.append((s, e, x0, y0, x1, y1))
    return PageWords(w, h, out)


def checked(wb: WordBoxes | None, text_length: int) -> str | None:
    """The stored form of a block's aligned boxes (from a worker: not trusted), or ``None``."""
    if wb is None or wb.spans is None or wb.words is not None:
        return None
    if len(wb.spans) != len(wb.boxes) or len(wb.boxes) > MAX_WORDS:
        return None
    raw = to_json(wb)
    return raw if from_json(raw, text_length) is not None else None


def boxes_for(
    words: PageWords | None, ranges: Iterable[tuple[int, int]], originals: dict[int, str]
) -> tuple[list[Box], bool]:
    """The boxes of the words that touch ``ranges`` (offsets in the page text), and whether every
    character of them is covered (``originals``: the character that stood at each masked offset;
    spaces need no box). Without stored boxes nothing is covered."""
    merged = sorted(ranges)
    if not merged:
        return [], True
    covered: set[int] = set()
    out: list[Box] = []
    for row in words.rows if words is not None else []:
        s, e = row[0], row[1]
        if any(s < b and a < e for a, b in merged):
            out.append(words.box(row))  # type: ignore[union-attr]
            covered.update(range(s, e))
    need = {
        i for a, b in merged for i in range(a, b) if not originals.get(i, "x").isspace() and i not in covered
    }
    return out, not need


def from_wire(d: object) -> WordBoxes | None:
    """A block's ``word_boxes`` as a worker sent them (JSON; not trusted): ``None`` when absent
    or malformed (the page then has no boxes, and a redaction on it is refused, never leaked)."""
    if not isinstance(d, dict):
        return None
    w, h, boxes, words, spans = (d.get(k) for k in ("width", "height", "boxes", "words", "spans"))
    if not (isinstance(w, int) and isinstance(h, int) and isinstance(boxes, list)) or len(boxes) > MAX_WORDS:
        return None
    if not all(isinstance(b, list) and len(b) == 4 and all(isinstance(v, int) for v in b) for b in boxes):
        return None
    if words is not None and not (
        isinstance(words, list) and len(words) == len(boxes) and all(isinstance(x, str) for x in words)
    ):
        return None
    if spans is not None and not (
        isinstance(spans, list)
        and len(spans) == len(boxes)
        and all(isinstance(x, list) and len(x) == 2 and all(isinstance(v, int) for v in x) for x in spans)
    ):
        return None
    return WordBoxes(width=w, height=h, boxes=boxes, words=words, spans=spans)


def text_layer_words(path: Path, page: int) -> WordBoxes | None:
    """The words of a PDF page's text layer with their boxes (in tenths of a point, from the top
    left corner; the page's size likewise), in the layer's order, for ``wordboxes.align``;
    ``None`` for a page that is not there or has no text layer."""
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
        try:
            if not 1 <= page <= len(pdf):
                return None
            pg = pdf[page - 1]
            width, height = pg.get_size()
            tp = pg.get_textpage()
            words: list[str] = []
            boxes: list[list[int]] = []
            current: list[str] = []
            box: list[float] = []
            for i in range(tp.count_chars()):
                ch = tp.get_text_range(i, 1)
                if not ch or ch.isspace():
                    if current:
                        words.append("".join(current))
                        boxes.append([round(v * 10) for v in box])
                        current, box = [], []
                    continue
                left, bottom, right, top = tp.get_charbox(i)
                edges = [left, height - top, right, height - bottom]
                box = (
                    edges
                    if not box
                    else [
                        min(box[0], edges[0]),
                        min(box[1], edges[1]),
                        max(box[2], edges[2]),
                        max(box[3], edges[3]),
                    ]
                )
                current.append(ch)
            if current:
                words.append("".join(current))
                boxes.append([round(v * 10) for v in box])
            tp.close()
            w10, h10 = round(width * 10), round(height * 10)
            for b in boxes:  # inside the page, at least a tenth of a point wide and high
                b[0], b[1] = min(max(b[0], 0), w10 - 1), min(max(b[1], 0), h10 - 1)
                b[2], b[3] = min(max(b[2], b[0] + 1), w10), min(max(b[3], b[1] + 1), h10)
            pg.close()
        finally:
            pdf.close()
    if not words:
        return None
    return WordBoxes(width=round(width * 10), height=round(height * 10), boxes=boxes, words=words)
