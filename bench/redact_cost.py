"""What a redaction costs (issue 20, part 2): ingest N texts of the BRUK corpus (embedder off),
redact a word of one document (every occurrence), then lift it, and time both against
``archive reindex`` of the same archive. A redaction rewrites the search index like a purge.

    PYTHONPATH=. .venv/bin/python bench/redact_cost.py --files 400 [--backend embedded|opensearch]
"""

from __future__ import annotations

import re
import time

from bruk_archive import arguments, bruk_archive, report
from sqlalchemy import select

from archive_search.catalog.models import Passage
from archive_search.types import LOCAL_ADMIN


def main() -> None:
    args = arguments(__doc__)
    with bruk_archive(args, "bench-redact") as run:
        svc, doc = run["svc"], run["first"]
        with svc.catalog.session() as s:
            text = s.scalar(select(Passage.text).where(Passage.document_id == doc).order_by(Passage.seq))
        assert text
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
        report(
            args,
            run,
            spans=red["span_count"],
            redact_s=round(t_redact, 2),
            lift_s=round(t_lift, 3),
            reindex_s=round(t_reindex, 2),
        )


if __name__ == "__main__":
    main()
