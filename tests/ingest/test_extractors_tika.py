"""Office documents, web pages, e-books and e-mail through in-process Tika (iscc-tika): sniffing
containers by content, text and metadata, transcripts in DOCX, and bad input ending as a recorded
failure. DOCX/ODT/EPUB files are generated here; real-world files come from
/work/shared/data/aleph-ingest-fixtures (alephdata/ingest-file test fixtures)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Document, Passage
from archive_search.types import Extraction, SourceFile
from ingest import sniff
from ingest.registry import ExtractionError, Limits, Skip, default_registry
from ingest.sniff import sniff_bytes, sniff_file
from search_api.service import ArchiveService

SHARED = Path("/work/shared/data")
ALEPH = SHARED / "aleph-ingest-fixtures" / "files"

needs_tika = pytest.mark.skipif(
    __import__("importlib").util.find_spec("iscc_tika") is None, reason="iscc-tika is not installed"
)


def aleph(name: str) -> Path:
    if not ALEPH.is_dir():
        pytest.skip(f"shared test data folder {ALEPH} is missing")
    return ALEPH / name


# --- generated documents -------------------------------------------------------------------------

def _zip(members: list[tuple[str, str | bytes]], *, stored_first: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (name, data) in enumerate(members):
            ctype = zipfile.ZIP_STORED if stored_first and i == 0 else zipfile.ZIP_DEFLATED
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=ctype)
    return buf.getvalue()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def make_docx(paragraphs: list[str], *, title: str = "", creator: str = "", created: str = "") -> bytes:
    body = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{_esc(p)}</w:t></w:r></w:p>" for p in paragraphs)
    core = (
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        + (f"<dc:title>{_esc(title)}</dc:title>" if title else "")
        + (f"<dc:creator>{_esc(creator)}</dc:creator>" if creator else "")
        + (f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}</dcterms:created>' if created else "")
        + "</cp:coreProperties>"
    )
    return _zip(
        [
            (
                "[Content_Types].xml",
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels"'
                ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/word/document.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
                '<Override PartName="/docProps/core.xml"'
                ' ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
                "</Types>",
            ),
            (
                "_rels/.rels",
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                'relationships/officeDocument" Target="word/document.xml"/>'
                '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/'
                'metadata/core-properties" Target="docProps/core.xml"/>'
                "</Relationships>",
            ),
            (
                "word/document.xml",
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                f"<w:body>{body}</w:body></w:document>",
            ),
            ("docProps/core.xml", '<?xml version="1.0" encoding="UTF-8"?>' + core),
        ]
    )


def make_odt(paragraphs: list[str], *, title: str = "", creator: str = "", created: str = "") -> bytes:
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    body = "".join(f"<text:p>{_esc(p)}</text:p>" for p in paragraphs)
    meta = (
        f'<office:document-meta xmlns:office="{office}"'
        ' xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.2"><office:meta>'
        + (f"<dc:title>{_esc(title)}</dc:title>" if title else "")
        + (f"<meta:initial-creator>{_esc(creator)}</meta:initial-creator>" if creator else "")
        + (f"<meta:creation-date>{created}</meta:creation-date>" if created else "")
        + "</office:meta></office:document-meta>"
    )
    return _zip(
        [
            ("mimetype", "application/vnd.oasis.opendocument.text"),
            (
                "META-INF/manifest.xml",
                '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
                ' manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/"'
                ' manifest:media-type="application/vnd.oasis.opendocument.text"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>",
            ),
            (
                "content.xml",
                f'<office:document-content xmlns:office="{office}"'
                ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
                f"<office:body><office:text>{body}</office:text></office:body></office:document-content>",
            ),
            ("meta.xml", meta),
        ],
        stored_first=True,
    )


def make_epub(title: str, creator: str, chapters: list[str]) -> bytes:
    items = "".join(
        f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    opf = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:title>{_esc(title)}</dc:title><dc:creator>{_esc(creator)}</dc:creator>'
        '<dc:language>ru</dc:language><dc:identifier id="id">urn:uuid:1</dc:identifier></metadata>'
        f'<manifest>{items}</manifest><spine>{spine}</spine></package>'
    )
    members: list[tuple[str, str | bytes]] = [
        ("mimetype", "application/epub+zip"),
        (
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0"'
            ' xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        ),
        ("OEBPS/content.opf", opf),
    ]
    for i, text in enumerate(chapters):
        members.append(
            (
                f"OEBPS/c{i}.xhtml",
                '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                f"<head><title>{i}</title></head><body><p>{_esc(text)}</p></body></html>",
            )
        )
    return _zip(members, stored_first=True)


ART5_RU = (
    "Никто не должен подвергаться пыткам или жестоким, бесчеловечным или унижающим его достоинство "
    "обращению и наказанию."
)
ART5_UK = (
    "Ніхто не повинен зазнавати тортур, або жорстокого, нелюдського, або такого, що принижує його гідність, "
    "поводження і покарання."
)


def extract(path: Path, mime: str | None = None) -> Extraction:
    mime = mime or sniff_file(path)
    ex = default_registry().for_mime(mime)
    assert ex is not None, mime
    src = SourceFile(filename=path.name, sha256="0" * 64, size=path.stat().st_size, path=path, mime=mime)
    return ex.extract(src, Limits())


def text_of(e: Extraction) -> str:
    return "\n".join(b.text for b in e.blocks)


# --- sniffing ------------------------------------------------------------------------------------

def test_zip_containers_are_told_apart_by_content(tmp_path: Path) -> None:
    files = {
        "a.bin": (make_docx(["x"]), sniff.DOCX),
        "b.bin": (make_odt(["x"]), sniff.ODT),
        "c.bin": (make_epub("t", "a", ["x"]), sniff.EPUB),
        "d.docx": (_zip([("notes.txt", "hello"), ("word/readme.txt", "no document.xml")]), sniff.ZIP),
        # an EPUB "mimetype" member without META-INF/container.xml is just a zip
        "e.epub": (_zip([("mimetype", sniff.EPUB), ("x.txt", "x")], stored_first=True), sniff.ZIP),
        "f.odt": (_zip([("mimetype", sniff.ODT), ("x.txt", "x")], stored_first=True), sniff.ZIP),
    }
    for name, (data, want) in files.items():
        p = tmp_path / name
        p.write_bytes(data)
        assert sniff_file(p) == want, name
    # from the first bytes alone, the stored "mimetype" member is enough for ODT/EPUB
    assert sniff_bytes(make_odt(["x"])[:200]) == sniff.ODT
    assert sniff_bytes(make_epub("t", "a", ["x"])[:200]) == sniff.EPUB


def test_real_office_files_and_mail_are_sniffed() -> None:
    want = {
        "hello world word.docx": sniff.DOCX,
        "Plan.odt": sniff.ODT,
        "file.xlsx": sniff.XLSX,
        "doc.doc": sniff.DOC,
        "slides.ppt": sniff.PPT,
        "password_protected.xls": sniff.XLS,
        "password_protected.xlsx": sniff.OOXML_ENCRYPTED,
        "doc.html": sniff.HTML,
        "email_base64.eml": sniff.EML,
        "testThunderbirdEml.eml": sniff.EML,
        "test-documents.zip": sniff.ZIP,
        "badzip.zip": sniff.ZIP,
        "badtar.tar": "application/x-tar",
        "udhr_ger.txt": "text/plain",
    }
    got = {name: sniff_file(aleph(name)) for name in want}
    assert got == want


def test_mail_headers_are_sniffed_but_transcripts_and_forms_are_not() -> None:
    mail = b"Received: from mx.example.org\r\nFrom: a@example.org\r\nSubject: x\r\n\r\nbody"
    assert sniff_bytes(mail) == sniff.EML
    assert sniff_bytes(b"Message-ID: <1@x>\nDate: Mon, 1 Jan 2001 00:00:00 +0000\n\nhi") == sniff.EML
    mbox = b"From a@example.org Mon Jan  1 00:00:00 2001\nFrom: a@example.org\nTo: b@example.org\n\nhi\n"
    assert sniff_bytes(mbox) == sniff.MBOX
    transcript = "Интервьюер: Добрый день.\nСвидетель: Здравствуйте.\nИнтервьюер: Начнём.\n".encode()
    assert sniff_bytes(transcript) == "text/plain"
    form = b"Name: Ivan\nAddress: Minsk\nPhone: 123\n\nSome text"
    assert sniff_bytes(form) == "text/plain"
    one_header = b"From: the editor\n\nDear readers, ..."
    assert sniff_bytes(one_header) == "text/plain"
    assert sniff_bytes(b"<!-- saved page -->\n<HTML><body>x</body></HTML>") == sniff.HTML
    assert sniff_bytes(b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml">') == sniff.HTML
    assert sniff_bytes(b'<meta charset="windows-1251"><title>x</title><p>y') == sniff.HTML
    assert sniff_bytes(b'<?xml version="1.0"?>\n<rss version="2.0"><channel>') == "text/plain"


# --- extraction ----------------------------------------------------------------------------------

@needs_tika
def test_docx_text_and_metadata(tmp_path: Path) -> None:
    p = tmp_path / "doc"
    p.write_bytes(
        make_docx(
            ["Стаття 5", ART5_UK],
            title="Загальна декларація прав людини",
            creator="Олена Петренко",
            created="2019-03-14T10:00:00Z",
        )
    )
    e = extract(p)
    assert e.doc_type == "document"
    assert ART5_UK in text_of(e)
    assert e.title == "Загальна декларація прав людини"
    assert e.doc_date == date(2019, 3, 14)
    assert e.metadata["author"] == "Олена Петренко"
    assert e.metadata["content_type"] == sniff.DOCX


@needs_tika
def test_odt_and_epub_text_and_metadata(tmp_path: Path) -> None:
    odt = tmp_path / "a"
    odt.write_bytes(make_odt([ART5_RU], title="Статья 5", creator="Иван", created="2018-05-01T12:00:00"))
    e = extract(odt)
    assert (e.doc_type, e.title, e.doc_date) == ("document", "Статья 5", date(2018, 5, 1))
    assert ART5_RU in text_of(e)
    epub = tmp_path / "b"
    epub.write_bytes(make_epub("Декларация", "ООН", ["Глава первая. " + ART5_RU, "Глава вторая."]))
    e = extract(epub)
    assert e.doc_type == "ebook" and e.title == "Декларация"
    assert ART5_RU in text_of(e) and "Глава вторая." in text_of(e)


@needs_tika
def test_rtf_html_and_email_in_legacy_cyrillic_encodings(tmp_path: Path) -> None:
    rtf = tmp_path / "r"
    body = "".join(f"\\'{b:02x}" for b in "Никто не должен подвергаться пыткам".encode("cp1251"))
    rtf.write_bytes(
        b"{\\rtf1\\ansi\\ansicpg1251\\deff0{\\fonttbl{\\f0 Times;}}{\\info{\\title Protocol}{\\author Ivan}}"
        + body.encode("ascii")
        + b"\\par}"
    )
    e = extract(rtf)
    assert (e.doc_type, e.title) == ("document", "Protocol")
    assert "Никто не должен подвергаться пыткам" in text_of(e)

    html = tmp_path / "h"
    page = f"<html><head><title>Статья 5</title></head><body><p>{ART5_RU}</p></body></html>"
    html.write_bytes(page.encode("koi8_r"))
    e = extract(html)
    assert (e.doc_type, e.title) == ("web", "Статья 5")
    assert ART5_RU in " ".join(text_of(e).split())

    eml = tmp_path / "m"
    eml.write_bytes(
        b"Return-Path: <a@example.org>\r\nFrom: =?utf-8?b?0JjQstCw0L0=?= <a@example.org>\r\n"
        b"To: b@example.org\r\nSubject: =?koi8-r?b?8NLP1M/Lz8w=?=\r\n"
        b"Date: Tue, 5 Mar 2019 10:00:00 +0300\r\nMessage-ID: <x1@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/plain; charset="koi8-r"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        + ART5_RU.encode("koi8_r")
        + b"\r\n"
    )
    assert sniff_file(eml) == sniff.EML
    e = extract(eml)
    assert e.doc_type == "email"
    assert e.title == "Протокол"
    assert e.doc_date == date(2019, 3, 5)
    assert ART5_RU in " ".join(text_of(e).split())
    assert "a@example.org" in e.metadata["from"] and e.metadata["to"] == "b@example.org"


@needs_tika
@pytest.mark.parametrize(
    ("name", "doc_type", "needle", "title", "doc_date"),
    [
        ("hello world word.docx", "document", "Hello world, Word!", "Hello world, Word!", date(2015, 9, 7)),
        ("Plan.odt", "document", "graffiti", None, date(2017, 2, 21)),
        ("doc.doc", "document", "This is a sample Microsoft Word Document.", "Sample Word Document", None),
        ("slides.ppt", "presentation", "Now", "Now", date(2011, 12, 16)),
        ("file.xlsx", "spreadsheet", "Mihai Viteazul", None, None),
        ("doc.html", "web", "Test web page.", "Ingestors Title", None),
        ("email_base64.eml", "email", "Base64 email", "This message has a base64 encoded payload", None),
        ("testThunderbirdEml.eml", "email", "Dear Vladimir", "JUnit test message", date(2012, 11, 21)),
    ],
)
def test_real_documents(
    name: str, doc_type: str, needle: str, title: str | None, doc_date: date | None
) -> None:
    e = extract(aleph(name))
    assert e.doc_type == doc_type
    assert needle in text_of(e)
    if title is not None:
        assert e.title == title
    if doc_date is not None:
        assert e.doc_date == doc_date


@needs_tika
def test_docx_interview_is_a_transcript(tmp_path: Path) -> None:
    p = tmp_path / "t"
    p.write_bytes(
        make_docx(
            [
                "Протокол допроса свидетеля",
                "[00:00:10] Следователь: Назовите ваше имя.",
                "[00:00:15] Свидетель: Иванов Пётр.",
                "[00:00:20] Следователь: Что вы видели в ночь на 5 марта?",
                "[00:00:31] Свидетель: Людей задержали у блокпоста и увезли в неизвестном направлении.",
                "Потом их никто не видел.",
            ],
            title="Допрос",
        )
    )
    e = extract(p)
    assert e.doc_type == "transcript" and e.title == "Допрос"
    turns = [b for b in e.blocks if b.speaker]
    assert [t.speaker for t in turns] == ["Следователь", "Свидетель", "Следователь", "Свидетель"]
    assert [(t.time_start, t.time_end) for t in turns] == [(10, 15), (15, 20), (20, 31), (31, None)]
    assert turns[-1].text.endswith("Потом их никто не видел.")
    assert e.blocks[0].speaker is None and "Протокол допроса" in e.blocks[0].text


# --- bad input -----------------------------------------------------------------------------------

@needs_tika
@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("encypted_by_libreoffice.odt", "encrypted"),
        ("password_protected.xls", "encrypted"),
        ("password_protected.xlsx", "encrypted"),
    ],
)
def test_encrypted_office_files_fail_as_encrypted(name: str, code: str) -> None:
    with pytest.raises(ExtractionError) as err:
        extract(aleph(name))
    assert err.value.code == code


@needs_tika
def test_truncated_wrong_and_empty_documents_end_as_failed_or_skipped(tmp_path: Path) -> None:
    doc = aleph("doc.doc").read_bytes()
    cases: dict[str, tuple[bytes, str]] = {
        "truncated.doc": (doc[:2000], sniff.DOC),
        "random-as-docx": (bytes(range(256)) * 20, sniff.DOCX),
        "text-as-xlsx": (b"just some words, not a spreadsheet", sniff.XLSX),
        "garbage-ole": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, sniff.OLE),
        "empty-docx": (make_docx([]), sniff.DOCX),
        "broken-xml.docx": (
            _zip([("[Content_Types].xml", "<Types"), ("word/document.xml", "<w:document><w:body><w:p>")]),
            sniff.DOCX,
        ),
        "truncated.docx": (make_docx([ART5_RU * 50])[:700], sniff.DOCX),
        "zero.docx": (b"", sniff.DOCX),
    }
    for name, (data, mime) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        try:
            e = extract(p, mime)
        except (ExtractionError, Skip):
            continue
        assert isinstance(e, Extraction), name  # a partial read is fine; an unhandled exception is not


@needs_tika
def test_output_limit_is_a_recorded_failure(tmp_path: Path) -> None:
    p = tmp_path / "big"
    p.write_bytes(make_docx([ART5_RU] * 50))
    src = SourceFile(filename="big", sha256="0" * 64, size=p.stat().st_size, path=p, mime=sniff.DOCX)
    ex = default_registry().for_mime(sniff.DOCX)
    assert ex is not None
    with pytest.raises(ExtractionError) as err:
        ex.extract(src, Limits(max_output_chars=1000))
    assert err.value.code == "too_much_text"


# --- end to end ----------------------------------------------------------------------------------

@needs_tika
def test_office_files_are_ingested_with_title_and_date(service: ArchiveService, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.docx").write_bytes(
        make_docx([ART5_UK], title="Декларація", creator="ООН", created="1948-12-10T00:00:00Z")
    )
    (folder / "b.odt").write_bytes(make_odt([ART5_RU], title="Декларация", created="1948-12-10T00:00:00"))
    (folder / "c.docx").write_bytes(aleph("encypted_by_libreoffice.odt").read_bytes())
    (folder / "d.eml").write_bytes(aleph("testThunderbirdEml.eml").read_bytes())
    rep = service.ingest([folder], "office")
    by_name = {Path(f.path).name: f for f in rep.files}
    assert by_name["a.docx"].outcome == "ok" and by_name["b.odt"].outcome == "ok"
    assert (by_name["c.docx"].outcome, by_name["c.docx"].code) == ("failed", "encrypted")
    assert by_name["d.eml"].outcome == "ok"
    with service.catalog.session() as s:
        docs = {d.filename: d for d in s.scalars(select(Document))}
        a = docs["a.docx"]
        assert (a.doc_type, a.title, a.lang) == ("document", "Декларація", "uk")
        assert docs["a.docx"].doc_date == date(1948, 12, 10)
        assert docs["b.odt"].lang == "ru" and docs["b.odt"].mime == sniff.ODT
        assert docs["d.eml"].doc_type == "email" and docs["d.eml"].title == "JUnit test message"
        texts = list(s.scalars(select(Passage.text)))
    assert any("тортур" in t for t in texts) and any("пыткам" in t for t in texts)


# --- the helper process --------------------------------------------------------------------------

@needs_tika
def test_a_parse_past_the_timeout_fails_and_the_helper_is_started_anew(tmp_path: Path) -> None:
    import os
    import signal

    from ingest.extractors import tika

    p = tmp_path / "d.docx"
    p.write_bytes(make_docx([ART5_RU]))
    with pytest.raises(ExtractionError) as err:
        tika.run_tika(str(p), 10_000, timeout_s=0)
    assert err.value.code == "timeout"
    text, _ = tika.run_tika(str(p), 10_000, timeout_s=120)
    assert ART5_RU in text
    # a helper that died (a native crash, the OOM killer) is replaced on the next file
    pid = tika._WORKER.pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    text, _ = tika.run_tika(str(p), 10_000, timeout_s=120)
    assert ART5_RU in text and tika._WORKER.pid not in (None, pid)


@needs_tika
def test_in_process_mode(tmp_path: Path) -> None:
    p = tmp_path / "d.docx"
    p.write_bytes(make_docx([ART5_UK], title="В процесі"))
    src = SourceFile(filename="d.docx", sha256="0" * 64, size=p.stat().st_size, path=p, mime=sniff.DOCX)
    ex = default_registry().for_mime(sniff.DOCX)
    assert ex is not None
    e = ex.extract(src, Limits(tika_isolated=False))
    assert e.title == "В процесі" and ART5_UK in text_of(e)
