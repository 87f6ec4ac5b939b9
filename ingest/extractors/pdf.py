"""PDF: the text layer where it is good, OCR for pages whose layer is missing or garbage."""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

import pypdfium2 as pdfium

from archive_search.types import Extraction, SourceFile, TextBlock
from ingest.extractors.base import NO_BID, SPECIALIST, ExtractionError, Limits, Skip
from ingest.extractors.ocr import OcrBudget, is_blank, tesseract_available

_PYPDFIUM2 = metadata.version("pypdfium2")

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
_TOKEN = re.compile(r"\S+")
# "CyMMa", "nepHOA": a capital after a small letter inside a word
_CASE_FLIP = re.compile(r"[a-zа-яёіїєґў][A-ZА-ЯЁІЇЄҐЎ]")
# "Kn1pOBKH", "Hanoroo6no>KeHlil~": digits or symbols between the letters of a word
_INNER_JUNK = re.compile(r"[^\W\d_][\d<>~{}|\\^@#$%*=+]+[^\W\d_]")
MIN_TOKENS_FOR_SHAPE = 20
MAX_MALFORMED_WORDS = 0.2
_VOWELS = set("aeiouyаеёиоуыэюяіїєўAEIOUYАЕЁИОУЫЭЮЯІЇЄЎ")


def text_layer_quality(text: str) -> str:
    """``missing``, ``garbage`` or ``good`` for one page's text layer.

    Garbage is text whose words rarely look like words of a natural language: too few vowels,
    mostly one-letter fragments, replacement characters, or many malformed words (capitals after
    small letters inside a word, digits or symbols between letters). That is typical of scans
    whose hidden OCR layer was produced with the wrong language ("Hanorosas AeKnapau,VIs:t" for
    "Налоговая декларация") and of broken font encodings.
    """
    letters = _LETTER.findall(text)
    visible = len(text) - sum(1 for ch in text if ch.isspace())
    if visible >= 20 and len(_CONTROL.findall(text)) > visible * 0.2:
        return "garbage"  # glyph ids instead of characters: a font without a usable encoding
    if len(letters) < 20:
        return "missing"
    if text.count("\ufffd") > len(letters) * 0.05:
        return "garbage"
    words = _WORD.findall(text)
    if not words:
        return "garbage"
    in_words = sum(len(w) for w in words)
    if in_words < len(letters) * 0.5:
        return "garbage"
    vowel_ratio = sum(1 for ch in "".join(words) if ch in _VOWELS) / in_words
    if vowel_ratio < 0.2 or vowel_ratio > 0.7:
        return "garbage"
    if malformed_word_ratio(text) > MAX_MALFORMED_WORDS:
        return "garbage"
    return "good"


def malformed_word_ratio(text: str) -> float:
    """Fraction of words (tokens with two or more letters) that are malformed: a capital after a
    small letter inside the word, or digits/symbols between its letters. Well below 0.1 on real
    text layers (camelCase names, chemical formulas), 0.3-1.1 counting both kinds on a Russian
    scan OCR'd as English. 0 when there are too few words to judge."""
    words = [t for t in _TOKEN.findall(text) if len(_LETTER.findall(t)) >= 2]
    if len(words) < MIN_TOKENS_FOR_SHAPE:
        return 0.0
    flips = sum(1 for w in words if _CASE_FLIP.search(w))
    junk = sum(1 for w in words if _INNER_JUNK.search(w))
    return (flips + junk) / len(words)


def _ocr_adds_text(layer: str, ocr: str) -> bool:
    """Whether OCR of a page whose text layer is short (``missing``) should replace the layer:
    when the layer is empty and OCR read something, or when OCR read clearly more than the
    layer holds (a scan with a stamped page number). A short real layer ("Page one" on a title
    page) is kept: OCR of a few words is no better, and with four languages at once it can read
    Latin words as Cyrillic look-alikes ("Раде опе")."""
    if not ocr.strip():
        return False
    have = len(_LETTER.findall(layer))
    return have == 0 or len(_LETTER.findall(ocr)) > 2 * have + 10


class PdfExtractor:
    name = "pdf"
    version = f"1; pypdfium2 {_PYPDFIUM2}"

    def bid(self, mime: str) -> int:
        return SPECIALIST if mime == "application/pdf" else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        try:
            pdf = pdfium.PdfDocument(str(source.path), password=limits.pdf_password)
        except pdfium.PdfiumError as exc:
            msg = str(exc)
            if "password" in msg.lower():
                if limits.pdf_password:
                    raise ExtractionError(
                        "encrypted", "the PDF is encrypted and the password given does not open it"
                    ) from None
                raise ExtractionError(
                    "encrypted", "the PDF is encrypted with a password (give it with --password)"
                ) from None
            raise ExtractionError("corrupt_pdf", msg) from exc
        try:
            return self._extract(pdf, limits)
        finally:
            pdf.close()

    def _extract(self, pdf: Any, limits: Limits) -> Extraction:
        n = len(pdf)
        if n > limits.max_pages:
            raise ExtractionError("too_many_pages", f"{n} pages exceed the limit of {limits.max_pages}")
        blocks: list[TextBlock] = []
        budget = OcrBudget(limits)
        ocr_pages = 0
        total_chars = 0
        unreadable = 0
        for i in range(n):
            try:
                page = pdf[i]
            except pdfium.PdfiumError:  # a damaged page: the others are still worth reading
                unreadable += 1
                blocks.append(TextBlock(text="", page=i + 1, method="unreadable"))
                continue
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
                textpage.close()
                quality = text_layer_quality(text)
                block = TextBlock(text=text, page=i + 1, method="text-layer")
                if quality != "good" and tesseract_available() and not budget.spent_out():
                    image = self._page_image(page, limits, budget)
                    if image is not None:
                        res = budget.run_inked(image)
                        if res is not None and (quality == "garbage" or _ocr_adds_text(text, res.text)):
                            block = TextBlock(
                                text=res.text,
                                page=i + 1,
                                method="ocr",
                                confidence=res.confidence,
                                word_boxes=res.word_boxes,
                            )
                            ocr_pages += 1
            except pdfium.PdfiumError:
                unreadable += 1
                block = TextBlock(text="", page=i + 1, method="unreadable")
            finally:
                page.close()
            total_chars += len(block.text)
            if total_chars > limits.max_output_chars:
                raise ExtractionError("too_much_text", f"text exceeds {limits.max_output_chars} characters")
            blocks.append(block)
        if n and unreadable == n:
            raise ExtractionError("corrupt_pdf", "no page of the PDF can be read")
        if not any(b.text.strip() for b in blocks):
            if budget.left:
                raise budget.no_text_error()
            raise Skip("no_text", "no page has a text layer or recognisable text")
        try:
            meta = {k: str(v) for k, v in pdf.get_metadata_dict(skip_empty=True).items()}
        except (pdfium.PdfiumError, UnicodeDecodeError, ValueError):
            meta = {}
        doc_type = "scan" if ocr_pages and ocr_pages == len(blocks) else "pdf"
        return Extraction(
            doc_type=doc_type,
            blocks=blocks,
            title=meta.get("Title") or None,
            page_count=n,
            metadata=meta,
            incomplete=budget.incomplete(),
        )

    @staticmethod
    def _page_image(page: Any, limits: Limits, budget: OcrBudget) -> Any:
        """The page rendered for OCR, or ``None``: blank at 72 dpi (counted; the full-resolution
        render and Tesseract are spared), or not renderable (the text layer is kept)."""
        try:
            if is_blank(page.render(scale=1, grayscale=True).to_pil()):
                budget.blank += 1
                return None
            w, h = page.get_size()
            scale = limits.ocr_dpi / 72
            if w * h * scale * scale > limits.max_image_pixels:
                scale = (limits.max_image_pixels / (w * h)) ** 0.5
            return page.render(scale=scale, grayscale=True).to_pil()
        except pdfium.PdfiumError:
            return None
