"""Page images for the viewer, rendered in sandbox workers (``ingest/sandbox.py``), never in the
server process: a hostile PDF (hundreds of thousands of line segments render for minutes) costs one
worker for at most ``ARCHIVE_RENDER_TIMEOUT_S`` seconds and ``ARCHIVE_RENDER_MEMORY_MB`` of memory,
is then killed, and other renders go on meanwhile in the pool's other workers (no global lock: each
worker is its own process with its own PDFium).

The render travels the extraction protocol: :class:`PageRender` is an "extractor" whose extraction
is one block holding the PNG in Base64 (the reply is JSON of bounded size, as for every file).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from archive_search.errors import ForbiddenError, NotFoundError, RenderError
from archive_search.types import Extraction, SourceFile, TextBlock
from ingest.extractors.base import NO_BID, ExtractionError, Limits, SandboxLimits, Skip
from ingest.sandbox import Sandbox


@dataclass
class PageRender:
    """Render page ``page`` (1-based) of a PDF or image at ``dpi`` (at most ``max_pixels``)."""

    page: int
    dpi: int
    max_pixels: int
    mask_words: tuple[str, ...] = ()
    """Words to paint over in black wherever the page's text layer has them (a redacted PDF)."""
    mask_required: tuple[str, ...] = ()
    """Of those, the ones that must be found on the page, or the render is refused."""
    mask_boxes: tuple[tuple[float, float, float, float], ...] = ()
    """Rectangles to paint black, as fractions of the page (left, top, right, bottom): the OCR
    word boxes of a scan's redacted words, and redacted regions (``ingest/wordboxes.py``)."""
    name: str = "page-render"
    version: str = "1"

    def bid(self, mime: str) -> int:
        return NO_BID  # never chosen for ingestion

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        png = render_png(
            Path(source.path),
            source.mime,
            self.page,
            dpi=self.dpi,
            max_pixels=self.max_pixels,
            mask_words=self.mask_words,
            mask_required=self.mask_required,
            mask_boxes=self.mask_boxes,
        )
        return Extraction(
            doc_type="page-image",
            blocks=[TextBlock(text=base64.b64encode(png).decode("ascii"), method="png")],
        )


def render_png(
    path: Path,
    mime: str,
    page: int,
    *,
    dpi: int,
    max_pixels: int,
    mask_words: tuple[str, ...] = (),
    mask_required: tuple[str, ...] = (),
    mask_boxes: Sequence[tuple[float, float, float, float]] = (),
) -> bytes:
    """Page ``page`` of a PDF or image as PNG bytes; ``Skip("not_found")`` for no such page. With
    ``mask_words`` (a PDF only) every occurrence of them on the page's text layer is painted over
    in black; ``mask_boxes`` (fractions of the page) are painted black on any page."""
    if mask_required and mime != "application/pdf":
        raise ExtractionError(MASK_UNLOCATABLE, "only a PDF's text layer can locate masked words")
    from PIL import Image, ImageSequence

    out = io.BytesIO()
    if mime == "application/pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            if page > len(pdf):
                raise Skip("not_found", f"page {page} not found")
            pg = pdf[page - 1]
            w, h = pg.get_size()
            scale = dpi / 72
            if w * h * scale * scale > max_pixels:
                scale = (max_pixels / (w * h)) ** 0.5
            image = pg.render(scale=scale).to_pil()
            if mask_words:
                image = black_out(pg, image, mask_words, mask_required, scale, page)
            image = black_boxes(image, mask_boxes)
            pg.close()
        finally:
            pdf.close()
        image.save(out, format="PNG")
        return out.getvalue()
    if mime.startswith("image/"):
        Image.MAX_IMAGE_PIXELS = 200_000_000
        with Image.open(path) as img:
            for n, frame in enumerate(ImageSequence.Iterator(img), start=1):
                if n == page:
                    f = frame.copy()
                    if f.width * f.height > max_pixels:
                        f.thumbnail((int((max_pixels * f.width / f.height) ** 0.5), 10**6))
                    f = f.convert("RGB" if f.mode not in ("L", "RGB") else f.mode)
                    black_boxes(f, mask_boxes).save(out, format="PNG")
                    return out.getvalue()
        raise Skip("not_found", f"page {page} not found")
    raise Skip("not_found", "this document has no page images")


MASK_UNLOCATABLE = "mask_unlocatable"
"""The code of a render refused because a masked word is not on the page's text layer."""


def black_boxes(image: Any, boxes: Sequence[tuple[float, float, float, float]]) -> Any:
    """Paint each box (fractions of the page: left, top, right, bottom) black on ``image``, with a
    margin of two pixels (a word's box is its ink's; anti-aliased edges lie just outside)."""
    if not boxes:
        return image
    from PIL import ImageDraw

    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    w, h = image.size
    for left, top, right, bottom in boxes:
        draw.rectangle(
            (
                max(0, math.floor(left * w) - 2),
                max(0, math.floor(top * h) - 2),
                min(w - 1, math.ceil(right * w) + 2),
                min(h - 1, math.ceil(bottom * h) + 2),
            ),
            fill=0 if image.mode == "L" else (0, 0, 0),
        )
    return image


def black_out(
    pg: Any, image: Any, words: Sequence[str], required: Sequence[str], scale: float, page: int
) -> Any:
    """Paint black boxes over every occurrence of ``words`` on a rendered PDF page (its text layer
    locates them); a ``required`` word not on the text layer: ``ExtractionError(MASK_UNLOCATABLE)``."""
    from PIL import ImageDraw

    height = pg.get_size()[1]
    textpage = pg.get_textpage()
    try:
        boxes: list[tuple[float, float, float, float]] = []
        found: set[str] = set()
        for word in words:
            searcher = textpage.search(word, match_case=False, match_whole_word=False)
            while (hit := searcher.get_next()) is not None:
                found.add(word)
                start, count = hit
                for i in range(textpage.count_rects(start, count)):
                    boxes.append(textpage.get_rect(i))
            searcher.close()
    finally:
        textpage.close()
    if [w for w in required if w not in found]:
        raise ExtractionError(MASK_UNLOCATABLE, f"page {page}: a masked word is not on its text layer")
    draw = ImageDraw.Draw(image)
    for left, bottom, right, top in boxes:
        draw.rectangle(
            (left * scale - 2, (height - top) * scale - 2, right * scale + 2, (height - bottom) * scale + 2),
            fill="black",
        )
    return image


class PageRenderer:
    """A pool of ``workers`` sandbox workers rendering pages with a time and memory limit."""

    def __init__(self, *, timeout_s: float, memory_mb: int, workers: int = 2, cache_mb: int = 0) -> None:
        self.timeout_s = timeout_s
        self.cache_bytes = cache_mb * 1024 * 1024
        self._cache: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._cached = 0
        self._cache_lock = threading.Lock()
        self.renders = 0
        """Renders that ran in a worker (the cache's misses)."""
        self.sandbox = Sandbox(
            SandboxLimits(
                memory_bytes=memory_mb * 1024 * 1024,
                cpu_s=max(1, math.ceil(timeout_s)),
                wall_s=timeout_s,
                max_output_bytes=256 * 1024 * 1024,
                max_file_write_bytes=64 * 1024 * 1024,
            ),
            size=workers,
        )

    def render(
        self,
        path: Path,
        mime: str,
        page: int,
        *,
        dpi: int,
        max_pixels: int,
        what: str,
        mask_words: Sequence[str] = (),
        mask_required: Sequence[str] = (),
        mask_boxes: Sequence[tuple[float, float, float, float]] = (),
    ) -> bytes:
        """The PNG of a page of the stored file ``path`` (checked by the caller); ``NotFoundError``
        for a page that is not there, ``RenderError`` (naming ``what``) for a render that timed out,
        crashed, ran out of memory or failed. With ``mask_words`` the masked words are blacked out
        (``ForbiddenError`` ``document_redacted`` when a required one cannot be located).
        Rendered pages are kept in a cache of ``cache_mb`` (least recently used dropped first),
        keyed by the stored file (content-addressed: the caller re-hashes it before), the page,
        the resolution and the mask; failures are not kept."""
        boxes = tuple((float(a), float(b), float(c), float(d)) for a, b, c, d in mask_boxes)
        job = PageRender(page, dpi, max_pixels, tuple(mask_words), tuple(mask_required), boxes)
        key = (str(path), mime, *astuple(job))
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        png = self._render(path, mime, job, what)
        if len(png) <= self.cache_bytes:
            with self._cache_lock:
                if key not in self._cache:
                    self._cache[key] = png
                    self._cached += len(png)
                while self._cached > self.cache_bytes:
                    _, old = self._cache.popitem(last=False)
                    self._cached -= len(old)
        return png

    def _render(self, path: Path, mime: str, job: PageRender, what: str) -> bytes:
        self.renders += 1
        page = job.page
        source = SourceFile(
            filename=path.name, sha256="0" * 64, size=path.stat().st_size, path=path, mime=mime
        )
        limits = Limits(tika_isolated=False, max_output_chars=400_000_000)
        try:
            ex = self.sandbox.extract(job, source, limits)
        except Skip as exc:
            raise NotFoundError(exc.message) from None
        except ExtractionError as exc:
            if exc.code == MASK_UNLOCATABLE:
                raise ForbiddenError(
                    f"page {page} of {what} is redacted and the masked words cannot all be located "
                    "on it; its image is for the collection's managers",
                    code="document_redacted",
                ) from None
            if exc.code == "timeout":
                raise RenderError(
                    f"page {page} of {what} took longer than {self.timeout_s:g} s to render"
                ) from None
            raise RenderError(f"page {page} of {what} could not be rendered ({exc.code})") from None
        try:
            return base64.b64decode(ex.blocks[0].text.encode("ascii"), validate=True)
        except (IndexError, UnicodeEncodeError, binascii.Error):
            raise RenderError(f"page {page} of {what}: the render worker sent a malformed image") from None

    def close(self) -> None:
        self.sandbox.close()
