"""Issue 16's defects, each with a test that failed before its fix (``docs/decisions.md``)."""

from __future__ import annotations

from pathlib import Path

from archive_search.ingest.extractors.subtitles import merge_turns, parse_cues
from archive_search.search_api.batch import BatchOptions, Entry, run_batch
from archive_search.search_api.service import ArchiveService
from archive_search.types import LOCAL_ADMIN, SearchRequest
from tests.conftest import SAMPLE_DIR, ingest_texts

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
