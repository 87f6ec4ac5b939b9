"""Ingestion end to end on real files: outcomes, duplicates, originals, provenance, bad input."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive_search.catalog.models import Document, IngestItem, Page, Passage, StoredFile
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.all_stacks  # the service tests also run on OpenSearch + PostgreSQL


def _count(svc: ArchiveService, model: type) -> int:
    with svc.catalog.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_same_bytes_twice_are_one_document_and_the_original_is_identical(
    service: ArchiveService, tmp_path: Path
) -> None:
    src = SAMPLE_DIR / "udhr-uk-articles.pdf"
    copy = tmp_path / "renamed-copy.pdf"
    shutil.copyfile(src, copy)
    first = service.ingest([src], "c1")
    second = service.ingest([src, copy], "c1")
    assert first.files[0].outcome == "ok" and not first.files[0].duplicate
    assert [f.duplicate for f in second.files] == [True, True]
    assert {f.document_id for f in second.files} == {first.files[0].document_id}
    assert _count(service, Document) == 1
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    with service.catalog.session() as s:
        assert s.scalar(select(StoredFile.sha256)) == sha
    assert service.store.path_for(sha).read_bytes() == src.read_bytes()
    # the same bytes in another collection are a document of that collection, stored once
    other = service.ingest([src], "c2")
    assert other.files[0].outcome == "ok" and not other.files[0].duplicate
    assert _count(service, Document) == 2 and _count(service, StoredFile) == 1


def test_pdf_pages_and_passages_keep_provenance(service: ArchiveService) -> None:
    rep = service.ingest([SAMPLE_DIR / "udhr-en-articles.pdf"], "c")
    doc_id = int(rep.files[0].document_id or 0)
    with service.catalog.session() as s:
        doc = s.get(Document, doc_id)
        assert doc is not None and doc.doc_type == "pdf" and doc.page_count == 5 and doc.lang == "en"
        pages = list(s.scalars(select(Page).where(Page.document_id == doc_id).order_by(Page.number)))
        assert [p.number for p in pages] == [1, 2, 3, 4, 5]
        assert all(p.method == "text-layer" for p in pages)
        torture = s.scalars(select(Passage).where(Passage.text.contains("torture"))).one()
        assert torture.page == 2
        page2 = pages[1].text
        assert page2[torture.char_start : torture.char_end] == torture.text


def test_scan_is_ocred(service: ArchiveService) -> None:
    rep = service.ingest([SAMPLE_DIR / "scan-ru-article-5.png", SAMPLE_DIR / "scan-ru-article-5.pdf"], "c")
    assert [f.outcome for f in rep.files] == ["ok", "ok"]
    with service.catalog.session() as s:
        pages = list(s.scalars(select(Page)))
        assert len(pages) == 2 and all(p.method == "ocr" for p in pages)
        assert all(p.confidence is not None and p.confidence > 50 for p in pages)
        assert all("пыткам" in p.text for p in pages)
        assert set(s.scalars(select(Document.doc_type))) == {"scan"}


def test_transcript_keeps_times_and_speakers(service: ArchiveService) -> None:
    rep = service.ingest([SAMPLE_DIR / "interview-uk-sample.srt"], "c")
    assert rep.files[0].outcome == "ok"
    with service.catalog.session() as s:
        rows = list(s.scalars(select(Passage).order_by(Passage.seq)))
    assert all(p.time_start is not None and p.time_end is not None for p in rows)
    assert {p.speaker for p in rows} >= {"Інтерв'юер", "Свідок"}
    assert rows == sorted(rows, key=lambda p: p.time_start or 0)
    assert all(p.lang == "uk" for p in rows if len(p.text) > 40)


def test_bad_files_are_recorded_and_the_batch_goes_on(service: ArchiveService, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "random.bin").write_bytes(bytes(range(256)) * 64)
    (bad / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj\ngarbage that is not a pdf")
    (bad / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (bad / "zz-good.txt").write_text(
        "Усі люди народжуються вільними і рівними у своїй гідності та правах.", "utf-8"
    )
    rep = service.ingest([bad], "c")
    by_name = {Path(f.path).name: f for f in rep.files}
    assert (by_name["empty.txt"].outcome, by_name["empty.txt"].code) == ("skipped", "empty")
    assert (by_name["random.bin"].outcome, by_name["random.bin"].code) == ("skipped", "unsupported_type")
    assert (by_name["broken.pdf"].outcome, by_name["broken.pdf"].code) == ("failed", "corrupt_pdf")
    assert (by_name["truncated.png"].outcome, by_name["truncated.png"].code) == ("failed", "corrupt_image")
    assert by_name["zz-good.txt"].outcome == "ok"
    # every original is kept, whatever its outcome
    for f in rep.files:
        if f.sha256:
            assert service.store.verify(f.sha256)
    with service.catalog.session() as s:
        states = dict(s.execute(select(IngestItem.path, IngestItem.state)).all())
    assert sorted(states.values()) == ["failed", "failed", "ok", "skipped", "skipped"]
    assert service.status()["files"] == {"ok": 1, "failed": 2, "skipped": 2}


def test_legacy_cyrillic_encoding_is_decoded(service: ArchiveService, tmp_path: Path) -> None:
    text = "Никто не должен подвергаться пыткам или жестоким, бесчеловечным или унижающим его достоинство"
    p = tmp_path / "cp1251.txt"
    p.write_bytes((text + " обращению и наказанию.\n").encode("cp1251"))
    rep = service.ingest([p], "c")
    assert rep.files[0].outcome == "ok"
    with service.catalog.session() as s:
        assert text in (s.scalar(select(Passage.text)) or "")
