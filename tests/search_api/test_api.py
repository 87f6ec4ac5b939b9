"""The HTTP API on real ingested data: search in four languages, documents, originals, errors."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR
from tests.search_api.test_search import ARTICLE_WORDS

pytestmark = pytest.mark.all_stacks  # also on OpenSearch + PostgreSQL


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
