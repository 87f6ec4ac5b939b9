"""Page numbers of DOCX (page breaks) and PPTX (slides) documents: read from the XML parts,
through Tika's extractor and the whole pipeline."""

from __future__ import annotations

from pathlib import Path

from archive_search.catalog.models import Document, Page
from archive_search.types import LOCAL_ADMIN, SearchRequest, SourceFile
from ingest.extractors.ooxml_pages import docx_pages, pptx_slides
from ingest.extractors.tika import TikaExtractor
from ingest.registry import Limits
from ingest.sniff import sniff_file
from search_api.service import ArchiveService
from tests.ooxml_files import docx, pptx

HELLO_DOCX = Path("/work/shared/data/aleph-ingest-fixtures/files/hello world word.docx")


def _extract(path: Path):  # type: ignore[no-untyped-def]
    src = SourceFile(
        filename=path.name, sha256="0" * 64, size=path.stat().st_size, path=path, mime=sniff_file(path)
    )
    return TikaExtractor().extract(src, Limits(sandbox=False))


def test_docx_explicit_and_rendered_page_breaks(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit.docx"
    docx(explicit, [["Перша сторінка свідчення.", "Ще абзац."], ["Друга сторінка: обстріл."], ["Третя."]])
    assert docx_pages(explicit) == [
        "Перша сторінка свідчення.\nЩе абзац.",
        "Друга сторінка: обстріл.",
        "Третя.",
    ]
    rendered = tmp_path / "rendered.docx"
    docx(rendered, [["Перша сторінка."], ["Друга сторінка."]], rendered=True)
    assert docx_pages(rendered) == ["Перша сторінка.", "Друга сторінка."]
    ex = _extract(explicit)
    assert [(b.page, b.method) for b in ex.blocks] == [(1, "ooxml"), (2, "ooxml"), (3, "ooxml")]
    assert ex.page_count == 3 and "обстріл" in ex.blocks[1].text


def test_docx_without_breaks_stays_one_tika_block(tmp_path: Path) -> None:
    one = tmp_path / "one.docx"
    docx(one, [["Один абзац.", "Другий абзац."]])
    assert docx_pages(one) is None
    ex = _extract(one)
    assert [(b.page, b.method) for b in ex.blocks] == [(None, "tika")]
    if HELLO_DOCX.exists():  # a real Word file without page breaks
        assert docx_pages(HELLO_DOCX) is None
        assert [b.method for b in _extract(HELLO_DOCX).blocks] == ["tika"]


def test_pptx_slides_in_presentation_order_with_notes(tmp_path: Path) -> None:
    deck = tmp_path / "deck.pptx"
    pptx(
        deck,
        [["Слайд один", "Оленівка"], ["Slide two"], ["Третій слайд"]],
        notes={1: "Нотатки доповідача"},
        order=[0, 2, 1],
    )
    assert pptx_slides(deck) == ["Слайд один\nОленівка", "Третій слайд", "Slide two\n\nНотатки доповідача"]
    ex = _extract(deck)
    assert [b.page for b in ex.blocks] == [1, 2, 3] and ex.page_count == 3
    assert ex.blocks[2].text.endswith("Нотатки доповідача")


def test_damaged_xml_falls_back_to_tikas_text(tmp_path: Path) -> None:
    deck = tmp_path / "deck.pptx"
    pptx(deck, [["Слайд один"], ["Слайд два"]])
    import zipfile

    broken = tmp_path / "broken.pptx"
    with zipfile.ZipFile(deck) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "ppt/presentation.xml":
                data = data[: len(data) // 2]  # not well-formed any more
            dst.writestr(info, data)
    assert sniff_file(broken) == sniff_file(deck)
    ex = _extract(broken)
    assert all(b.method == "tika" for b in ex.blocks)


def test_pages_through_the_pipeline(service: ArchiveService, tmp_path: Path) -> None:
    deck = tmp_path / "deck.pptx"
    pptx(deck, [["Вступ"], ["Свідок описав фільтраційний табір біля Оленівки."]])
    statement = tmp_path / "statement.docx"
    docx(statement, [["Заява."], ["Друга сторінка."], ["Свідок бачив колону біля Мотижина."]])
    rep = service.ingest([deck, statement], "office")
    assert [f.outcome.value for f in rep.files] == ["ok", "ok"]
    with service.catalog.session() as s:
        pages = {
            d.filename: [
                p.number for p in s.query(Page).filter(Page.document_id == d.id).order_by(Page.number)
            ]
            for d in s.query(Document).all()
        }
    assert pages == {"deck.pptx": [1, 2], "statement.docx": [1, 2, 3]}
    hit = service.search(SearchRequest(q="Оленівки", mode="keyword"), LOCAL_ADMIN).hits[0]
    assert (hit.filename, hit.page) == ("deck.pptx", 2)
    hit = service.search(SearchRequest(q="Мотижина", mode="keyword"), LOCAL_ADMIN).hits[0]
    assert (hit.filename, hit.page) == ("statement.docx", 3)
