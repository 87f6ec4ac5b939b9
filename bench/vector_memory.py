"""Resident memory of a search process holding the embedded backend's vectors (issue 17, part 4),
this checkout against a baseline checkout, in the same run.

For each ``--sizes`` N, an index of N synthetic passages (384-d random unit vectors, the
dimension of multilingual-e5-small; 10 collections, 4 languages, tags, dates, entities on a fifth)
is built once under ``--dir`` by this checkout's code. Then each code folder opens it in a fresh
process (the baseline reads the JSON filter fields it wrote; this checkout its ``.npz`` columns),
runs a filtered vector search (a viewer of 3 collections) and a keyword search, and reports its
resident memory (``VmRSS``) and peak (``VmHWM``). An empty index gives each code's fixed cost; the
slope between sizes gives the memory per million vectors.

    nice -n 10 .venv/bin/python bench/vector_memory.py --baseline /tmp/perf-base --sizes 50000,100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIM = 384


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def build(folder: Path, n: int) -> None:
    """Write the synthetic index with the code on ``sys.path`` (this checkout)."""
    from datetime import UTC, date, datetime

    import numpy as np

    from archive_search.types import IndexPassage
    from index.analysis import Analyzer
    from index.embedded import EmbeddedBackend

    backend = EmbeddedBackend(folder, Analyzer(), vector_flush_s=3600)
    rng = np.random.default_rng(17)
    langs = ["ru", "uk", "be", "en"]
    batch = 5000
    for start in range(0, n, batch):
        vecs = rng.standard_normal((min(batch, n - start), DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        ps = [
            IndexPassage(
                passage_id=i + 1,
                document_id=i // 4 + 1,
                collection=f"c{i % 10}",
                text=f"слово{i % 997} термин{i % 101}",
                lang=langs[i % 4],
                doc_type="pdf",
                seq=i % 4,
                doc_date=date(2000 + i % 20, 1 + i % 12, 1 + i % 28) if i % 3 else None,
                tags=["urgent"] if i % 50 == 0 else [],
                vector=vecs[i - start].tolist(),
                added_at=datetime(2024, 1, 1, tzinfo=UTC),
                entities=[f"person:{i % 500}"] if i % 5 == 0 else [],
            )
            for i in range(start, start + len(vecs))
        ]
        backend.write(ps)
    backend.flush_vectors()
    backend.close()


def measure(folder: Path) -> dict[str, float]:
    """Open the index with the code on ``sys.path``, search, report memory."""
    import numpy as np

    from index.analysis import Analyzer
    from index.backend import Filters, TermNode
    from index.embedded import EmbeddedBackend

    before = _status("VmRSS")
    t0 = time.perf_counter()
    backend = EmbeddedBackend(folder, Analyzer())
    viewer = Filters(allowed_collections=frozenset({"c1", "c2", "c3"}))
    q = np.random.default_rng(5).standard_normal(DIM).astype(np.float32)
    hits = backend.vector_search((q / np.linalg.norm(q)).tolist(), viewer, limit=50).hits
    opened = time.perf_counter() - t0
    backend.keyword_search(TermNode(("слово5",)), viewer, limit=10, facets=True)
    out = {
        "rss_before_open_mib": before / 2**20,
        "rss_mib": _status("VmRSS") / 2**20,
        "peak_rss_mib": _status("VmHWM") / 2**20,
        "open_and_first_vector_search_s": opened,
        "vector_hits": len(hits),
    }
    backend.close()
    return out


def _child(code: Path, role: str, folder: Path, n: int = 0) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--role",
            role,
            "--folder",
            str(folder),
            "--n",
            str(n),
        ],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{code} {role} {folder}: failed\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]) if role == "measure" else {}


def _legacy_json(src: Path, dst: Path) -> None:
    """The baseline's copy of an index: the columns written as schema 4's JSON filter fields."""
    import numpy as np

    with np.load(src / "vectors-columns.npz", allow_pickle=False) as z:
        vocab = json.loads(bytes(z["vocab"]).decode("utf-8"))
        cols = {k: z[k] for k in z.files if k != "vocab"}
    meta = {
        str(int(cols["label"][i])): [
            vocab["collection"][cols["collection"][i]],
            vocab["lang"][cols["lang"][i]],
            vocab["doc_type"][cols["doc_type"][i]],
            vocab["tags"][cols["tags"][i]],
            int(cols["day"][i]),
            int(cols["document_id"][i]),
            vocab["speaker"][cols["speaker"][i]],
            int(cols["added"][i]),
            vocab["entities"][cols["entities"][i]],
        ]
        for i in range(len(cols["label"]))
    }
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    (dst / "vectors-columns.npz").unlink()
    legacy = {"dim": vocab["dim"], "capacity": vocab["capacity"], "meta": meta}
    (dst / "vectors-meta.json").write_text(json.dumps(legacy), "utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path)
    ap.add_argument("--sizes", default="50000,100000")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/perf-vecmem"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--role", choices=["build", "measure"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "build":
        build(args.folder, args.n)
        return
    if args.role == "measure":
        print(json.dumps(measure(args.folder)))
        return
    codes = {"this checkout": ROOT}
    if args.baseline is not None:
        codes["baseline"] = args.baseline.resolve()
    sizes = [0, *(int(x) for x in args.sizes.split(","))]
    results: dict[str, dict[str, object]] = {name: {} for name in codes}
    for n in sizes:
        folder = args.dir / f"n{n}"
        t0 = time.perf_counter()
        if not (folder / "vectors-columns.npz").exists() and n:
            if folder.exists():
                shutil.rmtree(folder)
            _child(ROOT, "build", folder, n)
        elif not folder.exists():
            folder.mkdir(parents=True)
        build_s = time.perf_counter() - t0
        legacy = args.dir / f"n{n}-legacy"
        if n and "baseline" in codes and not (legacy / "vectors-meta.json").exists():
            _legacy_json(folder, legacy)
        for name, code in codes.items():
            target = legacy if (name == "baseline" and n) else folder
            r = _child(code, "measure", target)
            r["build_s"] = round(build_s, 1)
            results[name][str(n)] = r
    out: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average_at_end": os.getloadavg(),
        "dim": DIM,
        "sizes": sizes,
    }
    for name in codes:
        per = results[name]
        rss = {n: float(per[str(n)]["rss_mib"]) for n in sizes}  # type: ignore[index]
        top = sizes[-1]
        # per vector: from the empty index to the largest (fixed cost removed), and between the
        # two largest sizes (noisier: capacity doublings and the allocator's arenas)
        from_empty = (rss[top] - rss[0]) / top
        between = (rss[top] - rss[sizes[-2]]) / (top - sizes[-2]) if len(sizes) > 2 else from_empty
        out[name] = {
            "by_size": per,
            "rss_per_million_vectors_gib_from_empty": round(from_empty * 1e6 / 1024, 3),
            "rss_per_million_vectors_gib_between_largest": round(between * 1e6 / 1024, 3),
            "rss_at_1m_gib_extrapolated": round((rss[0] + from_empty * 1_000_000) / 1024, 3),
        }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
