"""Page images: a page of a stored PDF or image rendered to PNG, and a redacted document's PDF
re-rendered as images with black boxes over the masked words (no text layer left)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archive_search.errors import ForbiddenError, NotFoundError
from search_api.redaction import PageMask

_PDFIUM_LOCK = threading.Lock()
"""PDFium is not thread-safe, and page-image requests run in the server's thread pool."""


def render_page_png(
    path: Path, mime: str, page: int, *, dpi: int, max_pixels: int, mask: PageMask | None = None
) -> bytes:
    """Render page ``page`` (1-based) of a stored PDF or image to PNG bytes; with ``mask`` (a PDF)
    every occurrence of its words on the page's text layer is painted over in black."""
    from PIL import Image, ImageSequence

    out = io.BytesIO()
    if mime == "application/pdf":
        import pypdfium2 as pdfium

        with _PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(str(path))
            try:
                if page > len(pdf):
                    raise NotFoundError(f"page {page} not found")
                pg = pdf[page - 1]
                w, h = pg.get_size()
                scale = dpi / 72
                if w * h * scale * scale > max_pixels:
                    scale = (max_pixels / (w * h)) ** 0.5
                image = pg.render(scale=scale).to_pil()
                if mask is not None:
                    image = _black_out(pg, image, mask, scale, page)
                pg.close()
            finally:
                pdf.close()
        image.save(out, format="PNG")
        return out.getvalue()
    if mime.startswith("image/"):
        with Image.open(path) as img:
            for n, frame in enumerate(ImageSequence.Iterator(img), start=1):
                if n == page:
                    f = frame.copy()
                    if f.width * f.height > max_pixels:
                        f.thumbnail((int((max_pixels * f.width / f.height) ** 0.5), 10**6))
                    f.convert("RGB" if f.mode not in ("L", "RGB") else f.mode).save(out, format="PNG")
                    return out.getvalue()
        raise NotFoundError(f"page {page} not found")
    raise NotFoundError("this document has no page images")


def _black_out(pg: Any, image: Any, mask: PageMask, scale: float, page: int) -> Any:
    """Paint black boxes over every occurrence of the mask's words on a rendered PDF page (its
    text layer locates them); a required word not on the text layer: the page is refused."""
    from PIL import ImageDraw

    height = pg.get_size()[1]
    textpage = pg.get_textpage()
    try:
        boxes: list[tuple[float, float, float, float]] = []
        found: set[str] = set()
        for word in mask.words:
            searcher = textpage.search(word, match_case=False, match_whole_word=False)
            while (hit := searcher.get_next()) is not None:
                found.add(word)
                start, count = hit
                for i in range(textpage.count_rects(start, count)):
                    boxes.append(textpage.get_rect(i))
            searcher.close()
    finally:
        textpage.close()
    missing = [w for w in mask.required if w not in found]
    if missing:
        raise ForbiddenError(
            f"page {page} is redacted and the masked words cannot all be located on it; "
            "its image is for the collection's managers",
            code="document_redacted",
        )
    draw = ImageDraw.Draw(image)
    for left, bottom, right, top in boxes:
        draw.rectangle(
            (
                (left * scale) - 2,
                (height - top) * scale - 2,
                (right * scale) + 2,
                (height - bottom) * scale + 2,
            ),
            fill="black",
        )
    return image


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
                images.append(_black_out(pg, image, mask_of(n), scale, n))
                pg.close()
        finally:
            pdf.close()
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=float(dpi))
    return out.getvalue()
