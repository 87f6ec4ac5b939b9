"""What a redaction costs (issue 20, part 2): ingest N texts of the BRUK corpus (embedder off),
redact a word of one document (every occurrence), then lift it, and time both against
``archive reindex`` of the same archive. A redaction rewrites the search index like a purge.

    PYTHONPATH=. .venv/bin/python bench/redact_cost.py --files 400 [--backend embedded|opensearch]
"""

from __future__ import annotations

import re

from bruk_archive import arguments, bruk_archive, report, timed
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
        t_redact, red = timed(
            lambda: svc.redactions.redact_document(doc, LOCAL_ADMIN, reason="benchmark", phrase=word)
        )
        t_lift, _ = timed(lambda: svc.redactions.lift(int(red["id"]), LOCAL_ADMIN))
        t_reindex, _ = timed(svc.reindex)
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
