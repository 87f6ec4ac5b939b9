"""A redacted document's PDF re-rendered as images with black boxes over the masked words (no
text layer left), for case bundles; page images for the viewer are rendered in sandbox workers
(``ingest/render.py``), masks included."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

from archive_search.errors import ForbiddenError
from ingest.extractors.base import ExtractionError
from ingest.render import black_out
from search_api.redaction import PageMask

_PDFIUM_LOCK = threading.Lock()
"""PDFium is not thread-safe, and page-image requests run in the server's thread pool."""


def redacted_pdf(
    path: Path, mask_of: Callable[[int], PageMask], *, dpi: int = 150, max_pixels: int = 12_000_000
) -> bytes:
    """The PDF re-rendered page by page as images with every masked word blacked out: the new
    file has no text layer, so nothing of the masked words is left in it. Raises
    ``ForbiddenError`` when a page's masked words cannot all be located on its text layer."""
    import pypdfium2 as pdfium

    images = []
    with _PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
        try:
            for n in range(1, len(pdf) + 1):
                pg = pdf[n - 1]
                w, h = pg.get_size()
                scale = dpi / 72
                if w * h * scale * scale > max_pixels:
                    scale = (max_pixels / (w * h)) ** 0.5
                image = pg.render(scale=scale).to_pil().convert("RGB")
                mask = mask_of(n)
                try:
                    images.append(black_out(pg, image, mask.words, mask.required, scale, n))
                except ExtractionError:
                    raise ForbiddenError(
                        f"page {n} is redacted and the masked words cannot all be located on it; "
                        "its image is for the collection's managers",
                        code="document_redacted",
                    ) from None
                pg.close()
        finally:
            pdf.close()
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=float(dpi))
    return out.getvalue()
