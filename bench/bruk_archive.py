"""A throwaway archive of the BRUK corpus's first N texts (embedder off) for the duty-of-care
benchmarks (``purge_cost.py``, ``redact_cost.py``): their shared arguments and set-up, so each
script holds only what it times. Not a script of its own."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from archive_search.catalog.models import Document, Passage
from archive_search.settings import Settings
from search_api.service import ArchiveService

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "brown-uk-bruk-good" / "good"


def arguments(description: str | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--backend", default="embedded")
    ap.add_argument("--opensearch-url", default=None)
    return ap.parse_args()


@contextmanager
def bruk_archive(args: argparse.Namespace, index_prefix: str, **settings: Any) -> Iterator[dict[str, Any]]:
    """Ingest the texts into a temporary archive; yields ``svc``, ``files``, ``passages`` (their
    count), ``first`` (the first document's id) and ``data_dir``. An OpenSearch index is dropped
    at the end."""
    files = sorted(CORPUS.glob("*.txt"))[: args.files]
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "opensearch":
            settings |= {
                "backend": "opensearch",
                "opensearch_url": args.opensearch_url,
                "opensearch_index_prefix": index_prefix,
            }
        svc = ArchiveService(Settings(data_dir=Path(tmp), embedder="none", **settings))
        try:
            svc.ingest(files, "bruk")
            with svc.catalog.session() as s:
                n_pass = s.scalar(select(func.count(Passage.id))) or 0
                first = s.scalar(select(Document.id).order_by(Document.id))
            assert first is not None
            yield {"svc": svc, "files": len(files), "passages": n_pass, "first": first, "data_dir": Path(tmp)}
        finally:
            if args.backend == "opensearch":
                drop = getattr(svc.backend, "drop", None)
                if drop:
                    drop()
            svc.close()


def report(args: argparse.Namespace, run: dict[str, Any], **numbers: Any) -> None:
    print(
        json.dumps({"backend": args.backend, "files": run["files"], "passages": run["passages"], **numbers})
    )


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``work()`` took, and what it returned."""
    t0 = time.perf_counter()
    out = work()
    return time.perf_counter() - t0, out
