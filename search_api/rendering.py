"""A redacted document's pages re-rendered as images with black boxes over the masked words (no
text layer left), for case bundles: a PDF's pages (the words located on its text layer, or on a
scanned page by its OCR word boxes) or a scan's image frames (by their OCR word boxes), each with
its redacted regions; page images for the viewer are rendered in sandbox workers
(``ingest/render.py``), masks included."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archive_search.errors import ForbiddenError
from archive_search.types import WordBoxes
from ingest.extractors.base import ExtractionError
from ingest.render import black_boxes, black_out
from search_api.redaction import PageMask

_PDFIUM_LOCK = threading.Lock()
"""PDFium is not thread-safe, and page-image requests run in the server's thread pool."""


def _refused(n: int) -> ForbiddenError:
    return ForbiddenError(
        f"page {n} is redacted and the masked words cannot all be located on it; "
        "its image is for the collection's managers",
        code="document_redacted",
    )


def redacted_pdf(
    path: Path,
    mask_of: Callable[[int], PageMask],
    *,
    dpi: int = 150,
    max_pixels: int = 12_000_000,
    mime: str = "application/pdf",
) -> bytes:
    """The PDF (or the scanned image's frames) re-rendered page by page as images with every
    masked word and region blacked out: the new file has no text layer, so nothing of the masked
    words is left in it. Raises ``ForbiddenError`` when a page's masked words cannot all be
    located (on its text layer, or by its OCR word boxes)."""
    images: list[Any] = []
    if mime.startswith("image/"):
        from PIL import Image, ImageSequence

        Image.MAX_IMAGE_PIXELS = 200_000_000
        with Image.open(path) as img:
            for n, frame in enumerate(ImageSequence.Iterator(img), start=1):
                mask = mask_of(n)
                if mask.unlocatable:
                    raise _refused(n)
                f = frame.copy()
                if f.width * f.height > max_pixels:
                    f.thumbnail((int((max_pixels * f.width / f.height) ** 0.5), 10**6))
                images.append(black_boxes(f.convert("RGB"), mask.boxes))
    else:
        import pypdfium2 as pdfium

        with _PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(str(path))
            try:
                for n in range(1, len(pdf) + 1):
                    mask = mask_of(n)
                    if mask.unlocatable:
                        raise _refused(n)
                    pg = pdf[n - 1]
                    w, h = pg.get_size()
                    scale = dpi / 72
                    if w * h * scale * scale > max_pixels:
                        scale = (max_pixels / (w * h)) ** 0.5
                    image = pg.render(scale=scale).to_pil().convert("RGB")
                    try:
                        image = black_out(pg, image, mask.words, mask.required, scale, n)
                    except ExtractionError:
                        raise _refused(n) from None
                    images.append(black_boxes(image, mask.boxes))
                    pg.close()
            finally:
                pdf.close()
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=float(dpi))
    return out.getvalue()


def text_layer_words(path: Path, page: int) -> WordBoxes | None:
    """The words of a PDF page's text layer with their boxes (in tenths of a point, from the top
    left corner; the page's size likewise), in the layer's order, for ``wordboxes.align``;
    ``None`` for a page that is not there or has no text layer."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
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
