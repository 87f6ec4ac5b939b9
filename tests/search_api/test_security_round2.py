"""Issue 22 (hardening, round two): each finding of the security test, tried the way the tester
tried it, over HTTP and the web UI on the real service (the embedded backend on SQLite and
OpenSearch on PostgreSQL where the backend matters)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archive_search.errors import QuerySyntaxError
from archive_search.web import create_app
from index.backend import BoolNode, Filters, QueryNode, TermNode
from search_api.service import ArchiveService
from tests.conftest import run_archive, stack_settings
from tests.web_session import csrf_of, log_in

PASSWORD = "a long enough passphrase"
STACKS = ("sqlite", "opensearch")


class Site:
    def __init__(self, svc: ArchiveService) -> None:
        self.svc = svc
        self.app = create_app(svc.settings, svc)
        self.http = TestClient(self.app, raise_server_exceptions=False)
        token = svc.accounts.create_token_for("boss", name="tests", ttl=timedelta(hours=1))[0]
        self.auth = {"Authorization": f"Bearer {token}"}

    def ui(self, user: str = "boss") -> TestClient:
        c = TestClient(self.app, raise_server_exceptions=False)
        log_in(c, user, PASSWORD)
        return c


_csrf = csrf_of


@pytest.fixture(scope="module", params=STACKS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp(f"round2-{request.param}")
    svc = ArchiveService(stack_settings(str(request.param), tmp, request))
    (tmp / "a.txt").write_text("Свідок бачив колону біля мосту вранці. Archive text.\n", encoding="utf-8")
    assert all(f.outcome == "ok" for f in svc.ingest([tmp / "a.txt"], "open").files)
    svc.accounts.create_user("boss", PASSWORD, role="admin")
    yield Site(svc)
    svc.close()


# -- finding 6: query errors are 400s with the error shape, and no traceback in the logs ----------

HOSTILE_QUERIES = {
    "long prefix": "a" * 1000 + "*",
    "starred word": "x*" * 1999,
    "330 parentheses": "(" * 330 + "мосту" + ")" * 330,
    "600 parentheses": "(" * 600 + "a" + ")" * 600,
}


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    bad = [
        r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()
    ]
    assert not bad, [r.getMessage()[:300] for r in bad]


@pytest.mark.parametrize("name", sorted(HOSTILE_QUERIES))
def test_hostile_queries_are_400_in_the_api_ui_and_saved_searches(
    site: Site, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    q = HOSTILE_QUERIES[name]
    caplog.set_level(logging.DEBUG)
    for mode in ("keyword", "hybrid"):
        r = site.http.get("/api/v1/search", params={"q": q, "mode": mode}, headers=site.auth)
        assert r.status_code == 400, (mode, r.status_code, r.text[:300])
        err = r.json()["error"]
        assert err["code"] == "query_syntax" and err["message"], err
    r = site.http.post("/api/v1/saved-searches", json={"name": "x", "query": q}, headers=site.auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "query_syntax", r.text[:300]
    ui = site.ui()
    page = ui.get("/", params={"q": q})
    assert page.status_code == 400, page.status_code
    assert "Traceback" not in page.text and "internal error" not in page.text.lower()
    _no_traceback(caplog)


def test_a_nesting_limit_keeps_the_parser_away_from_the_recursion_limit() -> None:
    from search_api.query import MAX_NESTING, parse_query

    parse_query("(" * MAX_NESTING + "мосту" + ")" * MAX_NESTING)
    with pytest.raises(QuerySyntaxError, match="nested"):
        parse_query("(" * (MAX_NESTING + 1) + "мосту" + ")" * (MAX_NESTING + 1))


def test_a_query_the_backend_refuses_is_a_query_error(site: Site) -> None:
    """What the parser lets through but a backend cannot run (a prefix automaton past its state
    limit, built here directly) is the user's error, not the service's."""
    node: QueryNode = TermNode(("ab" * 600,), prefix=True)  # tantivy: more than 1000 regex states
    if site.svc.backend.name == "opensearch":  # more clauses than indices.query.bool.max_clause_count
        node = BoolNode(should=tuple(TermNode((f"w{i}",)) for i in range(5000)))
    with pytest.raises(QuerySyntaxError, match="too complex"):
        site.svc.backend.keyword_search(node, Filters(allowed_collections=None), limit=10)


# -- finding 4: no page of the service loads anything from another origin ------------------------

_FOREIGN = re.compile(rb"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def test_no_api_docs_page_loads_third_party_assets(site: Site) -> None:
    """FastAPI's Swagger UI page pulled its scripts from a public CDN (unpinned, no SRI) and a
    favicon from another site, on the UI's origin. It is gone; the schema stays."""
    for path in ("/api/v1/docs", "/docs", "/redoc", "/api/v1/redoc", "/docs/oauth2-redirect"):
        r = site.http.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert not _FOREIGN.search(r.content), path
    assert site.http.get("/api/v1/openapi.json").status_code == 200
    for path in ("/", "/login"):  # the web interface's own pages: same-origin assets only
        assert not _FOREIGN.search(site.http.get(path).content), path


# -- finding 7: CSV formula injection and terminal escapes ----------------------------------------

FORMULA_NAME = "=HYPERLINK(“http---evil”;“click”)+1.txt"  # no "/" (a file name), still a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cells(data: str) -> list[str]:
    import csv
    import io

    return [cell for row in csv.reader(io.StringIO(data.lstrip("\ufeff"))) for cell in row]


def test_csv_cells_never_start_a_formula(site: Site, tmp_path: Path) -> None:
    """A file named ``=HYPERLINK(...)`` reaches the batch CSV and a bundle's ``manifest.csv`` as
    text (a leading ``'``), and the bundle still verifies."""
    import io
    import time
    import zipfile

    from search_api.export import verify_bundle

    src = tmp_path / FORMULA_NAME
    src.write_text("Показання про qelvarinth біля мосту.\n", encoding="utf-8")
    assert all(f.outcome == "ok" for f in site.svc.ingest([src], "open").files)
    names = ["qelvarinth", "=1+1", *[f"nobody{n}" for n in range(100)]]  # > 100 entries: a job
    r = site.http.post("/api/v1/search/batch", json={"names": names}, headers=site.auth)
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    deadline = time.monotonic() + 120
    while site.http.get(f"/api/v1/search/batch/{job}", headers=site.auth).json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    csv_text = site.http.get(f"/api/v1/search/batch/{job}/csv", headers=site.auth).text
    assert "'" + FORMULA_NAME in csv_text and "'=1+1" in csv_text
    assert not [c for c in _csv_cells(csv_text) if c.startswith(_FORMULA_START)]

    hit = site.http.get("/api/v1/search", params={"q": "qelvarinth"}, headers=site.auth).json()["hits"][0]
    case = site.http.post("/api/v1/cases", json={"title": "=cmd|' /C calc'!A0"}, headers=site.auth).json()
    item = {"document_id": int(hit["document_id"]), "query": "qelvarinth"}
    r = site.http.post(f"/api/v1/cases/{case['id']}/items", json={"items": [item]}, headers=site.auth)
    assert r.status_code == 201, r.text
    r = site.http.get(f"/api/v1/cases/{case['id']}/export", headers=site.auth)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        manifest = zf.read("manifest.csv").decode("utf-8")
    cells = _csv_cells(manifest)
    assert any(FORMULA_NAME in c for c in cells), manifest
    assert not [c for c in cells if c.startswith(_FORMULA_START)], manifest
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(r.content)
    problems, _checked = verify_bundle(bundle)
    assert problems == []


def test_cli_output_shows_file_names_without_terminal_escapes(tmp_path: Path) -> None:
    """An uploaded file name with an escape sequence and a newline is printed escaped, on one line:
    it can neither drive the terminal nor forge a ``failed(...)`` line."""

    name = "a\x1b]0;owned\x07\x1b[2J\nfailed(forged) x.pdf"
    bad = tmp_path / "in" / name
    bad.parent.mkdir()
    bad.write_bytes(b"%PDF-1.4 this is not a real PDF")
    r = run_archive(tmp_path / "data", "ingest", str(bad))
    out = r.stdout + r.stderr
    assert "\x1b" not in out and "\x07" not in out, repr(out)
    assert "\\x1b]0;owned\\x07" in out, repr(out)
    assert not [line for line in out.splitlines() if line.startswith("failed(forged)")], out


# -- finding 5: the login limiter cannot be raced ------------------------------------------------


def test_concurrent_wrong_passwords_get_at_most_the_limit_of_password_checks(tmp_path: Path) -> None:
    """50 wrong passwords at once from one address: at most ``login_max_failures`` are checked
    (401), every other one is refused before the check (429); the right password then waits too."""
    from concurrent.futures import ThreadPoolExecutor

    from archive_search.errors import RateLimitedError, UnauthorizedError
    from tests.conftest import make_settings

    svc = ArchiveService(make_settings(tmp_path / "data", f"sqlite:///{tmp_path}/c.db", embedder="none"))
    try:
        svc.accounts.create_user("target", PASSWORD)
        limit = svc.settings.login_max_failures

        def attempt(_: int) -> str:
            try:
                svc.accounts.login("target", "wrong password!", "203.0.113.7")
            except UnauthorizedError:
                return "401"
            except RateLimitedError:
                return "429"
            return "200"

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(attempt, range(50)))
        assert answers.count("401") == limit, answers
        assert answers.count("429") == 50 - limit
        with pytest.raises(RateLimitedError):
            svc.accounts.login("target", PASSWORD, "203.0.113.7")
        svc.accounts.login("target", PASSWORD, "198.51.100.2")  # another address is not locked out
    finally:
        svc.close()
