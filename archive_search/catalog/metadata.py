"""Catalog writes that metadata values need from more than one service: re-pointing entity-link
values after an entity merge (``search_api/entities.py``) and marking documents for re-indexing
(``search_api/metadata.py``). Here, below both, so that neither service imports the other."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from archive_search.catalog.models import Passage
from archive_search.catalog.models_metadata import DocumentMetadata, MetadataField


def mark_documents_unindexed(s: Session, document_ids: Sequence[int]) -> int:
    """Every passage of these documents is re-indexed by the next indexing pass; returns how many."""
    n = 0
    for i in range(0, len(document_ids), 1000):
        res = s.execute(
            update(Passage)
            .where(Passage.document_id.in_(document_ids[i : i + 1000]))
            .values(indexed_at=None)
            .execution_options(synchronize_session=False)
        )
        n += int(res.rowcount or 0)  # type: ignore[attr-defined]
    return n


def remap_entity_values(s: Session, sources: Sequence[int], target: int) -> list[int]:
    """After entities ``sources`` were merged into ``target``: entity-field values pointing to a
    source point to the target; returns the documents touched (to re-index)."""
    entity_fields = list(s.scalars(select(MetadataField.id).where(MetadataField.type == "entity")))
    if not entity_fields or not sources:
        return []
    rows = s.execute(
        select(DocumentMetadata.id, DocumentMetadata.document_id, DocumentMetadata.field_id).where(
            DocumentMetadata.field_id.in_(entity_fields),
            DocumentMetadata.value.in_([str(i) for i in sources]),
        )
    ).all()
    have: set[tuple[int, int]] = {
        (int(d), int(f))
        for d, f in s.execute(
            select(DocumentMetadata.document_id, DocumentMetadata.field_id).where(
                DocumentMetadata.field_id.in_(entity_fields), DocumentMetadata.value == str(target)
            )
        ).all()
    }
    docs: list[int] = []
    for row_id, doc_id, field_id in rows:
        if (doc_id, field_id) in have:
            s.execute(delete(DocumentMetadata).where(DocumentMetadata.id == row_id))
        else:
            s.execute(update(DocumentMetadata).where(DocumentMetadata.id == row_id).values(value=str(target)))
            have.add((doc_id, field_id))
        docs.append(doc_id)
    mark_documents_unindexed(s, sorted(set(docs)))
    return sorted(set(docs))
