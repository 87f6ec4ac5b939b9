"""What a redaction costs (issue 20, part 2): ingest N texts of the BRUK corpus (embedder off),
redact a word of one document (every occurrence), then lift it, and time both against
``archive reindex`` of the same archive. A redaction rewrites the search index like a purge.

    PYTHONPATH=. .venv/bin/python bench/redact_cost.py --files 400 [--backend embedded|opensearch]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from archive_search.catalog.models import Document, Passage
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN
from search_api.service import ArchiveService

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "brown-uk-bruk-good" / "good"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--backend", default="embedded")
    ap.add_argument("--opensearch-url", default=None)
    args = ap.parse_args()
    files = sorted(CORPUS.glob("*.txt"))[: args.files]
    with tempfile.TemporaryDirectory() as tmp:
        extra: dict[str, object] = {}
        if args.backend == "opensearch":
            extra = {
                "backend": "opensearch",
                "opensearch_url": args.opensearch_url,
                "opensearch_index_prefix": "bench-redact",
            }
        settings = Settings(data_dir=Path(tmp), embedder="none", **extra)  # type: ignore[arg-type]
        svc = ArchiveService(settings)
        try:
            svc.ingest(files, "bruk")
            with svc.catalog.session() as s:
                n_pass = s.scalar(select(func.count(Passage.id))) or 0
                doc = s.scalar(select(Document.id).order_by(Document.id))
                text = s.scalar(select(Passage.text).where(Passage.document_id == doc).order_by(Passage.seq))
            assert doc is not None and text
            word = max(re.findall(r"\w{6,}", text), key=len)  # a long word of the document
            t0 = time.perf_counter()
            red = svc.redactions.redact_document(doc, LOCAL_ADMIN, reason="benchmark", phrase=word)
            t_redact = time.perf_counter() - t0
            t0 = time.perf_counter()
            svc.redactions.lift(int(red["id"]), LOCAL_ADMIN)
            t_lift = time.perf_counter() - t0
            t0 = time.perf_counter()
            svc.reindex()
            t_reindex = time.perf_counter() - t0
            print(
                json.dumps(
                    {
                        "backend": args.backend,
                        "files": len(files),
                        "passages": n_pass,
                        "spans": red["span_count"],
                        "redact_s": round(t_redact, 2),
                        "lift_s": round(t_lift, 3),
                        "reindex_s": round(t_reindex, 2),
                    }
                )
            )
        finally:
            if args.backend == "opensearch":
                drop = getattr(svc.backend, "drop", None)
                if drop:
                    drop()
            svc.close()


if __name__ == "__main__":
    main()
