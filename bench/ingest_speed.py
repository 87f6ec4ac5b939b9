"""End-to-end ingestion speed: born-digital PDF pages per second until keyword-searchable
(``ArchiveService.ingest`` = store, sniff, sandboxed extraction, normalise, split, language,
catalog, then ``index_pending`` into the embedded backend; embedder ``none``; SQLite), peak memory
(``ru_maxrss`` of this process and of its waited-for children), and Tika alone
(``iscc_tika.Extractor().extract_file_to_string``, in this process) on the office/HTML files of
aleph-ingest-fixtures for comparison with the same files through the whole pipeline.

PDFs: unlp2026-uk-medical-pdf/pdfs (Ukrainian medical PDFs) and pypdf-sample-files (born-digital
ones; pages that fell back to OCR are counted in ``pages_by_method``).

    .venv/bin/python bench/ingest_speed.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from archive_search.catalog.models import Document, Page
from archive_search.search_api.service import ArchiveService
from archive_search.settings import Settings

DATA = Path("/work/shared/data")
OFFICE_HTML = {".doc", ".docx", ".odt", ".ppt", ".xlsx", ".html", ".eml"}


def _pdfs() -> list[Path]:
    unlp = sorted((DATA / "unlp2026-uk-medical-pdf" / "pdfs").glob("*.pdf"))
    pypdf = sorted((DATA / "pypdf-sample-files").rglob("*.pdf"))
    return unlp + pypdf


def _office() -> list[Path]:
    d = DATA / "aleph-ingest-fixtures" / "files"
    return sorted(
        p
        for p in d.iterdir()
        if p.suffix.lower() in OFFICE_HTML and "password" not in p.name and "encypted" not in p.name
    )


def _pages(svc: ArchiveService, collection_docs: set[str]) -> int:
    with svc.catalog.session() as s:
        ids = [int(i) for i in collection_docs]
        return int(s.scalar(select(func.count(Page.id)).where(Page.document_id.in_(ids))) or 0)


def _pages_by_method(svc: ArchiveService, ids: set[str]) -> dict[str, int]:
    with svc.catalog.session() as s:
        q = select(Page.method, func.count(Page.id)).where(Page.document_id.in_([int(i) for i in ids]))
        return {str(m): int(n) for m, n in s.execute(q.group_by(Page.method)).all()}


def _maxrss_mib() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self_mib": round(me, 1), "children_max_mib": round(kids, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ingest-speed-"))
    url = f"sqlite:///{tmp / 'c.sqlite3'}"
    settings = Settings(data_dir=tmp / "data", database_url=url, embedder="none")  # type: ignore[arg-type]
    svc = ArchiveService(settings)
    res: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
        "python": platform.python_version(),
    }
    # warm-up: start the sandbox pool and load the language models outside the timing
    warm = DATA / "aleph-ingest-fixtures" / "files" / "utf.txt"
    svc.ingest([warm], "warmup")

    pdfs = _pdfs()
    t = time.perf_counter()
    rep = svc.ingest(pdfs, "pdfs")
    pdf_s = time.perf_counter() - t
    ids = {f.document_id for f in rep.files if f.document_id}
    pages = _pages(svc, ids)
    res["pdf"] = {
        "files": len(pdfs),
        "outcomes": rep.counts(),
        "pages": pages,
        "pages_by_method": _pages_by_method(svc, ids),
        "bytes": sum(p.stat().st_size for p in pdfs),
        "seconds": round(pdf_s, 2),
        "pages_per_s": round(pages / pdf_s, 2),
        "pending_index_after": svc.status()["pending_index"],
    }

    office = _office()
    t = time.perf_counter()
    rep = svc.ingest(office, "office")
    office_s = time.perf_counter() - t
    res["office_pipeline"] = {"files": len(office), "outcomes": rep.counts(), "seconds": round(office_s, 2)}

    import iscc_tika

    t = time.perf_counter()
    ex = iscc_tika.Extractor()
    init_s = time.perf_counter() - t
    t = time.perf_counter()
    chars = 0
    for p in office:
        text, _ = ex.extract_file_to_string(str(p))
        chars += len(text)
    tika_s = time.perf_counter() - t
    res["tika_alone"] = {
        "files": len(office),
        "chars": chars,
        "init_s": round(init_s, 2),
        "seconds": round(tika_s, 2),
    }

    with svc.catalog.session() as s:
        res["documents"] = int(s.scalar(select(func.count(Document.id))) or 0)
    svc.close()
    res["peak_rss"] = _maxrss_mib()
    print(json.dumps(res, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
