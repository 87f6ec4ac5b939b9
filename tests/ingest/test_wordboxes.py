"""OCR word boxes (``ingest/wordboxes.py``): real Tesseract words aligned to the normalised page
text (hyphenation joined, look-alike letters repaired), the stored form without any word text,
and untrusted input (a worker's reply, a stored value) refused rather than trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from archive_search.types import WordBoxes
from ingest.extractors.ocr import ocr_image, tesseract_available
from ingest.normalize import normalize_text
from ingest.wordboxes import align, boxes_for, checked, from_json, from_wire

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _wb(words: list[str]) -> WordBoxes:
    return WordBoxes(
        width=1000,
        height=100,
        boxes=[[10 + 60 * i, 10, 60 + 60 * i, 40] for i in range(len(words))],
        words=words,
    )


def test_words_are_found_in_the_normalised_text() -> None:
    raw = "Свідок бачив свобод-\nними очима pаніше\nWitness"  # Latin "p" in a Cyrillic word
    words = ["Свідок", "бачив", "свобод-", "ними", "очима", "pаніше", "Witness"]
    text = normalize_text(raw)
    assert "свободними" in text and "раніше" in text  # hyphenation joined, look-alike repaired
    aligned = align(text, _wb(words))
    assert aligned.words is None  # the texts are gone
    got = [text[s:e] for s, e in aligned.spans or []]
    assert got == ["Свідок", "бачив", "свобод", "ними", "очима", "раніше", "Witness"]
    assert len(aligned.boxes) == len(words)


def test_a_word_the_text_does_not_hold_gets_no_box() -> None:
    text = "один два три"
    aligned = align(text, _wb(["один", "щось", "два", "три"]))
    assert [text[s:e] for s, e in aligned.spans or []] == ["один", "два", "три"]
    assert aligned.boxes[1] == [130, 10, 180, 40]  # "два": its own box, not the unfound word's


def test_the_stored_form_holds_no_text_and_is_checked() -> None:
    text = "Олесь Шпрундяхов"
    aligned = align(text, _wb(["Олесь", "Шпрундяхов"]))
    raw = checked(aligned, len(text))
    assert raw is not None and "Олесь" not in raw
    assert not any(ch.isalpha() for ch in raw.replace('"w"', "").replace('"h"', "").replace('"b"', ""))
    assert set(json.loads(raw)) == {"w", "h", "b"}
    words = from_json(raw, len(text))
    assert words is not None and [(r[0], r[1]) for r in words.rows] == [(0, 5), (6, 16)]
    assert words.box(words.rows[1]) == pytest.approx((0.07, 0.1, 0.12, 0.4))
    # offsets past the text, boxes outside the image, junk: nothing is trusted
    assert from_json(raw, 10) is None
    assert from_json('{"w": 10, "h": 10, "b": [[0, 1, 0, 0, 20, 5]]}', 5) is None
    assert from_json("not json", 5) is None and from_json('{"w": 0, "h": 1, "b": []}', 5) is None
    assert checked(_wb(["a"]), 5) is None  # not aligned: never stored with its words


def test_a_worker_reply_is_checked_field_by_field() -> None:
    good = {"width": 10, "height": 10, "boxes": [[0, 0, 5, 5]], "words": ["a"], "spans": None}
    assert from_wire(good) is not None
    for bad in (
        None,
        "x",
        {**good, "boxes": [[0, 0, 5]]},
        {**good, "boxes": [[0, 0, 5, "5"]]},
        {**good, "words": ["a", "b"]},
        {**good, "spans": [[0]]},
        {**good, "width": "10"},
    ):
        assert from_wire(bad) is None, bad


def test_coverage_of_masked_ranges() -> None:
    text = "Олесь Шпрундяхов бачив"
    words = from_json(checked(align(text, _wb(["Олесь", "Шпрундяхов", "бачив"])), len(text)), len(text))
    originals = {i: text[i] for i in range(len(text))}
    boxes, ok = boxes_for(words, [(0, 16)], originals)  # "Олесь Шпрундяхов": the space needs no box
    assert ok and len(boxes) == 2
    boxes, ok = boxes_for(words, [(6, 10)], originals)  # part of a word: the whole word's box
    assert ok and len(boxes) == 1
    assert boxes_for(None, [(0, 5)], originals) == ([], False)  # no boxes: not located
    assert boxes_for(None, [], originals) == ([], True)


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is part of the stack")
def test_real_ocr_words_cover_the_page_text() -> None:
    """Tesseract on a rendered page: every non-space character of the normalised text lies in
    an aligned word, a word broken over two lines included, and each box holds the word's ink."""
    img = Image.new("L", (1300, 420), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 44)
    for i, line in enumerate(
        ("Свідок Шпрундяхов бачив свобод-", "ними очима колону біля", "the bridge at dawn.")
    ):
        draw.text((50, 40 + i * 110), line, fill=0, font=font)
    res = ocr_image(img, languages="rus+ukr+bel+eng", timeout_s=120)
    text = normalize_text(res.text)
    assert res.word_boxes is not None and res.word_boxes.width == 1300
    aligned = align(text, res.word_boxes)
    covered = {i for s, e in aligned.spans or [] for i in range(s, e)}
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace()), (text, aligned.spans)
    at = text.index("Шпрундяхов")
    (box,) = [b for (s, e), b in zip(aligned.spans or [], aligned.boxes, strict=True) if s == at]
    crop = img.crop((box[0], box[1], box[2], box[3]))
    assert crop.getextrema()[0] == 0 and 200 < box[2] - box[0] < 450 and box[1] < 100  # ink, first line
