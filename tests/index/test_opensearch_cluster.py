"""A three-node OpenSearch cluster (2.19.1, ``scripts/opensearch.sh``) that loses a node.

The module starts a fresh cluster of three nodes (one JVM each, ports 9425-9427) in a folder of its
own and stops it at the end. The service runs as in production: ``ArchiveService`` with
``ARCHIVE_BACKEND=opensearch`` and ``ARCHIVE_OPENSEARCH_URL`` naming the three nodes, a SQLite
catalog, the real ``archive`` command line for ``status`` and ``reindex``.

``outage`` (module scope) plays one incident and records what the service did; the tests check it:
ingest in rounds, ``kill -9`` of the node holding the primary shard while bulk writes run,
searches, ``/healthz`` and ``archive status`` while the node is down, then the node restarts and
the cluster must come back to green. The last test kills a node under an index without replicas,
where a complete answer is impossible: searches must fail loudly, never return fewer hits.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from archive_search.catalog.models import Passage
from archive_search.errors import BackendError, IndexWriteError
from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN, IndexPassage, SearchRequest
from archive_search.web import create_app
from index.backend import Filters, TermNode
from index.opensearch import OpenSearchBackend
from search_api.service import ArchiveService
from tests.conftest import make_settings
from tests.opensearch_node import REPO, cluster_cmd

pytestmark = pytest.mark.cluster

PORT = int(os.environ.get("ARCHIVE_TEST_CLUSTER_PORT", "9425"))
NODES = 3
ALIAS = "archive-passages"
ROUNDS = 16
FILES_PER_ROUND = 20
KILL_AFTER_ROUND = 4
"""The primary's node is killed while round 5's bulk write is under way."""
ALL = Filters(allowed_collections=None)
COMMON = "летопись"
"""A word every ingested document holds."""


def unique_word(i: int) -> str:
    """A word only document ``i`` holds (letters only, so that the analyser keeps it whole)."""
    letters = ""
    n = i
    for _ in range(4):
        letters += "abcdefghijklmnopqrstuvwxyz"[n % 26]
        n //= 26
    return "qz" + letters


def os_get(path: str, port: int | None = None) -> Any:
    """A GET to one live node (curl-free: the client of the tests is httpx)."""
    import httpx

    ports = [port] if port is not None else [PORT + i for i in range(NODES)]
    last: Exception | None = None
    for p in ports:
        try:
            r = httpx.get(f"http://127.0.0.1:{p}{path}", timeout=10)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
    raise AssertionError(f"no node answered {path}: {last}")


@dataclass
class Cluster:
    folder: Path
    urls: list[str]

    @property
    def url(self) -> str:
        return ",".join(self.urls)

    def pid(self, node: int) -> int:
        return int((self.folder / f"node-{node}.pid").read_text().strip())

    def kill(self, node: int) -> float:
        """``kill -9`` the node's JVM and wait until it is gone; returns when the signal was sent."""
        pid = self.pid(node)
        os.kill(pid, signal.SIGKILL)
        sent = time.monotonic()
        deadline = sent + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return sent
            time.sleep(0.05)
        raise AssertionError(f"node-{node} (pid {pid}) survived SIGKILL")

    def restart(self) -> str:
        """Start the nodes that are down (same ports, same data); returns once the cluster is green."""
        return cluster_cmd("start", self.folder, timeout=300)

    def node_of(self, index_pattern: str, primary: bool = True) -> list[int]:
        rows = os_get(f"/_cat/shards/{index_pattern}?format=json&h=index,shard,prirep,node,state")
        want = "p" if primary else "r"
        return sorted(int(str(r["node"]).split("-")[1]) for r in rows if r["prirep"] == want and r["node"])

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = os_get("/_cluster/health")
        return out


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="os-cluster-", dir="/tmp"))
    try:
        url = cluster_cmd(
            "start",
            folder,
            "--nodes",
            str(NODES),
            "--port",
            str(PORT),
            "--heap",
            "384m",
            "--fresh",
            timeout=600,
        )
        assert url == f"http://127.0.0.1:{PORT}"
        yield Cluster(folder, [f"http://127.0.0.1:{PORT + i}" for i in range(NODES)])
    finally:
        cluster_cmd("stop", folder)
        shutil.rmtree(folder, ignore_errors=True)


def cluster_settings(tmp: Path, url: str) -> Settings:
    return make_settings(
        tmp / "data", f"sqlite:///{tmp / 'catalog.sqlite3'}", backend="opensearch", opensearch_url=url
    )


def cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        ARCHIVE_DATA_DIR=str(settings.data_dir),
        ARCHIVE_DATABASE_URL=settings.catalog_url,
        ARCHIVE_BACKEND="opensearch",
        ARCHIVE_OPENSEARCH_URL=settings.opensearch_url or "",
        ARCHIVE_EMBEDDER="none",
    )
    return env


def archive(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    exe = REPO / ".venv" / "bin" / "archive"
    cmd = [str(exe)] if exe.exists() else ["python", "-m", "archive_search.cli"]
    return subprocess.run(
        [*cmd, *args], env=cli_env(settings), capture_output=True, text=True, timeout=timeout, check=False
    )


def keyword_total(svc: ArchiveService, q: str) -> int:
    return svc.search(SearchRequest(q=q, mode="keyword", size=10), LOCAL_ADMIN).total


@dataclass
class Outage:
    """What the service did during one incident (filled by the ``outage`` fixture)."""

    svc: ArchiveService
    settings: Settings
    victim: int
    documents: int = 0
    round_errors: list[IndexWriteError | BackendError] = field(default_factory=list)
    reported_indexed: set[int] = field(default_factory=set)
    """Passages with ``indexed_at`` when the ingest finished (before any later retry)."""
    status_down: dict[str, Any] = field(default_factory=dict)
    cli_status_down: dict[str, Any] = field(default_factory=dict)
    cli_status_text: str = ""
    healthz_down: dict[str, Any] = field(default_factory=dict)
    killed_at: float = 0.0
    armed_bulk: tuple[float, float] = (0.0, 0.0)
    """When the bulk request during which the node was killed started and returned."""
    failed_requests: list[str] = field(default_factory=list)
    """Requests the client sent to the dead node (and then sent to another one)."""
    retried: list[str] = field(default_factory=list)
    """Warnings of bulk items sent again."""
    searches_down: list[int] = field(default_factory=list)
    search_errors_down: list[str] = field(default_factory=list)
    unique_hits_down: list[int] = field(default_factory=list)
    restart_s: float = 0.0
    health_after: dict[str, Any] = field(default_factory=dict)
    count_after: int = -1
    """Passages in the index once the cluster is green again, before any retry."""
    healthz_after: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def outage(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    tmp = tmp_path_factory.mktemp("outage")
    settings = cluster_settings(tmp, cluster.url)
    svc = ArchiveService(settings)
    src = tmp / "files"
    for r in range(ROUNDS):
        folder = src / f"round-{r:02d}"
        folder.mkdir(parents=True)
        for j in range(FILES_PER_ROUND):
            i = r * FILES_PER_ROUND + j
            (folder / f"doc-{i:04d}.txt").write_text(
                f"{COMMON} архива, свидетельство номер {unique_word(i)}. "
                f"Запись сделана в Харькове, протокол допроса свидетеля.\n",
                "utf-8",
            )
    svc.ingest([src / "round-00"], "c")  # the index exists: find the node of its primary shard
    (victim,) = cluster.node_of(f"{ALIAS}-*", primary=True)
    out = Outage(svc=svc, settings=settings, victim=victim)
    killed = threading.Event()
    kill_armed = threading.Event()
    backend = svc.backend
    send = backend._request  # type: ignore[attr-defined]

    def kill() -> None:
        out.killed_at = cluster.kill(victim)
        killed.set()

    def request(*args: Any, **kw: Any) -> Any:
        # the node dies 50 ms into a bulk request (which waits up to 1 s for its refresh)
        if kw.get("what") == "bulk write" and kill_armed.is_set() and not killed.is_set():
            kill_armed.clear()
            threading.Timer(0.05, kill).start()
            t0 = time.monotonic()
            try:
                return send(*args, **kw)
            finally:
                out.armed_bulk = (t0, time.monotonic())
        return send(*args, **kw)

    backend._request = request  # type: ignore[attr-defined]
    retries = logging.Handler()
    retries.emit = lambda record: out.retried.append(record.getMessage()[:300])  # type: ignore[method-assign]
    logging.getLogger("index.opensearch").addHandler(retries)
    failed_bulks = logging.Handler()  # the client's own log of requests that met the dead node
    failed_bulks.emit = (
        lambda record: (  # type: ignore[method-assign]
            out.failed_requests.append(record.getMessage()[:200])
            if "status:N/A" in record.getMessage()
            else None
        )
    )
    logging.getLogger("opensearch").addHandler(failed_bulks)

    def ingest_rounds() -> None:
        for r in range(1, ROUNDS):
            if r == KILL_AFTER_ROUND + 1:
                kill_armed.set()
            try:
                svc.ingest([src / f"round-{r:02d}"], "c")
            except (IndexWriteError, BackendError) as exc:  # recorded per passage; the worker goes on
                out.round_errors.append(exc)

    writer = threading.Thread(target=ingest_rounds, name="ingest")
    writer.start()
    assert killed.wait(120), "the node was not killed"
    # while the node is down (and the ingest goes on): health, status, searches
    deadline = time.monotonic() + 60
    while cluster.health()["status"] == "green" and time.monotonic() < deadline:
        time.sleep(0.2)  # the cluster notices the loss
    # (before OpenSearch re-creates the lost replica on the third node: after 1 min by default)
    out.status_down = svc.status()
    with TestClient(create_app(settings, svc)) as client:
        out.healthz_down = client.get("/healthz").json()
    proc = archive(settings, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    out.cli_status_down = json.loads(proc.stdout)
    proc = archive(settings, "status")
    assert proc.returncode == 0, proc.stderr
    out.cli_status_text = proc.stdout
    while writer.is_alive():
        try:
            out.searches_down.append(keyword_total(svc, COMMON))
        except BackendError as exc:
            out.search_errors_down.append(exc.message)
        time.sleep(0.05)
    writer.join()
    out.searches_down.append(keyword_total(svc, COMMON))
    logging.getLogger("index.opensearch").removeHandler(retries)
    logging.getLogger("opensearch").removeHandler(failed_bulks)
    with svc.catalog.session() as s:
        out.reported_indexed = set(s.scalars(select(Passage.id).where(Passage.indexed_at.is_not(None))))
        out.documents = s.scalar(select(func.count(Passage.id))) or 0
    # every document is searchable now, while the node is still down (the replica took over)
    for i in range(0, ROUNDS * FILES_PER_ROUND, 7):
        out.unique_hits_down.append(
            svc.backend.keyword_search(TermNode((unique_word(i),)), ALL, limit=5).total
        )
    # the node comes back
    t0 = time.monotonic()
    cluster.restart()
    deadline = time.monotonic() + 120
    while cluster.health()["status"] != "green" and time.monotonic() < deadline:
        time.sleep(0.5)
    out.restart_s = time.monotonic() - t0
    out.health_after = cluster.health()
    print(  # shown with -s, and on failure
        f"outage: node-{victim} killed {out.killed_at - out.armed_bulk[0]:.3f}s into a bulk request "
        f"that returned after {out.armed_bulk[1] - out.armed_bulk[0]:.3f}s; "
        f"requests to the dead node: {out.failed_requests}; "
        f"items sent again: {out.retried}; {len(out.round_errors)} ingest rounds raised "
        f"{[e.message[:200] for e in out.round_errors]}; {len(out.searches_down)} searches during the "
        f"outage, {len(out.search_errors_down)} failed; back to green in {out.restart_s:.1f}s"
    )
    out.count_after = svc.backend.count(ALL)
    with TestClient(create_app(settings, svc)) as client:
        out.healthz_after = client.get("/healthz").json()
    yield out
    svc.close()


def test_three_nodes_give_one_replica_per_shard(cluster: Cluster, outage: Outage) -> None:
    """``auto_expand_replicas: 0-1`` on three nodes: one primary and one replica, on two nodes."""
    (name,) = os_get(f"/_alias/{ALIAS}").keys()
    idx = os_get(f"/{name}/_settings")[name]["settings"]["index"]
    assert idx["number_of_shards"] == "1" and idx["number_of_replicas"] == "1"
    assert idx["auto_expand_replicas"] == "0-1"
    primaries, replicas = cluster.node_of(name), cluster.node_of(name, primary=False)
    assert len(primaries) == 1 and len(replicas) == 1 and primaries != replicas


def test_every_reported_document_is_searchable_once_after_a_node_is_killed(outage: Outage) -> None:
    """kill -9 during bulk ingest: nothing reported indexed is lost, nothing is indexed twice, and
    the ingest did not crash (each round either succeeded or raised an error with a code)."""
    svc = outage.svc
    total = ROUNDS * FILES_PER_ROUND
    assert outage.documents == total
    for exc in outage.round_errors:  # allowed, but only with a clear code, never a crash
        assert exc.code in {"index_write_failed", "backend_error"}, exc
    # what the service reported as indexed (indexed_at set) is all in the index once, before any
    # retry: none lost, none twice
    assert outage.count_after == len(outage.reported_indexed)
    svc.index_pending()  # what failed for good during the outage (none in practice) is retried
    backend = svc.backend
    assert backend.count(ALL) == total
    for i in range(total):
        assert backend.keyword_search(TermNode((unique_word(i),)), ALL, limit=5).total == 1, i
    st = svc.status()
    assert st["pending_index"] == 0 and st["index_errors"] == {}


def test_searches_while_a_node_is_down_are_complete(outage: Outage) -> None:
    """The replica answers: every search during the outage saw every document indexed so far (the
    count never goes down), none failed, and each document is found by its own word."""
    assert outage.searches_down, "no search ran while the node was down"
    assert outage.search_errors_down == []
    assert outage.searches_down == sorted(outage.searches_down)  # never fewer hits than before
    assert outage.searches_down[-1] == outage.documents
    assert outage.unique_hits_down and set(outage.unique_hits_down) == {1}


def test_degraded_state_is_reported(outage: Outage) -> None:
    """/healthz, ``status()`` and ``archive status`` (text and --json) say yellow and degraded."""
    assert outage.healthz_down == {"status": "degraded", "cluster": "yellow"}
    backend = outage.status_down["backend"]
    assert backend["cluster_health"] == "yellow" and backend["nodes"] == NODES - 1
    assert str(backend["status"]).startswith("degraded: ")
    cli = outage.cli_status_down["backend"]
    assert cli["cluster_health"] == "yellow" and str(cli["status"]).startswith("degraded")
    assert "cluster:     yellow (2 nodes)" in outage.cli_status_text


def test_the_node_comes_back_and_the_cluster_is_green(outage: Outage) -> None:
    assert outage.health_after["status"] == "green"
    assert outage.health_after["number_of_nodes"] == NODES
    assert outage.healthz_after == {"status": "ok", "cluster": "green"}
    st = outage.svc.status()["backend"]
    assert st["status"] == "ok" and st["cluster_health"] == "green" and st["passages"] == outage.documents


def test_unreachable_cluster_is_reported_not_raised(tmp_path: Path) -> None:
    """No node answers: the service still starts; /healthz and ``archive status --json`` say so."""
    settings = cluster_settings(tmp_path, f"http://127.0.0.1:{PORT + 4},http://127.0.0.1:{PORT + 3}")
    svc = ArchiveService(settings)
    try:
        with TestClient(create_app(settings, svc)) as client:
            assert client.get("/healthz").json() == {"status": "degraded", "cluster": "unreachable"}
        with pytest.raises(BackendError) as err:
            keyword_total(svc, COMMON)
        assert "cannot reach OpenSearch" in err.value.message
    finally:
        svc.close()
    proc = archive(settings, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    backend = json.loads(proc.stdout)["backend"]
    assert backend["cluster_health"] == "unreachable" and str(backend["status"]).startswith("error: ")


def test_reindex_behind_the_alias_while_searches_run(cluster: Cluster, outage: Outage) -> None:
    """``archive reindex`` fills a new index and moves the alias in one step: every search that
    runs meanwhile answers, and with every document (never an empty or half-filled index)."""
    svc, total = outage.svc, outage.documents
    (before,) = os_get(f"/_alias/{ALIAS}").keys()
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "archive"), "reindex"],
        env=cli_env(outage.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[int] = []
    errors: list[str] = []
    while proc.poll() is None:
        try:
            seen.append(keyword_total(svc, COMMON))
        except BackendError as exc:
            errors.append(exc.message)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert f"reindexed {total} passages" in stderr
    for _ in range(5):  # and after the swap
        seen.append(keyword_total(svc, COMMON))
    assert errors == []
    assert len(seen) > 5 and set(seen) == {total}
    (after,) = os_get(f"/_alias/{ALIAS}").keys()
    assert after != before
    indices = {r["index"] for r in os_get(f"/_cat/indices/{ALIAS}-*?format=json&h=index")}
    assert indices == {after}  # the old index is gone, no leftover
    assert svc.backend.count(ALL) == total


def test_without_replicas_a_lost_node_fails_searches_loudly(cluster: Cluster, tmp_path: Path) -> None:
    """An index without replicas (3 shards, one per node) loses a shard with its node: a search
    cannot be complete, so it fails with a clear error (HTTP 503 in the API), never fewer hits.
    (Runs last: the node stays down until the module's cluster is stopped.)"""
    from index.analysis import Analyzer

    b = OpenSearchBackend(cluster.url, Analyzer(), index="noreplica", shards=3, replicas=0)
    try:
        b.drop()
        b.write(
            [
                IndexPassage(
                    passage_id=i,
                    document_id=i,
                    collection="c",
                    text=f"{COMMON} {i}",
                    lang="ru",
                    doc_type="text",
                    seq=0,
                )
                for i in range(1, 61)
            ]
        )
        q = TermNode((COMMON,))
        assert b.keyword_search(q, ALL, limit=100).total == 60
        nodes = cluster.node_of("noreplica-*")
        assert len(nodes) == 3
        cluster.kill(nodes[-1])  # a node that holds (at least) one of the shards
        deadline = time.monotonic() + 30
        while cluster.health()["status"] != "red" and time.monotonic() < deadline:
            time.sleep(0.2)
        with pytest.raises(BackendError) as err:
            b.keyword_search(q, ALL, limit=100)
        # the first request of a keyword search (the ranking statistics, issue 22) is the one that
        # fails: with a shard missing (503 from a live node), or, when the client's round robin
        # lands on the dead node, with that node unreachable — either way an error, never fewer hits
        msg = err.value.message
        assert "failed" in msg and ("503" in msg or "cannot reach OpenSearch" in msg), msg
        with pytest.raises(BackendError):
            b.count(ALL)
        h = b.health()
        assert h["cluster_health"] == "red" and str(h["status"]).startswith("error: ")
    finally:
        b.close()
