"""Result cards' date and tags (``search_api/cards.py``): only for documents the caller may read."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN, Principal
from search_api.service import ArchiveService
from search_api.tags import TagApply
from tests.conftest import ingest_files

EML = (
    "From: a@example.org\nTo: b@example.org\nDate: Mon, 3 Mar 2025 10:00:00 +0000\n"
    "Subject: Detention\nContent-Type: text/plain; charset=utf-8\n\nHe was detained at the bridge.\n"
)


def test_cards_give_date_and_tags_of_readable_documents_only(tmp_path: Path) -> None:
    svc = ArchiveService(Settings(data_dir=tmp_path / "data", embedder="none"))  # type: ignore[call-arg]
    try:
        src = tmp_path / "in"
        notes = {
            "mail.eml": EML,
            "note.txt": "An undated note about the bridge.\n",
            "other.txt": "Another note about the bridge.\n",
        }
        ids = ingest_files(svc, src, notes, "open")
        ids |= ingest_files(
            svc, tmp_path / "secret", {"secret.txt": "A secret note about the bridge.\n"}, "closed"
        )
        svc.tags.apply_tags(TagApply(names=["b-tag", "a-tag"], document_ids=[ids["mail.eml"]]), LOCAL_ADMIN)
        svc.tags.apply_tags(TagApply(names=["secret-tag"], document_ids=[ids["secret.txt"]]), LOCAL_ADMIN)
        reader = Principal(
            name="reader", readable=frozenset({"open"}), hidden_documents=frozenset({ids["other.txt"]})
        )
        cards = svc.document_cards([str(i) for i in ids.values()] + ["nonsense", "-1"], reader)
        assert set(cards) == {str(ids["mail.eml"]), str(ids["note.txt"])}
        mail = cards[str(ids["mail.eml"])]
        assert mail.date == date(2025, 3, 3).isoformat()
        assert mail.tags == ["a-tag", "b-tag"]
        assert cards[str(ids["note.txt"])].date is None and cards[str(ids["note.txt"])].tags == []
        # the admin reads all; a withdrawn document is described to nobody
        assert len(svc.document_cards([str(i) for i in ids.values()], LOCAL_ADMIN)) == 4
        svc.care.withdraw(ids["mail.eml"], "test", LOCAL_ADMIN)
        assert str(ids["mail.eml"]) not in svc.document_cards([str(ids["mail.eml"])], LOCAL_ADMIN)
        assert svc.document_cards([], reader) == {}
    finally:
        svc.close()
