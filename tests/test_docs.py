"""The docs tell the truth about the interfaces, in the spirit of datasette's documentation tests:
every HTTP route (of the application, API and web pages), every ``archive`` command and every
error code of the API is documented, or a test fails."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from fastapi import FastAPI

from archive_search.cli import app as cli_app
from archive_search.settings import Settings
from archive_search.web import create_app
from search_api.http_errors import HTTP_CODES, HTTP_FALLBACK_CODE
from tests.conftest import REPO, source_files

API_DOC = REPO / "docs" / "api.md"
UI_DOC = REPO / "docs" / "ui.md"
UNDOCUMENTED = {"/api/v1/openapi.json", "/api/v1/docs", "/docs/oauth2-redirect", "/static"}
"""Framework routes: the schema, its browser and the static files."""


def all_docs() -> str:
    return (REPO / "README.md").read_text("utf-8") + "".join(
        p.read_text("utf-8") for p in sorted((REPO / "docs").glob("*.md"))
    )


def _routes(routes: Any) -> Iterator[tuple[set[str], str]]:
    """(methods, path) of every route, included routers flattened."""
    for route in routes:
        if hasattr(route, "effective_route_contexts"):  # an included router (FastAPI ≥ 0.16x)
            for ctx in route.effective_route_contexts():
                target = getattr(ctx, "starlette_route", None) or ctx
                yield set(getattr(target, "methods", None) or ()), str(target.path)
        else:
            yield set(getattr(route, "methods", None) or ()), str(route.path)


def _pattern(path: str) -> str:
    """A documented path: any ``{name}`` for a path parameter, nothing but punctuation after."""
    parts = re.split(r"\{[^}]+\}", path)
    return r"\{[^}/]+\}".join(re.escape(p) for p in parts) + r"(?![\w/{-])"


@pytest.fixture(scope="module")
def application(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    data = tmp_path_factory.mktemp("docs-app")
    return create_app(Settings(data_dir=data, embedder="none"))


def test_every_api_route_is_in_the_api_reference(application: FastAPI) -> None:
    doc = API_DOC.read_text("utf-8")
    missing = []
    for methods, path in _routes(application.routes):
        if not path.startswith("/api/v1/") or path in UNDOCUMENTED:
            continue
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            if not re.search(rf"`{method} {_pattern(path.removeprefix('/api/v1'))}`", doc):
                missing.append(f"{method} {path}")
    assert not missing, f"routes missing from docs/api.md as `METHOD /path`: {missing}"


def test_every_page_and_health_route_is_documented(application: FastAPI) -> None:
    ui, docs = UI_DOC.read_text("utf-8"), all_docs()
    missing = [
        path
        for _, path in _routes(application.routes)
        if not path.startswith("/api/v1/") and path not in UNDOCUMENTED
        if not re.search(_pattern(path), ui if path != "/healthz" else docs)
    ]
    assert not missing, f"web routes missing from docs/ui.md: {sorted(set(missing))}"


def test_every_documented_api_route_exists(application: FastAPI) -> None:
    real = {
        (m, re.sub(r"\{[^}]+\}", "{}", p.removeprefix("/api/v1")))
        for ms, p in _routes(application.routes)
        for m in ms
    }
    documented = re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`", API_DOC.read_text("utf-8"), re.M)
    stale = [f"{m} {p}" for m, p in documented if (m, re.sub(r"\{[^}]+\}", "{}", p)) not in real]
    assert documented and not stale, f"docs/api.md documents routes that do not exist: {stale}"


def _commands(cmd: Any, prefix: list[str]) -> Iterator[str]:
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, [*prefix, name])
    else:
        yield " ".join(prefix)


def test_every_cli_command_is_documented() -> None:
    docs = all_docs()
    commands = list(_commands(typer.main.get_command(cli_app), ["archive"]))
    assert len(commands) > 10
    missing = [c for c in commands if not re.search(re.escape(c) + r"(?![\w-])", docs)]
    assert not missing, f"commands missing from README.md and docs/: {missing}"


def error_codes() -> dict[str, int]:
    """{code: HTTP status} of every API error: the error classes (``code``/``status``
    attributes), codes given to an error's constructor, the JSON bodies written by hand, and
    the framework's codes of ``http_errors.py``. Ingestion outcome codes are not API errors."""
    trees = {
        p: ast.parse(p.read_text("utf-8"))
        for p in source_files()
        if "ingest" not in p.relative_to(REPO).parts
    }
    status: dict[str, int] = {}
    classes: dict[str, tuple[str | None, int | None, list[str]]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                attrs = {
                    t.id: s.value.value
                    for s in node.body
                    if isinstance(s, ast.Assign | ast.AnnAssign) and isinstance(s.value, ast.Constant)
                    for t in (s.targets if isinstance(s, ast.Assign) else [s.target])
                    if isinstance(t, ast.Name)
                }
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                classes[node.name] = (attrs.get("code"), attrs.get("status"), bases)

    def resolve(name: str) -> tuple[str | None, int]:
        code, st, bases = classes.get(name, (None, None, []))
        for base in bases:
            bcode, bst = resolve(base) if base in classes else (None, 500)
            code, st = code or bcode, st or bst
        return code, int(st or 500)

    def is_error(name: str) -> bool:
        return name == "ArchiveError" or any(is_error(b) for b in classes.get(name, (None, None, []))[2])

    for name in filter(is_error, list(classes)):
        code, st = resolve(name)
        if code is not None:
            status[code] = st
    codes = {"invalid_parameters": 422, "internal_error": 500, HTTP_FALLBACK_CODE: 0}
    codes.update({c: s for s, c in HTTP_CODES.items()})
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = getattr(node.func, "id", getattr(node.func, "attr", ""))
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant) and is_error(func):
                        codes[str(kw.value.value)] = resolve(func)[1]
            if isinstance(node, ast.Dict):
                keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
                if keys == ["code", "message"] and isinstance(node.values[0], ast.Constant):
                    codes.setdefault(str(node.values[0].value), 0)
    return {**codes, **status}


def test_every_error_code_is_in_the_errors_table() -> None:
    table = dict(re.findall(r"^\| `([a-z_]+)` \| (\d+|other) \|", API_DOC.read_text("utf-8"), re.M))
    codes = error_codes()
    assert {"not_found", "conflict", "too_large", "semantic_unavailable", "timeout"} <= set(codes)
    missing = sorted(set(codes) - set(table))
    assert not missing, f"error codes missing from docs/api.md's Errors table: {missing}"
    wrong = {c: (table[c], s) for c, s in codes.items() if s and table[c] != str(s)}
    assert not wrong, f"docs/api.md gives another status (doc, code): {wrong}"
    stale = sorted(set(table) - set(codes))
    assert not stale, f"docs/api.md lists codes the code never gives: {stale}"


def test_readme_api_table_lists_only_api_routes(application: FastAPI) -> None:
    """The README's table of routes "under /api/v1" names only routes that exist there."""
    real = {
        (m, re.sub(r"\{[^}]+\}", "{}", p.removeprefix("/api/v1")))
        for ms, p in _routes(application.routes)
        if p.startswith("/api/v1/")
        for m in ms
    }
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("## HTTP API", 1)[1].split("\n## ", 1)[0]
    verbs = r"(?:GET|POST|PUT|PATCH|DELETE)"
    rows = re.findall(rf"^\| `({verbs}(?:[/, ]+{verbs})*) (/[^`?]*)", section, re.M)
    stale = [
        f"{methods} {path}"
        for methods, path in rows
        for m in re.split(r"[/, ]+", methods)
        if (m, re.sub(r"\{[^}]+\}", "{}", path.strip())) not in real
    ]
    assert rows and not stale, f"README lists routes under /api/v1 that are not there: {stale}"
