"""The duty-of-care pages in a real headless Chromium (Debian's), driven by Playwright, against
the real app served by uvicorn: a collection manager opens the care page from the viewer, redacts
a name, sees what was masked, and lifts it again; a reader meanwhile sees the masked text and no
care page. Its own small archive, so that the shared one of the other browser tests is untouched."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archive_search.settings import Settings
from search_api.redaction import MASK
from search_api.service import ArchiveService
from tests.conftest import ingest_files
from tests.ui.conftest import PASSWORD, _serve, shot

NAME = "Шпрундяхов"
WITNESS = f"Свідок Олесь {NAME} розповів про переправу біля Оленівки.\n\nКолона поїхала на південь.\n"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


@pytest.fixture(scope="module")
def care_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    yield from _one_document_server(tmp_path_factory.mktemp("care-ui"), "witness.txt", WITNESS.encode())


def _one_document_server(tmp: Path, name: str, body: bytes) -> Iterator[tuple[str, int]]:
    """A server over one document in ``testimonies``: ``keeper`` manages it, ``reader`` reads it."""
    svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none"))  # type: ignore[call-arg]
    doc = ingest_files(svc, tmp / "src", {name: body}, "testimonies")[name]
    acc = svc.accounts
    acc.create_user("keeper", PASSWORD, role="editor")
    acc.grant("testimonies", "manage", user="keeper")
    acc.create_user("reader", PASSWORD)
    acc.grant("testimonies", "read", user="reader")
    for url in _serve(svc):
        yield url, doc
    svc.close()


def _log_in(page: Any, base: str, user: str) -> None:
    page.goto(base + "/login")
    page.get_by_label(re.compile("User name")).fill(user)
    page.get_by_label(re.compile("Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^Log in$")).click()
    page.wait_for_url(base + "/")


def test_a_manager_redacts_and_lifts_from_the_care_page(chromium: Any, care_server: tuple[str, int]) -> None:
    base, doc = care_server
    keeper = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB").new_page()
    reader = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB").new_page()
    for pg in (keeper, reader):
        pg.set_default_timeout(15_000)
    _log_in(keeper, base, "keeper")
    _log_in(reader, base, "reader")

    keeper.goto(f"{base}/documents/{doc}")
    keeper.get_by_role("link", name=re.compile("Duty of care")).click()
    keeper.wait_for_url(f"{base}/care/documents/{doc}")
    expect(keeper.get_by_role("heading", name=f"Duty of care: document {doc}")).to_be_visible()
    keeper.get_by_label(re.compile("A name or words")).fill(f"Олесь {NAME}")
    keeper.locator("#care-redact-reason").fill("the witness is at risk")
    keeper.get_by_role("button", name="Redact").click()
    expect(keeper.locator(".notice")).to_have_text("The text was redacted.")
    expect(keeper.locator(".care-masked")).to_contain_text(NAME)  # the manager sees what was masked
    expect(keeper.locator(".care-text")).to_contain_text(MASK * 5)
    shot(keeper, "care-document")

    reader.goto(f"{base}/documents/{doc}")
    expect(reader.locator("main")).to_contain_text("Оленівки")
    expect(reader.locator("main")).not_to_contain_text(NAME)
    expect(reader.get_by_role("link", name=re.compile("Duty of care"))).to_have_count(0)
    reader.goto(f"{base}/care/documents/{doc}")
    expect(reader.locator("main")).not_to_contain_text(NAME)
    assert "/care/documents" in reader.url and reader.locator(".care-masked").count() == 0

    keeper.goto(f"{base}/care")
    expect(keeper.locator(".care-redactions")).to_contain_text("the witness is at risk")
    expect(keeper.locator(".care-redactions")).not_to_contain_text(NAME)
    shot(keeper, "care-overview")
    keeper.get_by_role("button", name="Lift").click()
    expect(keeper.locator(".notice")).to_have_text("The redaction was lifted.")
    reader.goto(f"{base}/documents/{doc}")
    expect(reader.locator("main")).to_contain_text(NAME)


@pytest.fixture(scope="module")
def scan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A scanned page (PNG, OCR'd by Tesseract) with a signature below its text."""
    import io

    from tests.search_api.test_scan_redaction import page_image

    png = io.BytesIO()
    page_image().save(png, format="PNG")
    yield from _one_document_server(
        tmp_path_factory.mktemp("care-scan-ui"), "statement-scan.png", png.getvalue()
    )


def test_a_manager_redacts_a_region_of_a_scan_from_the_care_page(
    chromium: Any, scan_server: tuple[str, int]
) -> None:
    """The four numbers of the region form: the signature is blacked out in the reader's page
    image (served, masked, in the viewer), paper elsewhere; lifting it shows the signature again."""
    import io

    from PIL import Image

    from tests.search_api.test_scan_redaction import SIGNATURE

    base, doc = scan_server
    keeper = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB").new_page()
    reader = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB").new_page()
    for pg in (keeper, reader):
        pg.set_default_timeout(15_000)
    _log_in(keeper, base, "keeper")
    _log_in(reader, base, "reader")

    def signature_ink() -> int:
        """The lightest grey inside the signature's rectangle of the reader's page image."""
        r = reader.request.get(f"{base}/documents/{doc}/pages/1.png")
        assert r.status == 200, r.status
        img = Image.open(io.BytesIO(r.body())).convert("L")
        x, y, w, h = SIGNATURE
        box = (
            int(x * img.width) + 2,
            int(y * img.height) + 2,
            int((x + w) * img.width) - 2,
            int((y + h) * img.height) - 2,
        )
        return int(img.crop(box).getextrema()[1])

    assert signature_ink() > 200  # paper around the strokes
    keeper.goto(f"{base}/care/documents/{doc}")
    x, y, w, h = SIGNATURE
    for field, value in (("page", 1), ("x", x), ("y", y), ("w", w), ("h", h)):
        keeper.locator(f"#care-region-{field}").fill(str(value))
    keeper.locator("#care-region-reason").fill("a witness's signature")
    keeper.locator(".care-redact-region").get_by_role("button", name="Redact").click()
    expect(keeper.locator(".notice")).to_have_text("The region is redacted.")
    expect(keeper.locator(".care-masked")).to_contain_text("Page 1")
    shot(keeper, "care-region")

    reader.goto(f"{base}/documents/{doc}")
    expect(reader.locator(f'img[src="/documents/{doc}/pages/1.png"]')).to_have_count(1)  # served, masked
    assert signature_ink() < 30  # black

    keeper.goto(f"{base}/care/documents/{doc}")
    keeper.get_by_role("button", name="Lift").click()
    expect(keeper.locator(".notice")).to_have_text("The redaction was lifted.")
    assert signature_ink() > 200


def test_the_region_is_drawn_on_the_page_image(chromium: Any, scan_server: tuple[str, int]) -> None:
    """Dragging across the page image fills the four numbers (the box follows); the drawn region
    is redacted as a typed one, at phone width too."""
    from tests.search_api.test_scan_redaction import SIGNATURE

    base, doc = scan_server
    for width in (1280, 390):
        keeper = chromium.new_context(viewport={"width": width, "height": 900}, locale="en-GB").new_page()
        keeper.set_default_timeout(15_000)
        _log_in(keeper, base, "keeper")
        keeper.goto(f"{base}/care/documents/{doc}")
        img = keeper.locator(".region-picker img")
        expect(img).to_be_visible()
        keeper.wait_for_function("() => document.querySelector('.region-picker img').naturalWidth > 0")
        img.scroll_into_view_if_needed()
        box = img.bounding_box()
        assert box is not None
        x, y, w, h = SIGNATURE
        keeper.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        keeper.mouse.down()
        keeper.mouse.move(
            box["x"] + (x + w / 2) * box["width"], box["y"] + (y + h / 2) * box["height"], steps=4
        )
        keeper.mouse.move(box["x"] + (x + w) * box["width"], box["y"] + (y + h) * box["height"], steps=4)
        keeper.mouse.up()
        expect(keeper.locator(".region-box")).to_be_visible()
        drawn = [float(keeper.locator(f"#care-region-{f}").input_value()) for f in "xywh"]
        tolerance = 2 / box["width"] + 0.002  # a pixel or two of the drawn image
        assert all(abs(a - b) <= tolerance for a, b in zip(drawn, SIGNATURE, strict=True)), (drawn, SIGNATURE)
        if width == 390:
            assert keeper.evaluate("document.documentElement.scrollWidth") <= 390
            shot(keeper, "care-region-drawn-390")
            break
        keeper.locator("#care-region-reason").fill("drawn over the signature")
        keeper.locator(".care-redact-region").get_by_role("button", name="Redact").click()
        expect(keeper.locator(".notice")).to_have_text("The region is redacted.")
        expect(keeper.locator(".care-masked")).to_contain_text(f"{drawn[0]:.3f}")
        keeper.get_by_role("button", name="Lift").click()
        expect(keeper.locator(".notice")).to_have_text("The redaction was lifted.")
        keeper.context.close()
