"""Tesseract OCR, one process per call, with ``OMP_THREAD_LIMIT=1`` (multi-threaded OpenMP is
several times slower when a process per core already runs)."""

from __future__ import annotations

import csv
import ctypes
import io
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ingest.extractors.base import ExtractionError


@dataclass(frozen=True)
class OcrResult:
    text: str
    confidence: float | None
    """Mean word confidence 0..100 reported by Tesseract."""


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
    return _parse_tsv(proc.stdout.decode("utf-8", "replace"))


def _parse_tsv(tsv: str) -> OcrResult:
    lines: dict[tuple[int, int, int], list[str]] = {}
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
            order.append(key)
        lines[key].append(word)
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
    return OcrResult(text="\n".join(out), confidence=conf_mean)
