"""Case redaction rules (issue 20, parts 2 and 3): staff choose entity types for a case's bundles
(every person but the accused) and terms; each bundle masks every mention of them, in every
member (byte scans of the whole ZIP), records the rule in its manifest and still verifies; the
rule is evaluated when the bundle is built, so a document ingested after the rule is masked too."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import AuditEntry, Passage
from archive_search.types import LOCAL_ADMIN
from archive_search.web import create_app
from search_api.export import verify_bundle
from search_api.service import ArchiveService
from tests.search_api.care_setup import (
    PASSWORD,
    add_people,
    archive_env,
    bearer,
    care_service,
    ingest_files,
)
from tests.search_api.leakscan import needles, scan_zip

WITNESS = "Гнурвальд"  # the stem: catches the name's inflected forms too
ACCUSED = "Шмаргуненко"
PLACE = "Оленівки"
LATER = "Тримбовляс"  # a witness of a document ingested after the rule
STATEMENT = (
    f"Свідок Гнурвальдів бачив, як обвинувачений {ACCUSED} затримав журналістів біля {PLACE}. "
    "Гнурвальдова теж допитали.\n"
)
SECOND = f"Свідок {LATER} розповів, що {ACCUSED} стояв біля мосту.\n"


@dataclass
class Env:
    svc: ArchiveService
    http: TestClient
    tokens: dict[str, dict[str, str]]
    tmp: Path
    doc: int
    passage: int
    case: int


@pytest.fixture
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    svc = care_service("embedded", request, tmp_path)
    doc = ingest_files(svc, tmp_path, {"statement-Гнурвальдів.txt": STATEMENT}, "testimonies")[
        "statement-Гнурвальдів.txt"
    ]
    with svc.catalog.session() as s:
        passage = s.scalars(select(Passage.id).where(Passage.document_id == doc)).first()
    assert passage is not None
    tokens = add_people(svc, "testimonies", read=["erin"])
    svc.accounts.create_user("vic", PASSWORD)
    svc.accounts.grant("testimonies", "read", user="vic")
    tokens["vic"] = bearer(svc, "vic")
    http = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
    h = tokens["erin"]
    # the item is added after a search for the witness: its search record holds the name
    r = http.get("/api/v1/search", params={"q": "Гнурвальдів", "mode": "keyword"}, headers=h)
    assert r.status_code == 200 and r.json()["total"] == 1
    case = http.post("/api/v1/cases", json={"title": "Detentions near Оленівки"}, headers=h).json()["id"]
    items = [
        {"document_id": doc},
        {"passage_id": passage, "query": "Гнурвальдів", "note": "Гнурвальдів saw it"},
    ]
    assert http.post(f"/api/v1/cases/{case}/items", json={"items": items}, headers=h).status_code == 201
    assert (
        http.post(
            f"/api/v1/cases/{case}/notes", json={"text": "ask Гнурвальдів again"}, headers=h
        ).status_code
        == 201
    )
    r = http.post(f"/api/v1/cases/{case}/members", json={"username": "vic", "permission": "read"}, headers=h)
    assert r.status_code == 200, r.text
    yield Env(svc, http, tokens, tmp_path, doc, passage, case)
    http.close()
    svc.close()


def _export(env: Env, user: str = "vic") -> tuple[bytes, dict[str, Any]]:
    r = env.http.get(f"/api/v1/cases/{env.case}/export", headers=env.tokens[user])
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    path = env.tmp / f"bundle-{user}.zip"
    path.write_bytes(r.content)
    problems, _ = verify_bundle(path)
    assert not problems, problems
    return r.content, manifest


def _witness_rule(env: Env) -> dict[str, Any]:
    """The rule a court order asks for: every person but the accused, and the place."""
    return {
        "entity_types": ["person"],
        "keep_entities": [_entity_id(env, ACCUSED)],
        "terms": [PLACE],
        "reason": "the witnesses are at risk",
    }


def _entity_id(env: Env, name: str) -> int:
    found = [e.id for e in env.svc.entities.list_entities(LOCAL_ADMIN, q=name)]
    assert len(found) == 1, found
    return found[0]


def test_every_person_but_the_accused_is_masked_in_the_bundle_even_in_documents_added_later(env: Env) -> None:
    data, manifest = _export(env)
    # the control: without a rule the bundle holds the names in every kind of member
    assert scan_zip(data, needles(WITNESS)) and scan_zip(data, needles(PLACE))
    assert manifest["entity_redaction"] is None and manifest["searches"]
    rule = _witness_rule(env)
    r = env.http.put(f"/api/v1/cases/{env.case}/redaction-rule", json=rule, headers=env.tokens["vic"])
    assert r.status_code == 403, r.text  # a reading member may not set it
    r = env.http.put(f"/api/v1/cases/{env.case}/redaction-rule", json=rule, headers=env.tokens["erin"])
    assert r.status_code == 200, r.text
    shown = env.http.get(f"/api/v1/cases/{env.case}/redaction-rule", headers=env.tokens["erin"]).json()
    assert shown["terms"] == [PLACE] and shown["entity_types"] == ["person"]
    shown = env.http.get(f"/api/v1/cases/{env.case}/redaction-rule", headers=env.tokens["vic"]).json()
    assert shown["terms"] is None and shown["term_count"] == 1  # the names are for the case's editors
    data, manifest = _export(env)
    assert not scan_zip(data, needles(WITNESS) + needles(PLACE)), scan_zip(
        data, needles(WITNESS) + needles(PLACE)
    )
    assert scan_zip(data, needles(ACCUSED)), "the accused is kept"
    doc = next(d for d in manifest["documents"] if d["document_id"] == env.doc)
    assert doc["entity_redacted"] is True and doc["original"] is None
    red = manifest["entity_redaction"]
    assert red["entity_types"] == ["person"] and red["terms"] == 1 and red["rule_by"] == "erin"
    assert red["mentions"] >= 1 and red["documents"] == [env.doc]
    assert all(it["search_audit_id"] is None for it in manifest["items"])  # the record held the name
    # a document ingested after the rule, added to the case: masked at the next export
    (env.tmp / "second.txt").write_text(SECOND, encoding="utf-8")
    rep = env.svc.ingest([env.tmp / "second.txt"], "testimonies")
    assert rep.files[0].outcome == "ok" and rep.files[0].document_id
    later = int(rep.files[0].document_id)
    r = env.http.post(
        f"/api/v1/cases/{env.case}/items",
        json={"items": [{"document_id": later}]},
        headers=env.tokens["erin"],
    )
    assert r.status_code == 201, r.text
    data, manifest = _export(env)
    assert not scan_zip(data, needles(LATER) + needles(WITNESS) + needles(PLACE))
    assert later in manifest["entity_redaction"]["documents"]
    # lifted: the names come back; every change is audited without the terms
    assert (
        env.http.delete(f"/api/v1/cases/{env.case}/redaction-rule", headers=env.tokens["erin"]).status_code
        == 200
    )
    data, _ = _export(env)
    assert scan_zip(data, needles(LATER))
    with env.svc.catalog.session() as s:
        details = [
            json.loads(d)
            for d in s.scalars(select(AuditEntry.details).where(AuditEntry.action == "case.redaction_rule"))
        ]
    assert [d["op"] for d in details] == ["set", "lift"] and PLACE not in json.dumps(
        details, ensure_ascii=False
    )


def _ui(env: Env, user: str) -> tuple[TestClient, str]:
    c = TestClient(env.http.app, raise_server_exceptions=False)
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code in (200, 303), r.text
    page = c.get(f"/cases/{env.case}")
    return c, page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_the_case_page_and_the_command_line_set_and_lift_the_rule(env: Env) -> None:
    from typer.testing import CliRunner

    from archive_search.cli import app

    erin, token = _ui(env, "erin")
    r = erin.post(
        f"/cases/{env.case}/redaction-rule",
        data={
            "csrf_token": token,
            "types": ["person", "place"],
            "keep": "",
            "terms": f"{PLACE}\n",
            "reason": "risk",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = erin.get(f"/cases/{env.case}").text
    assert 'id="rule-types">person, place<' in page and PLACE in page
    vic, _ = _ui(env, "vic")
    page = vic.get(f"/cases/{env.case}").text
    assert 'id="rule-types">person, place<' in page and PLACE not in page.split('id="redaction-rule"')[1]
    data, _ = _export(env)
    assert not scan_zip(data, needles(WITNESS) + needles(PLACE))
    r = erin.post(
        f"/cases/{env.case}/redaction-rule/lift", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    assert 'id="no-rule"' in erin.get(f"/cases/{env.case}").text
    erin.close()
    vic.close()
    envvars = {
        "ARCHIVE_DATA_DIR": str(env.svc.settings.data_dir),
        "ARCHIVE_DATABASE_URL": env.svc.settings.database_url,
        "ARCHIVE_EMBEDDER": "none",
    }
    with archive_env(envvars):
        runner = CliRunner()
        cmd = ["cases", "redaction-rule", str(env.case)]
        r = runner.invoke(app, [*cmd, "--type", "person", "--term", PLACE, "--reason", "court order"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["entity_types"] == ["person"]
        r = runner.invoke(app, [*cmd, "--type", "nobody", "--reason", "x"])
        assert r.exit_code == 2 and "invalid rule" in r.output
        r = runner.invoke(app, cmd)
        assert r.exit_code == 0 and json.loads(r.stdout)["terms"] == [PLACE]
        data, _ = _export(env)
        assert not scan_zip(data, needles(WITNESS) + needles(PLACE))
        assert runner.invoke(app, [*cmd, "--lift"]).exit_code == 0
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2 and "no redaction rule" in r.output


def test_hit_exports_masked_by_a_case_rule(env: Env) -> None:
    """``GET /search/export?redact_case=ID``: CSV, JSON Lines and XLSX masked by the case's rule as
    its bundles are — every cell and the first line (the query too), the accused kept."""
    h = env.tokens["vic"]
    params = {"q": f"{ACCUSED} OR Гнурвальдів", "mode": "keyword", "explain": "true"}

    def export(fmt: str, **extra: Any) -> Any:
        return env.http.get("/api/v1/search/export", params={**params, "format": fmt, **extra}, headers=h)

    # the control: unmasked, the export holds the names
    r = export("csv")
    assert r.status_code == 200 and WITNESS in r.text and PLACE in r.text, r.text
    # no rule yet: refused; not a member of the case: refused
    assert export("csv", redact_case=env.case).status_code == 404
    rule = _witness_rule(env)
    r = env.http.put(f"/api/v1/cases/{env.case}/redaction-rule", json=rule, headers=env.tokens["erin"])
    assert r.status_code == 200, r.text
    env.svc.accounts.create_user("outsider", PASSWORD, role="editor")
    env.svc.accounts.grant("testimonies", "read", user="outsider")
    r = env.http.get(
        "/api/v1/search/export",
        params={**params, "redact_case": env.case},
        headers=bearer(env.svc, "outsider"),
    )
    assert r.status_code == 404, r.text
    secret = needles(WITNESS) + needles(PLACE) + needles("Гнурвальдова")
    for fmt in ("csv", "jsonl", "xlsx"):
        r = export(fmt, redact_case=env.case)
        assert r.status_code == 200, r.text
        body = r.content
        found = scan_zip(body, secret) if fmt == "xlsx" else [n for n in secret if n in body]
        assert not found, (fmt, found)
        kept = scan_zip(body, needles(ACCUSED)) if fmt == "xlsx" else ACCUSED.encode() in body
        assert kept, fmt  # the accused is kept
        if fmt == "jsonl":
            head, first = (json.loads(x) for x in r.text.splitlines()[:2])
            assert (
                head["entity_redaction"]["case_id"] == env.case and head["entity_redaction"]["documents"] == 1
            )
            assert "█" in first["snippet"] and first["sha256"]
    with env.svc.catalog.session() as s:
        last = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "search").order_by(AuditEntry.id.desc())
        ).first()
    assert last is not None and json.loads(last.details)["redact_case"] == env.case
    # the search page offers the masked export for the case; its link gives the masked file
    c, _ = _ui(env, "vic")
    page = c.get("/", params={"q": params["q"], "mode": "keyword"})
    assert page.status_code == 200 and f"redact_case={env.case}" in page.text, page.text
    r = c.get(
        "/search/export",
        params={"q": params["q"], "mode": "keyword", "format": "csv", "redact_case": env.case},
    )
    assert r.status_code == 200 and ACCUSED in r.text and not [n for n in secret if n in r.content]
    assert c.get("/search/export", params={"q": "x", "format": "csv", "redact_case": "²"}).status_code == 400
    # the command line: `archive search QUERY --all --redact-case ID`
    from typer.testing import CliRunner

    from archive_search.cli import app

    st = env.svc.settings
    cli_env = {
        "ARCHIVE_DATA_DIR": str(st.data_dir),
        "ARCHIVE_DATABASE_URL": str(st.database_url),
        "ARCHIVE_EMBEDDER": "none",
    }
    with archive_env(cli_env):
        args = ["search", params["q"], "--mode", "keyword", "--all", "--format", "jsonl"]
        r = CliRunner().invoke(app, [*args, "--redact-case", str(env.case)])
        assert r.exit_code == 0, r.output
        assert not [n for n in secret if n in r.stdout_bytes] and ACCUSED in r.stdout
        assert json.loads(r.stdout.splitlines()[0])["entity_redaction"]["case_id"] == env.case
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0 and WITNESS in r.stdout  # the control
