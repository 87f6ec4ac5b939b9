"""Peak memory of exporting every hit of a search (``GET /search/export``'s code path).

Builds an archive of one record book per size (10,000 and 100,000 matching passages), then, in a
fresh process per export, opens the service, runs one search (service, index and analyser
loaded) and streams the whole export as CSV to /dev/null. It prints the resident memory (VmRSS)
before the export and the highest sampled after each block written, the process's peak RSS
(``ru_maxrss``, the search and the opening of the index included), the number of rows and the
time. Constant memory means the export adds about the same few MB whatever the number of hits.

    .venv/bin/python bench/export_rss.py [--sizes 10000 100000] [--backend embedded|opensearch]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from archive_search.settings import Settings  # noqa: E402

WORD = "затримання"


def _settings(data: Path, backend: str, url: str | None, size: int) -> Settings:
    extra: dict[str, object] = {}
    if backend == "opensearch":
        extra = {
            "backend": "opensearch",
            "opensearch_url": url,
            "opensearch_index_prefix": f"bench-export-{size}",
        }
    return Settings(data_dir=data, embedder="none", passage_chars=100, **extra)  # type: ignore[arg-type]


def _rss_kb() -> int:
    """The process's resident memory now (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def build(data: Path, backend: str, url: str | None, size: int) -> None:
    from search_api.service import ArchiveService

    folder = data.parent / f"in-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = (
        f"Запис {n}: {WORD} цивільного біля блокпоста номер {n}, свідок {n % 97}, район {n % 13}."
        for n in range(size)
    )
    (folder / "book.txt").write_text("\n\n".join(lines) + "\n", "utf-8")
    svc = ArchiveService(_settings(data, backend, url, size))
    try:
        svc.ingest([folder], "bench")
    finally:
        svc.close()


def measure(data: Path, backend: str, url: str | None, size: int) -> dict[str, object]:
    """Runs in its own process: the RSS numbers are this export's alone."""
    from archive_search.types import LOCAL_ADMIN, Hit, SearchRequest
    from search_api.hits_export import header, stream
    from search_api.service import ArchiveService

    svc = ArchiveService(_settings(data, backend, url, size))
    try:
        req = SearchRequest(q=WORD, mode="keyword", group="passage")
        total = svc.search(req, LOCAL_ADMIN).total
        base = _rss_kb()
        high = base
        t0 = time.perf_counter()
        info, hits = svc.retrieval.export_hits(req, LOCAL_ADMIN)
        rows = 0

        def counted() -> Iterator[Hit]:
            nonlocal rows
            for h in hits:
                rows += 1
                yield h

        written = 0
        with open("/dev/null", "wb") as out:
            for block in stream("csv", header(info, {"q": WORD}), counted()):
                written += len(block)
                out.write(block)
                high = max(high, _rss_kb())
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "backend": backend,
            "hits": total,
            "rows": rows,
            "bytes": written,
            "seconds": round(seconds, 1),
            "rss_before_export_mb": round(base / 1024, 1),
            "rss_max_during_export_mb": round(high / 1024, 1),
            "process_peak_rss_mb": round(peak / 1024, 1),
        }
    finally:
        svc.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--backend", choices=["embedded", "opensearch"], default="embedded")
    ap.add_argument("--opensearch-url")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="export-rss-"))
    if args.measure:
        print(
            json.dumps(
                measure(work / f"data-{args.measure}", args.backend, args.opensearch_url, args.measure)
            )
        )
        return
    for size in args.sizes:
        data = work / f"data-{size}"
        t0 = time.perf_counter()
        build(data, args.backend, args.opensearch_url, size)
        print(f"built {size} passages in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        cmd = [
            sys.executable,
            __file__,
            "--measure",
            str(size),
            "--backend",
            args.backend,
            "--work",
            str(work),
        ]
        if args.opensearch_url:
            cmd += ["--opensearch-url", args.opensearch_url]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        print(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
