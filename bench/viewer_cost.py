"""What the document viewer's hits, marks and entity links cost (issue 21, item 8): for one
document of the sample archive, the query's matching passages (a backend search), the passage
layout, the entity mentions and the rendering of its text with every mark, 20 runs each.

    PYTHONPATH=$PWD .venv/bin/python bench/viewer_cost.py DATA_DIR DOCUMENT_ID

DATA_DIR holds an archive (``archive ingest``) with the sample; the numbers are in
docs/benchmarks.md.
"""

import statistics
import sys
import time
from pathlib import Path

from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN
from search_api.service import ArchiveService
from ui import documents as docs

svc = ArchiveService(Settings(data_dir=Path(sys.argv[1]), embedder="none"))  # type: ignore[call-arg]
doc = int(sys.argv[2])


def view(q: str) -> tuple[int, int]:
    found = svc.document_hits(doc, q, LOCAL_ADMIN)
    places = svc.passage_layout(doc, LOCAL_ADMIN)
    ms = svc.entities.in_document(doc, LOCAL_ADMIN)
    parts = svc.document_text(doc, LOCAL_ADMIN)
    by = {}
    for m in ms:
        by.setdefault(m.passage_id, []).append(m)
    for part in parts:
        docs.render_page(
            part["text"],
            span=None,
            anchor="",
            found=found,
            mentions=[(p.char_start, by.get(p.passage_id, [])) for p in places if p.passage_id in by],
        )
    return len(found.passages), len(ms)


for q in ("everyone", "right freedom"):
    view(q)
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        r = view(q)
        ts.append((time.perf_counter() - t) * 1000)
    print(q, r, f"median {statistics.median(ts):.1f} ms, p90 {sorted(ts)[17]:.1f} ms")
t = time.perf_counter()
for _ in range(20):
    svc.document_text(doc, LOCAL_ADMIN)
print(f"document_text alone {(time.perf_counter() - t) * 50:.1f} ms")
