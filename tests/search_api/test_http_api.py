"""The HTTP API on the ingested sample archive, on both stacks: search in four languages,
grouping, the speaker filter, date facets, documents and originals, passages with their position,
corroboration, page images, uploads, batch search (sync, CSV, job), saved searches, errors and
limits. (One module: one ingest of the sample per stack serves every test here.)"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from archive_search.web import create_app
from search_api import batch as batch_mod
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR
from tests.search_api.test_search import ARTICLE_WORDS

pytestmark = pytest.mark.all_stacks  # also on OpenSearch + PostgreSQL

PASSWORD = "a long enough passphrase"


@pytest.fixture(scope="module")
def http(sample_service: ArchiveService) -> Iterator[TestClient]:
    acc = sample_service.accounts
    acc.create_user("boss", PASSWORD, role="admin")
    acc.create_user("viewer", PASSWORD)
    acc.create_user("stranger", PASSWORD)
    acc.grant("sample", "read", user="viewer")
    with TestClient(create_app(sample_service.settings, sample_service)) as c:
        yield c


def auth(http: TestClient, user: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def client(sample_service: ArchiveService) -> Iterator[TestClient]:
    """A client logged in as an administrator (through the real login route)."""
    sample_service.accounts.create_user("api-admin", "correct horse battery staple", role="admin")
    with TestClient(create_app(sample_service.settings, sample_service)) as c:
        r = c.post(
            "/api/v1/auth/token", json={"username": "api-admin", "password": "correct horse battery staple"}
        )
        assert r.status_code == 200, r.text
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield c


# -- search, documents, uploads, errors ---------------------------------------------------------


@pytest.mark.parametrize(("lang", "word", "files"), ARTICLE_WORDS)
def test_search_in_each_language(client: TestClient, lang: str, word: str, files: set[str]) -> None:
    r = client.get("/api/v1/search", params={"q": word, "mode": "keyword"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"total", "took_ms", "hits", "facets"}
    assert body["total"] >= 2
    assert {h["filename"] for h in body["hits"][:2]} == files  # exact matches rank first
    exact = client.get("/api/v1/search", params={"q": f'"{word}"', "mode": "keyword"}).json()
    assert exact["total"] == 2 and {h["filename"] for h in exact["hits"]} == files
    hit = body["hits"][0]
    assert set(hit) >= {
        "document_id",
        "passage_id",
        "score",
        "filename",
        "title",
        "collection",
        "lang",
        "page",
        "time_start",
        "snippet",
    }
    assert hit["lang"] == lang and hit["collection"] == "sample"
    assert "<mark>" in hit["snippet"]
    assert set(body["facets"]) == {
        "lang",
        "collection",
        "type",
        "tag",
        "date",
        "person",
        "place",
        "organisation",
    }


def test_document_text_and_original(client: TestClient) -> None:
    r = client.get("/api/v1/search", params={"q": "brotherhood", "mode": "keyword", "type": "pdf"})
    doc_id = r.json()["hits"][0]["document_id"]
    meta = client.get(f"/api/v1/documents/{doc_id}").json()
    original_bytes = (SAMPLE_DIR / "udhr-en-articles.pdf").read_bytes()
    assert meta["sha256"] == hashlib.sha256(original_bytes).hexdigest()
    assert meta["page_count"] == 5 and meta["filename"] == "udhr-en-articles.pdf"
    text = client.get(f"/api/v1/documents/{doc_id}/text").json()
    assert [p["page"] for p in text["parts"]] == [1, 2, 3, 4, 5]
    assert "brotherhood" in text["parts"][0]["text"]
    orig = client.get(f"/api/v1/documents/{doc_id}/original")
    assert orig.status_code == 200
    assert orig.content == original_bytes
    assert orig.headers["x-content-sha256"] == meta["sha256"]
    assert orig.headers["content-type"] == "application/pdf"


def test_errors_have_one_shape(client: TestClient) -> None:
    r = client.get("/api/v1/search", params={"q": '"unclosed'})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "query_syntax" and "quote" in r.json()["error"]["message"]
    r = client.get("/api/v1/documents/999999")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/api/v1/search", params={"q": "x", "size": 0})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameters"
    r = client.get("/api/v1/no-such-route")
    assert r.status_code == 404 and set(r.json()["error"]) == {"code", "message"}


def test_upload_then_search(client: TestClient) -> None:
    body = "Свідок описав фільтраційний табір біля Оленівки.".encode()
    r = client.post(
        "/api/v1/documents",
        files={"file": ("olenivka.txt", body, "text/plain")},
        data={"collection": "uploads"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["files"][0]["outcome"] == "ok"
    hits = client.get("/api/v1/search", params={"q": "Оленівки", "mode": "keyword"}).json()["hits"]
    assert [h["filename"] for h in hits] == ["olenivka.txt"] and hits[0]["collection"] == "uploads"


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    root = client.get("/", follow_redirects=False)
    # the root is the web interface's search page: without a session it sends you to log in
    assert root.status_code == 303 and root.headers["location"].startswith("/login")
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/search" in schema["paths"]


def test_upload_to_an_invalid_collection_name_is_refused(client: TestClient) -> None:
    r = client.post(
        "/api/v1/documents",
        files={"file": ("a.txt", "Текст.".encode(), "text/plain")},
        data={"collection": "../etc"},
    )
    # the schema states the rule (a pattern), so the request is refused before it is read further
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameters"
    assert "collection" in r.json()["error"]["message"]


def test_upload_of_an_encrypted_pdf_with_its_password(client: TestClient) -> None:
    path = Path("/work/shared/data/aleph-ingest-fixtures/files/password-hunter2.pdf")
    if not path.exists():
        pytest.skip("shared test data is missing")
    pdf = path.read_bytes()
    r = client.post("/api/v1/documents", files={"file": ("locked.pdf", pdf, "application/pdf")})
    f = r.json()["files"][0]
    assert (f["outcome"], f["code"]) == ("failed", "encrypted")
    r = client.post(
        "/api/v1/documents",
        files={"file": ("locked.pdf", pdf, "application/pdf")},
        data={"password": "hunter2"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["files"][0]["outcome"] == "ok" and "hunter2" not in r.text
    hits = client.get("/api/v1/search", params={"q": "password", "mode": "keyword"}).json()["hits"]
    assert [h["filename"] for h in hits] == ["locked.pdf"]


# -- grouping, passages, corroboration, page images, batch, saved searches, limits ---------------


def test_grouped_by_document_by_default(http: TestClient) -> None:
    h = auth(http, "viewer")
    grouped = http.get("/api/v1/search", params={"q": "пыткам", "mode": "keyword"}, headers=h).json()
    passages = http.get(
        "/api/v1/search", params={"q": "пыткам", "mode": "keyword", "group": "passage", "size": 50}, headers=h
    ).json()
    docs = [x["document_id"] for x in grouped["hits"]]
    assert len(docs) == len(set(docs)) == grouped["total"]
    assert grouped["group"] == "document" and passages["group"] == "passage"
    assert {x["document_id"] for x in passages["hits"]} == set(docs)
    assert passages["total"] >= grouped["total"]
    for hit in grouped["hits"]:
        assert hit["matching_passages"] >= 1 + len(hit["more"])
        assert all("<mark>" in m["snippet"] for m in hit["more"])


def test_speaker_filter_and_query_field(http: TestClient) -> None:
    h = auth(http, "viewer")
    r = http.get(
        "/api/v1/search", params={"q": "", "speaker": "Свідок", "group": "passage", "size": 100}, headers=h
    ).json()
    assert r["total"] > 0 and {x["speaker"] for x in r["hits"]} == {"Свідок"}
    q = http.get(
        "/api/v1/search", params={"q": 'speaker:"свідок"', "group": "passage", "size": 100}, headers=h
    )
    assert q.json()["total"] == r["total"]


def test_passage_position_inside_its_page(http: TestClient) -> None:
    h = auth(http, "viewer")
    hit = http.get(
        "/api/v1/search", params={"q": "brotherhood", "type": "pdf", "mode": "keyword"}, headers=h
    ).json()["hits"][0]
    p = http.get(f"/api/v1/passages/{hit['passage_id']}", headers=h).json()
    assert p["page"] == 1 and p["document_id"] == hit["document_id"]
    pages = http.get(f"/api/v1/documents/{hit['document_id']}/text", headers=h).json()["parts"]
    page_text = next(x["text"] for x in pages if x["page"] == p["page"])
    assert page_text[p["char_start"] : p["char_end"]] == p["text"]
    assert "brotherhood" in p["text"]
    assert (
        http.get(f"/api/v1/passages/{hit['passage_id']}", headers=auth(http, "stranger")).status_code == 404
    )


def test_similar_passages_come_from_other_documents(http: TestClient) -> None:
    h = auth(http, "viewer")
    hit = http.get(
        "/api/v1/search", params={"q": "тортур", "mode": "keyword", "type": "pdf"}, headers=h
    ).json()["hits"][0]
    sim = http.get(f"/api/v1/passages/{hit['passage_id']}/similar", headers=h).json()
    assert sim["method"] == "keyword"  # nothing is embedded in this fixture
    assert sim["hits"], "the Ukrainian article 5 exists in the txt file and is quoted in the interview"
    assert hit["document_id"] not in {x["document_id"] for x in sim["hits"]}
    assert len({x["document_id"] for x in sim["hits"]}) == len(sim["hits"])
    none = http.get(f"/api/v1/passages/{hit['passage_id']}/similar", headers=auth(http, "stranger"))
    assert none.status_code == 404
    docs = http.get(f"/api/v1/documents/{hit['document_id']}/similar", headers=h).json()
    assert docs["hits"] and hit["document_id"] not in {x["document_id"] for x in docs["hits"]}


def test_page_images(http: TestClient) -> None:
    h = auth(http, "viewer")
    hits = http.get(
        "/api/v1/search", params={"q": "пыткам", "type": "scan", "mode": "keyword"}, headers=h
    ).json()
    for hit in hits["hits"]:
        r = http.get(f"/api/v1/documents/{hit['document_id']}/pages/1", params={"dpi": 50}, headers=h)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        img = Image.open(io.BytesIO(r.content))
        assert img.width > 100 and img.height > 100
        assert http.get(f"/api/v1/documents/{hit['document_id']}/pages/9", headers=h).status_code == 404
    text_doc = http.get("/api/v1/search", params={"q": "brotherhood", "type": "text"}, headers=h).json()[
        "hits"
    ][0]
    assert http.get(f"/api/v1/documents/{text_doc['document_id']}/pages/1", headers=h).status_code == 404


def test_batch_of_names_sync_and_csv(http: TestClient) -> None:
    h = auth(http, "viewer")
    body = {
        "queries": [{"id": "a", "text": "братства"}, {"id": "b", "text": "Nobody Nowhere Zzyzx"}],
        "size": 2,
    }
    r = http.post("/api/v1/search/batch", json=body, headers=h)
    assert r.status_code == 200, r.text
    res = {x["id"]: x for x in r.json()["results"]}
    assert res["a"]["total"] == 2 and len(res["a"]["hits"]) == 2 and res["b"]["total"] == 0
    csv_body = "id,name\n1,брацтва\n2,brotherhood\n".encode()
    r = http.post("/api/v1/search/batch/csv", files={"file": ("names.csv", csv_body, "text/csv")}, headers=h)
    assert r.status_code == 200, r.text
    assert [x["total"] for x in r.json()["results"]] == [2, 2]
    empty = http.post("/api/v1/search/batch", json={"queries": []}, headers=h)  # no entries, no results
    assert empty.status_code == 200 and empty.json()["results"] == [] and empty.json()["total"] == 0
    too_long = {"queries": [{"text": "x" * 501}]}
    assert http.post("/api/v1/search/batch", json=too_long, headers=h).status_code == 422


def test_long_batch_runs_as_a_job_and_downloads_as_csv(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_mod, "SYNC_LIMIT", 2)
    from search_api.routes import batch as batch_routes

    monkeypatch.setattr(batch_routes, "SYNC_LIMIT", 2)
    h = auth(http, "viewer")
    names = ["братства", "брацтва", "brotherhood", "братерства", "катування"]
    r = http.post("/api/v1/search/batch", json={"names": names}, headers=h)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 60
    while True:
        st = http.get(f"/api/v1/search/batch/{job_id}", headers=h).json()
        if st["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert st["status"] == "done", st
    assert st["done"] == 5 and [x["total"] for x in st["results"]][:3] == [2, 2, 2]
    # one retrieval path: an entry matches what the same words match in a search, with the same
    # OCR tolerance of rare words ("братерства" finds more than its exact spelling)
    for name, result in zip(names, st["results"], strict=True):
        searched = http.get("/api/v1/search", params={"q": name, "mode": "keyword"}, headers=h).json()
        assert result["total"] == searched["total"], name
    csv_text = http.get(f"/api/v1/search/batch/{job_id}/csv", headers=h).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("id,text,total,rank,document_id")
    assert "udhr-be.txt" in csv_text and "<mark>" not in csv_text
    # another user cannot see the job
    assert http.get(f"/api/v1/search/batch/{job_id}", headers=auth(http, "stranger")).status_code == 404


def test_saved_search_reports_new_documents(http: TestClient, tmp_path: object) -> None:
    h = auth(http, "boss")
    r = http.post("/api/v1/saved-searches", json={"name": "Olenivka", "query": "Оленівка"}, headers=h)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["new_documents"] == 0
    up = http.post(
        "/api/v1/documents",
        files={"file": ("new.txt", "Нові свідчення про Оленівка і табір.".encode(), "text/plain")},
        data={"collection": "sample"},
        headers=h,
    )
    assert up.status_code == 201
    listed = http.get("/api/v1/saved-searches", headers=h).json()
    assert [x["new_documents"] for x in listed if x["id"] == sid] == [1]
    new = http.get(f"/api/v1/saved-searches/{sid}/new", headers=h).json()
    assert [x["filename"] for x in new["hits"]] == ["new.txt"]
    assert http.get("/api/v1/saved-searches", headers=h).json()[0]["new_documents"] == 0
    assert http.get(f"/api/v1/saved-searches/{sid}/new", headers=auth(http, "viewer")).status_code == 404
    bad = http.post("/api/v1/saved-searches", json={"name": "x", "query": '"open'}, headers=h)
    assert bad.status_code == 400
    assert http.delete(f"/api/v1/saved-searches/{sid}", headers=h).status_code == 204
    assert SAMPLE_DIR.exists()


def test_request_body_limits(http: TestClient, sample_service: ArchiveService) -> None:
    h = auth(http, "viewer")
    limit = sample_service.settings.max_request_bytes
    big = {"names": ["x" * 400] * (limit // 400 + 10)}
    r = http.post("/api/v1/search/batch", json=big, headers=h)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(limit // 65536 + 2):
            yield b"[" + b" " * 65534 + b"]"

    r = http.post("/api/v1/search/batch", content=chunks(), headers={**h, "content-type": "application/json"})
    assert r.status_code == 413


def test_slow_search_times_out(
    http: TestClient, sample_service: ArchiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = auth(http, "viewer")
    original = sample_service.search

    def slow(*args: object, **kwargs: object) -> object:
        time.sleep(0.5)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sample_service, "search", slow)
    monkeypatch.setattr(
        sample_service, "settings", sample_service.settings.model_copy(update={"request_timeout_s": 0.1})
    )
    r = http.get("/api/v1/search", params={"q": "brotherhood"}, headers=h)
    assert r.status_code == 503 and r.json()["error"]["code"] == "timeout"
