"""What the corroboration details cost (issue 21, item 3): an archive of N synthetic witness
statements about one arrest (embedder off: similar passages by shared words, so the answers are
long), then for some passages the time of ``similar_by_source(size=100)`` and, apart, of
``Corroboration.enrich`` on its answer (document date, people named, match strength).

    PYTHONPATH=. .venv/bin/python bench/corroboration_cost.py --docs 300 [--backend embedded|opensearch]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from archive_search.catalog.models import Passage
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN, SimilarOptions
from search_api.service import ArchiveService

NAMES = [
    "Олена Марченко", "Павло Бондар", "Ірина Ткаченко", "Андрій Мельник", "Оксана Шевчук",
    "Василь Кравець", "Галина Савчук", "Микола Лисенко", "Тетяна Руденко", "Богдан Коваль",
]  # fmt: skip
WORDS = str.split(
    "затримали біля мосту автобус блокпост військові Сергія Гончаренка бачила з вікна зупинка ринок "
    "таксі квіти гараж собака рибалив велосипед хліб школа аптека ранок ввечері маски форма номер "
    "сірий білий поїхав повезли кричав штовхнули натовп асфальт перекрили чекала донька батько"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--passages", type=int, default=15)
    ap.add_argument("--backend", default="embedded")
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        extra: dict[str, object] = {"backend": args.backend} if args.backend != "embedded" else {}
        svc = ArchiveService(Settings(data_dir=tmp / "data", embedder="none", **extra))  # type: ignore[arg-type]
        src = tmp / "in"
        src.mkdir()
        for i in range(args.docs):
            body = " ".join(rng.sample(WORDS, 25))
            (src / f"w{i:04d}.txt").write_text(
                f"Свідчення {i}\n\n{1 + i % 28} березня 2025 р. Свідок {NAMES[i % len(NAMES)]}.\n\n{body}.\n",
                encoding="utf-8",
            )
        t0 = time.perf_counter()
        svc.ingest(sorted(src.iterdir()), "w")
        ingest_s = time.perf_counter() - t0
        with svc.catalog.session() as s:
            ids = list(s.scalars(select(Passage.id).order_by(Passage.id)))
        pids = ids[:: max(1, len(ids) // args.passages)][: args.passages]
        similar, enrich, entries = [], [], []
        for p in pids:
            t0 = time.perf_counter()
            out = svc.similar_by_source(p, LOCAL_ADMIN, SimilarOptions(size=100))
            t1 = time.perf_counter()
            svc.corroboration.enrich(out, p, LOCAL_ADMIN)
            similar.append(t1 - t0)
            enrich.append(time.perf_counter() - t1)
            entries.append(len(out["hits"]))
        svc.close()
    print(
        json.dumps(
            {
                "docs": args.docs,
                "backend": args.backend,
                "ingest_s": round(ingest_s, 1),
                "passages": len(pids),
                "entries_mean": round(statistics.mean(entries), 1),
                "similar_by_source_ms_median": round(statistics.median(similar) * 1000, 1),
                "enrich_ms_median": round(statistics.median(enrich) * 1000, 1),
                "enrich_ms_max": round(max(enrich) * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
