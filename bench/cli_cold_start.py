"""Cold start of ``archive search "…" --mode keyword`` (issue 17, part 6): wall and CPU time of a
fresh process per search, the code of this checkout against a baseline checkout, in the same run.

A small archive (the bundled sample archive, 12 files) is ingested once into ``--data`` by this
checkout's code (embedder ``none``), then each round runs one search with every code folder in
turn, so machine load falls on both alike. Byte code is written and used (``.pyc``, as an
installed package has it; a first discarded run per code folder writes it). Reported: median and
minimum of wall seconds and of CPU seconds (user + system of the child), and the modules each
code folder imported (``-X importtime``), so a regression names its cause.

    git worktree add /tmp/perf-base <commit>   # or: git archive <commit> | tar -x -C /tmp/perf-base
    nice -n 10 .venv/bin/python bench/cli_cold_start.py --baseline /tmp/perf-base --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "archive_search" / "sample_archive" / "files"
QUERIES = ["декларация прав", "right to education", "свобода думки", "рабство"]
HEAVY = ("numpy", "hnswlib", "onnxruntime", "torch", "fastapi", "alembic", "lingua", "argon2", "opensearchpy")


def _env(code: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        PYTHONPATH=str(code),
        ARCHIVE_DATA_DIR=str(data),
        ARCHIVE_EMBEDDER="none",
        ARCHIVE_BACKEND="embedded",
    )
    return env


def _cli(
    code: Path, data: Path, args: list[str], *, extra: list[str] | None = None
) -> tuple[float, float, str]:
    """(wall s, CPU s, stderr) of one ``archive`` process run with ``code`` on ``data``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *(extra or []), "-c", "from archive_search.cli import main; main()", *args],
        env=_env(code, data),
        cwd=code,  # ``python -c`` puts the working folder first on sys.path
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{code}: archive {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stderr


def _imported(code: Path, data: Path) -> list[str]:
    _, _, stderr = _cli(code, data, ["search", QUERIES[0], "--mode", "keyword"], extra=["-X", "importtime"])
    top = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in stderr.splitlines() if "|" in line}
    return sorted(m for m in HEAVY if m in top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, help="checkout of the code to compare with (same run)")
    ap.add_argument("--data", type=Path, default=Path("/tmp/perf-cli-archive"))
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    codes = {"this checkout": ROOT}
    if args.baseline is not None:
        codes["baseline"] = args.baseline.resolve()
    if not (args.data / "catalog.sqlite3").exists():
        _cli(ROOT, args.data, ["ingest", str(SAMPLE)])
    for code in codes.values():  # writes the byte code, opens (and if needed migrates) the catalog
        _cli(code, args.data, ["search", QUERIES[0], "--mode", "keyword"])
    runs: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in codes}
    for r in range(args.rounds):
        q = QUERIES[r % len(QUERIES)]
        for name, code in codes.items():
            wall, cpu, _ = _cli(code, args.data, ["search", q, "--mode", "keyword", "--limit", "10"])
            runs[name]["wall"].append(wall)
            runs[name]["cpu"].append(cpu)
    out: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average_at_end": os.getloadavg(),
        "rounds": args.rounds,
        "queries": QUERIES,
    }
    for name, code in codes.items():
        w, c = runs[name]["wall"], runs[name]["cpu"]
        out[name] = {
            "code": str(code),
            "wall_median_s": round(statistics.median(w), 3),
            "wall_min_s": round(min(w), 3),
            "cpu_median_s": round(statistics.median(c), 3),
            "cpu_min_s": round(min(c), 3),
            "heavy_modules_imported": _imported(code, args.data),
        }
    text = json.dumps(out, ensure_ascii=False, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
