"""DjVu (single-page and bundled multi-page) through DjVuLibre's command-line tools
(Debian ``djvulibre-bin``): ``djvused`` counts the pages and gives their size, ``djvutxt`` reads a
page's hidden text layer, ``ddjvu`` renders a page whose layer is missing or garbage for OCR.

Each tool runs as a child of the sandbox worker (so under its memory limit and network
isolation) with a timeout; a damaged file ends ``failed(corrupt_djvu)``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from archive_search.types import Extraction, SourceFile, TextBlock
from ingest.extractors.base import NO_BID, SPECIALIST, ExtractionError, Limits, Skip
from ingest.extractors.ocr import die_with_parent, ocr_image, tesseract_available
from ingest.extractors.pdf import text_layer_quality

DJVU = "image/vnd.djvu"
TOOLS = ("djvused", "djvutxt", "ddjvu")
_SIZE = re.compile(r"width=(\d+)\s+height=(\d+)")
TOOL_TIMEOUT_S = 120


def djvulibre_available() -> bool:
    """Whether DjVuLibre's tools are installed."""
    return all(shutil.which(t) for t in TOOLS)


def _run(args: list[str], timeout_s: float) -> str:
    try:
        proc = subprocess.run(
            args,
            capture_output=True,
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # killed with the worker
        )
    except subprocess.TimeoutExpired as exc:
        raise ExtractionError("timeout", f"{args[0]} took longer than {timeout_s:g}s") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ExtractionError("corrupt_djvu", msg[-1][:500] if msg else f"{args[0]} exit {proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


class DjvuExtractor:
    """Text layer per page where it is good, OCR of the rendered page where it is not."""

    name = "djvu"
    version = "1"

    def bid(self, mime: str) -> int:
        return SPECIALIST if mime == DJVU else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        if not djvulibre_available():
            raise Skip("unsupported_type", "DjVu needs DjVuLibre (djvulibre-bin), which is not installed")
        path = str(source.path)
        try:
            n = int(_run(["djvused", "-e", "n", path], TOOL_TIMEOUT_S).strip())
        except ValueError as exc:
            raise ExtractionError("corrupt_djvu", "the page count cannot be read") from exc
        if n > limits.max_pages:
            raise ExtractionError("too_many_pages", f"{n} pages exceed the limit of {limits.max_pages}")
        blocks: list[TextBlock] = []
        total = 0
        for i in range(1, n + 1):
            text = _run(["djvutxt", f"--page={i}", path], TOOL_TIMEOUT_S).replace("\r\n", "\n")
            quality = text_layer_quality(text)
            block = TextBlock(text=text, page=i, method="text-layer")
            if quality != "good" and tesseract_available():
                image = self._render(path, i, limits)
                res = ocr_image(image, languages=limits.ocr_languages, timeout_s=limits.ocr_timeout_s)
                if res.text.strip() or quality == "garbage":
                    block = TextBlock(
                        text=res.text,
                        page=i,
                        method="ocr",
                        confidence=res.confidence,
                        word_boxes=res.word_boxes,
                    )
            total += len(block.text)
            if total > limits.max_output_chars:
                raise ExtractionError("too_much_text", f"text exceeds {limits.max_output_chars} characters")
            blocks.append(block)
        if not any(b.text.strip() for b in blocks):
            raise Skip("no_text", "no page has a text layer or recognisable text")
        ocr_pages = sum(b.method == "ocr" for b in blocks)
        return Extraction(
            doc_type="scan" if ocr_pages == len(blocks) else "djvu", blocks=blocks, page_count=n
        )

    @staticmethod
    def _render(path: str, page: int, limits: Limits) -> Image.Image:
        """The page as a greyscale image at its own resolution (DjVu scans are 300-600 dpi),
        scaled down to ``max_image_pixels``."""
        m = _SIZE.search(_run(["djvused", "-e", f"select {page}; size", path], TOOL_TIMEOUT_S))
        if not m:
            raise ExtractionError("corrupt_djvu", f"page {page} has no size")
        w, h = int(m.group(1)), int(m.group(2))
        if w <= 0 or h <= 0:
            raise ExtractionError("corrupt_djvu", f"page {page} has size {w}x{h}")
        if w * h > limits.max_image_pixels:
            f = (limits.max_image_pixels / (w * h)) ** 0.5
            w, h = max(1, int(w * f)), max(1, int(h * f))
        with tempfile.TemporaryDirectory(prefix="archive-djvu-") as tmp:
            out = Path(tmp) / "page.pgm"
            _run(
                ["ddjvu", "-format=pgm", f"-page={page}", f"-size={w}x{h}", path, str(out)],
                limits.ocr_timeout_s,
            )
            Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
            with Image.open(out) as img:
                img.load()
                return img.copy()
