"""What a result card shows beyond the hit itself: each document's date and tags (issue 21).

The hits carry what the index holds; the date and the tags live in the catalog. One query per
page of results, for the documents the caller may read only: an id of a document it may not read
(another collection, a restricted document hidden from it, a withdrawn one) gets nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Collection, Document, DocumentTag, Tag
from archive_search.types import Principal
from search_api.access import readable_clause

MAX_CARDS = 1000
"""Most documents one call describes (a page of results holds 10 to 100)."""


@dataclass(frozen=True)
class DocumentCard:
    """A document's date (ISO, or None when unknown) and its tag names, sorted."""

    date: str | None
    tags: list[str] = field(default_factory=list)


def document_cards(
    catalog: Catalog, document_ids: Iterable[int | str], principal: Principal
) -> dict[str, DocumentCard]:
    """{document id (as the hits spell it): card} of the readable, not withdrawn documents among
    ``document_ids``; the others are left out."""
    ids: list[int] = []
    for d in document_ids:
        try:
            ids.append(int(d))
        except (TypeError, ValueError):
            continue
    ids = sorted(set(ids))[:MAX_CARDS]
    if not ids:
        return {}
    with catalog.session() as s:
        dates = dict(
            s.execute(
                select(Document.id, Document.doc_date)
                .join(Collection, Collection.id == Document.collection_id)
                .where(Document.id.in_(ids), Document.withdrawn_at.is_(None), readable_clause(principal))
            ).all()
        )
        tags: dict[int, list[str]] = {}
        if dates:
            for doc_id, name in s.execute(
                select(DocumentTag.document_id, Tag.name)
                .join(Tag, Tag.id == DocumentTag.tag_id)
                .where(DocumentTag.document_id.in_(sorted(dates)))
                .order_by(Tag.name)
            ).all():
                tags.setdefault(int(doc_id), []).append(str(name))
    return {
        str(d): DocumentCard(date=v.isoformat() if v else None, tags=tags.get(int(d), []))
        for d, v in dates.items()
    }
