"""The document viewer's reads (issue 21, item 8; issue 18): the query's matching passages of one
document (hit-to-hit navigation) and the document's entity mentions (links in its text) leave out
whatever the caller may not read — another collection, a restricted document hidden from the
caller, a withdrawn document — on every stack, the OpenSearch backend included."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from archive_search.catalog.models import Passage
from archive_search.errors import NotFoundError
from archive_search.types import LOCAL_ADMIN, Principal
from search_api.service import ArchiveService
from tests.conftest import ingest_files

FILLER = "Ніч була тиха, у дворі горів ліхтар, а сусіди довго не виходили з дому. "
TEXTS = {
    # three passages about Коваленко (the second without his name), one per ~800 characters
    "open.txt": "Свідок Петро Коваленко розповів про затримання біля мосту. "
    + FILLER * 11
    + "\n\n"
    + FILLER * 11
    + "\n\nКоваленка тримали у підвалі в Херсоні.\n",
    "hidden.txt": "Петро Коваленко в прихованому документі.\n",
    "gone.txt": "Петро Коваленко у відкликаному документі.\n",
}


@pytest.mark.all_stacks
def test_hits_and_entities_of_a_document_respect_access(service: ArchiveService, tmp_path: Path) -> None:
    ids = ingest_files(service, tmp_path / "open", TEXTS, "open")
    ids |= ingest_files(
        service, tmp_path / "sealed", {"sealed.txt": "Петро Коваленко в закритій колекції.\n"}, "sealed"
    )
    with service.catalog.session() as s:
        open_passages = list(
            s.execute(
                select(Passage.id, Passage.text)
                .where(Passage.document_id == ids["open.txt"])
                .order_by(Passage.seq)
            )
        )
    assert len(open_passages) >= 3, open_passages
    service.care.withdraw(ids["gone.txt"], "test", LOCAL_ADMIN)
    reader = Principal(
        name="reader", readable=frozenset({"open"}), hidden_documents=frozenset({ids["hidden.txt"]})
    )

    # the matching passages of the document, in document order: the Latin spelling finds the
    # Cyrillic name and its inflected form, never a passage of another document
    found = service.document_hits(ids["open.txt"], "Kovalenko", reader)
    with_name = [pid for pid, text in open_passages if "Ковален" in text]
    assert [h.passage_id for h in found.passages] == with_name
    assert [h.seq for h in found.passages] == sorted(h.seq for h in found.passages)
    first = dict(open_passages)[with_name[0]]
    marked = {first[a:b] for a, b in found.highlighter.spans(first)}
    assert "Коваленко" in marked
    # each mark says how it matched, as ``explain`` does: the Latin query, the Cyrillic name
    assert {(first[a:b], how) for a, b, how in found.marks(first)} == {("Коваленко", "transliteration")}
    last = dict(open_passages)[with_name[-1]]
    assert "Коваленка" in {last[a:b] for a, b in found.highlighter.spans(last)}
    # the admin gets the same passages of this document, no more
    assert service.document_hits(ids["open.txt"], "Kovalenko", LOCAL_ADMIN).passages == found.passages
    # a query whose own filters leave the document out, or a malformed one, matches nothing
    assert service.document_hits(ids["open.txt"], "Kovalenko collection:sealed", reader).passages == []
    assert service.document_hits(ids["open.txt"], '"unclosed', reader).passages == []
    # documents the reader may not read: as missing as a missing one, on the backend and the catalog
    for name in ("sealed.txt", "hidden.txt", "gone.txt"):
        with pytest.raises(NotFoundError):
            service.document_hits(ids[name], "Kovalenko", reader)
        assert service.entities.in_document(ids[name], reader) == []
    with pytest.raises(NotFoundError):
        service.document_hits(ids["gone.txt"], "Kovalenko", LOCAL_ADMIN)
    assert service.entities.in_document(ids["gone.txt"], LOCAL_ADMIN) == []
    assert service.entities.in_document(ids["sealed.txt"], LOCAL_ADMIN) != []

    # the entity mentions of the readable document, with spans inside their passages
    mentions = service.entities.in_document(ids["open.txt"], reader)
    texts = dict(open_passages)
    spelled = {texts[m.passage_id][m.start : m.end] for m in mentions}
    assert "Петро Коваленко" in spelled and "Херсоні" in spelled, spelled
    assert {m.type for m in mentions} >= {"person", "place"}
    person = next(m for m in mentions if texts[m.passage_id][m.start : m.end] == "Петро Коваленко")
    # and the entity page of that link shows the reader nothing of the documents it may not read
    detail = service.entities.get_entity(person.entity_id, reader)
    assert {d.filename for d in detail.documents_list} == {"open.txt"}
