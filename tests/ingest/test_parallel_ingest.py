"""Parallel extraction (``Ingestor(workers=N)``, ``ARCHIVE_INGEST_WORKERS``): several sandbox
workers extract at once while one thread writes the catalog; the outcome is the same as in
sequence — one terminal item per file, one document per content, reports in the files' order."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from sqlalchemy import func, select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Document, IngestItem, Passage
from archive_search.catalog.store import OriginalStore
from archive_search.settings import Settings
from archive_search.types import FileReport
from ingest.pipeline import Ingestor, ingest_workers
from ingest.registry import Limits, SandboxLimits
from ingest.sandbox import shared_sandbox
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR


def _inputs(tmp: Path) -> list[Path]:
    folder = tmp / "in"
    folder.mkdir(parents=True)
    for p in sorted(SAMPLE_DIR.iterdir()):
        shutil.copyfile(p, folder / p.name)
    shutil.copyfile(SAMPLE_DIR / "udhr-uk.txt", folder / "zz-same-bytes-as-udhr-uk.txt")
    with zipfile.ZipFile(folder / "zy-bundle.zip", "w") as z:
        z.write(SAMPLE_DIR / "udhr-en.txt", "inner/udhr-en.txt")  # a duplicate of a top-level file
        z.writestr(zipfile.ZipInfo("inner/note.txt", (2024, 1, 1, 0, 0, 0)), "Нотатка про свідчення з Бучі.")
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 4)  # unsupported
    (folder / "empty.txt").write_bytes(b"")
    return [folder]


def _ingest(
    tmp: Path, catalog_url: str, workers: int, sandbox: SandboxLimits
) -> tuple[Ingestor, list[FileReport]]:
    ing = Ingestor(
        Catalog(catalog_url),
        OriginalStore(tmp / "originals"),
        limits=Limits(sandbox_limits=sandbox),
        workers=workers,
    )
    return ing, ing.ingest(_inputs(tmp), "par").files


def _summary(ing: Ingestor) -> tuple[dict[str, int], int, int]:
    with ing.catalog.session() as s:
        states = dict(s.execute(select(IngestItem.state, func.count()).group_by(IngestItem.state)).all())
        docs = int(s.scalar(select(func.count(Document.id))) or 0)
        passages = int(s.scalar(select(func.count(Passage.id))) or 0)
    return {str(k): int(v) for k, v in states.items()}, docs, passages


def _relative(files: list[FileReport], root: Path) -> list[tuple[str, str, str | None, bool]]:
    return [(f.path.replace(str(root), ""), f.outcome.value, f.code, f.duplicate) for f in files]


def test_parallel_ingest_records_every_file_once(tmp_path: Path, catalog_url: str) -> None:
    sandbox = SandboxLimits(files_per_worker=199)  # a pool of its own, to count its workers
    ing, files = _ingest(tmp_path, catalog_url, 3, sandbox)
    states, docs, passages = _summary(ing)
    assert set(states) <= {"ok", "failed", "skipped"} and sum(states.values()) == len(files) == 18
    names = [f.path.rsplit("/", 1)[-1] for f in files]
    assert names[: names.index("zy-bundle.zip") + 3][-3:] == ["zy-bundle.zip", "udhr-en.txt", "note.txt"]
    dup = files[names.index("zz-same-bytes-as-udhr-uk.txt")]
    assert dup.outcome.value == "ok" and dup.duplicate
    member = files[names.index("zy-bundle.zip") + 1]
    assert member.duplicate and member.document_id == files[names.index("udhr-en.txt")].document_id
    assert {f.code for f in files if f.outcome.value == "skipped"} == {"unsupported_type", "empty"}
    assert docs == len({f.document_id for f in files if f.document_id}) and passages > docs
    assert shared_sandbox(sandbox).started >= 3  # three extractions did run at once
    again = ing.ingest(_inputs(tmp_path / "again"), "par").files  # resumable: nothing new
    assert all(f.duplicate for f in again if f.outcome.value == "ok") and _summary(ing)[1:] == (
        docs,
        passages,
    )
    ing.catalog.close()


def test_parallel_equals_sequential(tmp_path: Path) -> None:
    runs = {}
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        ing, files = _ingest(root, f"sqlite:///{root}.sqlite3", workers, SandboxLimits())
        runs[workers] = (_relative(files, root), _summary(ing))
        ing.catalog.close()
    assert runs[1] == runs[2]


def test_workers_setting_defaults_to_the_cores(tmp_path: Path) -> None:
    assert ingest_workers(Settings(data_dir=tmp_path, ingest_workers=0)) == len(os.sched_getaffinity(0))
    assert ingest_workers(Settings(data_dir=tmp_path, ingest_workers=5)) == 5


def test_ctrl_c_stops_the_extractions_in_flight(tmp_path: Path) -> None:
    """An interrupted parallel ingestion does not wait for its running extractions (OCR of long
    scans here): their workers are killed, the command ends at once, no worker is left behind,
    and the next run marks the interrupted files ``failed(interrupted)``."""
    import signal
    import subprocess
    import sys
    import time

    import pytest

    slow = [
        Path("/work/shared/data/pdfjs-test-pdfs/pdfs/issue12963.pdf"),  # ~36 s of OCR
        Path("/work/shared/data/aleph-ingest-fixtures/files/example.pdf"),  # ~34 s of OCR
    ]
    if not all(p.exists() for p in slow):
        pytest.skip("shared test data is missing")
    data = tmp_path / "data"
    env = {
        **os.environ,
        "ARCHIVE_DATA_DIR": str(data),
        "ARCHIVE_EMBEDDER": "none",
        "ARCHIVE_INGEST_WORKERS": "2",
    }
    env.pop("ARCHIVE_DATABASE_URL", None)
    exe = str(Path(sys.executable).with_name("archive"))
    proc = subprocess.Popen(
        [exe, "ingest", *map(str, slow)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    time.sleep(8)  # both files are being OCR'd by now
    assert proc.poll() is None
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert time.monotonic() - t < 15 and proc.returncode != 0
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", f"archive-extract-{proc.pid}-"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "extraction workers outlived the interrupted ingestion"
    svc = ArchiveService(Settings(data_dir=data, embedder="none"))
    try:
        from ingest.recovery import recover_interrupted

        assert recover_interrupted(svc.catalog, svc.store.root) == 2
        with svc.catalog.session() as s:
            rows = s.execute(select(IngestItem.state, IngestItem.code)).all()
        assert sorted(map(tuple, rows)) == [("failed", "interrupted")] * 2
    finally:
        svc.close()
