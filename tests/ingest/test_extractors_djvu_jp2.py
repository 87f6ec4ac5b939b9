"""DjVu and JPEG 2000: sniffed by their magic bytes and extracted (DjVu text layer or OCR of the
rendered page through DjVuLibre, JPEG 2000 through Pillow's OpenJPEG and Tesseract)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from archive_search.types import LOCAL_ADMIN, SearchRequest, SourceFile
from ingest.extractors.djvu import DjvuExtractor, djvulibre_available
from ingest.extractors.image import IMAGE_TYPES
from ingest.extractors.ocr import tesseract_available
from ingest.registry import ExtractionError, Limits
from ingest.sniff import sniff_file
from search_api.service import ArchiveService

ALEPH = Path("/work/shared/data/aleph-ingest-fixtures/files")
DJVU_FILE = ALEPH / "Test_rs20846.djvu"
JP2_FILE = ALEPH / "regression_openjpeg.jp2"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")

needs_djvu = pytest.mark.skipif(not djvulibre_available(), reason="djvulibre-bin is not installed")
needs_ocr = pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data {path} is missing")
    return path


def _source(path: Path) -> SourceFile:
    return SourceFile(
        filename=path.name, sha256="0" * 64, size=path.stat().st_size, path=path, mime=sniff_file(path)
    )


def test_sniffed_by_magic_bytes_not_by_name(tmp_path: Path) -> None:
    for src, mime in ((_need(DJVU_FILE), "image/vnd.djvu"), (_need(JP2_FILE), "image/jp2")):
        renamed = tmp_path / "noext.bin"
        shutil.copyfile(src, renamed)
        assert sniff_file(renamed) == mime
    assert "image/jp2" in IMAGE_TYPES  # this Pillow has OpenJPEG


@needs_djvu
def test_multipage_djvu_text_layer() -> None:
    ex = DjvuExtractor().extract(_source(_need(DJVU_FILE)), Limits(sandbox=False))
    assert ex.page_count == 11 and [b.page for b in ex.blocks] == list(range(1, 12))
    assert all(b.method == "text-layer" for b in ex.blocks)
    assert "Executive Orders" in ex.blocks[0].text and ex.doc_type == "djvu"


@needs_djvu
@needs_ocr
def test_djvu_without_text_layer_is_ocrd(tmp_path: Path) -> None:
    img = Image.new("1", (2480, 1000), 1)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 64)
    draw.text((120, 200), "Свідок бачив колону техніки", font=font, fill=0)
    draw.text((120, 400), "біля села Мотижин.", font=font, fill=0)
    pbm = tmp_path / "page.pbm"
    img.save(pbm)
    djvu = tmp_path / "scan.djvu"
    subprocess.run(["cjb2", "-dpi", "300", str(pbm), str(djvu)], check=True, capture_output=True)
    assert sniff_file(djvu) == "image/vnd.djvu"
    ex = DjvuExtractor().extract(_source(djvu), Limits(sandbox=False))
    assert [b.method for b in ex.blocks] == ["ocr"] and ex.doc_type == "scan"
    assert "Мотижин" in ex.blocks[0].text and "техніки" in ex.blocks[0].text


@needs_djvu
def test_damaged_djvu_fails_with_a_code(tmp_path: Path) -> None:
    data = _need(DJVU_FILE).read_bytes()
    bad = tmp_path / "bad.djvu"
    bad.write_bytes(data[:200])
    with pytest.raises(ExtractionError) as err:
        DjvuExtractor().extract(_source(bad), Limits(sandbox=False))
    assert err.value.code == "corrupt_djvu"


@needs_ocr
def test_djvu_and_jp2_through_the_pipeline(service: ArchiveService) -> None:
    rep = service.ingest([_need(DJVU_FILE), _need(JP2_FILE)], "formats")
    got = {Path(f.path).name: (f.outcome, f.code) for f in rep.files}
    assert got == {"Test_rs20846.djvu": ("ok", None), "regression_openjpeg.jp2": ("ok", None)}
    res = service.search(SearchRequest(q="proclamations", mode="keyword"), LOCAL_ADMIN)
    assert [h.filename for h in res.hits] == ["Test_rs20846.djvu"] and res.hits[0].page in range(2, 12)
    res = service.search(SearchRequest(q="libjpeg", mode="keyword"), LOCAL_ADMIN)
    assert [h.filename for h in res.hits] == ["regression_openjpeg.jp2"]
