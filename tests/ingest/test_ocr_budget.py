"""Issue 22, finding 10 — OCR amplification: blank pages are not OCR'd, and one file's OCR has a
budget of pages and seconds, after which it ends ``ok`` with ``ocr_incomplete`` (or
``failed(ocr_budget)`` with no text at all) instead of holding a worker until its wall-clock limit.
Real PDFs through the real sandboxed pipeline and Tesseract."""

from __future__ import annotations

import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Passage
from archive_search.catalog.store import OriginalStore
from ingest.extractors.base import Limits
from ingest.extractors.ocr import is_blank, ocr_image, tesseract_available
from ingest.pipeline import Ingestor

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
WORDS = ["Свідок", "Колона", "Міст", "Протокол"]
pytestmark = pytest.mark.skipif(not tesseract_available(), reason="tesseract is part of the stack")


def blank_pdf(path: Path, pages: int) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
    path.write_bytes(bytes(pdf.output()))
    return path


def scanned_pdf(path: Path, words: list[str]) -> Path:
    """A scan: one page image per word (no text layer), 300 dpi A5-ish."""
    font = ImageFont.truetype(str(FONT), 90)
    images = []
    for word in words:
        img = Image.new("L", (1240, 1750), 255)
        ImageDraw.Draw(img).text((150, 300), f"{word} {word}", fill=0, font=font)
        images.append(img)
    images[0].save(path, format="PDF", save_all=True, append_images=images[1:], resolution=300)
    return path


def ingestor(tmp: Path, **limits: object) -> Ingestor:
    catalog = Catalog(f"sqlite:///{tmp / 'catalog.sqlite3'}")
    return Ingestor(catalog, OriginalStore(tmp / "originals"), limits=Limits(**limits))  # type: ignore[arg-type]


def test_blank_detection_on_rendered_pages(tmp_path: Path) -> None:
    pdf = pdfium.PdfDocument(str(scanned_pdf(tmp_path / "s.pdf", ["Свідок"])))
    inked = pdf[0].render(scale=1, grayscale=True).to_pil()
    assert not is_blank(inked)
    blank = pdfium.PdfDocument(str(blank_pdf(tmp_path / "b.pdf", 1)))[0].render(scale=1).to_pil()
    assert is_blank(blank)
    speck = Image.new("L", (2480, 3508), 255)  # a 300-dpi scan with a scanner's speck
    speck.putpixel((1000, 1000), 0)
    assert is_blank(speck)
    line = Image.new("L", (2480, 3508), 255)  # one short line of 8-pt text at 300 dpi
    ImageDraw.Draw(line).text((200, 200), "стор. 2", fill=0, font=ImageFont.truetype(str(FONT), 33))
    assert not is_blank(line)


def test_blank_pages_cost_no_ocr(tmp_path: Path) -> None:
    """The security test's finding: 50 blank pages took 32 s (one Tesseract run each). Now they are
    found blank at 72 dpi and never OCR'd: 200 blank pages take less than the OCR of 20."""
    page = pdfium.PdfDocument(str(blank_pdf(tmp_path / "one.pdf", 1)))[0]
    image = page.render(scale=300 / 72, grayscale=True).to_pil()
    t = time.monotonic()
    ocr_image(image, languages="rus+ukr+bel+eng", timeout_s=120)
    one_page_s = time.monotonic() - t
    (tmp_path / "in").mkdir()
    src = blank_pdf(tmp_path / "in" / "blank.pdf", 200)
    t = time.monotonic()
    report = ingestor(tmp_path).ingest([src], "c")
    took = time.monotonic() - t
    assert [(f.outcome.value, f.code) for f in report.files] == [("skipped", "no_text")]
    assert took < 20 * one_page_s, (took, one_page_s)


def test_a_page_budget_ends_ok_with_the_reason_recorded(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    src = scanned_pdf(tmp_path / "in" / "scan.pdf", WORDS)
    ing = ingestor(tmp_path, ocr_max_pages=2)
    report = ing.ingest([src], "c")
    f = report.files[0]
    assert (f.outcome.value, f.code) == ("ok", "ocr_incomplete"), f
    assert (
        f.message and f.message.startswith("2 pages were not OCR'd") and "ARCHIVE_OCR_MAX_PAGES" in f.message
    )
    with ing.catalog.session() as s:
        text = " ".join(s.scalars(select(Passage.text)))
    assert "Свідок" in text and "Колона" in text
    assert "Протокол" not in text


def test_a_seconds_budget_never_holds_the_worker(tmp_path: Path) -> None:
    """A budget of half a second: the first page's Tesseract run is cut at a second (or finishes
    within it), the rest are not OCR'd; the file ends with a recorded reason in seconds, not after
    the wall-clock limit of the worker."""
    (tmp_path / "in").mkdir()
    src = scanned_pdf(tmp_path / "in" / "scan.pdf", WORDS * 5)
    t = time.monotonic()
    report = ingestor(tmp_path, ocr_max_s=0.5).ingest([src], "c")
    took = time.monotonic() - t
    f = report.files[0]
    assert (f.outcome.value, f.code) in {("ok", "ocr_incomplete"), ("failed", "ocr_budget")}, f
    assert f.message and "ARCHIVE_OCR_MAX_S" in f.message
    assert took < 30, took
