#!/usr/bin/env python3
"""Rebuild the derived files of the sample archive shipped in ``archive_search/sample_archive/``.

The sample archive is a small, self-contained set of documents for tests and demos.  Its *sources*
are plain UTF-8 text files that live in the package folder itself:

* ``udhr-{ru,uk,be,en}.txt``        -- the Universal Declaration of Human Rights (preamble + 30 articles);
* ``interview-uk-sample.txt``       -- a short FICTIONAL interview transcript (Ukrainian).

Everything else is *derived* from those sources, deterministically (fixed seeds, fixed PDF dates),
by this script:

* ``udhr-{lang}-articles.pdf``      -- born-digital PDFs with a real text layer (articles 1-15,
                                       one group of three articles per page, 5 pages);
* ``scan-ru-article-5.png``         -- a simulated 300 dpi typewritten scan of Russian articles 3-9;
* ``scan-ru-article-5.pdf``         -- the same scan as an image-only PDF (no text layer);
* ``interview-uk-sample.srt``       -- SubRip subtitles generated from the interview transcript.

Usage (from the repository root)::

    .venv/bin/python scripts/make_sample_archive.py            # rebuild derived files
    .venv/bin/python scripts/make_sample_archive.py --verify   # rebuild, then check text layers / OCR
    .venv/bin/python scripts/make_sample_archive.py --check    # fail if the committed files are stale

The UDHR text files were created once from the project's shared copy of the wooorm/udhr HTML pages
with ``--import-html /work/shared/data/udhr-ru-uk-be-en/html``; that option is only for
re-bootstrapping, and nothing at runtime reads outside the package folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE_DIR = ROOT / "archive_search" / "sample_archive" / "files"
DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

LANGS: tuple[str, ...] = ("ru", "uk", "be", "en")
#: Titles of the declaration.  The Ukrainian title is corrected from the source's "ПРАВ ЛЮДИНІ" typo.
TITLES: dict[str, str] = {
    "ru": "Всеобщая декларация прав человека",
    "uk": "Загальна декларація прав людини",
    "be": "Усеагульная дэкларацыя правоў чалавека",
    "en": "Universal Declaration of Human Rights",
}
#: Article groups of the born-digital PDFs: one group per page, so page numbers are predictable.
PDF_PAGE_GROUPS: tuple[tuple[int, int], ...] = ((1, 3), (4, 6), (7, 9), (10, 12), (13, 15))
#: Articles reproduced on the simulated scan (Russian).
SCAN_LANG = "ru"
SCAN_ARTICLES: tuple[int, int] = (3, 9)
SCAN_STEM = "scan-ru-article-5"
INTERVIEW_STEM = "interview-uk-sample"
#: Fixed document date for every generated PDF, so builds are byte-for-byte reproducible.
PDF_DATE = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
SCAN_SEED = 19481210  # 10 December 1948, adoption of the UDHR
SCAN_DPI = 300

_HEADING_RE = re.compile(r"^(?:Статья|Стаття|Артыкул|Article) (\d{1,2})\.?$")


# --------------------------------------------------------------------------------------------------
# UDHR text files
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    """One section of the declaration: ``number`` 0 is the preamble, 1-30 are the articles."""

    number: int
    heading: str
    text: str  # paragraphs separated by "\n"


@dataclass(frozen=True)
class Declaration:
    """The declaration in one language, as stored in ``udhr-<lang>.txt``."""

    lang: str
    title: str
    articles: tuple[Article, ...]

    def article(self, number: int) -> Article:
        """Return article ``number`` (0 = preamble)."""
        for art in self.articles:
            if art.number == number:
                return art
        raise KeyError(f"{self.lang}: no article {number}")

    def span(self, first: int, last: int) -> list[Article]:
        """Return articles ``first``..``last`` inclusive, in order."""
        return [self.article(n) for n in range(first, last + 1)]


def render_udhr_txt(decl: Declaration) -> str:
    """Serialise a declaration: title, then blank-line separated heading and body blocks.

    Paragraphs inside a body are on consecutive lines (one paragraph per line), so blank lines
    only ever separate a heading from its body.
    """
    blocks = [decl.title]
    for art in decl.articles:
        blocks += [art.heading, art.text]
    return "\n\n".join(blocks) + "\n"


def parse_udhr_txt(path: Path, lang: str) -> Declaration:
    """Parse a ``udhr-<lang>.txt`` file written by :func:`render_udhr_txt` and validate it."""
    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")
    title, rest = blocks[0], blocks[1:]
    if len(rest) != 62:
        raise ValueError(f"{path}: expected 31 heading/body pairs, found {len(rest) / 2}")
    articles: list[Article] = []
    for i, (heading, body) in enumerate(zip(rest[0::2], rest[1::2], strict=True)):
        if i == 0:
            number = 0
        else:
            match = _HEADING_RE.match(heading)
            if match is None or int(match.group(1)) != i:
                raise ValueError(f"{path}: bad heading for article {i}: {heading!r}")
            number = i
        articles.append(Article(number=number, heading=heading, text=body))
    return Declaration(lang=lang, title=title, articles=tuple(articles))


def load_declarations(archive_dir: Path) -> dict[str, Declaration]:
    """Load ``udhr-<lang>.txt`` for every language in :data:`LANGS`."""
    return {lang: parse_udhr_txt(archive_dir / f"udhr-{lang}.txt", lang) for lang in LANGS}


class _UdhrHtmlParser(HTMLParser):
    """Collect ``<h2>`` headings and their ``<p>`` paragraphs from a wooorm/udhr declaration page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[tuple[str, list[str]]] = []
        self._tag: str | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h2", "p"):
            self._tag, self._buf = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag != self._tag:
            return
        text = " ".join("".join(self._buf).split())
        if tag == "h2":
            self.sections.append((text, []))
        elif self.sections:
            self.sections[-1][1].append(text)
        self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag is not None:
            self._buf.append(data)


def import_from_html(html_dir: Path, archive_dir: Path) -> list[Path]:
    """Bootstrap the ``udhr-<lang>.txt`` sources from the wooorm/udhr ``<iso639-3>.html`` pages.

    Numbered list items (``<ol><li><p>``) become plain paragraphs, one per line, as in the
    shared ``articles.jsonl``.  One defect of the source is fixed: the Ukrainian heading of
    article 3 lost its first letter ("таття 3." -> "Стаття 3.").  Titles come from :data:`TITLES`.
    """
    codes = {"ru": "rus", "uk": "ukr", "be": "bel", "en": "eng"}
    written = []
    for lang in LANGS:
        parser = _UdhrHtmlParser()
        parser.feed((html_dir / f"{codes[lang]}.html").read_text(encoding="utf-8"))
        parser.close()
        if len(parser.sections) != 31:
            raise ValueError(f"{lang}: expected 31 sections, found {len(parser.sections)}")
        arts = []
        for number, (heading, paras) in enumerate(parser.sections):
            if lang == "uk" and heading == "таття 3.":
                heading = "Стаття 3."
            arts.append(Article(number, heading, "\n".join(paras)))
        out = archive_dir / f"udhr-{lang}.txt"
        out.write_text(render_udhr_txt(Declaration(lang, TITLES[lang], tuple(arts))), encoding="utf-8")
        parse_udhr_txt(out, lang)  # round-trip and heading check
        written.append(out)
    return written


# --------------------------------------------------------------------------------------------------
# Born-digital PDFs
# --------------------------------------------------------------------------------------------------


def _new_pdf(title: str, lang: str, subject: str) -> FPDF:
    """Create an A4 FPDF document with fixed metadata (deterministic output)."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(PDF_DATE)
    pdf.set_title(title)
    pdf.set_subject(subject)
    pdf.set_author("United Nations (OHCHR translation)")
    pdf.set_creator("archive-search scripts/make_sample_archive.py")
    pdf.set_lang(lang)
    pdf.set_auto_page_break(auto=False)
    return pdf


def build_articles_pdf(decl: Declaration, out: Path, font_dir: Path) -> None:
    """Write articles 1-15 of ``decl`` as a 5-page PDF, one article group per page.

    The page number is printed at the bottom of each page as ``N / 5``; the declaration's title
    is repeated as a running header.  Raises if a group does not fit on its page.
    """
    first, last = PDF_PAGE_GROUPS[0][0], PDF_PAGE_GROUPS[-1][1]
    pdf = _new_pdf(decl.title, decl.lang, f"Articles {first}-{last}")
    pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(left=22, top=20, right=22)
    n_pages = len(PDF_PAGE_GROUPS)
    for page_no, (lo, hi) in enumerate(PDF_PAGE_GROUPS, start=1):
        pdf.add_page()
        pdf.set_font("DejaVu", "", 9)
        pdf.cell(0, 5, decl.title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(8)
        for art in decl.span(lo, hi):
            pdf.set_font("DejaVu", "B", 12)
            pdf.multi_cell(0, 7, art.heading, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1.5)
            pdf.set_font("DejaVu", "", 11)
            for para in art.text.split("\n"):
                pdf.multi_cell(0, 6, para, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(1.5)
            pdf.ln(4)
        if pdf.get_y() > pdf.h - 25:
            raise ValueError(f"{decl.lang}: articles {lo}-{hi} do not fit on one page")
        pdf.set_y(pdf.h - 15)
        pdf.set_font("DejaVu", "", 9)
        pdf.cell(0, 5, f"{page_no} / {n_pages}", align="C")
    pdf.output(str(out))


# --------------------------------------------------------------------------------------------------
# Simulated typewritten scan
# --------------------------------------------------------------------------------------------------


def scan_lines(decl: Declaration, width: int = 60) -> list[str]:
    """Lay out the scanned articles as typewriter lines (fixed ``width`` characters, no hyphens)."""
    lines = [decl.title.upper(), ""]
    for art in decl.span(*SCAN_ARTICLES):
        lines += [art.heading, ""]
        for para in art.text.split("\n"):
            lines += textwrap.wrap(para, width=width, break_long_words=False, break_on_hyphens=False)
        lines.append("")
    while lines and not lines[-1]:
        lines.pop()
    return lines


def scan_ground_truth(decl: Declaration) -> str:
    """The text printed on the scan, whitespace-normalised (for OCR accuracy checks)."""
    return " ".join(" ".join(scan_lines(decl)).split())


def render_scan(decl: Declaration, font_dir: Path) -> Image.Image:
    """Render a typewritten-looking A4 page at 300 dpi: uneven ink, paper tone, dust, skew.

    The result is an 8-bit greyscale image quantised to 16 grey levels so it compresses well.
    """
    rng = np.random.default_rng(SCAN_SEED)
    w_px, h_px = 2480, 3508  # A4 at 300 dpi
    font = ImageFont.truetype(str(font_dir / "DejaVuSansMono.ttf"), 44)  # ~10.5 pt, ~11 chars/inch
    advance = font.getlength("M")
    line_pitch = 66
    left, top = 290, 330

    # Ink layer: each glyph struck separately with its own darkness and a small vertical jitter.
    ink = Image.new("L", (w_px, h_px), 0)
    draw = ImageDraw.Draw(ink)
    lines = scan_lines(decl)
    for row, line in enumerate(lines):
        y0 = top + row * line_pitch
        x0 = left + (w_px - 2 * left - advance * len(line)) / 2 if row == 0 else left
        for col, ch in enumerate(line):
            if ch == " ":
                continue
            strength = int(rng.integers(195, 256))
            dy = int(rng.integers(-2, 3))
            draw.text((x0 + col * advance, y0 + dy), ch, fill=strength, font=font)
    ink = ink.filter(ImageFilter.GaussianBlur(0.9))

    # Paper: flat light grey (exactly one of the 16 output levels, so no banding) with a
    # scanner shadow along the left (binding) edge.
    xx = np.arange(w_px, dtype=np.float32)[np.newaxis, :]
    paper = np.broadcast_to(238.0 - 40.0 * np.clip(1.0 - xx / 70.0, 0.0, 1.0), (h_px, w_px)).copy()
    ink_arr = np.asarray(ink, dtype=np.float32) / 255.0
    page = paper * (1.0 - 0.88 * ink_arr)

    # Dust and toner specks (sparse, so the PNG stays small).
    n_specks = 1400
    sy = rng.integers(0, h_px - 3, n_specks)
    sx = rng.integers(0, w_px - 3, n_specks)
    sizes = rng.integers(1, 4, n_specks)
    tones = rng.integers(60, 170, n_specks)
    for y, x, s, t in zip(sy, sx, sizes, tones, strict=True):
        page[y : y + s, x : x + s] = np.minimum(page[y : y + s, x : x + s], float(t))

    img = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), mode="L")
    img = img.rotate(0.5, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=200)
    # Quantise to 16 grey levels: looks the same, compresses far better than full 8-bit noise.
    levels = np.asarray(img, dtype=np.uint16)
    quantised = ((levels * 15 + 127) // 255 * 17).astype(np.uint8)
    return Image.fromarray(quantised, mode="L")


def save_scan(img: Image.Image, png_out: Path, pdf_out: Path) -> None:
    """Save the scan as a 4-bit greyscale PNG (300 dpi) and as an image-only A4 PDF."""
    palette = [v for level in range(16) for v in (level * 17,) * 3]
    indexed = img.point(lambda v: v // 17).convert("P")
    indexed.putpalette(palette)
    indexed.save(png_out, format="PNG", bits=4, optimize=True, dpi=(SCAN_DPI, SCAN_DPI))

    pdf = _new_pdf(f"{TITLES[SCAN_LANG]} (скан, статьи 3-9)", SCAN_LANG, "Scanned page, no text layer")
    pdf.add_page()
    pdf.image(str(png_out), x=0, y=0, w=pdf.w, h=pdf.h)
    pdf.output(str(pdf_out))


# --------------------------------------------------------------------------------------------------
# Interview transcript -> SRT
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One speaker turn of a transcript: start time in seconds, speaker label and text."""

    start: int
    speaker: str
    text: str


_TURN_RE = re.compile(r"^\[(\d{2}):(\d{2}):(\d{2})\] ([^:]+): (.+)$")
_DURATION_RE = re.compile(r"^#.*(?:Тривалість|Duration): (\d{2}):(\d{2}):(\d{2})")


def parse_transcript(path: Path) -> tuple[list[Turn], int]:
    """Parse ``[hh:mm:ss] Speaker: text`` lines; ``#`` lines are header comments.

    Returns the turns and the recording's total duration in seconds (from the header).
    """
    turns: list[Turn] = []
    duration = 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if m := _DURATION_RE.match(line):
                duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
            continue
        m = _TURN_RE.match(line)
        if m is None:
            raise ValueError(f"{path}: not a transcript line: {line!r}")
        start = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
        if turns and start <= turns[-1].start:
            raise ValueError(f"{path}: timestamps must increase: {line!r}")
        turns.append(Turn(start, m.group(4), m.group(5)))
    if not turns or duration <= turns[-1].start:
        raise ValueError(f"{path}: needs turns and a '# Тривалість: hh:mm:ss' header after the last turn")
    return turns, duration


def _srt_time(ms: int) -> str:
    """Format milliseconds as an SRT timestamp ``hh:mm:ss,mmm``."""
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _sentences(text: str) -> list[str]:
    """Split a turn into sentences (on ., ?, ! or … followed by a space)."""
    return [s for s in re.split(r"(?<=[.?!…])\s+", text) if s]


def transcript_to_srt(turns: Sequence[Turn], duration: int, notice: str) -> str:
    """Build SubRip text: one cue per sentence, timed in proportion to sentence length.

    The first cue (0-4 s) carries ``notice``; the first cue of every turn starts with the
    speaker label so speaker changes stay visible and searchable in the subtitles.
    """
    cues: list[tuple[int, int, str]] = [(0, 4000, notice)]
    for i, turn in enumerate(turns):
        t0 = turn.start * 1000
        t1 = (turns[i + 1].start if i + 1 < len(turns) else duration) * 1000 - 500
        sentences = _sentences(turn.text)
        sentences[0] = f"{turn.speaker}: {sentences[0]}"
        total = sum(len(s) for s in sentences)
        pos = t0
        for j, sentence in enumerate(sentences):
            end = t1 if j == len(sentences) - 1 else pos + (t1 - t0) * len(sentence) // total
            cues.append((pos, end, sentence))
            pos = end + 40 if j < len(sentences) - 1 else end
    out = []
    for n, (start, end, text) in enumerate(cues, start=1):
        body = "\n".join(textwrap.wrap(text, width=48, break_on_hyphens=False))
        out.append(f"{n}\n{_srt_time(start)} --> {_srt_time(end)}\n{body}\n")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Build, verify, check
# --------------------------------------------------------------------------------------------------


def build_all(src_dir: Path, out_dir: Path, font_dir: Path) -> list[Path]:
    """Build every derived file from the text sources in ``src_dir`` into ``out_dir``."""
    decls = load_declarations(src_dir)
    written: list[Path] = []
    for lang in LANGS:
        out = out_dir / f"udhr-{lang}-articles.pdf"
        build_articles_pdf(decls[lang], out, font_dir)
        written.append(out)
    png, pdf = out_dir / f"{SCAN_STEM}.png", out_dir / f"{SCAN_STEM}.pdf"
    save_scan(render_scan(decls[SCAN_LANG], font_dir), png, pdf)
    written += [png, pdf]
    turns, duration = parse_transcript(src_dir / f"{INTERVIEW_STEM}.txt")
    srt = out_dir / f"{INTERVIEW_STEM}.srt"
    notice = "[Вигаданий зразок для проєкту archive-search — не справжнє свідчення]"
    srt.write_text(transcript_to_srt(turns, duration, notice), encoding="utf-8")
    written.append(srt)
    return written


def _norm(text: str) -> str:
    """Collapse all whitespace (PDF line breaks, wraps) to single spaces."""
    return " ".join(text.split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance between ``a`` and ``b`` (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def pdf_page_texts(path: Path) -> list[str]:
    """Extract the text layer of every page with pypdfium2."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        texts: list[str] = []
        for i in range(len(doc)):
            page = doc[i]
            textpage = page.get_textpage()
            texts.append(str(textpage.get_text_range()))
            textpage.close()
            page.close()
        return texts
    finally:
        doc.close()


def verify(archive_dir: Path) -> list[str]:
    """Check the derived files; return human-readable result lines (raises on hard failures)."""
    decls = load_declarations(archive_dir)
    report: list[str] = []
    for lang in LANGS:
        pages = pdf_page_texts(archive_dir / f"udhr-{lang}-articles.pdf")
        if len(pages) != len(PDF_PAGE_GROUPS):
            raise AssertionError(f"{lang}: expected {len(PDF_PAGE_GROUPS)} pages, got {len(pages)}")
        for page_no, ((lo, hi), text) in enumerate(zip(PDF_PAGE_GROUPS, pages, strict=True), start=1):
            expected = _norm(
                " ".join([decls[lang].title] + [f"{a.heading} {a.text}" for a in decls[lang].span(lo, hi)])
                + f" {page_no} / {len(pages)}"
            )
            got = _norm(text)
            if got != expected:
                raise AssertionError(f"{lang} page {page_no}: text layer differs\n{got!r}\n{expected!r}")
        report.append(f"udhr-{lang}-articles.pdf: {len(pages)} pages, text layer == source (articles 1-15)")

    scan_pdf_text = _norm(" ".join(pdf_page_texts(archive_dir / f"{SCAN_STEM}.pdf")))
    if scan_pdf_text:
        raise AssertionError(f"{SCAN_STEM}.pdf must have no text layer, found {scan_pdf_text[:80]!r}")
    report.append(f"{SCAN_STEM}.pdf: 1 page, no text layer (image only)")

    tesseract = shutil.which("tesseract")
    if tesseract is None:
        report.append("tesseract not found: OCR check skipped")
    else:
        truth = scan_ground_truth(decls[SCAN_LANG])
        name = f"{SCAN_STEM}.png"
        proc = subprocess.run(
            [tesseract, str(archive_dir / name), "-", "-l", "rus"],
            check=False,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            report.append(f"{name}: tesseract -l rus failed ({proc.stderr.strip()[:120]}): OCR check skipped")
        else:
            cer = levenshtein(_norm(proc.stdout), truth) / len(truth)
            report.append(f"{name}: tesseract -l rus character accuracy {100 * (1 - cer):.1f}%")
    return report


def _digest(paths: Iterable[Path]) -> dict[str, str]:
    """Map file name -> SHA-256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--archive-dir", type=Path, default=ARCHIVE_DIR, help="sample archive folder")
    parser.add_argument("--font-dir", type=Path, default=DEFAULT_FONT_DIR, help="folder with DejaVu fonts")
    parser.add_argument("--import-html", type=Path, help="bootstrap udhr-*.txt from wooorm/udhr HTML first")
    parser.add_argument("--verify", action="store_true", help="check text layers and OCR after building")
    parser.add_argument(
        "--check", action="store_true", help="build into a temp dir; fail if committed files differ"
    )
    args = parser.parse_args(argv)
    archive_dir: Path = args.archive_dir

    if args.import_html is not None:
        for path in import_from_html(args.import_html, archive_dir):
            print(f"wrote {path}")

    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            built = build_all(archive_dir, Path(tmp), args.font_dir)
            fresh = _digest(built)
            current = _digest(archive_dir / name for name in fresh if (archive_dir / name).exists())
            stale = sorted(name for name in fresh if current.get(name) != fresh[name])
        if stale:
            print("stale or missing derived files: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("derived files are up to date")
    else:
        for path in build_all(archive_dir, archive_dir, args.font_dir):
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    if args.verify:
        for line in verify(archive_dir):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
