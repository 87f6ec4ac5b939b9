"""A redacted document's pages re-rendered as images with black boxes over the masked words (no
text layer left), for case bundles: a PDF's pages (the words located on its text layer, or on a
scanned page by its OCR word boxes) or a scan's image frames (by their OCR word boxes), each with
its redacted regions; page images for the viewer are rendered in sandbox workers
(``ingest/render.py``), masks included."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archive_search.errors import ForbiddenError
from ingest.extractors.base import ExtractionError
from ingest.render import black_boxes, black_out
from ingest.wordboxes import PDFIUM_LOCK
from search_api.redaction import PageMask

_PDFIUM_LOCK = PDFIUM_LOCK


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
