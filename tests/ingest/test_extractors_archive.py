"""Archives unpacked into child documents: zip, tar, tar.gz, single .gz; nesting depth, member
count and size limits (zip/tar bombs), path traversal and links refused, every member's outcome
recorded; real fixtures from /work/shared/data/aleph-ingest-fixtures."""

from __future__ import annotations

import gzip
import importlib.util
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Document, IngestItem, Passage
from archive_search.types import JobReport
from ingest.archives import ArchiveLimits, safe_name
from ingest.pipeline import Ingestor
from search_api.service import ArchiveService

ALEPH = Path("/work/shared/data/aleph-ingest-fixtures/files")
TEXT_UK = "Усі люди народжуються вільними і рівними у своїй гідності та правах."
TEXT_RU = "Все люди рождаются свободными и равными в своем достоинстве и правах."
TEXT_BE = "Усе людзі нараджаюцца свабоднымі і роўнымі ў сваёй годнасці і правах."


def aleph(name: str) -> Path:
    if not ALEPH.is_dir():
        pytest.skip(f"shared test data folder {ALEPH} is missing")
    return ALEPH / name


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(members: dict[str, bytes], mode: str = "w:gz", links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in (links or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            tf.addfile(ti)
    return buf.getvalue()


def ingest(service: ArchiveService, paths: list[Path], limits: ArchiveLimits | None = None) -> JobReport:
    ing = Ingestor(service.catalog, service.store, archive_limits=limits)
    return ing.ingest(paths, "c")


def outcomes(rep: JobReport) -> dict[str, tuple[str, str | None]]:
    """Outcomes by file name (top level) or by path inside the archive (members)."""
    return {
        (f.path.split("!/", 1)[1] if "!/" in f.path else Path(f.path).name): (f.outcome, f.code)
        for f in rep.files
    }


def test_safe_names() -> None:
    assert safe_name("a/b/../c.txt") is None
    assert safe_name("../evil.txt") is None
    assert safe_name("/etc/passwd") is None
    assert safe_name("C:\\Windows\\x.txt") is None
    assert safe_name("./dir//file.txt") == "dir/file.txt"
    assert safe_name("dir\\file.txt") == "dir/file.txt"


def test_zip_members_become_child_documents_and_nested_archives_recurse(
    service: ArchiveService, tmp_path: Path
) -> None:
    inner = make_zip({"be.txt": TEXT_BE.encode()})
    outer = tmp_path / "bundle.zip"
    outer.write_bytes(
        make_zip(
            {"docs/uk.txt": TEXT_UK.encode(), "docs/ru.txt": TEXT_RU.encode("cp1251"), "inner.zip": inner}
        )
    )
    rep = ingest(service, [outer])
    paths = [f.path for f in rep.files]
    assert paths[0] == str(outer)
    assert set(paths[1:]) == {
        f"{outer}!/docs/uk.txt",
        f"{outer}!/docs/ru.txt",
        f"{outer}!/inner.zip",
        f"{outer}!/inner.zip!/be.txt",
    }
    assert all(f.outcome == "ok" for f in rep.files), rep.files
    with service.catalog.session() as s:
        docs = {d.filename: d for d in s.scalars(select(Document))}
        assert docs["bundle.zip"].doc_type == "archive" and docs["bundle.zip"].parent_id is None
        assert docs["docs/uk.txt"].parent_id == docs["bundle.zip"].id and docs["docs/uk.txt"].lang == "uk"
        assert docs["docs/ru.txt"].lang == "ru"
        assert docs["inner.zip"].parent_id == docs["bundle.zip"].id
        assert docs["be.txt"].parent_id == docs["inner.zip"].id
        items = dict(s.execute(select(IngestItem.path, IngestItem.state)).all())
        assert len(items) == 5 and set(items.values()) == {"ok"}
        texts = set(s.scalars(select(Passage.text)))
    assert {TEXT_UK, TEXT_RU, TEXT_BE} <= texts
    # the same archive again is a duplicate: its members are not unpacked twice
    again = ingest(service, [outer])
    assert [(f.outcome, f.duplicate) for f in again.files] == [("ok", True)]


def test_tar_gz_with_traversal_and_links_refused(service: ArchiveService, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    arc = work / "upload.tar.gz"
    arc.write_bytes(
        make_tar(
            {"ok/uk.txt": TEXT_UK.encode(), "../evil.txt": b"pwned", "/abs/evil2.txt": b"pwned"},
            links={"ok/passwd": "/etc/passwd"},
        )
    )
    rep = ingest(service, [arc])
    got = outcomes(rep)
    assert got["upload.tar.gz"] == ("ok", None)
    assert got["ok/uk.txt"] == ("ok", None)
    assert got["../evil.txt"] == ("skipped", "unsafe_path")
    assert got["/abs/evil2.txt"] == ("skipped", "unsafe_path")
    assert got["ok/passwd"] == ("skipped", "not_a_file")
    assert not (tmp_path / "evil.txt").exists() and not Path("/abs/evil2.txt").exists()


def test_plain_tar_and_single_gzip(service: ArchiveService, tmp_path: Path) -> None:
    tar = tmp_path / "a.tar"
    tar.write_bytes(make_tar({"x/ru.txt": TEXT_RU.encode("koi8_r")}, mode="w"))
    gz = tmp_path / "note.txt.gz"
    gz.write_bytes(gzip.compress(TEXT_UK.encode()))
    rep = ingest(service, [tar, gz])
    assert all(f.outcome == "ok" for f in rep.files), rep.files
    with service.catalog.session() as s:
        docs = {d.filename: d for d in s.scalars(select(Document))}
    assert {"a.tar", "x/ru.txt", "note.txt.gz", "note.txt"} == set(docs)
    assert docs["note.txt"].parent_id == docs["note.txt.gz"].id and docs["note.txt"].lang == "uk"
    assert docs["x/ru.txt"].lang == "ru"


def test_zip_bomb_and_too_many_members_are_refused_before_unpacking(
    service: ArchiveService, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(make_zip({"zeros.txt": b"0" * (8 * 1024 * 1024)}))
    many = tmp_path / "many.zip"
    many.write_bytes(make_zip({f"f{i}.txt": f"{TEXT_UK} {i}".encode() for i in range(12)}))
    tarbomb = tmp_path / "bomb.tar.gz"
    tarbomb.write_bytes(make_tar({"zeros.txt": b"0" * (8 * 1024 * 1024)}))
    limits = ArchiveLimits(max_ratio=20, min_budget=1024 * 1024, max_members=10)
    rep = ingest(service, [bomb, many, tarbomb], limits)
    got = {Path(f.path).name: (f.outcome, f.code) for f in rep.files}
    assert got == {
        "bomb.zip": ("failed", "archive_too_large"),
        "many.zip": ("failed", "too_many_members"),
        "bomb.tar.gz": ("failed", "archive_too_large"),
    }
    with service.catalog.session() as s:
        assert list(s.scalars(select(Document))) == []  # nothing was unpacked


def test_nesting_deeper_than_the_limit_is_skipped(service: ArchiveService, tmp_path: Path) -> None:
    data = make_zip({"deep.txt": TEXT_UK.encode()})
    for level in range(4, 0, -1):
        data = make_zip({f"level{level}.zip": data})
    top = tmp_path / "top.zip"
    top.write_bytes(data)
    rep = ingest(service, [top], ArchiveLimits(max_depth=3))
    got = {f.path.rsplit("!/", 1)[-1]: (f.outcome, f.code) for f in rep.files}
    assert got["level1.zip"] == ("ok", None) and got["level2.zip"] == ("ok", None)
    assert got["level3.zip"] == ("skipped", "archive_too_deep")
    assert "level4.zip" not in got and "deep.txt" not in got


def test_encrypted_and_corrupt_members(service: ArchiveService, tmp_path: Path) -> None:
    data = bytearray(make_zip({"secret.txt": TEXT_UK.encode(), "plain.txt": TEXT_RU.encode()}))
    # set the "encrypted" flag of the first member in its local header and central directory
    data[6] |= 1
    cd = data.find(b"PK\x01\x02")
    data[cd + 8] |= 1
    enc = tmp_path / "enc.zip"
    enc.write_bytes(bytes(data))
    crc = bytearray(make_zip({"a.txt": TEXT_UK.encode() * 20}))
    crc[14] ^= 0xFF  # a wrong CRC-32 in the local header... and in the central directory
    crc[crc.find(b"PK\x01\x02") + 16] ^= 0xFF
    bad_crc = tmp_path / "crc.zip"
    bad_crc.write_bytes(bytes(crc))
    rep = ingest(service, [enc, bad_crc])
    got = {f.path: (f.outcome, f.code) for f in rep.files}
    assert got[f"{enc}!/secret.txt"] == ("failed", "encrypted")
    assert got[f"{enc}!/plain.txt"] == ("ok", None)
    assert got[f"{bad_crc}!/a.txt"] == ("failed", "corrupt_member")


@pytest.mark.skipif(importlib.util.find_spec("iscc_tika") is None, reason="iscc-tika is not installed")
def test_real_archive_fixtures(service: ArchiveService) -> None:
    names = ["test-documents.zip", "badzip.zip", "badtar.tar", "bad7zip.7z", "7z_password.7z", "badrar.rar"]
    rep = ingest(service, [aleph(n) for n in names])
    got = {f.path.replace(str(ALEPH) + "/", ""): (f.outcome, f.code) for f in rep.files}
    assert got["test-documents.zip"] == ("ok", None)
    inside = "test-documents.zip!/"
    ok_members = {p[len(inside) :] for p, (o, _) in got.items() if p.startswith(inside) and o == "ok"}
    assert ok_members >= {
        "testHTML.html",
        "testOpenOffice2.odt",
        "testPDF.pdf",
        "testRTF.rtf",
        "testTXT.txt",
        "testWORD.doc",
        "testEXCEL.xls",
    }
    # the "bad" zip and tar hold a symbolic link to a file outside the archive
    assert got["badzip.zip!/secret.txt"] == ("skipped", "not_a_file")
    assert got["badtar.tar!/secret.txt"] == ("skipped", "not_a_file")
    assert got["badrar.rar"] == ("skipped", "unsupported_type")
    if importlib.util.find_spec("py7zr") is None:
        assert got["bad7zip.7z"] == got["7z_password.7z"] == ("skipped", "unsupported_type")
    else:
        assert got["bad7zip.7z"] == ("ok", None)
        assert got["bad7zip.7z!/secret.txt"] == ("skipped", "not_a_file")
        assert got["7z_password.7z"] == ("failed", "encrypted")
    assert all(f.outcome in ("ok", "failed", "skipped") for f in rep.files)


def test_seven_zip_members(service: ArchiveService, tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    arc = tmp_path / "bundle.7z"
    with py7zr.SevenZipFile(arc, "w") as z:
        z.writestr(TEXT_UK.encode(), "docs/uk.txt")
        z.writestr(make_zip({"ru.txt": TEXT_RU.encode("cp866")}), "inner.zip")
    bomb = tmp_path / "bomb.7z"
    with py7zr.SevenZipFile(bomb, "w") as z:
        z.writestr(b"0" * (4 * 1024 * 1024), "zeros.txt")
    rep = ingest(service, [arc, bomb], ArchiveLimits(min_budget=1024 * 1024))
    got = outcomes(rep)
    for name in ("bundle.7z", "docs/uk.txt", "inner.zip", "inner.zip!/ru.txt"):
        assert got[name] == ("ok", None), name
    assert got["bomb.7z"] == ("failed", "archive_too_large")
    with service.catalog.session() as s:
        docs = {d.filename: d for d in s.scalars(select(Document))}
    assert docs["ru.txt"].parent_id == docs["inner.zip"].id and docs["ru.txt"].lang == "ru"
    assert docs["docs/uk.txt"].parent_id == docs["bundle.7z"].id


def test_archive_limits_and_tika_timeout_come_from_the_settings(tmp_path: Path) -> None:
    from ingest.sandbox import extraction_limits
    from tests.conftest import make_settings

    settings = make_settings(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'c.sqlite3'}",
        archive_max_members=2,
        archive_max_depth=1,
        archive_min_unpacked_mb=1,
        archive_max_unpacked_mb=2,
        tika_timeout_s=12.5,
    )
    assert extraction_limits(settings).tika_timeout_s == 12.5
    svc = ArchiveService(settings)
    try:
        ing = svc.ingestor()
        lim = ing.archive_limits
        assert (lim.max_depth, lim.max_members, lim.min_budget, lim.max_total_bytes) == (
            1,
            2,
            2**20,
            2 * 2**20,
        )
        many = tmp_path / "many.zip"
        many.write_bytes(make_zip({f"m{i}.txt": f"Свідчення номер {i}.".encode() for i in range(3)}))
        nested = tmp_path / "nested.zip"
        nested.write_bytes(make_zip({"inner.zip": make_zip({"a.txt": "Текст.".encode()})}))
        rep = svc.ingest([many, nested], "limits")
        got = {f.path.replace(str(tmp_path) + "/", ""): (f.outcome.value, f.code) for f in rep.files}
        assert got["many.zip"] == ("failed", "too_many_members")
        assert got["nested.zip!/inner.zip"] == ("skipped", "archive_too_deep")
    finally:
        svc.close()
