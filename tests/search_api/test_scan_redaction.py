"""Redaction on scans (issue 20): real Tesseract on real page images (a PNG and an image-only
PDF, Cyrillic and Latin in DejaVu Sans), on both backends. A redacted word is blacked out in
readers' page images and in the bundle's re-rendered PDF exactly over its OCR word box, and not
elsewhere; it is gone from search; a region of a page (a signature without text, a word) is
blacked out and its words masked; a scan OCR'd before word boxes were kept is refused, not
leaked, until ``archive documents ocr-boxes`` fills them; the stored boxes hold no text, and the
purge leaves no byte of the words in the data folder."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select, update

from archive_search.catalog.models import AuditEntry, Page
from archive_search.types import LOCAL_ADMIN
from archive_search.web import create_app
from ingest.extractors.ocr import tesseract_available
from ingest.ocr_boxes import fill_word_boxes
from ingest.sandbox import extraction_limits
from ingest.wordboxes import Box, from_json
from search_api.export import build_bundle, verify_bundle
from search_api.redaction import MASK
from search_api.service import ArchiveService
from tests.search_api.care_setup import (
    BACKENDS,
    add_people,
    care_service,
    cli_archive,
    cli_keyword_total,
    index_holds,
    ingest_files,
    new_case,
)
from tests.search_api.leakscan import needles, scan

pytestmark = pytest.mark.skipif(not tesseract_available(), reason="tesseract is part of the stack")

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
NAME = "Шпрундяхов"
LINES = (
    "Свідок Олесь Шпрундяхов бачив колону",
    "біля мосту. Witness Harrison saw the",
    "convoy near the bridge at dawn.",
)
SIGNATURE = (0.62, 0.62, 0.30, 0.25)
"""Where the signature (strokes, no text) is drawn: x, y, w, h as fractions of the page."""


def page_image() -> Image.Image:
    """A typewritten page: three lines of text and a signature below them."""
    img = Image.new("L", (1400, 1000), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 40)
    for i, line in enumerate(LINES):
        draw.text((60, 60 + i * 90), line, fill=0, font=font)
    x, y, w, h = SIGNATURE
    left, top, right, bottom = x * 1400 + 20, y * 1000 + 20, (x + w) * 1400 - 20, (y + h) * 1000 - 20
    for k in range(6):  # strokes of a signature
        draw.line(
            [(left, bottom - k * 25), (left + (right - left) * 0.5, top + k * 10), (right, bottom - k * 12)],
            fill=0,
            width=7,
        )
    return img


@dataclass
class Env:
    svc: ArchiveService
    http: TestClient
    tokens: dict[str, dict[str, str]]
    data: Path
    png: int
    pdf: int
    backend: str


def _env(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[Env]:
    svc = care_service(backend, request, tmp_path, purge_hold_days=0)
    src = tmp_path / "src"
    src.mkdir()
    page_image().save(src / "statement-scan.png")
    page_image().save(src / "statement-scan.pdf", format="PDF", resolution=150)
    scans = {name: (src / name).read_bytes() for name in ("statement-scan.png", "statement-scan.pdf")}
    ids = ingest_files(svc, src, scans, "testimonies")
    png, pdf = ids["statement-scan.png"], ids["statement-scan.pdf"]
    tokens = add_people(svc, "testimonies", admins=["admin"], manage=["keeper"], read=["reader"])
    http = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
    yield Env(svc, http, tokens, svc.settings.data_dir, png, pdf, backend)
    http.close()
    svc.close()


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    yield from _env(request, tmp_path, request.param)


@pytest.fixture
def embedded_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The page-image path does not depend on the search backend (searched on both above)."""
    yield from _env(request, tmp_path, "embedded")


def _redact_name(env: Env, doc: int) -> None:
    """The manager redacts the witness's name in ``doc`` through the API."""
    r = env.http.post(
        f"/api/v1/documents/{doc}/redactions",
        json={"text": NAME, "reason": "the witness is at risk"},
        headers=env.tokens["keeper"],
    )
    assert r.status_code == 201, r.text


def _word_box(env: Env, doc: int, word: str) -> Box:
    """The OCR box of ``word`` on page 1 (fractions of the page), read from the catalog."""
    with env.svc.catalog.session() as s:
        pg = s.scalars(select(Page).where(Page.document_id == doc, Page.number == 1)).one()
        words = from_json(pg.word_boxes, len(pg.text))
        at = pg.text.index(word)
    assert words is not None
    rows = [r for r in words.rows if r[0] < at + len(word) and at < r[1]]
    assert rows, (word, pg.text)
    boxes = [words.box(r) for r in rows]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _pixels(png: bytes, box: Box) -> list[int]:
    """The grey values inside ``box`` (fractions) of an image, a pixel in from its edges."""
    img = Image.open(io.BytesIO(png)).convert("L")
    w, h = img.size
    crop = img.crop((int(box[0] * w) + 1, int(box[1] * h) + 1, int(box[2] * w) - 1, int(box[3] * h) - 1))
    return list(crop.tobytes())


def _black(png: bytes, box: Box) -> bool:
    return max(_pixels(png, box)) < 30


def _has_paper(png: bytes, box: Box) -> bool:
    """Some white paper shows inside the box (ink on paper, not a black box)."""
    return max(_pixels(png, box)) > 200


def _page(env: Env, user: str, doc: int) -> Any:
    return env.http.get(f"/api/v1/documents/{doc}/pages/1", headers=env.tokens[user])


def _hit_docs(env: Env, q: str) -> set[str]:
    r = env.http.get(
        "/api/v1/search", params={"q": q, "mode": "keyword", "size": 50}, headers=env.tokens["admin"]
    )
    assert r.status_code == 200, r.text
    return {h["document_id"] for h in r.json()["hits"]}


def _index_holds(env: Env, word: str) -> bool:
    return index_holds(env.svc, word)


def test_redacted_words_are_blacked_out_on_scans_and_gone_from_search(env: Env, tmp_path: Path) -> None:
    svc = env.svc
    # the OCR kept word boxes: offsets and pixels, no text
    with svc.catalog.session() as s:
        stored = {
            d: s.scalar(select(Page.word_boxes).where(Page.document_id == d)) for d in (env.png, env.pdf)
        }
    for raw in stored.values():
        assert raw and json.loads(raw)["b"]
        assert not any(ch.isalpha() for ch in raw.replace('"w"', "").replace('"h"', "").replace('"b"', ""))
    boxes = {d: (_word_box(env, d, NAME), _word_box(env, d, "колону")) for d in (env.png, env.pdf)}
    # positive controls: found by search, and the page images show the name in ink on paper
    assert {str(env.png), str(env.pdf)} <= _hit_docs(env, NAME) and _index_holds(env, NAME)
    for d in (env.png, env.pdf):
        r = _page(env, "reader", d)
        assert (
            r.status_code == 200 and _has_paper(r.content, boxes[d][0]) and not _black(r.content, boxes[d][0])
        )

    for d in (env.png, env.pdf):
        _redact_name(env, d)
    # gone from search on this backend, for administrators too; the index holds no term of it
    assert not {str(env.png), str(env.pdf)} & _hit_docs(env, NAME)
    assert not _index_holds(env, NAME)
    assert {str(env.png), str(env.pdf)} <= _hit_docs(env, "колону")  # the rest is still found
    # readers' page images: black over exactly the name's box, paper around the other words
    for d in (env.png, env.pdf):
        name_box, other_box = boxes[d]
        r = _page(env, "reader", d)
        assert r.status_code == 200, r.text
        assert _black(r.content, name_box), d
        assert _has_paper(r.content, other_box) and not _black(r.content, other_box)
        before_name = (name_box[0] - 0.06, name_box[1], name_box[0] - 0.01, name_box[3])  # "Олесь"
        assert _has_paper(r.content, before_name)
        # the managers see the page as it is
        r = _page(env, "keeper", d)
        assert r.status_code == 200 and not _black(r.content, name_box)
    # at another resolution too (the boxes are fractions of the page)
    r = env.http.get(f"/api/v1/documents/{env.pdf}/pages/1", params={"dpi": 60}, headers=env.tokens["reader"])
    assert r.status_code == 200 and _black(r.content, boxes[env.pdf][0])

    # a bundle: both scans re-rendered as PDFs of images with the name blacked out; it verifies
    case_id = new_case(
        env.http, env.tokens["keeper"], "Bridge", [{"document_id": env.png}, {"document_id": env.pdf}]
    )
    bundle = build_bundle(svc.cases, case_id, LOCAL_ADMIN, directory=tmp_path)
    with zipfile.ZipFile(bundle.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        rendered = {
            d["document_id"]: zf.read(d["redacted_pdf"]) for d in manifest["documents"] if d["redacted_pdf"]
        }
        assert not any(n.startswith("originals/") for n in zf.namelist())
    assert set(rendered) == {env.png, env.pdf}
    for d, data in rendered.items():
        pdf = pdfium.PdfDocument(data)
        assert pdf[0].get_textpage().get_text_range().strip() == ""  # no text layer
        out = io.BytesIO()
        pdf[0].render(scale=2).to_pil().save(out, format="PNG")
        assert _black(out.getvalue(), boxes[d][0]) and not _black(out.getvalue(), boxes[d][1])
        pdf.close()
    assert verify_bundle(bundle.path)[0] == []

    # purge: no byte of the page's words is left anywhere in the data folder (boxes included;
    # words this test never searched for: the audit log keeps every query)
    words = needles("Harrison") + needles("бачив") + needles("Олесь") + needles("dawn")
    assert scan(env.data, words), "the words should be on disk before the purge"
    bundle.path.unlink()
    for d in (env.png, env.pdf):
        r = env.http.post(
            f"/api/v1/documents/{d}/withdraw",
            json={"reason": "consent withdrawn"},
            headers=env.tokens["keeper"],
        )
        assert r.status_code == 200, r.text
        r = env.http.post(f"/api/v1/documents/{d}/purge", headers=env.tokens["admin"])
        assert r.status_code == 200, r.text
    with svc.catalog.session() as s:
        assert s.scalar(select(Page.id).where(Page.document_id.in_([env.png, env.pdf]))) is None
    env.http.close()
    svc.close()
    leftovers = scan(env.data, words)
    assert not leftovers, leftovers


def test_a_page_region_is_blacked_out_and_its_words_masked(env: Env) -> None:
    svc = env.svc
    bridge = _word_box(env, env.png, "bridge")
    name_box = _word_box(env, env.png, NAME)
    x, y, w, h = SIGNATURE
    sig: Box = (x, y, x + w, y + h)
    assert {str(env.png)} <= _hit_docs(env, "bridge") and _index_holds(env, "bridge")
    r = _page(env, "reader", env.png)
    assert r.status_code == 200 and not _black(r.content, sig) and not _black(r.content, bridge)

    # a reader may not; a region starting off the page is refused by the schema; a page that is
    # not there is not found
    region: dict[str, float] = {"page": 1, "x": x, "y": y, "w": w, "h": h}
    body = {"region": region, "reason": "signature of a witness"}
    r = env.http.post(f"/api/v1/documents/{env.png}/redactions", json=body, headers=env.tokens["reader"])
    assert r.status_code == 403, r.text
    bad = {"region": {"page": 1, "x": 1.2, "y": 0.1, "w": 0.2, "h": 0.1}, "reason": "x"}
    r = env.http.post(f"/api/v1/documents/{env.png}/redactions", json=bad, headers=env.tokens["keeper"])
    assert r.status_code == 422, r.text
    off = {"region": {"page": 9, "x": 0.1, "y": 0.1, "w": 0.2, "h": 0.1}, "reason": "x"}
    r = env.http.post(f"/api/v1/documents/{env.png}/redactions", json=off, headers=env.tokens["keeper"])
    assert r.status_code == 404, r.text
    # the signature: no text under it, blacked out all the same (the rectangle reaches past the
    # page's bottom edge: clipped)
    region["h"] = 0.5
    r = env.http.post(f"/api/v1/documents/{env.png}/redactions", json=body, headers=env.tokens["keeper"])
    assert r.status_code == 201, r.text
    sig_red = r.json()
    assert sig_red["kind"] == "region" and sig_red["regions"][0]["page"] == 1
    assert sig_red["regions"][0]["h"] == pytest.approx(1 - y) and sig_red["span_count"] == 0
    # the word "bridge", by a rectangle around it
    pad = 0.005
    around = {
        "page": 1,
        "x": bridge[0] - pad,
        "y": bridge[1] - pad,
        "w": bridge[2] - bridge[0] + 2 * pad,
        "h": bridge[3] - bridge[1] + 2 * pad,
    }
    r = env.http.post(
        f"/api/v1/documents/{env.png}/redactions",
        json={"region": around, "reason": "a place name"},
        headers=env.tokens["keeper"],
    )
    assert r.status_code == 201, r.text
    word_red = r.json()
    assert word_red["span_count"] >= 2 and all(sp["original"] == "bridge" for sp in word_red["spans"])
    # masked in the text and gone from search on this backend; the neighbours stay
    assert _hit_docs(env, "bridge") == {str(env.pdf)}  # the other scan (not redacted) still has it
    assert str(env.png) in _hit_docs(env, "convoy")
    text = env.http.get(f"/api/v1/documents/{env.png}/text", headers=env.tokens["reader"]).text
    assert "bridge" not in text and MASK * 6 in text and "convoy" in text
    # black in readers' images over the signature and the word, paper elsewhere
    r = _page(env, "reader", env.png)
    assert r.status_code == 200 and _black(r.content, sig) and _black(r.content, bridge)
    assert _has_paper(r.content, _word_box(env, env.png, "convoy"))
    assert _has_paper(r.content, (0.05, 0.5, 0.5, 0.6))  # blank paper between text and signature
    # audited, with the region and without the word
    with svc.catalog.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "document.redact")).all()
    regions = [json.loads(e.details) for e in entries]
    assert [d["kind"] for d in regions] == ["region", "region"] and all(
        "bridge" not in e.details for e in entries
    )
    # lifting restores the word in search and the image
    r = env.http.delete(f"/api/v1/redactions/{word_red['id']}", headers=env.tokens["keeper"])
    assert r.status_code == 200, r.text
    assert str(env.png) in _hit_docs(env, "bridge")
    r = _page(env, "reader", env.png)
    assert not _black(r.content, bridge) and _black(r.content, sig)
    r = env.http.delete(f"/api/v1/redactions/{sig_red['id']}", headers=env.tokens["keeper"])
    assert r.status_code == 200, r.text
    r = _page(env, "reader", env.png)
    assert not _black(r.content, sig)

    # a region over a word another redaction masked already: lifting that one leaves it masked
    h_ = env.tokens["keeper"]
    r = env.http.post(
        f"/api/v1/documents/{env.png}/redactions", json={"text": NAME, "reason": "x"}, headers=h_
    )
    assert r.status_code == 201, r.text
    by_text = r.json()["id"]
    pad = 0.003
    around = {
        "page": 1,
        "x": name_box[0] + pad,
        "y": name_box[1] + pad,
        "w": name_box[2] - name_box[0] - 2 * pad,
        "h": name_box[3] - name_box[1] - 2 * pad,
    }
    r = env.http.post(
        f"/api/v1/documents/{env.png}/redactions", json={"region": around, "reason": "y"}, headers=h_
    )
    assert r.status_code == 201, r.text
    by_region = r.json()
    assert by_region["span_count"] >= 2 and all(set(sp["original"]) == {MASK} for sp in by_region["spans"])
    assert env.http.delete(f"/api/v1/redactions/{by_text}", headers=h_).status_code == 200
    assert str(env.png) not in _hit_docs(env, NAME)  # the region still masks it
    r = env.http.get(f"/api/v1/redactions/{by_region['id']}", headers=h_)
    assert all(sp["original"] == NAME for sp in r.json()["spans"]), r.text  # handed over
    assert _black(_page(env, "reader", env.png).content, name_box)
    assert env.http.delete(f"/api/v1/redactions/{by_region['id']}", headers=h_).status_code == 200
    assert str(env.png) in _hit_docs(env, NAME)


def test_a_scan_without_word_boxes_is_refused_until_they_are_filled(
    embedded_env: Env, tmp_path: Path
) -> None:
    """A scan OCR'd before word boxes were kept: its redacted page image is refused (never shown
    with the word), and neither is a redacted rendering put in a bundle; the maintenance command
    OCRs it again and then the page is served masked."""
    env = embedded_env
    svc = env.svc
    name_box = _word_box(env, env.png, NAME)
    with svc.catalog.session() as s:
        s.execute(update(Page).where(Page.document_id.in_([env.png, env.pdf])).values(word_boxes=None))
    for d in (env.png, env.pdf):
        _redact_name(env, d)
        r = _page(env, "reader", d)
        assert r.status_code == 403 and r.json()["error"]["code"] == "document_redacted", r.text
        assert _page(env, "keeper", d).status_code == 200  # the managers still see it
    # a region cannot find its words without boxes: refused, nothing changed
    r = env.http.post(
        f"/api/v1/documents/{env.png}/redactions",
        json={"region": {"page": 1, "x": 0.0, "y": 0.0, "w": 0.5, "h": 0.3}, "reason": "x"},
        headers=env.tokens["keeper"],
    )
    assert r.status_code == 409, r.text
    case_id = new_case(env.http, env.tokens["keeper"], "Old scans", [{"document_id": env.png}])
    bundle = build_bundle(svc.cases, case_id, LOCAL_ADMIN, directory=tmp_path)
    with zipfile.ZipFile(bundle.path) as zf:
        doc = json.loads(zf.read("manifest.json"))["documents"][0]
        assert doc["redacted_pdf"] is None and doc["original"] is None
        assert not any(n.startswith(("originals/", "redacted/")) for n in zf.namelist())

    # `archive documents ocr-boxes`: OCR again, aligned to the text as it was before the masking
    done = fill_word_boxes(svc.catalog, svc.store, extraction_limits(svc.settings), redacted_only=True)
    assert sorted(d["document_id"] for d in done) == sorted([env.png, env.pdf])
    assert all(d["pages"] == 1 and d["unlocated_chars"] == 0 for d in done), done
    assert fill_word_boxes(svc.catalog, svc.store, extraction_limits(svc.settings)) == []  # nothing left
    with svc.catalog.session() as s:
        pg = s.scalars(select(Page).where(Page.document_id == env.png)).one()
        assert NAME not in pg.text and pg.word_boxes and NAME not in pg.word_boxes
    r = _page(env, "reader", env.png)
    assert r.status_code == 200 and _black(r.content, name_box)


def test_cli_region_redaction_and_ocr_boxes(tmp_path: Path) -> None:
    """``archive documents redact ID --page N --region X,Y,W,H`` and ``archive documents ocr-boxes``."""
    from archive_search.settings import get_settings

    data = tmp_path / "data"
    src = tmp_path / "scan.png"
    page_image().save(src)
    with cli_archive(data, src) as (cli, doc):
        svc = ArchiveService(get_settings())
        with svc.catalog.session() as s:
            s.execute(update(Page).values(word_boxes=None))  # as if OCR'd before boxes were kept
        svc.close()
        assert cli_keyword_total("Harrison") == 1
        line2 = ["documents", "redact", str(doc), "--page", "1", "--region", "0,0.13,0.7,0.08"]
        r = cli([*line2, "--reason", "a name"])
        assert r.exit_code == 2 and "ocr-boxes" in r.output, r.output  # no boxes: refused
        r = cli(["documents", "ocr-boxes"])
        assert r.exit_code == 0, r.output
        assert [(d["document_id"], d["pages"]) for d in json.loads(r.stdout)] == [(doc, 1)]
        r = cli([*line2, "--reason", "a name"])  # the second line of text
        assert r.exit_code == 0, r.output
        red = json.loads(r.stdout)
        assert red["kind"] == "region" and red["regions"][0]["y"] == pytest.approx(0.13)
        masked = {sp["original"] for sp in red["spans"]}
        assert "Harrison" in masked and NAME not in masked  # the first line is outside
        assert cli_keyword_total("Harrison") == 0 and cli_keyword_total(NAME) == 1
        r = cli(["documents", "redact", str(doc), "--page", "1", "--region", "x", "--reason", "r"])
        assert r.exit_code == 2 and "four numbers" in r.output, r.output
        r = cli(["documents", "unredact", str(red["id"])])
        assert r.exit_code == 0 and cli_keyword_total("Harrison") == 1, r.output


def test_a_case_rule_masks_scans_in_bundles_by_their_word_boxes(env: Env, tmp_path: Path) -> None:
    """A case's redaction rule (a term): the bundle carries each scan re-rendered with the term's
    OCR word boxes blacked out, not its original; no byte of the term anywhere in the bundle."""
    from tests.search_api.leakscan import scan_zip

    boxes = {d: (_word_box(env, d, NAME), _word_box(env, d, "колону")) for d in (env.png, env.pdf)}
    case_id = new_case(
        env.http, env.tokens["keeper"], "Bridge", [{"document_id": env.png}, {"document_id": env.pdf}]
    )
    # the control: without a rule the originals (holding the picture of the name) are in it
    bundle = build_bundle(svc_cases := env.svc.cases, case_id, LOCAL_ADMIN, directory=tmp_path)
    with zipfile.ZipFile(bundle.path) as zf:
        assert sum(n.startswith("originals/") for n in zf.namelist()) == 2
    rule = {"terms": [NAME], "reason": "the witness is at risk"}
    r = env.http.put(f"/api/v1/cases/{case_id}/redaction-rule", json=rule, headers=env.tokens["keeper"])
    assert r.status_code == 200, r.text
    bundle = build_bundle(svc_cases, case_id, LOCAL_ADMIN, directory=tmp_path)
    data = bundle.path.read_bytes()
    assert not scan_zip(data, needles(NAME))
    with zipfile.ZipFile(bundle.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert not any(n.startswith("originals/") for n in zf.namelist())
        rendered = {d["document_id"]: zf.read(d["redacted_pdf"]) for d in manifest["documents"]}
    assert all(d["entity_redacted"] and d["rule_masked_pdf"] for d in manifest["documents"])
    for d, pdf_bytes in rendered.items():
        pdf = pdfium.PdfDocument(pdf_bytes)
        out = io.BytesIO()
        pdf[0].render(scale=2).to_pil().save(out, format="PNG")
        pdf.close()
        assert _black(out.getvalue(), boxes[d][0]) and _has_paper(out.getvalue(), boxes[d][1])
    assert verify_bundle(bundle.path)[0] == []
    # a scan whose boxes are missing: no rendering (refused, not leaked), still no original
    with env.svc.catalog.session() as s:
        s.execute(update(Page).where(Page.document_id == env.png).values(word_boxes=None))
    bundle = build_bundle(svc_cases, case_id, LOCAL_ADMIN, directory=tmp_path)
    with zipfile.ZipFile(bundle.path) as zf:
        docs = {d["document_id"]: d for d in json.loads(zf.read("manifest.json"))["documents"]}
    assert docs[env.png]["redacted_pdf"] is None and docs[env.png]["original"] is None
    assert docs[env.pdf]["redacted_pdf"] is not None
    assert verify_bundle(bundle.path)[0] == []


def test_a_region_of_a_text_layer_pdf_page(embedded_env: Env, tmp_path: Path) -> None:
    """A born-digital PDF (a real text layer) with a signature drawn under its text: a region
    around a word masks it (its text-layer boxes place it in the page text) and blacks it out; a
    region over the signature alone masks no word and blacks out the strokes."""
    from fpdf import FPDF

    env = embedded_env
    pdf = FPDF(format=(210, 148))
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=14)
    pdf.add_page()
    pdf.multi_cell(0, 9, "Свідок Олесь Шпрундяхов бачив колону біля мосту.\nWitness Harrison saw the convoy.")
    pdf.set_line_width(1.2)
    for k in range(5):  # a signature: strokes, no text
        pdf.line(130, 120 - k * 4, 190, 100 + k * 3)
    path = tmp_path / "born-digital.pdf"
    path.write_bytes(bytes(pdf.output()))
    rep = env.svc.ingest([path], "testimonies")
    assert rep.files[0].outcome == "ok", rep
    doc = int(str(rep.files[0].document_id))
    with env.svc.catalog.session() as s:
        assert s.scalars(select(Page.method).where(Page.document_id == doc)).one() == "text-layer"
    assert str(doc) in _hit_docs(env, "Harrison")
    # where the word is, from the text layer (the test's own reading, in fractions of the page)
    pdfdoc = pdfium.PdfDocument(str(path))
    pg = pdfdoc[0]
    w, h = pg.get_size()
    tp = pg.get_textpage()
    text = tp.get_text_range()
    at = text.index("Harrison")
    rects = [tp.get_charbox(i) for i in range(at, at + len("Harrison"))]
    pdfdoc.close()
    word: Box = (
        min(r[0] for r in rects) / w,
        (h - max(r[3] for r in rects)) / h,
        max(r[2] for r in rects) / w,
        (h - min(r[1] for r in rects)) / h,
    )
    h_ = env.tokens["keeper"]
    region = {"page": 1, "x": word[0], "y": word[1], "w": word[2] - word[0], "h": word[3] - word[1]}
    r = env.http.post(
        f"/api/v1/documents/{doc}/redactions", json={"region": region, "reason": "a name"}, headers=h_
    )
    assert r.status_code == 201, r.text
    assert {sp["original"] for sp in r.json()["spans"]} == {"Harrison"}
    assert str(doc) not in _hit_docs(env, "Harrison") and str(doc) in _hit_docs(env, "convoy")
    sig: Box = (130 / 210, 100 / 148, 190 / 210, 120 / 148)
    r = env.http.post(
        f"/api/v1/documents/{doc}/redactions",
        json={
            "region": {"page": 1, "x": sig[0], "y": sig[1], "w": sig[2] - sig[0], "h": sig[3] - sig[1]},
            "reason": "s",
        },
        headers=h_,
    )
    assert r.status_code == 201 and r.json()["span_count"] == 0, r.text
    img = _page(env, "reader", doc)
    assert img.status_code == 200, img.text
    assert _black(img.content, word) and _black(img.content, sig)
    assert _has_paper(img.content, (0.05, 0.5, 0.5, 0.6))
