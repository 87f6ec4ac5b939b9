# ruff: noqa: E501  (XML of the fixtures is kept on one line)
"""Small real Office Open XML files (DOCX with page breaks, PPTX with slides and notes) for tests;
Tika reads them like files saved by an office suite."""

from __future__ import annotations

import zipfile
from pathlib import Path

CT = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>{over}</Types>'


def ov(part: str, ct: str) -> str:
    return f'<Override PartName="/{part}" ContentType="{ct}"/>'


RELS = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>'


def rel(i: str, t: str, target: str) -> str:
    return f'<Relationship Id="{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{t}" Target="{target}"/>'


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx(path: Path, pages: list[list[str]], rendered: bool = False) -> None:
    """Paragraphs per page, pages separated by explicit page breaks, or (``rendered``) by the
    ``w:lastRenderedPageBreak`` marks Word writes."""
    body = []
    for n, paras in enumerate(pages):
        for k, text in enumerate(paras):
            if n and k == 0 and not rendered:
                body.append('<w:p><w:r><w:br w:type="page"/></w:r></w:p>')
            if rendered and n and k == 0:
                body.append(
                    f'<w:p><w:r><w:lastRenderedPageBreak/><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'
                )
            else:
                body.append(f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>')
    doc = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document {W}><w:body>{"".join(body)}<w:sectPr/></w:body></w:document>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            CT.format(
                over=ov(
                    "word/document.xml",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                )
            ),
        )
        z.writestr("_rels/.rels", RELS.format(rels=rel("rId1", "officeDocument", "word/document.xml")))
        z.writestr("word/document.xml", doc)


P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
PML = "application/vnd.openxmlformats-officedocument.presentationml"


def _sp(lines: list[str]) -> str:
    paras = "".join(f"<a:p><a:r><a:t>{t}</a:t></a:r></a:p>" for t in lines)
    return (
        '<p:sp><p:nvSpPr><p:cNvPr id="2" name="T"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr/>'
        f"<p:txBody><a:bodyPr/><a:lstStyle/>{paras}</p:txBody></p:sp>"
    )


def _tree(lines: list[str]) -> str:
    return (
        '<p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>'
        f"<p:grpSpPr/>{_sp(lines)}</p:spTree></p:cSld>"
    )


def pptx(
    path: Path, slides: list[list[str]], notes: dict[int, str] | None = None, order: list[int] | None = None
) -> None:
    """slides[i] is written as ppt/slides/slide{i+1}.xml; ``order`` lists them in presentation order."""
    notes = notes or {}
    order = order or list(range(len(slides)))
    over = [
        ov("ppt/presentation.xml", f"{PML}.presentation.main+xml"),
        ov("ppt/slideMasters/slideMaster1.xml", f"{PML}.slideMaster+xml"),
        ov("ppt/slideLayouts/slideLayout1.xml", f"{PML}.slideLayout+xml"),
    ]
    files = {}
    for i, lines in enumerate(slides):
        over.append(ov(f"ppt/slides/slide{i + 1}.xml", f"{PML}.slide+xml"))
        files[f"ppt/slides/slide{i + 1}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<p:sld {P}>{_tree(lines)}</p:sld>'
        )
        srels = [rel("rId1", "slideLayout", "../slideLayouts/slideLayout1.xml")]
        if i in notes:
            over.append(ov(f"ppt/notesSlides/notesSlide{i + 1}.xml", f"{PML}.notesSlide+xml"))
            files[f"ppt/notesSlides/notesSlide{i + 1}.xml"] = (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<p:notes {P}>{_tree([notes[i]])}</p:notes>'
            )
            srels.append(rel("rId2", "notesSlide", f"../notesSlides/notesSlide{i + 1}.xml"))
        files[f"ppt/slides/_rels/slide{i + 1}.xml.rels"] = RELS.format(rels="".join(srels))
    ids = "".join(f'<p:sldId id="{256 + k}" r:id="rId{10 + i}"/>' for k, i in enumerate(order))
    files["ppt/presentation.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<p:presentation {P}>'
        f'<p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst><p:sldIdLst>{ids}</p:sldIdLst>'
        '<p:sldSz cx="9144000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/></p:presentation>'
    )
    prels = [rel("rId1", "slideMaster", "slideMasters/slideMaster1.xml")]
    prels += [rel(f"rId{10 + i}", "slide", f"slides/slide{i + 1}.xml") for i in range(len(slides))]
    files["ppt/_rels/presentation.xml.rels"] = RELS.format(rels="".join(prels))
    files["ppt/slideMasters/slideMaster1.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<p:sldMaster {P}>{_tree([])}'
        '<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst></p:sldMaster>'
    )
    files["ppt/slideMasters/_rels/slideMaster1.xml.rels"] = RELS.format(
        rels=rel("rId1", "slideLayout", "../slideLayouts/slideLayout1.xml")
    )
    files["ppt/slideLayouts/slideLayout1.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<p:sldLayout {P}>{_tree([])}</p:sldLayout>'
    )
    files["ppt/slideLayouts/_rels/slideLayout1.xml.rels"] = RELS.format(
        rels=rel("rId1", "slideMaster", "../slideMasters/slideMaster1.xml")
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT.format(over="".join(over)))
        z.writestr("_rels/.rels", RELS.format(rels=rel("rId1", "officeDocument", "ppt/presentation.xml")))
        for name, data in files.items():
            z.writestr(name, data)
