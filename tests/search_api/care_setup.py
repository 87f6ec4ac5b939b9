"""Set-ups shared by the duty-of-care tests (withdrawal and purge, redaction, passage restriction,
case redaction rules): a service whose SQLite catalog lies inside its data folder (the purge and
leak scans read the whole folder), on either backend; files ingested and their ids; users with
grants and bearer tokens; the command line pointed at the same data folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import Document, Passage
from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import drop_opensearch_prefix, ingest_files, make_settings

PASSWORD = "a long enough passphrase"
BACKENDS = ("embedded", "opensearch")
__all__ = [
    "BACKENDS",
    "PASSWORD",
    "CareEnv",
    "add_people",
    "archive_env",
    "bearer",
    "care_service",
    "cli_archive",
    "cli_keyword_total",
    "first_passage",
    "index_holds",
    "ingest_files",
    "new_case",
    "search_as",
    "witness_env",
]


def care_service(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, **extra: object
) -> ArchiveService:
    """A service on ``backend`` with its catalog in ``tmp_path/data``; on OpenSearch an index prefix
    of its own, dropped when the requesting fixture ends."""
    if backend == "opensearch":
        url = str(request.getfixturevalue("live_opensearch"))
        prefix = f"test-care-{uuid.uuid4().hex[:12]}"
        request.addfinalizer(lambda: drop_opensearch_prefix(url, prefix))
        extra.update(backend="opensearch", opensearch_url=url, opensearch_index_prefix=prefix)
    data = tmp_path / "data"
    return ArchiveService(make_settings(data, f"sqlite:///{data / 'catalog.sqlite3'}", **extra))


def add_people(
    svc: ArchiveService,
    collection: str,
    *,
    read: Iterable[str] = (),
    manage: Iterable[str] = (),
    admins: Iterable[str] = (),
    groups: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, dict[str, str]]:
    """Create editors who read or manage ``collection``, administrators and groups (name →
    members); a bearer-token header for every user created."""
    acc = svc.accounts
    users: list[str] = []
    for name in admins:
        acc.create_user(name, PASSWORD, role="admin")
        users.append(name)
    for permission, names in (("read", read), ("manage", manage)):
        for name in names:
            acc.create_user(name, PASSWORD, role="editor")
            acc.grant(collection, permission, user=name)
            users.append(name)
    for group, members in (groups or {}).items():
        acc.create_group(group)
        for member in members:
            acc.add_to_group(group, member)
    return {u: bearer(svc, u) for u in users}


def bearer(svc: ArchiveService, user: str) -> dict[str, str]:
    """An ``Authorization`` header with a new one-hour API token of ``user``."""
    token = svc.accounts.create_token_for(user, name="t", ttl=timedelta(hours=1))[0]
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def archive_env(env: Mapping[str, str]) -> Iterator[None]:
    """Environment variables (``ARCHIVE_DATA_DIR``, …) set for the command line, the cached
    settings dropped on entry and exit, the old values put back."""
    from archive_search.settings import get_settings

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


@contextmanager
def cli_archive(data: Path, src: Path, **env: str) -> Iterator[tuple[Callable[[list[str]], Any], int]]:
    """The command line pointed at a new data folder ``data`` (``ARCHIVE_EMBEDDER=none`` and the
    variables ``env``, inside ``archive_env``), with ``src`` ingested by ``archive ingest`` into
    collection ``t``: a function that runs ``archive ARGS`` (its typer result), and the
    document's id."""
    from typer.testing import CliRunner

    from archive_search.cli import app
    from archive_search.settings import get_settings

    runner = CliRunner()

    def cli(args: list[str]) -> Any:
        return runner.invoke(app, args)

    with archive_env({"ARCHIVE_DATA_DIR": str(data), "ARCHIVE_EMBEDDER": "none", **env}):
        r = cli(["ingest", str(src), "--collection", "t"])
        assert r.exit_code == 0, r.output
        svc = ArchiveService(get_settings())
        with svc.catalog.session() as s:
            doc = s.scalar(select(Document.id))
        svc.close()
        assert doc is not None
        yield cli, doc


def first_passage(svc: ArchiveService, document_id: int) -> int:
    """The id of a document's first passage."""
    with svc.catalog.session() as s:
        found = s.scalars(
            select(Passage.id).where(Passage.document_id == document_id).order_by(Passage.seq)
        ).first()
    assert found is not None, document_id
    return int(found)


def new_case(http: TestClient, headers: dict[str, str], title: str, items: list[dict[str, Any]]) -> int:
    """Open a case with ``items`` through the API; its id."""
    r = http.post("/api/v1/cases", json={"title": title}, headers=headers)
    assert r.status_code == 201, r.text
    case_id = int(r.json()["id"])
    r = http.post(f"/api/v1/cases/{case_id}/items", json={"items": items}, headers=headers)
    assert r.status_code == 201, r.text
    return case_id


@dataclass
class CareEnv:
    """A witness statement and other files ingested (and embedded) into ``testimonies``, people
    with their tokens, an API client; ``case_id`` 0 until a fixture opens a case."""

    svc: ArchiveService
    http: TestClient
    tokens: dict[str, dict[str, str]]
    data: Path
    doc: int
    passage: int
    other_doc: int
    other_passage: int
    backend: str
    case_id: int = 0


def search_as(env: CareEnv, user: str, q: str, mode: str = "keyword") -> dict[str, Any]:
    """``GET /search`` as ``user`` (50 hits): the answer's JSON."""
    r = env.http.get("/api/v1/search", params={"q": q, "mode": mode, "size": 50}, headers=env.tokens[user])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def witness_env(
    svc: ArchiveService,
    tmp_path: Path,
    backend: str,
    files: Mapping[str, str],
    people: Callable[[ArchiveService], dict[str, dict[str, str]]] | None = None,
) -> CareEnv:
    """Ingest ``files`` (``witness-statement.txt`` and ``convoy.txt`` among them) into
    ``testimonies``, embed them; then an admin, a manager (``keeper``) and a reader, unless
    ``people`` (``add_people`` with its choice) creates others."""
    ids = ingest_files(svc, tmp_path / "src", files, "testimonies")
    assert svc.embed_pending() >= len(files)
    doc, other_doc = ids["witness-statement.txt"], ids["convoy.txt"]
    if people is None:
        tokens = add_people(svc, "testimonies", admins=["admin"], manage=["keeper"], read=["reader"])
    else:
        tokens = people(svc)
    http = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
    return CareEnv(
        svc,
        http,
        tokens,
        svc.settings.data_dir,
        doc,
        first_passage(svc, doc),
        other_doc,
        first_passage(svc, other_doc),
        backend,
    )


def index_holds(svc: ArchiveService, word: str, *, document_id: int | None = None) -> bool:
    """Whether the search backend still holds any of the word's analysed terms (deleted documents
    included); on OpenSearch, with ``document_id``, also any entry of that document."""
    terms = {t for tok in svc.analyzer.tokens(word) for t in tok.terms}
    assert terms
    backend: Any = svc.backend
    if backend.name == "embedded":
        backend.index.reload()
        searcher = backend.index.searcher()
        return any(searcher.doc_freq("body", t) > 0 for t in terms)
    alias = backend.alias
    backend._request("POST", f"/{alias}/_refresh", what="refresh")
    hits = 0
    for t in terms:
        q = {"query": {"query_string": {"query": f'"{t}"', "fields": ["*"]}}}
        hits += int(backend._request("POST", f"/{alias}/_count", body=q, what="count")["count"])
    if document_id is not None:
        q = {"query": {"term": {"document_id": document_id}}}
        hits += int(backend._request("POST", f"/{alias}/_count", body=q, what="count")["count"])
    return bool(hits)


def cli_keyword_total(q: str) -> int:
    """The keyword total for ``q`` over the archive the environment points at (inside
    ``archive_env``), read by a service opened for it as the command line opens one."""
    from archive_search.settings import get_settings
    from archive_search.types import LOCAL_ADMIN, SearchRequest

    svc = ArchiveService(get_settings())
    try:
        return svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN).total
    finally:
        svc.close()
