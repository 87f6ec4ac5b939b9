"""Failure handling of the OpenSearch backend and the indexer, without a server: bulk items that
fail transiently are sent again, the rest get a code per passage, the catalog records the code,
several node URLs reach the client, and a rebuild fills a new index before the alias moves.
(The same on a real three-node cluster that loses a node: ``tests/index/test_opensearch_cluster.py``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

from archive_search.errors import BackendError, IndexWriteError
from archive_search.types import IndexPassage
from index import opensearch as osb
from search_api.service import ArchiveService
from tests.conftest import ingest_texts, make_settings
from tests.index.test_opensearch_requests import (
    ALIAS,
    Call,
    PlainAnalyzer,
    existing_index_server,
    make_backend,
    passage,
)


def bulk_answer(statuses: dict[int, tuple[int, str]]) -> dict[str, Any]:
    """A ``_bulk`` response: every passage id of the request, with the given (status, error type)."""
    items = []
    for pid, (status, kind) in statuses.items():
        op: dict[str, Any] = {"_index": f"{ALIAS}-1", "_id": str(pid), "status": status}
        if status >= 300:
            op["error"] = {"type": kind, "reason": f"{kind} on shard [0]"}
        items.append({"index": op})
    return {"took": 1, "errors": any(s >= 300 for s, _ in statuses.values()), "items": items}


def sent_ids(call: Call) -> list[int]:
    return [int(line["index"]["_id"]) for line in call.ndjson if "index" in line]


def test_transient_bulk_items_are_sent_again_until_written() -> None:
    """429 and an unavailable shard (a node just died) are retried; a mapping error is not."""
    rounds: list[list[int]] = []

    def bulk(call: Call) -> dict[str, Any]:
        ids = sent_ids(call)
        rounds.append(ids)
        if len(rounds) == 1:
            return bulk_answer(
                {
                    1: (201, ""),
                    2: (429, "es_rejected_execution_exception"),
                    3: (503, "unavailable_shards_exception"),
                    4: (400, "mapper_parsing_exception"),
                }
            )
        return bulk_answer({i: (201, "") for i in ids})

    server = existing_index_server(dim=None).on("POST", "/_bulk", bulk)
    b = make_backend(server, retry_backoff_s=0.0)
    with pytest.raises(IndexWriteError) as err:
        b.write([passage(i, f"text {i}") for i in (1, 2, 3, 4)])
    assert rounds == [[1, 2, 3, 4], [2, 3]]
    assert err.value.failed == {4: ("index_rejected", "400: mapper_parsing_exception on shard [0]")}
    assert err.value.code == "index_write_failed" and err.value.status == 503


def test_items_that_keep_failing_are_reported_unavailable() -> None:
    server = existing_index_server(dim=None).on(
        "POST",
        "/_bulk",
        lambda call: bulk_answer({i: (503, "unavailable_shards_exception") for i in sent_ids(call)}),
    )
    b = make_backend(server, retry_backoff_s=0.0, write_attempts=3)
    with pytest.raises(IndexWriteError) as err:
        b.write([passage(1, "a"), passage(2, "b")])
    assert len(server.find("POST", "/_bulk")) == 3
    assert {pid: code for pid, (code, _) in err.value.failed.items()} == {
        1: "index_unavailable",
        2: "index_unavailable",
    }
    assert "unavailable_shards_exception" in err.value.failed[1][1]


def test_a_bulk_request_that_meets_no_node_is_sent_again() -> None:
    calls: list[int] = []

    def bulk(call: Call) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise OSConnectionError("N/A", "connection refused", OSError("refused"))
        return bulk_answer({i: (200, "") for i in sent_ids(call)})

    server = existing_index_server(dim=None).on("POST", "/_bulk", bulk)
    make_backend(server, retry_backoff_s=0.0).write([passage(1, "a")])
    assert len(calls) == 2


def test_a_non_transient_bulk_error_is_not_repeated() -> None:
    server = existing_index_server(dim=None).on(
        "POST", "/_bulk", TransportError(403, "security_exception", {"error": "no permission"})
    )
    with pytest.raises(IndexWriteError) as err:
        make_backend(server, retry_backoff_s=0.0).write([passage(1, "a")])
    assert len(server.find("POST", "/_bulk")) == 1
    assert err.value.failed[1][0] == "index_rejected" and "HTTP 403" in err.value.failed[1][1]


def test_several_node_urls_reach_the_client() -> None:
    assert osb.split_urls(" http://a:9200, http://b:9201 ,") == ["http://a:9200", "http://b:9201"]
    with pytest.raises(BackendError):
        osb.split_urls(" , ")
    b = osb.OpenSearchBackend("http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3", PlainAnalyzer())
    try:
        hosts = sorted(c.host for c in b.client.transport.connection_pool.connections)
        assert hosts == ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"]
        assert b.client.transport.max_retries >= 3
    finally:
        b.close()


def test_rebuild_fills_a_new_index_then_moves_the_alias_in_one_request() -> None:
    server = (
        existing_index_server(dim=4)
        .on("PUT", f"/{ALIAS}-2", {"acknowledged": True})
        .on("POST", "/_bulk", lambda call: bulk_answer({i: (201, "") for i in sent_ids(call)}))
        .on("POST", f"/{ALIAS}-2/_refresh", {"_shards": {"total": 2, "successful": 2, "failed": 0}})
        .on("POST", "/_aliases", {"acknowledged": True})
        .on("DELETE", f"/{ALIAS}-1", {"acknowledged": True})
    )
    b = make_backend(server)
    assert b.begin_rebuild() == f"{ALIAS}-2"
    assert server.find("PUT", f"/{ALIAS}-2")[0].json == osb.index_body(4, shards=1, replicas=1)  # no alias
    b.write([passage(1, "a", vector=[1.0, 0.0, 0.0, 0.0])])
    (bulk,) = server.find("POST", "/_bulk")
    assert bulk.ndjson[0] == {"index": {"_index": f"{ALIAS}-2", "_id": "1"}}  # not the alias
    assert not server.find("POST", "/_aliases")  # searches still read the old index
    b.finish_rebuild()
    paths = [(c.method, c.path) for c in server.calls[-4:]]
    assert paths == [
        ("GET", f"/_alias/{ALIAS}"),
        ("POST", f"/{ALIAS}-2/_refresh"),
        ("POST", "/_aliases"),
        ("DELETE", f"/{ALIAS}-1"),
    ]
    assert server.find("POST", "/_aliases")[0].json == osb.alias_swap_actions(
        ALIAS, [f"{ALIAS}-1"], f"{ALIAS}-2"
    )


def test_an_aborted_rebuild_deletes_the_new_index_and_leaves_the_alias() -> None:
    server = (
        existing_index_server(dim=4)
        .on("PUT", f"/{ALIAS}-2", {"acknowledged": True})
        .on("DELETE", f"/{ALIAS}-2", {"acknowledged": True})
    )
    b = make_backend(server)
    b.begin_rebuild()
    b.abort_rebuild()
    assert server.find("DELETE", f"/{ALIAS}-2") and not server.find("POST", "/_aliases")


def test_the_indexer_records_a_code_per_failed_passage_and_goes_on(tmp_path: Path) -> None:
    """Passages the backend does not take stay pending with ``index_error``; the others are
    indexed; ``status()`` counts them by code; the next run writes them and clears the code."""
    svc = ArchiveService(make_settings(tmp_path / "data", f"sqlite:///{tmp_path / 'c.sqlite3'}"))
    try:
        real_write = svc.backend.write
        refused: set[int] = set()

        def write(passages: list[IndexPassage]) -> None:
            bad = {
                p.passage_id: ("index_unavailable", "503: unavailable_shards_exception") for p in passages[:2]
            }
            refused.update(bad)
            real_write([p for p in passages if p.passage_id not in bad])
            raise IndexWriteError("some failed", bad)

        svc.backend.write = write  # type: ignore[method-assign]
        with pytest.raises(IndexWriteError) as err:
            ingest_texts(svc, tmp_path / "in", {f"d{i}.txt": f"слово{i} архив" for i in range(4)})
        assert set(err.value.failed) == refused and len(refused) == 2
        assert "stay pending" in err.value.message
        st = svc.status()
        assert st["pending_index"] == 2 and st["index_errors"] == {"index_unavailable": 2}
        assert st["files"]["ok"] == 4
        svc.backend.write = real_write  # type: ignore[method-assign]
        assert svc.index_pending() == 2
        st = svc.status()
        assert st["pending_index"] == 0 and st["index_errors"] == {}
    finally:
        svc.close()
