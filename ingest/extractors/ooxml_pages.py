"""Pages of Office Open XML documents, read from their XML parts (Tika's text has no pages).

- PPTX: one page per slide, in the presentation's order (``p:sldIdLst``), the slide's text then
  its speaker notes; the slide number is the page number.
- DOCX: pages cut at explicit page breaks (``<w:br w:type="page"/>``, ``w:pageBreakBefore``) and
  at the page breaks Word recorded when it last laid the document out
  (``w:lastRenderedPageBreak``); a break with no text since the previous one is the same break.
  A document with no break gives ``None`` (it stays one block).

The parts are parsed with ``xml.etree`` after ``tika.check_zip_xml`` refused entity declarations;
a part larger than ``MAX_PART_BYTES`` unpacked is not read (``None``: Tika's text is used).
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

MAX_PART_BYTES = 256 * 1024 * 1024
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_NOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide"
_FALSE = {"0", "false", "off"}


def _part(zf: zipfile.ZipFile, name: str) -> ET.Element | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > MAX_PART_BYTES:
        return None
    with zf.open(info) as fh:
        return ET.parse(fh).getroot()


def _rels(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id → (type, part name) of a part."""
    folder, name = posixpath.split(part)
    root = _part(zf, posixpath.join(folder, "_rels", name + ".rels"))
    out: dict[str, tuple[str, str]] = {}
    if root is None:
        return out
    for rel in root.iter(f"{_REL}Relationship"):
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External" or not target:
            continue
        path = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(folder, target))
        )
        out[rel.get("Id") or ""] = (rel.get("Type") or "", path)
    return out


def _drawing_text(root: ET.Element) -> str:
    """Paragraphs of DrawingML text (``a:p``), one per line."""
    lines = []
    for p in root.iter(f"{_A}p"):
        parts = []
        for el in p.iter():
            if el.tag == f"{_A}t" and el.text:
                parts.append(el.text)
            elif el.tag == f"{_A}br":
                parts.append("\n")
        line = "".join(parts).strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


def pptx_slides(path: Path) -> list[str] | None:
    """The text of each slide (then its notes), in presentation order; None if unreadable."""
    with zipfile.ZipFile(path) as zf:
        pres = _part(zf, "ppt/presentation.xml")
        if pres is None:
            return None
        rels = _rels(zf, "ppt/presentation.xml")
        slides: list[str] = []
        for sld in pres.iter(f"{_P}sldId"):
            target = rels.get(sld.get(f"{_R}id") or "")
            root = _part(zf, target[1]) if target else None
            if root is None:
                return None
            text = _drawing_text(root)
            for kind, notes_part in _rels(zf, target[1]).values() if target else ():
                if kind == _NOTES:
                    notes = _part(zf, notes_part)
                    if notes is not None:
                        note_text = _drawing_text(notes)
                        text = f"{text}\n\n{note_text}" if note_text else text
            slides.append(text)
        return slides or None


def docx_pages(path: Path) -> list[str] | None:
    """The body's text cut at page breaks; None when it has no break or cannot be read."""
    with zipfile.ZipFile(path) as zf:
        try:
            info = zf.getinfo("word/document.xml")
        except KeyError:
            return None
        if info.file_size > MAX_PART_BYTES:
            return None
        pages: list[list[str]] = [[]]

        def page_break() -> None:
            if "".join(pages[-1]).strip():
                pages.append([])

        with zf.open(info) as fh:
            for event, el in ET.iterparse(fh, events=("start", "end")):
                tag = el.tag
                if event == "start":
                    if tag == f"{_W}lastRenderedPageBreak" or (
                        tag == f"{_W}pageBreakBefore" and (el.get(f"{_W}val") or "1") not in _FALSE
                    ):
                        page_break()
                    continue
                if tag == f"{_W}t" and el.text:
                    pages[-1].append(el.text)
                elif tag == f"{_W}tab":
                    pages[-1].append("\t")
                elif tag == f"{_W}br":
                    if el.get(f"{_W}type") == "page":
                        page_break()
                    else:
                        pages[-1].append("\n")
                elif tag == f"{_W}p":
                    pages[-1].append("\n")
                    el.clear()
    texts = ["".join(p).strip("\n") for p in pages]
    if texts and not texts[-1].strip():
        texts.pop()
    return texts if len(texts) > 1 else None
