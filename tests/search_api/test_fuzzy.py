"""OCR tolerance: a rare query word also matches close misspellings, below exact matches, and the
decision never looks at collections the caller cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_search.types import LOCAL_ADMIN, Principal, SearchRequest
from index.analysis import within_edits
from search_api.retrieval import RARE_TERM_MAX
from search_api.service import ArchiveService

pytestmark = pytest.mark.all_stacks  # the service tests also run on OpenSearch + PostgreSQL


def test_within_edits() -> None:
    assert within_edits("пыткам", "пыткам", 0)
    assert within_edits("пытнам", "пыткам", 1)
    assert within_edits("пыкткам", "пыткам", 1)  # insertion
    assert within_edits("пыткма", "пыткам", 1)  # transposition
    assert not within_edits("пыткам", "платам", 1)
    assert within_edits("оленівка", "олнеівка", 1)
    assert not within_edits("a" * 5, "b" * 5, 2)


def test_ocr_damaged_word_is_found_below_exact(service: ArchiveService, tmp_path: Path) -> None:
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    (tmp_path / "clean.txt").write_text("Свідок бачив фільтраційний табір біля Оленівки у липні.", "utf-8")
    (tmp_path / "ocr.txt").write_text("Свідок бачив фільтраційний табір біля Олеиівки у серпні.", "utf-8")
    (tmp_path / "other.txt").write_text("Зовсім інший документ про погоду.", "utf-8")
    assert all(f.outcome == "ok" for f in service.ingest([tmp_path], "c").files)
    res = service.search(SearchRequest(q="Оленівки", mode="keyword"), LOCAL_ADMIN)
    assert [h.filename for h in res.hits] == ["clean.txt", "ocr.txt"]
    assert res.hits[0].score > res.hits[1].score
    assert "<mark>Олеиівки</mark>" in res.hits[1].snippet
    # an excluded word is excluded exactly
    excl = service.search(SearchRequest(q="табір -Оленівки", mode="keyword"), LOCAL_ADMIN)
    assert [h.filename for h in excl.hits] == ["ocr.txt"]


def test_common_words_are_not_expanded(service: ArchiveService, tmp_path: Path) -> None:
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    for i in range(RARE_TERM_MAX + 2):
        (tmp_path / f"d{i}.txt").write_text(f"Протокол допиту номер {i} про затримання.", "utf-8")
    (tmp_path / "typo.txt").write_text("Протокол допиту про затрмання.", "utf-8")
    service.ingest([tmp_path], "c")
    res = service.search(SearchRequest(q="затримання", mode="keyword", size=100), LOCAL_ADMIN)
    assert "typo.txt" not in {h.filename for h in res.hits}
    assert res.total == RARE_TERM_MAX + 2


def test_rarity_is_counted_only_where_the_caller_may_read(service: ArchiveService, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "typo.txt").write_text("Документ про Кадиорова.", "utf-8")
    for i in range(RARE_TERM_MAX + 5):
        (tmp_path / "b" / f"x{i}.txt").write_text(f"Кадирова згадано {i} раз.", "utf-8")
    service.ingest([tmp_path / "a"], "open")
    service.ingest([tmp_path / "b"], "secret")
    reader = Principal(name="r", readable=frozenset({"open"}))
    # in what the reader can see the word is rare, so the OCR variant is found, whatever "secret" holds
    res = service.search(SearchRequest(q="Кадирова", mode="keyword"), reader)
    assert [h.filename for h in res.hits] == ["typo.txt"]
