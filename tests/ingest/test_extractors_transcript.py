"""Plain-text interview transcripts: speaker labels and timestamps become one block per turn."""

from __future__ import annotations

import itertools
from pathlib import Path

from sqlalchemy import select

from archive_search.catalog.models import Document, Passage
from archive_search.types import Extraction, SourceFile
from ingest.extractors.text import PlainTextExtractor
from ingest.registry import Limits
from ingest.transcript import parse_transcript
from search_api.service import ArchiveService
from tests.conftest import SAMPLE_DIR


def extract_text(path: Path) -> Extraction:
    size = path.stat().st_size
    src = SourceFile(filename=path.name, sha256="0" * 64, size=size, path=path, mime="text/plain")
    return PlainTextExtractor().extract(src, Limits())


def test_sample_interview_is_cut_into_turns() -> None:
    e = extract_text(SAMPLE_DIR / "interview-uk-sample.txt")
    assert e.doc_type == "transcript"
    assert e.title and e.title.startswith("ВИГАДАНИЙ ЗРАЗОК")
    header, turns = e.blocks[0], e.blocks[1:]
    assert header.speaker is None and "Учасники" in header.text and not header.text.startswith("#")
    assert len(turns) == 17
    assert {t.speaker for t in turns} == {"Інтерв'юер", "Свідок"}
    assert turns[0].speaker == "Інтерв'юер" and turns[0].text.startswith("Добрий день.")
    assert (turns[0].time_start, turns[0].time_end) == (5.0, 21.0)
    assert turns[4].time_start == 95.0  # [00:01:35]
    for cur, nxt in itertools.pairwise(turns):
        assert cur.time_end == nxt.time_start
    assert turns[-1].time_end is None
    assert all(t.method == "transcript" and t.text for t in turns)


def test_q_and_a_without_times_with_continuation_lines() -> None:
    text = (
        "Interview with a witness, Kharkiv, 2022.\n\n"
        "Q: Where were you on the morning of 5 March?\n"
        "A: At home. Then soldiers came to the street.\n"
        "They took my neighbour.\n"
        "Q: Did they say why?\n"
        "A: No.\n"
    )
    blocks, header = parse_transcript(text) or ([], [])
    assert header == []
    assert blocks[0].speaker is None and blocks[0].text.startswith("Interview with a witness")
    turns = blocks[1:]
    assert [t.speaker for t in turns] == ["Q", "A", "Q", "A"]
    assert turns[1].text == "At home. Then soldiers came to the street.\nThey took my neighbour."
    assert all(t.time_start is None and t.time_end is None for t in turns)


def test_russian_labels_with_bare_and_bracketed_times() -> None:
    text = (
        "00:00:03 Интервьюер: Представьтесь, пожалуйста.\n"
        "00:00:07 - Свидетель: Меня зовут Анна.\n"
        "(00:12) Интервьюер: Что произошло?\n"
        "[00:01:15.5] Свидетель: Нас задержали на блокпосту.\n"
        "[00:01:40] Нас держали трое суток.\n"
    )
    blocks, _ = parse_transcript(text) or ([], [])
    assert [(b.speaker, b.time_start) for b in blocks] == [
        ("Интервьюер", 3.0),
        ("Свидетель", 7.0),
        ("Интервьюер", 12.0),
        ("Свидетель", 75.5),
        ("Свидетель", 100.0),  # a timestamp alone goes on with the last speaker
    ]
    assert [b.time_end for b in blocks] == [7.0, 12.0, 75.5, 100.0, None]
    assert blocks[1].text == "Меня зовут Анна."


def test_timestamps_only() -> None:
    text = "[00:00:01] Добрий день.\n[00:00:04] Почнемо запис.\n[00:00:09] Розкажіть, що сталося.\n"
    blocks, _ = parse_transcript(text) or ([], [])
    assert [(b.speaker, b.time_start, b.time_end) for b in blocks] == [
        (None, 1.0, 4.0),
        (None, 4.0, 9.0),
        (None, 9.0, None),
    ]


def test_ordinary_text_is_not_a_transcript(tmp_path: Path) -> None:
    for name in ("udhr-ru.txt", "udhr-uk.txt", "udhr-be.txt", "udhr-en.txt"):
        assert parse_transcript((SAMPLE_DIR / name).read_text("utf-8")) is None, name
        assert extract_text(SAMPLE_DIR / name).doc_type == "text"
    letter = (
        "Уважаемый коллега!\nПишу вам по поводу архива.\nПримечание: копии приложены.\n"
        "Ссылка: http://example.org/a\nС уважением, Иван.\n"
    )
    assert parse_transcript(letter) is None
    form = "Фамилия: Иванов\nИмя: Пётр\nАдрес: Минск\nТелефон: 123\nДата: 2020-01-01\n"
    assert parse_transcript(form) is None
    schedule = "Расписание\n10:00 начало\nПотом перерыв\nИ ещё много текста здесь\nКонец дня\nИтоги\n"
    assert parse_transcript(schedule) is None
    p = tmp_path / "letter.txt"
    p.write_text(letter, "utf-8")
    assert extract_text(p).doc_type == "text"


def test_transcript_text_is_ingested_with_speakers_and_times(service: ArchiveService) -> None:
    rep = service.ingest([SAMPLE_DIR / "interview-uk-sample.txt"], "c")
    assert rep.files[0].outcome == "ok"
    with service.catalog.session() as s:
        doc = s.scalars(select(Document)).one()
        assert doc.doc_type == "transcript" and doc.lang == "uk"
        rows = list(s.scalars(select(Passage).order_by(Passage.seq)))
    spoken = [p for p in rows if p.speaker]
    assert {p.speaker for p in spoken} == {"Інтерв'юер", "Свідок"}
    assert all(p.time_start is not None for p in spoken)
    assert [p.time_start for p in spoken] == sorted(p.time_start or 0 for p in spoken)
    torture = next(p for p in spoken if "катування" in p.text)
    assert torture.speaker == "Свідок" and torture.time_start == 144.0  # [00:02:24]
