"""Structured metadata per collection (issue 18, part 4): typed fields defined by a collection's
managers, values filled by staff, validated, audited, indexed on every stack as filters and
facets inside retrieval (a value never counted or matched from a document the caller may not
read), and carried into exports and case bundles with the entities each passage names."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import AuditEntry, Document, User
from archive_search.errors import ForbiddenError, InvalidRequestError, NotFoundError, QuerySyntaxError
from archive_search.types import LOCAL_ADMIN, Principal, SearchRequest
from archive_search.web import create_app
from search_api.metadata import (
    EntityFieldCreate,
    MetadataApply,
    MetadataSet,
    PlainFieldCreate,
    SelectFieldCreate,
)
from search_api.service import ArchiveService
from tests.conftest import ingest_files, run_archive

PASSWORD = "a long enough passphrase"
TEXTS_OPEN = {
    "ru.txt": "Свидетель рассказал, что Рамзан Кадыров был в Грозном той ночью.",
    "uk.txt": "Свідок розповіла, що Рамзан Кадиров був у Грозному тієї ночі.",
    "en.txt": "The witness said Ramzan Kadyrov was present in Grozny that night.",
}
TEXTS_CLOSED = {"secret.txt": "Донесение: генерал Шаманов прибыл в Бамут вечером."}


def _ingest(svc: ArchiveService, folder: Path, collection: str, texts: dict[str, str]) -> None:
    ingest_files(svc, folder, {name: text + "\n" for name, text in texts.items()}, collection)


def _doc_ids(svc: ArchiveService) -> dict[str, int]:
    with svc.catalog.session() as s:
        return {name: i for i, name in s.execute(select(Document.id, Document.filename))}


def _principal(svc: ArchiveService, name: str) -> Principal:
    with svc.catalog.session() as s:
        uid = s.scalar(select(User.id).where(User.username == name))
    return svc.accounts.principal_for_user(int(uid or 0))


def _files(svc: ArchiveService, principal: Principal, q: str = "", **kw: object) -> set[str]:
    res = svc.search(SearchRequest(q=q, mode="keyword", size=50, **kw), principal)  # type: ignore[arg-type]
    return {h.filename for h in res.hits}


def _facets(svc: ArchiveService, principal: Principal, q: str = "") -> dict[str, dict[str, int]]:
    return svc.search(SearchRequest(q=q, mode="keyword", group="passage"), principal).facets


def _setup(svc: ArchiveService, tmp_path: Path) -> tuple[dict[str, int], Principal, Principal]:
    _ingest(svc, tmp_path / "a", "open", TEXTS_OPEN)
    _ingest(svc, tmp_path / "b", "closed", TEXTS_CLOSED)
    svc.accounts.create_user("reader", PASSWORD, role="viewer")
    svc.accounts.grant("open", "read", user="reader")
    svc.accounts.create_user("clerk", PASSWORD, role="editor")
    svc.accounts.grant("open", "write", user="clerk")
    return _doc_ids(svc), _principal(svc, "reader"), _principal(svc, "clerk")


def _define(svc: ArchiveService) -> None:
    m = svc.metadata
    m.create_field(
        "open", PlainFieldCreate(name="incident_date", label="Incident date", type="date"), LOCAL_ADMIN
    )
    m.create_field(
        "open",
        SelectFieldCreate(name="consent", label="Consent", type="select", options=["full", "anonymised"]),
        LOCAL_ADMIN,
    )
    m.create_field("open", PlainFieldCreate(name="victims", label="Victims", type="number"), LOCAL_ADMIN)
    m.create_field("open", PlainFieldCreate(name="note", label="Note", type="text"), LOCAL_ADMIN)
    m.create_field(
        "open",
        EntityFieldCreate(name="perpetrator", label="Perpetrator", type="entity", entity_type="person"),
        LOCAL_ADMIN,
    )
    m.create_field("closed", PlainFieldCreate(name="incident_date", label="Date", type="date"), LOCAL_ADMIN)
    m.create_field("closed", PlainFieldCreate(name="informant", label="Informant", type="text"), LOCAL_ADMIN)


@pytest.mark.all_stacks
def test_metadata_filters_and_facets_inside_retrieval(service: ArchiveService, tmp_path: Path) -> None:
    svc = service
    ids, reader, clerk = _setup(svc, tmp_path)
    _define(svc)
    m = svc.metadata
    m.set_values(
        ids["ru.txt"],
        MetadataSet(
            values={"incident_date": "2022-03-05", "consent": "full", "victims": 3, "note": " Свидетель  А "}
        ),
        clerk,
    )
    m.set_values(
        ids["uk.txt"], MetadataSet(values={"incident_date": "2022-04-01", "victims": "12.50"}), clerk
    )
    m.set_values(
        ids["secret.txt"],
        MetadataSet(values={"incident_date": "2022-03-10", "informant": "Агент Тайна"}),
        LOCAL_ADMIN,
    )
    got = m.get(ids["uk.txt"], reader)
    values = {f.name: [v.value for v in f.values] for f in got.fields}
    assert (
        values["victims"] == ["12.5"] and values["incident_date"] == ["2022-04-01"] and values["note"] == []
    )
    assert [v.value for f in m.get(ids["ru.txt"], reader).fields if f.name == "note" for v in f.values] == [
        "Свидетель А"
    ]

    # filters, inside retrieval: the reader never matches the closed collection's document
    assert _files(svc, LOCAL_ADMIN, meta=["incident_date=2022-03"]) == {"ru.txt", "secret.txt"}
    assert _files(svc, reader, meta=["incident_date=2022-03"]) == {"ru.txt"}
    assert _files(svc, reader, 'meta:"incident_date=2022-03-01..2022-04-30"') == {"ru.txt", "uk.txt"}
    assert _files(svc, reader, meta=["victims=1..10"]) == {"ru.txt"}
    assert _files(svc, reader, meta=["victims=12.5"]) == {"uk.txt"}
    assert _files(svc, reader, "свидетель", meta=["consent=full"]) == {"ru.txt"}
    assert _files(svc, reader, meta=["consent=full", "victims=..2"]) == set()
    assert _files(svc, reader, meta=["informant=Агент Тайна"]) == set()  # not a field the reader sees
    assert _files(svc, LOCAL_ADMIN, meta=["informant=Агент Тайна"]) == {"secret.txt"}
    assert _files(svc, reader, meta=["no_such_field=1"]) == set()
    with pytest.raises(QuerySyntaxError):
        _files(svc, reader, meta=["incident_date"])
    with pytest.raises(QuerySyntaxError):
        _files(svc, reader, meta=["victims=lots"])

    # facets: counted over readable passages only; the reader never sees the closed field
    admin_f, reader_f = _facets(svc, LOCAL_ADMIN), _facets(svc, reader)
    assert admin_f["meta.incident_date"] == {"2022": 3}
    assert reader_f["meta.incident_date"] == {"2022": 2}
    assert admin_f["meta.informant"] == {"Агент Тайна": 1}
    assert "meta.informant" not in reader_f and "meta" not in reader_f
    assert reader_f["meta.consent"] == {"full": 1} and reader_f["meta.victims"] == {"12.5": 1, "3": 1}

    # an entity field: by a name standing for one entity the clerk can see; filter by any spelling
    spellings = ("Кадыров", "Кадиров", "Kadyrov")
    kadyrov = next(
        e for e in svc.entities.list_entities(clerk, etype="person") if any(w in e.name for w in spellings)
    )
    m.set_values(ids["en.txt"], MetadataSet(values={"perpetrator": str(kadyrov.id)}), clerk)
    shown = [v for f in m.get(ids["en.txt"], reader).fields if f.name == "perpetrator" for v in f.values]
    assert shown[0].entity_id == kadyrov.id and shown[0].display == kadyrov.name
    assert _files(svc, reader, meta=[f"perpetrator={kadyrov.id}"]) == {"en.txt"}
    assert reader_f != _facets(svc, reader) and _facets(svc, reader)["meta.perpetrator"] == {kadyrov.name: 1}
    shamanov = next(e for e in svc.entities.list_entities(LOCAL_ADMIN, etype="person") if "Шаманов" in e.name)
    with pytest.raises(InvalidRequestError):  # an entity only named in a document the clerk cannot read
        m.set_values(ids["en.txt"], MetadataSet(values={"perpetrator": str(shamanov.id)}), clerk)

    # a restricted document's values leave the search of those it is hidden from
    hidden = Principal(
        name="reader",
        readable=frozenset({"open"}),
        role="viewer",
        hidden_documents=frozenset({ids["ru.txt"]}),
    )
    assert _files(svc, hidden, meta=["consent=full"]) == set()
    assert "meta.consent" not in _facets(svc, hidden)
    with pytest.raises(NotFoundError):
        m.get(ids["ru.txt"], hidden)

    # a withdrawn document: out of every filter and facet, its metadata unreadable
    svc.care.withdraw(ids["uk.txt"], "consent withdrawn", LOCAL_ADMIN)
    assert _files(svc, LOCAL_ADMIN, meta=["victims=12.5"]) == set()
    assert "12.5" not in _facets(svc, LOCAL_ADMIN)["meta.victims"]
    with pytest.raises(NotFoundError):
        m.get(ids["uk.txt"], LOCAL_ADMIN)

    # deleting a field removes its values from the index at once
    m.delete_field("open", "consent", LOCAL_ADMIN)
    assert _files(svc, LOCAL_ADMIN, meta=["consent=full"]) == set()
    assert "meta.consent" not in _facets(svc, LOCAL_ADMIN)


def test_metadata_rights_validation_and_audit(service: ArchiveService, tmp_path: Path) -> None:
    svc = service
    ids, reader, clerk = _setup(svc, tmp_path)
    _define(svc)
    m = svc.metadata
    # defining fields needs the manage right; the closed collection is missing for the clerk
    with pytest.raises(ForbiddenError):
        m.create_field("open", PlainFieldCreate(name="x", label="X", type="text"), clerk)
    with pytest.raises(NotFoundError):
        m.create_field("closed", PlainFieldCreate(name="x", label="X", type="text"), clerk)
    with pytest.raises(NotFoundError):
        m.list_fields("closed", reader)
    assert [f.name for f in m.list_fields("open", reader)] == [
        "incident_date",
        "consent",
        "victims",
        "note",
        "perpetrator",
    ]
    # filling needs the editor role and the write right
    with pytest.raises(ForbiddenError):
        m.set_values(ids["ru.txt"], MetadataSet(values={"note": "x"}), reader)
    with pytest.raises(NotFoundError):
        m.set_values(ids["secret.txt"], MetadataSet(values={"incident_date": "2022-01-01"}), clerk)
    with pytest.raises(NotFoundError):
        m.set_values(ids["ru.txt"], MetadataSet(values={"informant": "x"}), clerk)  # not this collection's
    bad: list[dict[str, object]] = [
        {"incident_date": "05.03.2022"},
        {"incident_date": "2022-02-30"},
        {"consent": "partial"},
        {"consent": ["full", "anonymised"]},  # one value only
        {"victims": "many"},
        {"victims": "1e400"},
        {"note": "\u200b"},
        {"perpetrator": "Нет Такого Человека"},
    ]
    for values in bad:
        with pytest.raises(InvalidRequestError) as exc:
            m.set_values(ids["ru.txt"], MetadataSet(values=values), clerk)  # type: ignore[arg-type]
        assert exc.value.code == "invalid_metadata", values
    # all or nothing: one bad value on one document changes no document
    with pytest.raises(InvalidRequestError):
        m.apply(
            MetadataApply(
                document_ids=[ids["ru.txt"], ids["uk.txt"]], values={"victims": 2, "consent": "no"}
            ),
            clerk,
        )
    assert all(not f.values for f in m.get(ids["ru.txt"], clerk).fields)
    done = m.apply(MetadataApply(document_ids=[ids["ru.txt"], ids["uk.txt"]], values={"victims": 2}), clerk)
    assert done.documents == 2 and done.reindexed >= 2
    assert m.apply(MetadataApply(document_ids=[ids["ru.txt"]], values={"victims": 2.0}), clerk).documents == 0
    assert _files(svc, reader, meta=["victims=2"]) == {"ru.txt", "uk.txt"}
    m.set_values(ids["ru.txt"], MetadataSet(values={"victims": None, "note": "Имя свидетеля"}), clerk)
    assert _files(svc, reader, meta=["victims=2"]) == {"uk.txt"}
    # audited; free text only as a digest
    with svc.catalog.session() as s:
        entries = [
            json.loads(e.details)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "metadata"))
        ]
    assert [e["field"] for e in entries] == ["victims", "victims", "victims", "note"]
    assert entries[-1]["new"][0].startswith("sha256:") and "Имя" not in json.dumps(
        entries, ensure_ascii=False
    )


def test_metadata_api_exports_and_bundles(service: ArchiveService, tmp_path: Path) -> None:
    from search_api.cases import CaseCreate, CaseItemCreate, CaseItemsAdd
    from search_api.export import build_bundle

    svc = service
    ids, _reader, _clerk = _setup(svc, tmp_path)
    svc.accounts.create_user("root", PASSWORD, role="admin")
    client = TestClient(create_app(svc.settings, svc))

    def auth(user: str) -> dict[str, str]:
        r = client.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    root, clerk, reader = auth("root"), auth("clerk"), auth("reader")
    field = {"name": "consent", "label": "Consent", "type": "select", "options": ["full", "anonymised"]}
    r = client.post("/api/v1/collections/open/fields", json=field, headers=root)
    assert r.status_code == 201 and r.json()["options"] == ["full", "anonymised"]
    assert client.post("/api/v1/collections/open/fields", json=field, headers=root).status_code == 409
    no_options = {"name": "kind", "label": "Kind", "type": "select"}
    assert client.post("/api/v1/collections/open/fields", json=no_options, headers=root).status_code == 422
    date_field = {"name": "incident_date", "label": "Date", "type": "date"}
    assert client.post("/api/v1/collections/open/fields", json=date_field, headers=clerk).status_code == 403
    assert client.post("/api/v1/collections/open/fields", json=date_field, headers=root).status_code == 201
    assert [f["name"] for f in client.get("/api/v1/collections/open/fields", headers=reader).json()] == [
        "consent",
        "incident_date",
    ]
    url = f"/api/v1/documents/{ids['ru.txt']}/metadata"
    r = client.put(url, json={"values": {"consent": "maybe"}}, headers=clerk)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_metadata"
    r = client.put(url, json={"values": {"consent": "full", "incident_date": "2022-03-05"}}, headers=clerk)
    assert r.status_code == 200, r.text
    assert {f["name"]: [v["value"] for v in f["values"]] for f in r.json()["fields"]} == {
        "consent": ["full"],
        "incident_date": ["2022-03-05"],
    }
    assert client.put(url, json={"values": {"consent": "full"}}, headers=reader).status_code == 403
    r = client.post(
        "/api/v1/metadata/apply",
        json={"document_ids": [ids["uk.txt"], ids["en.txt"]], "values": {"consent": "anonymised"}},
        headers=clerk,
    )
    assert r.status_code == 200 and r.json()["documents"] == 2
    r = client.get(
        "/api/v1/search", params={"q": "", "mode": "keyword", "meta": "consent=full"}, headers=reader
    )
    assert r.status_code == 200 and {h["filename"] for h in r.json()["hits"]} == {"ru.txt"}
    assert r.json()["facets"]["meta.consent"] == {"full": 1}
    r = client.get("/api/v1/search", params={"q": "", "meta": "consent"}, headers=reader)
    assert r.status_code == 400 and r.json()["error"]["code"] == "query_syntax"
    r = client.delete("/api/v1/collections/open/fields/incident_date", headers=root)
    assert r.status_code == 204

    # the export carries the entities each passage names and its document's metadata
    r = client.get(
        "/api/v1/search/export",
        params={"q": "", "mode": "keyword", "format": "csv", "collection": "open"},
        headers=reader,
    )
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text.split("\r\n", 1)[1])))
    ru = next(row for row in rows if row["filename"] == "ru.txt")
    assert any(w in ru["persons"] for w in ("Кадыров", "Кадиров", "Kadyrov")) and ru["places"]
    assert json.loads(ru["metadata"]) == {"consent": ["full"]}
    r = client.get(
        "/api/v1/search/export", params={"q": "", "mode": "keyword", "format": "jsonl"}, headers=reader
    )
    lines = [json.loads(line) for line in r.text.splitlines()[1:]]
    en = next(line for line in lines if line["filename"] == "en.txt")
    assert en["persons"] and en["places"] and en["metadata"] == {"consent": ["anonymised"]}
    assert all(line["filename"] != "secret.txt" for line in lines)

    # case bundles: each document's metadata and named entities, each passage item's entities
    case = svc.cases.create_case(CaseCreate(title="Grozny"), LOCAL_ADMIN)
    with svc.catalog.session() as s:
        from archive_search.catalog.models import Passage

        pid = s.scalar(select(Passage.id).where(Passage.document_id == ids["uk.txt"]))
    items = [CaseItemCreate(document_id=ids["ru.txt"]), CaseItemCreate(passage_id=pid)]
    svc.cases.add_items(case.id, CaseItemsAdd(items=items), LOCAL_ADMIN)
    res = build_bundle(svc.cases, case.id, LOCAL_ADMIN, directory=tmp_path)
    with zipfile.ZipFile(res.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    docs = {d["filename"]: d for d in manifest["documents"]}
    assert docs["ru.txt"]["metadata"] == {"consent": ["full"]}
    assert len(docs["ru.txt"]["entities"]["persons"]) == 1 and docs["uk.txt"]["entities"]["places"]
    passage_item = next(i for i in manifest["items"] if i["passage_id"] == pid)
    assert passage_item["entities"]["persons"] == docs["ru.txt"]["entities"]["persons"]  # one entity


def test_metadata_command_line(tmp_path: Path) -> None:
    """``archive metadata …`` as a user runs it: a real process on a real data folder."""
    import subprocess

    def archive(*args: str) -> subprocess.CompletedProcess[str]:
        return run_archive(tmp_path / "data", *args)

    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in TEXTS_OPEN.items():
        (folder / name).write_text(text + "\n", "utf-8")
    assert archive("ingest", str(folder), "--collection", "c").returncode == 0
    r = archive(
        "metadata", "add-field", "c", "consent", "--type", "select", "--option", "full", "--option", "none"
    )
    assert r.returncode == 0 and json.loads(r.stdout)["options"] == ["full", "none"], r.stderr
    assert (
        archive("metadata", "add-field", "c", "when", "--type", "date", "--label", "Incident date").returncode
        == 0
    )
    assert archive("metadata", "add-field", "c", "kind", "--type", "select").returncode == 2  # no options
    assert archive("metadata", "fields", "c").stdout.splitlines()[1].startswith("when\tdate\tIncident date")
    res = json.loads(archive("search", "Grozny", "--mode", "keyword", "--json").stdout)
    doc = res["hits"][0]["document_id"]
    r = archive("metadata", "set", doc, "consent=full", "when=2022-03-05")
    assert r.returncode == 0 and "consent\tfull" in r.stdout, r.stderr
    bad = archive("metadata", "set", doc, "when=yesterday")
    assert bad.returncode == 2 and "invalid_metadata" in bad.stderr
    assert "when\t2022-03-05" in archive("metadata", "show", doc).stdout
    res = json.loads(archive("search", 'meta:"when=2022"', "--mode", "keyword", "--json").stdout)
    assert [h["document_id"] for h in res["hits"]] == [doc]
    assert archive("metadata", "set", doc, "when=").returncode == 0
    res = json.loads(archive("search", 'meta:"when=2022"', "--mode", "keyword", "--json").stdout)
    assert res["hits"] == []
    # edit a definition: a new option and label; an option a document holds cannot go (409 → exit 2)
    r = archive(
        "metadata",
        "edit-field",
        "c",
        "consent",
        "--label",
        "Consent",
        "--option",
        "full",
        "--option",
        "none",
        "--option",
        "partial",
        "--required",
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert (got["label"], got["options"], got["required"]) == ("Consent", ["full", "none", "partial"], True)
    r = archive("metadata", "edit-field", "c", "consent", "--option", "none")
    assert r.returncode != 0 and "full" in r.stderr
    assert archive("metadata", "set", doc, "consent=").returncode != 0  # required: not cleared
    assert archive("metadata", "delete-field", "c", "consent").returncode == 0
    assert archive("metadata", "fields", "c").stdout.splitlines() == ["when\tdate\tIncident date"]


def test_viewer_lists_named_entities_and_edits_metadata(service: ArchiveService, tmp_path: Path) -> None:
    """The document viewer's box: the entities named (links to their pages), the metadata, and a
    form for staff who may write to the collection (a reader sees the values, not the form)."""
    from tests.ui.test_pages import csrf_of, log_in

    svc = service
    ids, _reader, _clerk = _setup(svc, tmp_path)
    _define(svc)
    doc = ids["ru.txt"]
    with TestClient(create_app(svc.settings, svc)) as clerk:
        log_in(clerk, "clerk")
        page = clerk.get(f"/documents/{doc}").text
        named = svc.metadata.document_entities(doc, LOCAL_ADMIN)
        assert {e.type for e in named} >= {"person", "place"}
        assert all(f'href="/entities/{e.id}"' in page for e in named)
        assert 'action="/documents/' in page and 'name="field.consent"' in page
        token = csrf_of(page)
        form = {"csrf_token": token, "field.incident_date": "2022-03-05", "field.consent": "full"}
        r = clerk.post(f"/documents/{doc}/metadata", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
        bad = clerk.post(f"/documents/{doc}/metadata", data={**form, "field.victims": "many"})
        assert bad.status_code == 400
        assert clerk.post(f"/documents/{doc}/metadata", data=form).status_code == 200
        assert clerk.post(f"/documents/{ids['secret.txt']}/metadata", data=form).status_code == 404
    values = {f.name: [v.value for v in f.values] for f in svc.metadata.get(doc, LOCAL_ADMIN).fields}
    assert values["incident_date"] == ["2022-03-05"] and values["consent"] == ["full"]
    with TestClient(create_app(svc.settings, svc)) as reader:
        log_in(reader, "reader")
        page = reader.get(f"/documents/{doc}").text
        assert "2022-03-05" in page and 'name="field.consent"' not in page
        r = reader.get(f"/api/v1/documents/{doc}/entities")
        assert r.status_code == 401  # the API wants a token, not the session cookie
    client = TestClient(create_app(svc.settings, svc))
    tok = client.post("/api/v1/auth/token", json={"username": "reader", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {tok['access_token']}"}
    listed = client.get(f"/api/v1/documents/{doc}/entities", headers=headers).json()
    assert [e["id"] for e in listed] == [e.id for e in named]
    assert client.get(f"/api/v1/documents/{ids['secret.txt']}/entities", headers=headers).status_code == 404


@pytest.mark.all_stacks
def test_saved_search_keeps_meta_entity_and_date_filters(service: ArchiveService, tmp_path: Path) -> None:
    """A saved search keeps its ``meta=`` filters (and ``person=``, dates): run again, it gives
    what the same search gives, inside retrieval for whoever runs it (issue 18, fourth round)."""
    svc = service
    ids, reader, clerk = _setup(svc, tmp_path)
    _define(svc)
    svc.metadata.set_values(ids["ru.txt"], MetadataSet(values={"incident_date": "2022-03-05"}), clerk)
    svc.metadata.set_values(ids["uk.txt"], MetadataSet(values={"incident_date": "2022-04-01"}), clerk)
    svc.metadata.set_values(
        ids["secret.txt"], MetadataSet(values={"incident_date": "2022-03-10"}), LOCAL_ADMIN
    )
    svc.accounts.create_user("root", PASSWORD, role="admin")
    client = TestClient(create_app(svc.settings, svc))

    def auth(user: str) -> dict[str, str]:
        r = client.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def saved_files(headers: dict[str, str], body: dict[str, object]) -> set[str]:
        r = client.post("/api/v1/saved-searches", json={"name": "s", "query": "", **body}, headers=headers)
        assert r.status_code == 201, r.text
        for key, value in body.items():
            assert r.json()["params"][{"person": "persons", "org": "orgs"}.get(key, key)] == value
        r = client.get(
            f"/api/v1/saved-searches/{r.json()['id']}/results", params={"size": 50}, headers=headers
        )
        assert r.status_code == 200, r.text
        return {h["filename"] for h in r.json()["hits"]}

    march = {"meta": ["incident_date=2022-03"]}
    assert saved_files(auth("reader"), march) == {"ru.txt"} == _files(svc, reader, meta=march["meta"])
    assert saved_files(auth("root"), march) == {"ru.txt", "secret.txt"}
    spring = {"meta": ["incident_date=2022-03-01..2022-04-30"], "person": ["Кадиров"]}
    assert saved_files(auth("reader"), spring) == {"ru.txt", "uk.txt"}
    # dates are kept too (these documents have none: a date range leaves them out, as a search does)
    dated = {"meta": ["incident_date=2022-03"], "date_from": "2000-01-01"}
    assert (
        saved_files(auth("reader"), dated)
        == set()
        == _files(svc, reader, meta=dated["meta"], date_from=date(2000, 1, 1))
    )
    assert saved_files(auth("reader"), {"person": ["Шаманов"]}) == set()  # closed: never matched
    assert saved_files(auth("root"), {"person": ["Шаманов"]}) == {"secret.txt"}
    # a malformed filter or date is refused when saving, not when run
    bad = client.post(
        "/api/v1/saved-searches",
        json={"name": "s", "query": "", "meta": ["no equals"]},
        headers=auth("reader"),
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "query_syntax"
    bad = client.post(
        "/api/v1/saved-searches", json={"name": "s", "query": "", "date_from": "5"}, headers=auth("reader")
    )
    assert bad.status_code == 422
