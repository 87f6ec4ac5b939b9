"""What passage-level restriction costs a search (issue 20): the same keyword searches (and the
principal's look-up of its hidden passages) with no restricted passage and with ``--hidden``
restricted passages the caller may not read, on one archive of ``--passages`` short passages.

Each search is run ``--repeats`` times; the median and the 90th percentile are printed, in ms.

    .venv/bin/python bench/passage_exclusion.py [--passages 20000] [--hidden 0 100 1000 5000]
        [--backend embedded|opensearch] [--opensearch-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from archive_search.catalog.models import Passage  # noqa: E402
from archive_search.settings import Settings  # noqa: E402
from archive_search.types import LOCAL_ADMIN, SearchRequest  # noqa: E402
from search_api.service import ArchiveService  # noqa: E402

WORDS = [
    "свідок",
    "бачив",
    "колону",
    "техніки",
    "біля",
    "мосту",
    "вранці",
    "солдати",
    "затримали",
    "журналістів",
    "на",
    "блокпосту",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=20000)
    ap.add_argument("--hidden", type=int, nargs="+", default=[0, 100, 1000, 5000])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--backend", default="embedded")
    ap.add_argument("--opensearch-url", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        extra: dict[str, object] = {}
        if args.backend == "opensearch":
            extra = {"backend": "opensearch", "opensearch_url": args.opensearch_url}
        svc = ArchiveService(
            Settings(data_dir=Path(tmp) / "data", embedder="none", passage_chars=100, **extra)  # type: ignore[arg-type]
        )
        src = Path(tmp) / "src"
        src.mkdir()
        per_file = 2000
        for f in range(max(1, args.passages // per_file)):
            lines = [
                " ".join(WORDS[(i + j) % len(WORDS)] for j in range(8)) + f" n{f}x{i}."
                for i in range(per_file)
            ]
            (src / f"f{f}.txt").write_text("\n\n".join(lines), encoding="utf-8")
        t0 = time.perf_counter()
        svc.ingest(sorted(src.iterdir()), "bench")
        with svc.catalog.session() as s:
            ids = list(s.scalars(select(Passage.id).order_by(Passage.id)))
        print(f"{len(ids)} passages ingested in {time.perf_counter() - t0:.0f} s ({args.backend})")
        import dataclasses

        for n in args.hidden:
            who = dataclasses.replace(LOCAL_ADMIN, hidden_passages=frozenset(ids[: 2 * n : 2]))
            for q in ("мосту", '"колону техніки"', "свідок OR журналістів"):
                req = SearchRequest(q=q, mode="keyword", group="passage")
                svc.search(req, who)  # warm
                times = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    res = svc.search(req, who)
                    times.append((time.perf_counter() - t) * 1000)
                times.sort()
                p90 = times[int(len(times) * 0.9) - 1]
                print(
                    f"hidden={n:5d} q={q!r:26s} total={res.total:6d} "
                    f"median={statistics.median(times):7.1f} ms p90={p90:7.1f} ms"
                )
        svc.close()


if __name__ == "__main__":
    main()
