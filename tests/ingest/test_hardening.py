"""Hardened parsing: extraction in sandboxed worker processes (limits on memory, CPU and wall time,
output, network, writes), and bombs refused with a recorded reason — all with real generated inputs
and real worker processes."""

from __future__ import annotations

import gzip
import io
import os
import signal
import socket
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Passage
from archive_search.catalog.store import OriginalStore
from archive_search.types import Extraction, JobReport, SourceFile, TextBlock
from ingest import sandbox as sandbox_mod
from ingest.archives import ArchiveLimits
from ingest.extractors.text import PlainTextExtractor
from ingest.pipeline import Ingestor
from ingest.registry import (
    NO_BID,
    SPECIALIST,
    ExtractionError,
    ExtractorRegistry,
    Limits,
    SandboxLimits,
    default_registry,
)
from ingest.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "archive_search" / "sample_archive" / "files"
TEXT = "Свідок розповів про події у селищі навесні того року, коли прийшли солдати."


@pytest.fixture(autouse=True)
def _workers_can_import_this_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The probe extractors below are pickled by reference: workers must find this module."""
    sandbox_mod._close_shared()
    sandbox_mod._SHARED.clear()
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    )
    yield
    sandbox_mod._close_shared()
    sandbox_mod._SHARED.clear()


# --- probe extractors (run inside the worker) ----------------------------------------------------


class _Probe:
    name = "probe"
    version = "1"

    def bid(self, mime: str) -> int:
        return SPECIALIST if mime == "text/plain" else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        word = source.path.read_text("utf-8").split()[0]
        return Extraction(doc_type="text", blocks=[TextBlock(text=self.run(word) + " " + TEXT)])

    def run(self, word: str) -> str:
        return word


class Behaviour(_Probe):
    """Does what the file's first word says: sleep, spin, crash, eat memory, ..."""

    def run(self, word: str) -> str:
        if word == "sleep":
            time.sleep(600)
        elif word == "spin":
            while True:
                pass
        elif word == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(5)
        elif word == "abort":
            os.abort()
        elif word == "exit":
            os._exit(3)
        elif word == "memory":
            blobs = []
            for _ in range(64):
                blobs.append(bytearray(256 * 1024 * 1024))  # 16 GiB in all, far beyond the limit
        elif word == "flood":
            return "x" * (4 * 1024 * 1024)
        elif word == "pid":
            return f"pid{os.getpid()}"
        return word


class Escape(_Probe):
    """Tries to reach the network and to write outside its working folder; reports what worked."""

    def run(self, word: str) -> str:
        found = []
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=2)
            found.append("connected")
        except PermissionError:
            found.append("socketrefused")
        except OSError:
            found.append("socketfailed")
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.close()
            found.append("rawsocket")
        except PermissionError:
            found.append("rawrefused")
        cwd = Path.cwd()
        found.append("cwdprivate" if cwd.name.startswith("archive-extract-") else f"cwd={cwd}")
        found.append("homeprivate" if os.environ.get("HOME") == str(cwd) else "homeshared")
        found.append("tmpprivate" if os.environ.get("TMPDIR") == str(cwd) else "tmpshared")
        Path("scratch.bin").write_bytes(b"x" * 10)  # allowed: its own folder
        try:
            Path("big.bin").write_bytes(b"x" * (2 * 1024 * 1024))
            found.append("bigwritten")
        except OSError:
            found.append("fsizelimited")
        return " ".join(found)


def make_ingestor(tmp: Path, *, registry: ExtractorRegistry | None = None, **sandbox: object) -> Ingestor:
    catalog = Catalog(f"sqlite:///{tmp / 'catalog.sqlite3'}")
    store = OriginalStore(tmp / "originals")
    limits = Limits(sandbox_limits=SandboxLimits(**sandbox))  # type: ignore[arg-type]
    return Ingestor(catalog, store, registry=registry, limits=limits)


def outcomes(rep: JobReport) -> dict[str, tuple[str, str | None]]:
    return {Path(f.path).name: (f.outcome.value, f.code) for f in rep.files}


def write(folder: Path, name: str, data: bytes | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


# --- the sandbox ---------------------------------------------------------------------------------


def test_hangs_crashes_and_memory_fail_one_file_and_the_batch_goes_on(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    for i, word in enumerate(["sleep", "ok1", "spin", "segv", "abort", "exit", "memory", "ok2"]):
        write(inp, f"{i}-{word}.txt", f"{word} {TEXT} {i}")
    ing = make_ingestor(
        tmp_path, registry=ExtractorRegistry([Behaviour()]), wall_s=8, cpu_s=2, memory_bytes=1024**3
    )
    t = time.monotonic()
    rep = ing.ingest([inp], "c")
    took = time.monotonic() - t
    got = outcomes(rep)
    assert got == {
        "0-sleep.txt": ("failed", "timeout"),  # wall clock: killed by the parent
        "1-ok1.txt": ("ok", None),
        "2-spin.txt": ("failed", "timeout"),  # CPU: SIGXCPU from RLIMIT_CPU
        "3-segv.txt": ("failed", "extractor_crashed"),
        "4-abort.txt": ("failed", "extractor_crashed"),
        "5-exit.txt": ("failed", "extractor_crashed"),
        "6-memory.txt": ("failed", "out_of_memory"),  # MemoryError under RLIMIT_AS
        "7-ok2.txt": ("ok", None),
    }, got
    assert took < 60
    messages = {Path(f.path).name: f.message or "" for f in rep.files}
    assert "SIGSEGV" in messages["3-segv.txt"] and "SIGABRT" in messages["4-abort.txt"]


def test_workers_are_reused_and_replaced_after_a_crash(tmp_path: Path) -> None:
    sb = Sandbox(SandboxLimits(wall_s=30))
    src_dir = tmp_path / "in"
    pids = []
    try:
        for i, word in enumerate(["pid", "pid", "segv", "pid", "pid"]):
            p = write(src_dir, f"{i}.txt", f"{word} x")
            src = SourceFile(
                filename=p.name, sha256="0" * 64, size=p.stat().st_size, path=p, mime="text/plain"
            )
            try:
                ex = sb.extract(Behaviour(), src, Limits())
                pids.append(int(ex.blocks[0].text.split()[0].removeprefix("pid")))
            except ExtractionError as exc:
                assert exc.code == "extractor_crashed"
                pids.append(-1)
    finally:
        sb.close()
    assert os.getpid() not in pids  # the parent never ran the extractor
    assert pids[0] == pids[1] != pids[3] == pids[4] and pids[2] == -1
    assert sb.started == 2


def test_no_network_and_a_private_working_folder(tmp_path: Path) -> None:
    p = write(tmp_path / "in", "a.txt", f"probe {TEXT}")
    src = SourceFile(filename="a.txt", sha256="0" * 64, size=p.stat().st_size, path=p, mime="text/plain")
    sb = Sandbox(SandboxLimits(max_file_write_bytes=1024 * 1024))
    try:
        text = sb.extract(Escape(), src, Limits()).blocks[0].text
    finally:
        sb.close()
    found = set(text.split())
    assert {"socketrefused", "rawrefused", "cwdprivate", "homeprivate", "tmpprivate", "fsizelimited"} <= found
    assert "connected" not in found and "rawsocket" not in found and "bigwritten" not in found
    assert not list(Path.cwd().glob("scratch.bin"))


def test_network_namespace_blocks_native_code_where_available() -> None:
    prefix = sandbox_mod.network_isolation_prefix()
    if not prefix:
        pytest.skip("unshare cannot make a network namespace here (no root, no user namespaces)")
    import subprocess
    import sys

    # a raw socket from C code would not pass through Python's socket module; the namespace has
    # no interface but a down loopback, so even 127.0.0.1 is unreachable
    code = (
        "import socket\ntry:\n socket.create_connection(('127.0.0.1', 9), 2)\n"
        "except OSError as e: print(e.errno)"
    )
    out = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("101", "111", "99")  # unreachable / refused / cannot assign


def test_output_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    write(inp, "a-flood.txt", f"flood {TEXT}")
    write(inp, "b-ok.txt", f"fine {TEXT}")
    ing = make_ingestor(tmp_path, registry=ExtractorRegistry([Behaviour()]), max_output_bytes=1024 * 1024)
    got = outcomes(ing.ingest([inp], "c"))
    assert got == {"a-flood.txt": ("failed", "too_much_text"), "b-ok.txt": ("ok", None)}


def test_huge_text_output_is_refused(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    write(inp, "huge.txt", (TEXT + "\n") * 20_000)  # about 1.5 million characters
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    ing = Ingestor(catalog, OriginalStore(tmp_path / "o"), limits=Limits(max_output_chars=1_000_000))
    assert outcomes(ing.ingest([inp], "c")) == {"huge.txt": ("failed", "too_much_text")}


def test_a_slow_real_pdf_times_out(tmp_path: Path) -> None:
    """A stand-in for a PDF on which pdfium loops: the scanned sample needs seconds of rendering
    and OCR, more than the tiny limit; the next file is read by a fresh worker."""
    from ingest.extractors.ocr import tesseract_available

    if not tesseract_available():
        pytest.skip("tesseract is not installed")
    inp = tmp_path / "in"
    write(inp, "a-scan.pdf", (SAMPLE / "scan-ru-article-5.pdf").read_bytes())
    write(inp, "b-text.pdf", (SAMPLE / "udhr-en-articles.pdf").read_bytes())
    ing = make_ingestor(tmp_path, wall_s=0.5)
    got = outcomes(ing.ingest([inp], "c"))
    assert got == {"a-scan.pdf": ("failed", "timeout"), "b-text.pdf": ("ok", None)}


def test_sandboxed_extraction_equals_in_process_extraction() -> None:
    from ingest.passages import drafts_from_spans, make_passages

    reg = default_registry()
    from ingest.sniff import sniff_file

    sb = Sandbox()
    try:
        for p in sorted(SAMPLE.iterdir()):
            if p.suffix in (".png",) or "scan" in p.name:
                continue  # OCR: same text, covered by the ingest tests
            mime = sniff_file(p)
            ex = reg.for_mime(mime)
            assert ex is not None
            src = SourceFile(filename=p.name, sha256="0" * 64, size=p.stat().st_size, path=p, mime=mime)
            a, b = sb.extract(ex, src, Limits()), ex.extract(src, Limits())
            assert a.passage_spans is None  # not asked for
            cut = sb.extract(ex, src, Limits(passage_chars=800))  # passages made in the worker
            assert cut.passage_spans is not None
            assert drafts_from_spans(cut, cut.passage_spans) == make_passages(ex.extract(src, Limits()), 800)
            assert (a.doc_type, a.title, a.page_count, a.metadata) == (
                b.doc_type,
                b.title,
                b.page_count,
                b.metadata,
            )
            assert a.blocks == b.blocks, p.name
    finally:
        sb.close()


def test_malformed_replies_are_not_trusted() -> None:
    with pytest.raises(ExtractionError):
        sandbox_mod.extraction_from_json({"blocks": [{"text": 5}]})
    ex = sandbox_mod.extraction_from_json(
        {
            "doc_type": "x" * 500,
            "blocks": [{"text": "a", "page": "1; drop", "confidence": "high"}],
            "title": None,
        }
    )
    assert ex.blocks[0].page is None and ex.blocks[0].confidence is None and len(ex.doc_type) == 50
    # passages cut by the worker: well-typed spans only, and only spans inside the blocks
    from ingest.passages import drafts_from_spans

    for bad in ([[0, 0, "1", "uk"]], [[0, 0, 1]], [["0", 0, 1, "uk"]], "spans"):
        with pytest.raises(ExtractionError):
            sandbox_mod.extraction_from_json({"blocks": [{"text": "abc"}], "passages": bad})
    for span in ((1, 0, 1, "uk"), (0, 2, 9, "uk"), (0, 2, 1, "uk"), (0, 0, 3, "klingon"), (-1, 0, 1, "uk")):
        ex = sandbox_mod.extraction_from_json({"blocks": [{"text": "abc"}], "passages": [list(span)]})
        with pytest.raises(ExtractionError):
            drafts_from_spans(ex, ex.passage_spans or [])
    ex = sandbox_mod.extraction_from_json(
        {"blocks": [{"text": "abc", "page": 4}], "passages": [[0, 1, 3, "uk"]]}
    )
    (d,) = drafts_from_spans(ex, ex.passage_spans or [])
    assert (d.text, d.page, d.char_start, d.lang) == ("bc", 4, 1, "uk")


# --- bombs ---------------------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares ``width`` x ``height`` pixels (one short IDAT)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_image_bombs_are_refused(tmp_path: Path) -> None:
    from PIL import Image

    inp = tmp_path / "in"
    bomb = write(inp, "bomb.png", png_header_only(50_000, 50_000))
    assert bomb.stat().st_size < 200
    big = io.BytesIO()
    Image.new("L", (3000, 2000), 255).save(big, "PNG")  # 6 Mpx: over the lowered limit below
    write(inp, "big.png", big.getvalue())
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    ing = Ingestor(catalog, OriginalStore(tmp_path / "o"), limits=Limits(max_image_pixels=4_000_000))
    got = outcomes(ing.ingest([inp], "c"))
    assert got == {"bomb.png": ("failed", "image_too_large"), "big.png": ("failed", "image_too_large")}
    # with the default limit (200 Mpx) the 2.5 Gpx declaration is refused just the same
    ing2 = Ingestor(catalog, OriginalStore(tmp_path / "o"))
    again = write(tmp_path / "in2", "bomb2.png", png_header_only(50_000, 50_001))
    assert outcomes(ing2.ingest([again], "c")) == {"bomb2.png": ("failed", "image_too_large")}


def pdf_declaring_pages(count: int) -> bytes:
    """A one-page PDF whose page tree claims ``count`` pages."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + o + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def test_absurd_page_counts_are_refused(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    inp = tmp_path / "in"
    write(inp, "million.pdf", pdf_declaring_pages(1_000_000))
    doc = pdfium.PdfDocument.new()
    for _ in range(8):
        doc.new_page(200, 200)
    buf = io.BytesIO()
    doc.save(buf)
    doc.close()
    write(inp, "eight.pdf", buf.getvalue())
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    ing = Ingestor(catalog, OriginalStore(tmp_path / "o"), limits=Limits(max_pages=5))
    got = outcomes(ing.ingest([inp], "c"))
    assert got == {"million.pdf": ("failed", "too_many_pages"), "eight.pdf": ("failed", "too_many_pages")}
    msgs = " ".join(f.message or "" for f in ing.ingest([inp / "million.pdf"], "d").files)
    assert "1000000 pages" in msgs


def test_zip_and_gzip_bombs_and_deep_nesting(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.txt", b"\0" * (16 * 1024 * 1024))
    write(inp, "bomb.zip", zbuf.getvalue())
    write(inp, "bomb.txt.gz", gzip.compress(b"a" * (16 * 1024 * 1024)))  # no size in any header
    nested = TEXT.encode()
    name = "deep.txt"
    for level in range(5, 0, -1):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w") as zf:
            zf.writestr(name, nested)
        nested, name = b.getvalue(), f"level{level}.zip"
    write(inp, "nest.zip", nested)
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    limits = ArchiveLimits(min_budget=1024 * 1024, max_depth=3)
    ing = Ingestor(catalog, OriginalStore(tmp_path / "o"), archive_limits=limits)
    rep = ing.ingest([inp], "c")
    got = {f.path.split(str(inp) + "/", 1)[1]: (f.outcome.value, f.code) for f in rep.files}
    assert got["bomb.zip"] == ("failed", "archive_too_large")
    assert got["bomb.txt.gz"][1] == "archive_too_large" or got.get("bomb.txt.gz!/bomb.txt", ("", ""))[1] in (
        "archive_too_large",
        "too_large",
    ), got
    assert got["nest.zip!/level2.zip!/level3.zip!/level4.zip"] == ("skipped", "archive_too_deep")
    assert not any("deep.txt" in k for k in got)


def docx_with_doctype(doctype: str, body: str) -> bytes:
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
        'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/'
        'xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": '<?xml version="1.0" encoding="UTF-8"?>'
        + doctype
        + '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
        f'<w:t xml:space="preserve">Свідок розповів {body} про події</w:t></w:r></w:p></w:body></w:document>',
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    return buf.getvalue()


LAUGHS = (
    '<!DOCTYPE w:document [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">' for i in range(1, 10)
    )
    + "]>"
)
XXE = '<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("iscc_tika") is None, reason="iscc-tika is not installed"
)
def test_xml_bombs_and_external_entities_in_office_files(tmp_path: Path) -> None:
    from ingest.extractors import tika

    inp = tmp_path / "in"
    write(inp, "laughs.docx", docx_with_doctype(LAUGHS, "&lol9;"))
    write(inp, "xxe.docx", docx_with_doctype(XXE, "&xxe;"))
    write(inp, "fine.docx", docx_with_doctype("", "спокійно"))
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    ing = Ingestor(catalog, OriginalStore(tmp_path / "o"))
    got = outcomes(ing.ingest([inp], "c"))
    assert got == {
        "laughs.docx": ("failed", "xml_entities"),
        "xxe.docx": ("failed", "xml_entities"),
        "fine.docx": ("ok", None),
    }
    passwd = Path("/etc/passwd").read_text("utf-8", "replace").splitlines()[0]
    with catalog.session() as s:
        texts = " ".join(s.scalars(select(Passage.text)))
    assert "спокійно" in texts and passwd not in texts and "root:" not in texts
    # Without the pre-scan, Tika itself neither resolves the file entity nor expands the laughs
    # (its JAXP limits); the pre-scan makes the refusal explicit and independent of Tika's version.
    text, _ = tika.run_tika(str(inp / "xxe.docx"), 10_000_000)
    assert passwd not in text and "root:" not in text
    text, _ = tika.run_tika(str(inp / "laughs.docx"), 10_000_000)
    assert "lollollol" not in text


def test_xml_prolog_checks() -> None:
    from ingest.extractors.tika import _check_prolog

    refused = [
        (b'<?xml version="1.0"?><!-- <x --><!DOCTYPE a [<!ENTITY b "c">]><a/>', False),
        (b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', False),
        (b'<!DOCTYPE a PUBLIC "x" "/etc/passwd"><a/>', False),
        (b"<!DOCTYPE w:document><w:document/>", True),
        (b"<?xml?>" + b"<!--" + b" " * (1024 * 1024), True),
    ]
    for head, office in refused:
        with pytest.raises(ExtractionError) as exc:
            _check_prolog(head[: 1024 * 1024], "x", office=office)
        assert exc.value.code == "xml_entities"
    accepted = [
        (
            b'<?xml?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/x.dtd"><html/>',
            False,
        ),
        (b"<!DOCTYPE html><html/>", False),
        (b"\xef\xbb\xbf<?xml?><w:document/>", True),
        (b"\x89PNG....", True),
    ]
    for head, office in accepted:
        _check_prolog(head, "x", office=office)


def test_spawn_cost_is_small_enough_to_measure() -> None:
    cost = sandbox_mod.measure_spawn(2)
    assert 0 < cost < 10


def test_text_extractor_in_process_when_sandbox_is_off(tmp_path: Path) -> None:
    p = write(tmp_path, "a.txt", TEXT)
    src = SourceFile(filename="a.txt", sha256="0" * 64, size=p.stat().st_size, path=p, mime="text/plain")
    ex = sandbox_mod.run_extractor(PlainTextExtractor(), src, Limits(sandbox=False))
    assert ex.blocks[0].text == TEXT
    assert not sandbox_mod._SHARED
