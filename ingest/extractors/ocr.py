"""Tesseract OCR, one process per call, with ``OMP_THREAD_LIMIT=1`` (multi-threaded OpenMP is
several times slower when a process per core already runs), and the OCR budget of one file
(:class:`OcrBudget`: blank pages skipped, at most ``ARCHIVE_OCR_MAX_PAGES`` pages and
``ARCHIVE_OCR_MAX_S`` seconds)."""

from __future__ import annotations

import csv
import ctypes
import io
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from archive_search.types import WordBoxes
from ingest.extractors.base import ExtractionError, Limits

INK_LEVEL = 128
"""A page image with no pixel darker than this (0 black … 255 white), looked at around 72 dpi, is
blank: not worth a Tesseract run. Text of 6 pt and more leaves darker pixels at 72 dpi; a scanner's
specks of a pixel or two at 300 dpi do not."""
PREVIEW_WIDTH = 800


@dataclass(frozen=True)
class OcrResult:
    text: str
    confidence: float | None
    """Mean word confidence 0..100 reported by Tesseract."""
    word_boxes: WordBoxes | None = None
    """Each word of ``text`` (in its order) with its pixel box in the image Tesseract read."""


try:
    _PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork
except (OSError, AttributeError):
    _PRCTL = None


def die_with_parent() -> None:
    """``preexec_fn`` of OCR and rendering subprocesses: killed when the extraction worker that
    started them dies (a timeout, an interrupted ingestion), instead of running on for minutes.
    Only a C call after the fork (extraction workers are single-threaded anyway)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def ocr_image(image: Image.Image, *, languages: str, timeout_s: int) -> OcrResult:
    """OCR one page image; returns its text (lines kept) and mean confidence."""
    if not tesseract_available():
        raise ExtractionError("ocr_unavailable", "tesseract is not installed")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    with tempfile.TemporaryDirectory(prefix="archive-ocr-") as tmp:
        src = Path(tmp) / "page.png"
        img = image if image.mode in ("L", "RGB", "1") else image.convert("RGB")
        img.save(src, dpi=(300, 300))
        try:
            proc = subprocess.run(
                ["tesseract", str(src), "stdout", "-l", languages, "--psm", "3", "tsv"],
                capture_output=True,
                timeout=timeout_s,
                env=env,
                check=False,
                preexec_fn=die_with_parent,  # killed with the worker
            )
        except subprocess.TimeoutExpired as exc:
            raise ExtractionError("ocr_timeout", f"OCR took longer than {timeout_s}s") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ExtractionError("ocr_failed", msg[-1] if msg else f"tesseract exit {proc.returncode}")
    return _parse_tsv(proc.stdout.decode("utf-8", "replace"), img.size)


def is_blank(image: Image.Image) -> bool:
    """Whether a page image holds no ink (:data:`INK_LEVEL`), judged on a copy about
    ``PREVIEW_WIDTH`` pixels wide (averaging keeps strokes dark enough, and specks fade)."""
    gray = image if image.mode == "L" else image.convert("L")
    if gray.width > 2 * PREVIEW_WIDTH:
        factor = gray.width // PREVIEW_WIDTH
        gray = gray.reduce(factor)
    extrema = gray.getextrema()
    low = extrema[0]
    return isinstance(low, int | float) and low >= INK_LEVEL


class OcrBudget:
    """The OCR budget of one file: blank pages are not OCR'd; at most ``limits.ocr_max_pages``
    pages are, in at most ``limits.ocr_max_s`` seconds (each page's Tesseract run is cut at what
    is left). Pages past the budget are counted, and :meth:`incomplete` says so for the file's
    outcome — so a file of thousands of blank or slow pages ends with a recorded reason instead of
    holding a worker until its wall-clock limit."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.max_pages = limits.ocr_max_pages
        self.max_s = limits.ocr_max_s
        self.done = 0
        self.blank = 0
        self.left = 0
        self.spent = 0.0
        self.stopped: str | None = None

    def spent_out(self) -> bool:
        """Whether the budget is spent; if so the page asking is counted as left without OCR."""
        if self.stopped is None:
            if self.done >= self.max_pages:
                self.stopped = "pages"
            elif self.spent >= self.max_s:
                self.stopped = "seconds"
        if self.stopped is not None:
            self.left += 1
            return True
        return False

    def run(self, image: Image.Image) -> OcrResult | None:
        """OCR one page unless it is blank or the budget is spent (``None``: not OCR'd)."""
        if self.spent_out():
            return None
        if is_blank(image):
            self.blank += 1
            return None
        return self.run_inked(image)

    def run_inked(self, image: Image.Image) -> OcrResult | None:
        """OCR a page already found not blank, the budget checked (``spent_out``) by the caller."""
        per_page = self.limits.ocr_timeout_s
        timeout = max(1, min(per_page, math.ceil(self.max_s - self.spent)))
        start = time.monotonic()
        try:
            res = ocr_image(image, languages=self.limits.ocr_languages, timeout_s=timeout)
        except ExtractionError as exc:
            self.spent += time.monotonic() - start
            if exc.code == "ocr_timeout" and timeout < per_page:  # cut by the budget, not the page limit
                self.stopped = "seconds"
                self.left += 1
                return None
            raise
        self.spent += time.monotonic() - start
        self.done += 1
        return res

    def incomplete(self) -> tuple[str, str] | None:
        """``("ocr_incomplete", message)`` when pages were left without OCR, else ``None``."""
        if not self.left:
            return None
        if self.stopped == "pages":
            why = f"at most {self.max_pages} pages of a file are OCR'd (ARCHIVE_OCR_MAX_PAGES)"
        else:
            why = f"OCR of one file may take {self.max_s:g} s (ARCHIVE_OCR_MAX_S)"
        return (
            "ocr_incomplete",
            f"{self.left} pages were not OCR'd: {why}; {self.done} were, {self.blank} were blank",
        )

    def no_text_error(self) -> ExtractionError:
        """The failure of a file with no text at all whose budget ran out before its end."""
        message = (self.incomplete() or ("ocr_budget", ""))[1]
        return ExtractionError("ocr_budget", f"no text found before the OCR budget ran out: {message}")


def _parse_tsv(tsv: str, size: tuple[int, int] = (0, 0)) -> OcrResult:
    """The text of Tesseract's TSV (words of a line joined by spaces, lines by newlines, a blank
    line between paragraphs) and, in the same order, each word's box (``size``: the image's)."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    boxes: dict[tuple[int, int, int], list[list[int]]] = {}
    confs: list[float] = []
    order: list[tuple[int, int, int]] = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") != "5":
            continue
        word = (row.get("text") or "").strip()
        if not word:
            continue
        key = (int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
        if key not in lines:
            lines[key] = []
            boxes[key] = []
            order.append(key)
        lines[key].append(word)
        try:
            x, y = int(row["left"]), int(row["top"])
            box = [x, y, x + int(row["width"]), y + int(row["height"])]
        except (TypeError, ValueError, KeyError):
            box = [0, 0, 0, 0]  # no position: aligned to no text (``wordboxes.align``)
        boxes[key].append(box)
        try:
            conf = float(row["conf"])
        except (TypeError, ValueError):
            continue
        if conf >= 0:
            confs.append(conf)
    out: list[str] = []
    prev: tuple[int, int, int] | None = None
    for key in order:
        if prev is not None and key[:2] != prev[:2]:
            out.append("")  # paragraph break
        out.append(" ".join(lines[key]))
        prev = key
    conf_mean = sum(confs) / len(confs) if confs else None
    words = WordBoxes(
        width=size[0],
        height=size[1],
        boxes=[b for key in order for b in boxes[key]],
        words=[w for key in order for w in lines[key]],
    )
    return OcrResult(text="\n".join(out), confidence=conf_mean, word_boxes=words)
