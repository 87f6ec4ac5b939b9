"""What keeping OCR word boxes costs (issue 20: redaction on scans), on real and semi-synthetic
scans: the Soviet datasheet scans (``soviet-datasheet-scans-ru``, 300 dpi) and UDHR ru/uk/be A4
pages rendered with scan noise (``bench/ocr_cer.py``).

Tesseract already ran with TSV output (words with their boxes) before boxes were kept, so the
Tesseract run is the same; what is added is reading the boxes, aligning the words to the
normalised page text (``ingest/wordboxes.py: align``) and the stored JSON. Per page it reports
the Tesseract seconds, the parse and alignment milliseconds, the stored bytes, and how much of the
page text the aligned words cover (a masked character outside every box makes a redacted page's
image refused).

    .venv/bin/python bench/ocr_boxes.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import tempfile
import time
from pathlib import Path

os.environ["OMP_THREAD_LIMIT"] = "1"

from PIL import Image

from bench.ocr_cer import DATA, DPI, LANGS, render_page
from ingest.extractors.ocr import _parse_tsv
from ingest.normalize import normalize_text
from ingest.wordboxes import align, to_json


def pages() -> list[tuple[str, Image.Image]]:
    import pypdfium2 as pdfium

    out: list[tuple[str, Image.Image]] = []
    for folder in sorted((DATA / "soviet-datasheet-scans-ru").iterdir()):
        if folder.is_dir():
            pdf = pdfium.PdfDocument(str(next(folder.glob("*-scan.pdf"))))
            for i in range(len(pdf)):
                out.append(
                    (f"{folder.name} p{i + 1}", pdf[i].render(scale=DPI / 72, grayscale=True).to_pil())
                )
    rng = random.Random(1939)
    arts: dict[str, list[str]] = {}
    for line in (DATA / "udhr-ru-uk-be-en" / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        a = json.loads(line)
        arts.setdefault(a["lang"], []).append(a["text"])
    for lang in ("ru", "uk", "be"):
        out.append((f"udhr-{lang} A4", render_page("\n".join(arts[lang][1:]), rng)[0]))
    return out


def text_only(tsv: str) -> str:
    """The text as before boxes were kept (words joined by line): the baseline parse."""
    return _parse_tsv(tsv).text


def measure(name: str, img: Image.Image) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "page.png"
        img.save(src, dpi=(DPI, DPI))
        t = time.perf_counter()
        proc = subprocess.run(
            ["tesseract", str(src), "stdout", "-l", LANGS, "--psm", "3", "tsv"],
            capture_output=True,
            check=True,
        )
        ocr_s = time.perf_counter() - t
    tsv = proc.stdout.decode("utf-8", "replace")
    t = time.perf_counter()
    for _ in range(5):
        res = _parse_tsv(tsv, img.size)
    parse_ms = (time.perf_counter() - t) / 5 * 1000
    text = normalize_text(res.text)
    assert res.word_boxes is not None
    t = time.perf_counter()
    for _ in range(5):
        aligned = align(text, res.word_boxes)
    align_ms = (time.perf_counter() - t) / 5 * 1000
    stored = to_json(aligned)
    covered = {i for s, e in aligned.spans or [] for i in range(s, e)}
    chars = [i for i, ch in enumerate(text) if not ch.isspace()]
    return {
        "page": name,
        "size": list(img.size),
        "words": len(res.word_boxes.boxes),
        "aligned_words": len(aligned.boxes),
        "text_chars": len(text),
        "covered": sum(i in covered for i in chars) / max(1, len(chars)),
        "tesseract_s": round(ocr_s, 3),
        "parse_with_boxes_ms": round(parse_ms, 2),
        "align_ms": round(align_ms, 2),
        "stored_bytes": len(stored.encode()),
        "text_bytes": len(text.encode()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = [measure(n, img) for n, img in pages()]
    total = {
        "pages": len(rows),
        "tesseract_s": round(sum(float(str(r["tesseract_s"])) for r in rows), 2),
        "parse_and_align_ms": round(
            sum(float(str(r["parse_with_boxes_ms"])) + float(str(r["align_ms"])) for r in rows), 1
        ),
        "stored_bytes": sum(int(str(r["stored_bytes"])) for r in rows),
        "text_bytes": sum(int(str(r["text_bytes"])) for r in rows),
        "words": sum(int(str(r["words"])) for r in rows),
        "aligned_words": sum(int(str(r["aligned_words"])) for r in rows),
    }
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
        "total": total,
        "pages": rows,
    }
    text = json.dumps(out, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
