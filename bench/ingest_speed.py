"""End-to-end ingestion speed: born-digital PDF pages per second until keyword-searchable
(``ArchiveService.ingest`` = store, sniff, sandboxed extraction, normalise, split, language,
catalog, then ``index_pending`` into the embedded backend; embedder ``none``; SQLite), peak memory
(``ru_maxrss`` of this process and of its waited-for children), and Tika alone
(``iscc_tika.Extractor().extract_file_to_string``, in this process) on the office/HTML files of
aleph-ingest-fixtures for comparison with the same files through the whole pipeline.

PDFs: unlp2026-uk-medical-pdf/pdfs (Ukrainian medical PDFs) and pypdf-sample-files (born-digital
ones; pages that fell back to OCR are counted in ``pages_by_method``). Both sets are ingested with
each ``--workers`` count (``ARCHIVE_INGEST_WORKERS``) into a fresh catalog in the same run, so the
ratios compare like with like; ``unlp_only`` is the 30 UNLP PDFs alone (every page a text layer).

    .venv/bin/python bench/ingest_speed.py [--workers 1,2] [--json out.json]
    .venv/bin/python bench/ingest_speed.py --workers 2 --born-digital-only 3   # UNLP only, 3 runs
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
from archive_search.settings import Settings
from ingest import sandbox as sandbox_mod
from search_api.service import ArchiveService

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


def _service(workers: int) -> ArchiveService:
    tmp = Path(tempfile.mkdtemp(prefix="ingest-speed-"))
    url = f"sqlite:///{tmp / 'c.sqlite3'}"
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp / "data", database_url=url, embedder="none", ingest_workers=workers
    )
    svc = ArchiveService(settings)
    # warm-up: start the sandbox pool and load the language models outside the timing
    d = DATA / "aleph-ingest-fixtures" / "files"
    svc.ingest([d / "utf.txt", d / "non_utf.txt", d / "udhr_ger.txt"][: workers + 1], "warmup")
    return svc


def _worker_cpu() -> dict[int, float]:
    """CPU seconds of each live sandbox worker, its reaped children (Tesseract) included."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for sb in list(sandbox_mod._SHARED.values()):
        with sb._cond:
            pids = [w.proc.pid for w in sb._idle]
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    return out


def _cpu_now() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _pdf_run(workers: int, pdfs: list[Path]) -> dict[str, object]:
    svc = _service(workers)
    (self0, kids0), w0 = _cpu_now(), _worker_cpu()
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    rep = svc.ingest(pdfs, "pdfs")
    pdf_s = time.perf_counter() - t
    (self1, kids1), w1 = _cpu_now(), _worker_cpu()
    workers_cpu = sum(v - w0.get(pid, 0.0) for pid, v in w1.items()) + (kids1 - kids0)
    ids = {f.document_id for f in rep.files if f.document_id}
    pages = _pages(svc, ids)
    out: dict[str, object] = {
        "workers": workers,
        "files": len(pdfs),
        "outcomes": rep.counts(),
        "pages": pages,
        "pages_by_method": _pages_by_method(svc, ids),
        "bytes": sum(p.stat().st_size for p in pdfs),
        "seconds": round(pdf_s, 2),
        "pages_per_s": round(pages / pdf_s, 2),
        "pending_index_after": svc.status()["pending_index"],
        "cpu_s": {"ingesting_process": round(self1 - self0, 2), "workers": round(workers_cpu, 2)},
        "cpu_ms_per_page": round(1000 * (self1 - self0 + workers_cpu) / max(pages, 1), 2),
        "load_average_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }
    svc.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    ap.add_argument(
        "--born-digital-only",
        type=int,
        metavar="RUNS",
        help="only the UNLP PDFs, RUNS timed runs per worker count in this process (the first one "
        "starts the workers' dictionaries and PDF library cold; the later ones are the steady state)",
    )
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    res: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
        "python": platform.python_version(),
    }
    pdfs = _pdfs()
    unlp = [p for p in pdfs if "unlp2026" in str(p)]
    if args.born_digital_only:
        res["unlp_only"] = [_pdf_run(w, unlp) for w in counts for _ in range(args.born_digital_only)]
        print(json.dumps(res, indent=2, ensure_ascii=False))
        if args.json:
            args.json.write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
        return
    res["pdf"] = [_pdf_run(w, pdfs) for w in counts]
    res["unlp_only"] = [_pdf_run(w, unlp) for w in counts]
    for key in ("pdf", "unlp_only"):
        runs = res[key]
        assert isinstance(runs, list)
        base = runs[0]["seconds"]
        for r in runs:
            r["speedup_vs_first"] = round(float(base) / float(r["seconds"]), 2)
    svc = _service(counts[-1])

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
