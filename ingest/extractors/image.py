"""Scanned images (PNG, JPEG, TIFF with many pages, JPEG 2000, ...): OCR each frame."""

from __future__ import annotations

from importlib import metadata

from PIL import Image, ImageSequence, UnidentifiedImageError, features

from archive_search.types import Extraction, SourceFile, TextBlock
from ingest.extractors.base import NO_BID, SPECIALIST, ExtractionError, Limits, Skip
from ingest.extractors.ocr import OcrBudget

_PILLOW = metadata.version("Pillow")

IMAGE_TYPES = {"image/png", "image/jpeg", "image/tiff", "image/gif", "image/webp"}
if features.check("jpg_2000"):  # Pillow built with OpenJPEG
    IMAGE_TYPES |= {"image/jp2", "image/x-jp2-codestream"}


class ImageOcrExtractor:
    name = "image-ocr"
    version = f"1; Pillow {_PILLOW}"

    def bid(self, mime: str) -> int:
        return SPECIALIST if mime in IMAGE_TYPES else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
        blocks: list[TextBlock] = []
        budget = OcrBudget(limits)
        try:
            with Image.open(source.path) as img:
                for n, frame in enumerate(ImageSequence.Iterator(img), start=1):
                    if n > limits.max_pages:
                        raise ExtractionError("too_many_pages", f"more than {limits.max_pages} frames")
                    w, h = frame.size
                    if w * h > limits.max_image_pixels:
                        raise ExtractionError("image_too_large", f"{w}x{h} pixels exceed the limit")
                    res = budget.run(frame.copy())
                    if res is None:  # blank, or past the budget
                        blocks.append(TextBlock(text="", page=n, method="ocr-skipped"))
                        continue
                    blocks.append(
                        TextBlock(
                            text=res.text,
                            page=n,
                            method="ocr",
                            confidence=res.confidence,
                            word_boxes=res.word_boxes,
                        )
                    )
        except Image.DecompressionBombError as exc:
            raise ExtractionError("image_too_large", str(exc)) from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise ExtractionError("corrupt_image", str(exc)) from exc
        if not any(b.text.strip() for b in blocks):
            if budget.left:
                raise budget.no_text_error()
            raise Skip("no_text", "OCR found no text in the image")
        return Extraction(
            doc_type="scan", blocks=blocks, page_count=len(blocks), incomplete=budget.incomplete()
        )
