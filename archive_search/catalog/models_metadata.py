"""Catalog tables of structured metadata (issue 18, part 4): typed fields defined per collection
(as Uwazi's templates) and the values staff give each document (migration 0023)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.expression import false as sa_false

from archive_search.catalog.models import Base, UTCDateTime, utcnow


class MetadataField(Base):
    """One typed field of a collection: ``text``, ``date``, ``number``, ``select`` (one of
    ``options``) or ``entity`` (a person, place or organisation of the entity catalog)."""

    __tablename__ = "metadata_fields"
    __table_args__ = (UniqueConstraint("collection_id", "name", name="uq_metadata_fields_collection_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    """Machine name, used in filters (``meta=NAME=VALUE``) and facets (``meta.NAME``)."""
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    options: Mapped[list[str] | None] = mapped_column(JSON)
    """The allowed values of a ``select`` field, in display order."""
    entity_type: Mapped[str | None] = mapped_column(String(20))
    """``person``, ``place`` or ``org`` for an ``entity`` field."""
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether a document may hold several values (select and entity fields)."""
    required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    """Whether a document's value may be cleared once set (a value change that leaves a required
    field empty is refused; documents never filled are not touched)."""
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DocumentMetadata(Base):
    """One value of one field on one document. ``value`` is the canonical text (ISO date, number
    without trailing zeros, option, entity id); ``number`` repeats a number for range filters."""

    __tablename__ = "document_metadata"
    __table_args__ = (
        UniqueConstraint("document_id", "field_id", "value", name="uq_document_metadata_value"),
        Index("ix_document_metadata_field_value", "field_id", "value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("metadata_fields.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(1000))
    number: Mapped[float | None] = mapped_column(Float)
    set_by: Mapped[str] = mapped_column(String(150))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def document_labels(s: Session, document_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """{document id: [("meta", "FIELD_ID=VALUE"), …]}: what the indexer stores for each document's
    metadata (among a passage's entity labels, ``index/backend.py``)."""
    ids = sorted(set(document_ids))
    out: dict[int, list[tuple[str, str]]] = {}
    for i in range(0, len(ids), 1000):
        for doc_id, field_id, value in s.execute(
            select(DocumentMetadata.document_id, DocumentMetadata.field_id, DocumentMetadata.value).where(
                DocumentMetadata.document_id.in_(ids[i : i + 1000])
            )
        ):
            out.setdefault(doc_id, []).append(("meta", f"{field_id}={value}"))
    return out
