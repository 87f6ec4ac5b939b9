"""Character error rate (CER) of the OCR path (``ingest/extractors/ocr.py`` ``ocr_image``,
languages rus+ukr+bel+eng, one Tesseract thread) on three sets:

1. komi-vyl-tujod-1939-ocr-lines: line images of 1939 Komi Cyrillic newsprint vs ``.gt.txt``
   (a seeded sample of ``--lines`` lines; Komi is not one of our languages, so this is a hard case);
2. soviet-datasheet-scans-ru: ``*-scan.pdf`` rendered at 300 dpi vs ABBYY's ``*-ocr.txt`` (silver
   reference: whitespace collapsed, "¬" removed; layout/table order differences count as errors);
3. semi-synthetic: UDHR ru/uk/be articles rendered on A4 at 300 dpi (DejaVu Serif 11 pt) with
   mild noise (Gaussian blur 0.6 px, ±8 grey-level noise, 0.3° rotation), one page per language.

CER = Levenshtein(ocr, ref) / len(ref), both with whitespace collapsed, NFC.
Also reports OCR seconds per A4 page (OMP_THREAD_LIMIT=1; run under ``taskset -c 0`` for one core).

    .venv/bin/python bench/ocr_cer.py [--lines 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import textwrap
import time
import unicodedata
from pathlib import Path

os.environ["OMP_THREAD_LIMIT"] = "1"

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont
from rapidfuzz.distance import Levenshtein

from ingest.extractors.ocr import ocr_image

DATA = Path("/work/shared/data")
LANGS = "rus+ukr+bel+eng"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
DPI = 300
A4 = (round(8.27 * DPI), round(11.69 * DPI))


def norm(s: str) -> str:
    s = unicodedata.normalize("NFC", s).replace("¬", "").replace("\u00ad", "")
    return re.sub(r"\s+", " ", s).strip()


def cer(hyp: str, ref: str) -> tuple[int, int]:
    h, r = norm(hyp), norm(ref)
    return Levenshtein.distance(h, r), len(r)


def ocr(img: Image.Image) -> tuple[str, float]:
    t = time.perf_counter()
    res = ocr_image(img, languages=LANGS, timeout_s=600)
    return res.text, time.perf_counter() - t


def komi(n: int, seed: int) -> dict[str, object]:
    d = DATA / "komi-vyl-tujod-1939-ocr-lines" / "lines"
    lines = sorted(d.glob("*.gt.txt"))
    sample = random.Random(seed).sample(lines, min(n, len(lines)))
    errs = total = 0
    secs = 0.0
    for gt in sample:
        img = Image.open(gt.with_name(gt.name.replace(".gt.txt", ".tif")))
        img.load()
        text, s = ocr(img)
        secs += s
        e, t = cer(text, gt.read_text(encoding="utf-8"))
        errs, total = errs + e, total + t
    return {
        "lines": len(sample),
        "of": len(lines),
        "chars": total,
        "cer": errs / total,
        "s_per_line": secs / len(sample),
    }


def datasheets() -> dict[str, object]:
    import pypdfium2 as pdfium

    out: dict[str, object] = {}
    for folder in sorted((DATA / "soviet-datasheet-scans-ru").iterdir()):
        if not folder.is_dir():
            continue
        scan = next(folder.glob("*-scan.pdf"))
        ref = next(folder.glob("*-ocr.txt")).read_text(encoding="utf-8", errors="replace")
        pdf = pdfium.PdfDocument(str(scan))
        texts, secs = [], 0.0
        for i in range(len(pdf)):
            img = pdf[i].render(scale=DPI / 72).to_pil()
            text, s = ocr(img)
            texts.append(text)
            secs += s
        e, t = cer("\n".join(texts), ref)
        out[folder.name] = {
            "pages": len(pdf),
            "ref_chars": t,
            "cer_vs_abbyy": e / t,
            "s_per_page": secs / len(pdf),
        }
    return out


def render_page(text: str, rng: random.Random) -> tuple[Image.Image, str]:
    font = ImageFont.truetype(FONT, size=round(11 / 72 * DPI))
    img = Image.new("L", A4, 255)
    draw = ImageDraw.Draw(img)
    margin, y = round(0.8 * DPI), round(0.8 * DPI)
    line_h = round(font.size * 1.4)
    used: list[str] = []
    for para in text.split("\n"):
        for line in textwrap.wrap(para, width=78):
            if y + line_h > A4[1] - margin:
                return _noise(img, rng), " ".join(used)
            draw.text((margin, y), line, font=font, fill=0)
            used.append(line)
            y += line_h
        y += line_h // 2
    return _noise(img, rng), " ".join(used)


def _noise(img: Image.Image, rng: random.Random) -> Image.Image:
    """Mild scan noise: 0.3° rotation, 0.6 px blur, Gaussian grey noise (sigma 8)."""
    img = img.rotate(0.3 + rng.uniform(-0.05, 0.05), resample=Image.Resampling.BICUBIC, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    return ImageChops.add(img, Image.effect_noise(img.size, 8), scale=1.0, offset=-128)


def udhr(seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    arts: dict[str, list[str]] = {}
    for line in (DATA / "udhr-ru-uk-be-en" / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        a = json.loads(line)
        arts.setdefault(a["lang"], []).append(a["text"])
    out: dict[str, object] = {}
    for lang in ("ru", "uk", "be"):
        page, ref = render_page("\n".join(arts[lang][1:]), rng)
        text, s = ocr(page)
        e, t = cer(text, ref)
        out[lang] = {"chars": t, "cer": e / t, "s_per_page": s}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1939)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    res: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "languages": LANGS,
        "udhr_a4_300dpi": udhr(args.seed),
        "komi_1939_lines": komi(args.lines, args.seed),
        "soviet_datasheets": datasheets(),
    }
    res["total_s"] = time.perf_counter() - t0
    print(json.dumps(res, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
