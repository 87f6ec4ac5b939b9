"""Access checks shared by the services: the readable-collection clause, the editor role, and
the look-up of documents and passages a caller may read (404 otherwise)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from archive_search.catalog.models import Collection, Document, Passage
from archive_search.errors import ForbiddenError, NotFoundError
from archive_search.types import MAX_ID, Principal

EDITOR_ROLES = ("admin", "editor")
MAX_BULK = 10_000
"""Most document or passage ids one request may name."""


def readable_clause(principal: Principal) -> ColumnElement[bool]:
    """Rows of readable documents (the query joins ``Collection`` and ``Document``): readable
    collections, without the restricted documents hidden from the principal."""
    if principal.readable is None:
        return true()
    clause: ColumnElement[bool] = Collection.name.in_(sorted(principal.readable))
    if principal.hidden_documents:
        clause = clause & Document.id.not_in(sorted(principal.hidden_documents))
    return clause


def passage_clause(principal: Principal) -> ColumnElement[bool]:
    """Rows whose passage (``Passage.id``, or ``column``) the principal may read: without the
    restricted passages hidden from it (passage-level confidentiality)."""
    return passage_id_clause(principal, Passage.id)


def passage_id_clause(principal: Principal, column: Any) -> ColumnElement[bool]:
    """``column`` (a passage id, possibly null) is not a passage hidden from the principal."""
    if not principal.hidden_passages:
        return true()
    hidden = sorted(principal.hidden_passages)
    clause: ColumnElement[bool] = or_(column.is_(None), column.not_in(hidden))
    return clause


def require_editor(principal: Principal, what: str) -> None:
    if principal.role not in EDITOR_ROLES:
        raise ForbiddenError(f"{what} needs the editor or admin role")


def utcnow() -> datetime:
    return datetime.now(UTC)


def readable_documents(s: Session, ids: Sequence[int], principal: Principal) -> dict[int, str]:
    """{document id: collection} of the ids; 404 on the first missing, unreadable or withdrawn one."""
    found: dict[int, str] = {}
    uniq = sorted(set(ids))
    for i in range(0, len(uniq), 1000):
        found.update(
            s.execute(
                select(Document.id, Collection.name)
                .join(Collection, Collection.id == Document.collection_id)
                .where(Document.id.in_(uniq[i : i + 1000]), Document.withdrawn_at.is_(None))
            ).all()
        )
    for d in uniq:
        if d not in found or not principal.can_read_document(found[d], d):
            raise NotFoundError(f"document {d} not found")
    return found


def readable_passages(s: Session, ids: Sequence[int], principal: Principal) -> dict[int, int]:
    """{passage id: document id}; 404 on the first missing, unreadable or withdrawn one."""
    found: dict[int, tuple[int, str]] = {}
    uniq = sorted(set(ids))
    for i in range(0, len(uniq), 1000):
        for pid, did, col in s.execute(
            select(Passage.id, Passage.document_id, Collection.name)
            .join(Document, Document.id == Passage.document_id)
            .join(Collection, Collection.id == Document.collection_id)
            .where(Passage.id.in_(uniq[i : i + 1000]), Document.withdrawn_at.is_(None))
        ).all():
            found[pid] = (did, col)
    for p in uniq:
        if p not in found or not principal.can_read_passage(found[p][1], found[p][0], p):
            raise NotFoundError(f"passage {p} not found")
    return {p: found[p][0] for p in uniq}


def readable_passage(s: Session, passage_id: int, principal: Principal) -> tuple[Passage, Document, str]:
    """The passage, its document and its collection; 404 when it is missing, hidden from the
    principal (its collection, its document or the passage itself) or withdrawn."""
    row = None
    if 1 <= passage_id <= MAX_ID:  # no such id (and PostgreSQL would refuse it: a 500)
        row = s.execute(
            select(Passage, Document, Collection.name)
            .join(Document, Passage.document_id == Document.id)
            .join(Collection, Document.collection_id == Collection.id)
            .where(Passage.id == passage_id)
        ).first()
    if (
        row is None
        or not principal.can_read_passage(row[2], row[1].id, row[0].id)
        or row[1].withdrawn_at is not None
    ):
        raise NotFoundError(f"passage {passage_id} not found")
    return row[0], row[1], row[2]


def staff_document(s: Session, document_id: int, principal: Principal) -> tuple[Document, str]:
    """The document and its collection for the duty-of-care pages: 404 when it is missing or
    neither readable by the principal nor in a collection it manages (a manager reads restricted
    documents)."""
    row = s.execute(
        select(Document, Collection.name)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Document.id == document_id)
    ).first()
    if row is None or not (principal.can_read_document(row[1], document_id) or principal.can_manage(row[1])):
        raise NotFoundError(f"document {document_id} not found")
    return row[0], row[1]


def managed_document(s: Session, document_id: int, principal: Principal, doing: str) -> tuple[Document, str]:
    """``staff_document``, and 403 unless the principal manages its collection (``doing``: what
    the refusal says is being done, e.g. "changing")."""
    doc, col = staff_document(s, document_id, principal)
    if not principal.can_manage(col):
        raise ForbiddenError(f"{doing} document {document_id} needs the manage right on {col!r}")
    return doc, col
