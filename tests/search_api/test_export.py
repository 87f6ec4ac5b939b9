"""The whole path through the HTTP API — search → tag → case → export — then the bundle checked
by `archive verify-bundle`, its hashes recomputed, its PDF report extracted and rendered, and
tampered copies caught. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient

from archive_search.web import create_app
from search_api.audit import AuditLog
from search_api.export import verify_bundle
from search_api.service import ArchiveService
from tests.conftest import REPO
from tests.search_api.test_auth import login
from tests.search_api.test_cases import RESTRICTED_TEXT, setup_people

pytestmark = pytest.mark.all_stacks  # also on OpenSearch + PostgreSQL

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def env(
    sample_service: ArchiveService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, ArchiveService, int]]:
    restricted = setup_people(sample_service, tmp_path_factory.mktemp("restricted"))
    with TestClient(create_app(sample_service.settings, sample_service)) as c:
        yield c, sample_service, restricted


@pytest.fixture(scope="module")
def exported(
    env: tuple[TestClient, ArchiveService, int], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """search → tag → case → export, every step through HTTP as the editor ``ed``."""
    http, _, restricted = env
    ed = login(http, "ed")

    def search(q: str, **params: object) -> list[dict[str, object]]:
        r = http.get("/api/v1/search", params={"q": q, "mode": "keyword", **params}, headers=ed)
        assert r.status_code == 200, r.text
        hits: list[dict[str, object]] = r.json()["hits"]
        assert hits, q
        return hits

    uk = search("братерства", lang="uk", type="pdf")[0]
    talk = search("погодилися")[0]
    torture = search("катування", collection="restricted")[0]
    assert talk["time_start"] is not None and torture["collection"] == "restricted"
    r = http.post(
        "/api/v1/tags/apply",
        json={"names": ["доказ"], "passage_ids": [int(uk["passage_id"]), int(talk["passage_id"])]},
        headers=ed,
    )
    assert r.status_code == 200, r.text
    tagged = search('tag:"доказ"')
    assert {h["passage_id"] for h in tagged} == {uk["passage_id"], talk["passage_id"]}
    case = http.post(
        "/api/v1/cases",
        json={"title": "Справа про катування", "description": "Свідчення і протоколи"},
        headers=ed,
    ).json()
    items = [
        {"passage_id": int(h["passage_id"]), "query": q, "note": f"примітка {n}"}
        for n, (h, q) in enumerate(((uk, "братерства"), (talk, "погодилися"), (torture, "катування")), 1)
    ]
    items.append({"document_id": int(uk["document_id"]), "query": "братерства"})
    r = http.post(f"/api/v1/cases/{case['id']}/items", json={"items": items}, headers=ed)
    assert r.status_code == 201, r.text
    assert (
        http.post(
            f"/api/v1/cases/{case['id']}/notes", json={"text": "Нотатка: звірити з оригіналом"}, headers=ed
        ).status_code
        == 201
    )
    http.post(
        f"/api/v1/cases/{case['id']}/members", json={"username": "ed2", "permission": "read"}, headers=ed
    )

    r = http.get(f"/api/v1/cases/{case['id']}/export", headers=ed)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    tmp = tmp_path_factory.mktemp("bundle")
    bundle = tmp / "bundle.zip"
    bundle.write_bytes(r.content)
    # ed2 reads the case but not the restricted collection: its export leaves that item out
    r2 = http.get(f"/api/v1/cases/{case['id']}/export", headers=login(http, "ed2"))
    partial = tmp / "partial.zip"
    partial.write_bytes(r2.content)
    return {
        "bundle": bundle,
        "partial": partial,
        "case": case,
        "uk": uk,
        "talk": talk,
        "torture": torture,
        "restricted": restricted,
        "manifest_sha": r.headers["x-manifest-sha256"],
        "bundle_sha": r.headers["x-content-sha256"],
    }


def _archive(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("archive")
    env = {**os.environ, "ARCHIVE_EMBEDDER": "none"}
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_bundle_verifies_and_hashes_match(
    exported: dict[str, object], env: tuple[TestClient, ArchiveService, int]
) -> None:
    _, svc, restricted = env
    bundle = Path(str(exported["bundle"]))
    r = _archive("verify-bundle", str(bundle))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode("utf-8"))))
        # every file but the manifests is listed, with the hash of its bytes
        listed = {f["path"]: f for f in manifest["files"]}
        assert names == set(listed) | {"manifest.json", "manifest.csv"}
        for path, f in listed.items():
            data = zf.read(path)
            assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"], path
        assert {r["path"]: r["sha256"] for r in rows} == {p: f["sha256"] for p, f in listed.items()}
        # originals are exactly the stored bytes, and their hash is the documents' SHA-256
        originals = [f for f in manifest["files"] if f["kind"] == "original"]
        assert len(originals) == 3
        for f in originals:
            data = zf.read(f["path"])
            assert data == svc.store.path_for(f["sha256"]).read_bytes()
        texts = {
            f["document_id"]: zf.read(f["path"]).decode("utf-8")
            for f in manifest["files"]
            if f["kind"] == "text"
        }
        assert texts[restricted] == RESTRICTED_TEXT
        transcript = next(t for t in texts.values() if "погодилися" in t)
        assert re.search(r"^\[00:00:0\d\.\d{3} --> 00:00:\d\d\.\d{3}\] ", transcript, re.M), transcript
    assert manifest["format"] == "archive-search-bundle/1"
    assert manifest["exported_by"] == "ed" and manifest["exported_at"]
    assert manifest["case"]["title"] == "Справа про катування"
    assert [n["text"] for n in manifest["notes"]] == ["Нотатка: звірити з оригіналом"]
    items = manifest["items"]
    assert [i["position"] for i in items] == [1, 2, 3, 4]
    uk, talk = exported["uk"], exported["talk"]
    assert isinstance(uk, dict) and isinstance(talk, dict)
    first = items[0]
    assert first["filename"] == uk["filename"] and first["page"] == uk["page"] and first["lang"] == "uk"
    assert first["document_sha256"] == uk["sha256"] and "братерства" in first["passage_text"]
    assert first["query"] == "братерства" and first["note"] == "примітка 1" and first["added_by"] == "ed"
    assert first["citation"].startswith(f"{uk['filename']}, p. {uk['page']} [uk] «")
    assert items[1]["time_span"] and items[1]["time_start"] == talk["time_start"]
    assert items[3]["passage_id"] is None and items[3]["passage_text"] is None
    # the export is in the audit log with the manifest's and the ZIP's SHA-256
    exports = [e for e in AuditLog(svc.catalog).recent(200) if e.action == "export"]
    details = [json.loads(e.details) for e in exports]
    assert any(
        d["manifest_sha256"]
        == exported["manifest_sha"]
        == hashlib.sha256(zipfile.ZipFile(bundle).read("manifest.json")).hexdigest()
        and d["bundle_sha256"] == exported["bundle_sha"]
        for d in details
    )


def test_partial_export_leaves_out_unreadable_items(exported: dict[str, object]) -> None:
    partial = Path(str(exported["partial"]))
    problems, _ = verify_bundle(partial)
    assert problems == []
    with zipfile.ZipFile(partial) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["exported_by"] == "ed2"
        assert [i["collection"] for i in manifest["items"]] == ["sample", "sample", "sample"]
        assert not any(n.endswith("protokol-dopytu.txt") for n in zf.namelist())
        assert "Протокол допиту".encode() not in zf.read("manifest.json")


def test_pdf_report_has_cyrillic_and_renders(
    exported: dict[str, object], env: tuple[TestClient, ArchiveService, int]
) -> None:
    _, svc, _ = env
    bundle = Path(str(exported["bundle"]))
    with zipfile.ZipFile(bundle) as zf:
        report = zf.read("report.pdf")
        manifest = json.loads(zf.read("manifest.json"))
    pdf = pdfium.PdfDocument(report)
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    flat = " ".join(text.split())
    assert "Справа про катування" in flat
    quote = " ".join(manifest["items"][0]["passage_text"].split())
    assert quote[:60] in flat, (quote[:60], flat[:2000])
    assert "Нотатка: звірити з оригіналом" in flat and "примітка 1" in flat
    assert manifest["items"][0]["document_sha256"] in flat.replace(" ", "")
    # a summary table, one row per item, before the items; items headed by title where there is one
    assert "Summary" in flat and flat.index("Summary") < flat.index("Items 1. ")
    head = flat[flat.index("Summary") : flat.index("Items 1. ")]
    assert all(
        str(i["filename"])[:20] in head or str(i.get("title") or "")[:20] in head for i in manifest["items"]
    )
    # the extracted texts are named name.txt, never name.txt.txt
    with zipfile.ZipFile(bundle) as zf:
        texts = [n for n in zf.namelist() if n.startswith("text/")]
    assert texts and all(n.endswith(".txt") and not n.endswith(".txt.txt") for n in texts), texts
    originals = [str(i["filename"]) for i in manifest["items"]]
    assert any(o.endswith(".txt") for o in originals), originals  # the case holds a .txt original
    ARTIFACTS.mkdir(exist_ok=True)
    image = pdf[0].render(scale=1.5).to_pil().convert("L")
    out = ARTIFACTS / f"case-report-{svc.catalog.dialect}.png"
    image.save(out)
    hist = image.histogram()
    dark = sum(hist[:128])
    assert dark > 0.005 * image.width * image.height, "the rendered page is (nearly) blank"
    assert hist[255] > 0.5 * image.width * image.height  # and mostly white paper
    (ARTIFACTS / f"case-bundle-{svc.catalog.dialect}.zip").write_bytes(bundle.read_bytes())


def _rewrite(src: Path, dest: Path, *, change: str | None = None, drop: str | None = None) -> None:
    """A copy of a bundle with one member's byte changed or one member left out (CRCs redone)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename == drop:
                continue
            data = zin.read(info.filename)
            if info.filename == change:
                data = data[:10] + bytes([data[10] ^ 0x01]) + data[11:]
            zout.writestr(info.filename, data)


def test_tampered_bundles_are_detected(exported: dict[str, object], tmp_path: Path) -> None:
    bundle = Path(str(exported["bundle"]))
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    original = next(f["path"] for f in manifest["files"] if f["kind"] == "original")
    text = next(f["path"] for f in manifest["files"] if f["kind"] == "text")

    changed = tmp_path / "changed.zip"
    _rewrite(bundle, changed, change=original)
    r = _archive("verify-bundle", str(changed))
    assert r.returncode == 1 and original in r.stderr and "SHA-256" in r.stderr, r.stderr

    removed = tmp_path / "removed.zip"
    _rewrite(bundle, removed, drop=text)
    r = _archive("verify-bundle", str(removed))
    assert r.returncode == 1 and f"{text}: missing" in r.stderr, r.stderr

    no_report = tmp_path / "no-report.zip"
    _rewrite(bundle, no_report, drop="report.pdf")
    assert any(p.startswith("report.pdf: missing") for p in verify_bundle(no_report)[0])

    # a byte flipped in the raw ZIP (no CRC redone) is caught as well
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(original)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    pos = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2  # inside the data
    raw[pos] ^= 0xFF
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(raw))
    problems, _ = verify_bundle(flipped)
    assert any(p.startswith(original) for p in problems), problems

    # an unpacked bundle is checked the same way, extra files included
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(folder)
    assert verify_bundle(folder)[0] == []
    (folder / "originals" / "planted.txt").write_text("x")
    assert verify_bundle(folder)[0] == ["originals/planted.txt: not listed in manifest.json"]
    r = _archive("verify-bundle", str(tmp_path / "nothing-here.zip"))
    assert r.returncode == 2


def test_bundle_carries_the_search_records_of_its_items(
    env: tuple[TestClient, ArchiveService, int], exported: dict[str, object], tmp_path: Path
) -> None:
    """Issue 16: the searches that found the items, as logged, in the bundle; verify-bundle
    recomputes their audit hashes, and an edited record is caught."""
    _, svc, _ = env
    bundle = Path(str(exported["bundle"]))
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    searches = {e["id"]: e for e in manifest["searches"]}
    assert searches and all(it["search_audit_id"] in searches for it in manifest["items"])
    for it in manifest["items"]:
        record = searches[it["search_audit_id"]]["details"]["record"]
        assert record["q"] == it["query"] and record["mode"] == "keyword"
        assert set(record) >= {
            "filters",
            "readable",
            "index",
            "embedder",
            "at",
            "total",
            "hits",
            "hits_sha256",
        }
        assert record["index"]["analyzer"] and record["readable"] != "all"  # ed reads some collections
    # each entry is the audit log's entry itself: same hash as in the archive's chain
    live = {e.id: e.hash for e in AuditLog(svc.catalog).entries()}
    assert all(live[i] == e["hash"] for i, e in searches.items())
    # the record's hit hash is the hash of the hits the search served, in order
    r = env[0].get(
        "/api/v1/search", params={"q": "погодилися", "mode": "keyword"}, headers=login(env[0], "ed")
    )
    again = [e for e in AuditLog(svc.catalog).entries() if e.action == "search"][-1]
    record = json.loads(again.details)["record"]
    lines = "".join(f"{h['document_id']}:{h['passage_id']}\n" for h in r.json()["hits"])
    assert record["hits_sha256"] == hashlib.sha256(lines.encode()).hexdigest()
    assert verify_bundle(bundle)[0] == []

    # a search record edited after the fact (fewer hits) is caught, the manifests kept consistent
    first = manifest["searches"][0]
    first["details"]["record"]["total"] += 1
    edited = tmp_path / "edited.zip"
    _rewrite_manifest(bundle, edited, manifest)
    problems = verify_bundle(edited)[0]
    assert problems == [f"search record {first['id']}: its hash does not match its content (altered)"]


def _rewrite_manifest(src: Path, dst: Path, manifest: dict[str, object]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "manifest.json":
                data = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
            zout.writestr(info.filename, data)
