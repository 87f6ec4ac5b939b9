"""Case files: the service behind ``/api/v1/cases`` and ``/documents/{id}/cases`` (tags: ``tags.py``).

Access rules (docs/architecture.md, "Cases, tags, export, audit"):

- **Cases** are seen by their owner, their members (``read`` or ``edit``) and admins; anyone
  else gets the same 404 as for a missing case. Changing a case needs the ``editor`` or
  ``admin`` role and ownership, ``edit`` membership or ``admin``; members are managed by the
  owner and admins. Only ``open`` cases accept new items, notes and reordering.
- **Items** whose document is in a collection the caller may not read are left out of every
  answer (lists, counts, exports) as if they were not there.

Every change is written to the audit log in the same transaction as the change itself.

Over 500 lines: one resource (a case with its items, notes and members) and its API models;
the item rules (visibility, order among visible slots) read best in one place.

Why one module: the case service and its models (``XCreate``/``XPublic``), which are its inputs and
outputs, shared by the API routes, the UI pages and the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import (
    Case,
    CaseItem,
    CaseMember,
    CaseNote,
    Collection,
    Document,
    Passage,
    StoredFile,
    User,
)
from archive_search.catalog.store import OriginalStore
from archive_search.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError
from archive_search.types import MAX_ID, Principal
from search_api.access import (
    EDITOR_ROLES,
    passage_id_clause,
    readable_clause,
    readable_documents,
    readable_passages,
    require_editor,
    utcnow,
)
from search_api.audit import AuditLog

CaseStatus = Literal["open", "closed", "archived"]
CasePermission = Literal["read", "edit"]


# -- public models -----------------------------------------------------------------------------


class CaseCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=100_000)
    status: CaseStatus = "open"


class CaseUpdate(BaseModel):
    """The fields to change; ``title`` and ``status`` may be left out but not set to null."""

    title: Annotated[str, Field(min_length=1, max_length=300)] | SkipJsonSchema[None] = None
    description: str | None = Field(default=None, max_length=100_000)
    status: CaseStatus | SkipJsonSchema[None] = None


class CasePublic(BaseModel):
    id: int
    title: str
    description: str | None
    status: CaseStatus
    owner: str
    created_at: datetime
    updated_at: datetime
    item_count: int = Field(
        description="Items you may see (items in collections you cannot read are not counted)"
    )
    access: Literal["admin", "owner", "edit", "read"] = Field(description="Your rights on the case")


class CaseItemCreate(BaseModel):
    """A document or one of its passages: exactly one of ``document_id`` and ``passage_id``."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["document_id"], "properties": {"document_id": {"type": "integer"}}},
                {"required": ["passage_id"], "properties": {"passage_id": {"type": "integer"}}},
            ]
        }
    )

    document_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="A whole document")
    passage_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Or one passage (its document is implied)"
    )
    query: str | None = Field(default=None, max_length=4000, description="The query that found it")
    note: str | None = Field(default=None, max_length=100_000)

    @model_validator(mode="after")
    def _one_target(self) -> CaseItemCreate:
        if (self.document_id is None) == (self.passage_id is None):
            raise ValueError("give exactly one of document_id and passage_id")
        return self


class CaseItemsAdd(BaseModel):
    items: list[CaseItemCreate] = Field(min_length=1, max_length=1000)


class CaseItemUpdate(BaseModel):
    note: str | None = Field(default=None, max_length=100_000)


class CaseItemsOrder(BaseModel):
    item_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        description="Every item you see, in the new order", max_length=100_000
    )


class CaseItemPublic(BaseModel):
    id: int
    position: int = Field(description="1-based position among the items you see")
    document_id: int
    passage_id: int | None
    filename: str
    title: str | None
    collection: str
    sha256: str = Field(description="SHA-256 of the document's original")
    doc_type: str
    lang: str = Field(description="Language of the passage (or of the document)")
    page: int | None
    time_start: float | None
    time_end: float | None
    speaker: str | None
    text: str | None = Field(description="The passage text (null for a whole document)")
    withdrawn: bool = Field(
        default=False,
        description="The document was withdrawn (consent withdrawn or removed): the item keeps its "
        "place, note and query, but no content (no file name, title, text or page).",
    )
    query: str | None
    note: str | None
    added_by: str
    added_at: datetime


class CaseNoteCreate(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)


class CaseNotePublic(BaseModel):
    id: int
    author: str
    text: str
    created_at: datetime


class CaseMemberCreate(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    permission: CasePermission = "read"


class CaseMemberPublic(BaseModel):
    username: str
    permission: CasePermission


class CaseDetail(CasePublic):
    items: list[CaseItemPublic]
    notes: list[CaseNotePublic]
    members: list[CaseMemberPublic]


class CaseService:
    """Case files over the catalog: items, notes, members; grants decide what each caller sees."""

    def __init__(self, catalog: Catalog, store: OriginalStore, audit: AuditLog | None = None) -> None:
        self.catalog = catalog
        self.store = store
        self.audit = audit or AuditLog(catalog)

    def _access(self, s: Session, case: Case, principal: Principal) -> str | None:
        if principal.is_admin:
            return "admin"
        if principal.user_id is not None and case.owner_id == principal.user_id:
            return "owner"
        if principal.user_id is None:
            return None
        perm = s.scalar(
            select(CaseMember.permission).where(
                CaseMember.case_id == case.id, CaseMember.user_id == principal.user_id
            )
        )
        if perm == "edit" and principal.role not in EDITOR_ROLES:
            return "read"  # a viewer cannot edit, whatever the membership says
        return perm

    def _case(self, s: Session, case_id: int, principal: Principal) -> tuple[Case, str]:
        case = s.get(Case, case_id)
        access = None if case is None else self._access(s, case, principal)
        if case is None or access is None:
            raise NotFoundError(f"case {case_id} not found")
        return case, access

    def _changed(self, s: Session, case: Case, principal: Principal, details: dict[str, Any]) -> None:
        """Mark the case as updated now and audit what changed, in the same transaction."""
        case.updated_at = utcnow()
        s.flush()
        self.audit.record(principal.name, "case", "case", case.id, details, session=s)

    def _case_for_edit(self, s: Session, case_id: int, principal: Principal, *, content: bool = True) -> Case:
        case, access = self._case(s, case_id, principal)
        if access == "read" or principal.role not in EDITOR_ROLES:
            raise ForbiddenError(f"you may read case {case_id} but not change it")
        if content and case.status != "open":
            raise ConflictError(
                f"case {case_id} is {case.status}; reopen it (status open) to change its items or notes"
            )
        return case

    def _visible_count(self, s: Session, case_ids: Sequence[int], principal: Principal) -> dict[int, int]:
        if not case_ids:
            return {}
        return {
            cid: int(n)
            for cid, n in s.execute(
                select(CaseItem.case_id, func.count(CaseItem.id))
                .join(Document, Document.id == CaseItem.document_id)
                .join(Collection, Collection.id == Document.collection_id)
                .where(
                    CaseItem.case_id.in_(case_ids),
                    readable_clause(principal),
                    passage_id_clause(principal, CaseItem.passage_id),
                )
                .group_by(CaseItem.case_id)
            ).all()
        }

    def _case_public(
        self, s: Session, case: Case, access: str, principal: Principal, item_count: int | None = None
    ) -> CasePublic:
        """``item_count``: the items the caller may read, when already counted for many cases."""
        n = self._visible_count(s, [case.id], principal).get(case.id, 0) if item_count is None else item_count
        return CasePublic(
            id=case.id,
            title=case.title,
            description=case.description,
            status=case.status,  # type: ignore[arg-type]
            owner=case.owner_name,
            created_at=case.created_at,
            updated_at=case.updated_at,
            item_count=n,
            access=access,  # type: ignore[arg-type]
        )

    def _visible_cases_query(self, principal: Principal) -> Any:
        q = select(Case)
        if not principal.is_admin:
            uid = principal.user_id if principal.user_id is not None else -1
            members = select(CaseMember.case_id).where(CaseMember.user_id == uid)
            q = q.where((Case.owner_id == uid) | Case.id.in_(members))
        return q

    def list_cases(
        self, principal: Principal, *, status: str | None = None, document_id: int | None = None
    ) -> list[CasePublic]:
        with self.catalog.session() as s:
            q = self._visible_cases_query(principal)
            if status is not None:
                q = q.where(Case.status == status)
            if document_id is not None:
                readable_documents(s, [document_id], principal)
                q = q.where(Case.id.in_(select(CaseItem.case_id).where(CaseItem.document_id == document_id)))
            cases = list(s.scalars(q.order_by(Case.updated_at.desc(), Case.id.desc())))
            counts = self._visible_count(s, [c.id for c in cases], principal)
            return [
                self._case_public(
                    s, c, self._access(s, c, principal) or "read", principal, counts.get(c.id, 0)
                )
                for c in cases
            ]

    def create_case(self, body: CaseCreate, principal: Principal) -> CasePublic:
        require_editor(principal, "creating a case")
        with self.catalog.session() as s:
            now = utcnow()
            case = Case(
                title=body.title.strip() or body.title,
                description=body.description,
                status=body.status,
                owner_id=principal.user_id,
                owner_name=principal.name,
                created_at=now,
                updated_at=now,
            )
            s.add(case)
            s.flush()
            self.audit.record(
                principal.name, "case", "case", case.id, {"op": "create", "title": case.title}, session=s
            )
            return self._case_public(s, case, "admin" if principal.is_admin else "owner", principal)

    def get_case(self, case_id: int, principal: Principal) -> CaseDetail:
        with self.catalog.session() as s:
            case, access = self._case(s, case_id, principal)
            pub = self._case_public(s, case, access, principal)
            items = self._items(s, case.id, principal)
            notes = [
                CaseNotePublic(id=n.id, author=n.author, text=n.text, created_at=n.created_at)
                for n in s.scalars(
                    select(CaseNote)
                    .where(CaseNote.case_id == case.id)
                    .order_by(CaseNote.created_at, CaseNote.id)
                )
            ]
            members = self._members(s, case.id)
        return CaseDetail(**pub.model_dump(), items=items, notes=notes, members=members)

    def update_case(self, case_id: int, body: CaseUpdate, principal: Principal) -> CasePublic:
        with self.catalog.session() as s:
            case = self._case_for_edit(s, case_id, principal, content=False)
            changes: dict[str, Any] = {}
            for field in ("title", "description", "status"):
                value = getattr(body, field)
                if field in body.model_fields_set and value != getattr(case, field):
                    if field != "description" and value is None:
                        raise InvalidRequestError(f"{field} cannot be null")
                    changes[field] = {"from": getattr(case, field), "to": value}
                    setattr(case, field, value)
            if changes:
                self._changed(s, case, principal, {"op": "update", **changes})
            _, access = self._case(s, case_id, principal)
            return self._case_public(s, case, access, principal)

    # -- items ---------------------------------------------------------------------------------

    def _item_rows(self, s: Session, case_id: int, principal: Principal) -> list[Any]:
        return list(
            s.execute(
                select(CaseItem, Document, Collection.name, StoredFile.sha256, Passage)
                .join(Document, Document.id == CaseItem.document_id)
                .join(Collection, Collection.id == Document.collection_id)
                .join(StoredFile, StoredFile.id == Document.file_id)
                .join(Passage, Passage.id == CaseItem.passage_id, isouter=True)
                .where(
                    CaseItem.case_id == case_id,
                    readable_clause(principal),
                    passage_id_clause(principal, CaseItem.passage_id),
                )
                .order_by(CaseItem.position, CaseItem.id)
            ).all()
        )

    def _items(self, s: Session, case_id: int, principal: Principal) -> list[CaseItemPublic]:
        out = []
        for n, (item, doc, col, sha, p) in enumerate(self._item_rows(s, case_id, principal), start=1):
            if doc.withdrawn_at is not None:
                out.append(withdrawn_item(item, n, doc, col, sha))
                continue
            out.append(
                CaseItemPublic(
                    id=item.id,
                    position=n,
                    document_id=doc.id,
                    passage_id=item.passage_id,
                    filename=doc.filename,
                    title=doc.title,
                    collection=col,
                    sha256=sha,
                    doc_type=doc.doc_type,
                    lang=p.lang if p is not None else doc.lang,
                    page=p.page if p is not None else None,
                    time_start=p.time_start if p is not None else None,
                    time_end=p.time_end if p is not None else None,
                    speaker=p.speaker if p is not None else None,
                    text=p.text if p is not None else None,
                    query=item.query,
                    note=item.note,
                    added_by=item.added_by,
                    added_at=item.added_at,
                )
            )
        return out

    def list_items(self, case_id: int, principal: Principal) -> list[CaseItemPublic]:
        with self.catalog.session() as s:
            self._case(s, case_id, principal)
            return self._items(s, case_id, principal)

    def add_items(self, case_id: int, body: CaseItemsAdd, principal: Principal) -> list[CaseItemPublic]:
        with self.catalog.session() as s:
            case = self._case_for_edit(s, case_id, principal)
            pas = readable_passages(
                s, [i.passage_id for i in body.items if i.passage_id is not None], principal
            )
            readable_documents(s, [i.document_id for i in body.items if i.document_id is not None], principal)
            existing: set[tuple[int, int | None]] = {
                (d, p)
                for d, p in s.execute(
                    select(CaseItem.document_id, CaseItem.passage_id).where(CaseItem.case_id == case.id)
                ).all()
            }
            pos = s.scalar(select(func.max(CaseItem.position)).where(CaseItem.case_id == case.id))
            pos = -1 if pos is None else pos
            added: list[CaseItem] = []
            for it in body.items:
                if it.passage_id is not None:
                    doc_id = pas[it.passage_id]
                    if it.document_id is not None and it.document_id != doc_id:
                        raise InvalidRequestError(
                            f"passage {it.passage_id} belongs to document {doc_id}, not {it.document_id}"
                        )
                elif it.document_id is not None:
                    doc_id = it.document_id
                else:
                    raise InvalidRequestError("each item needs a document_id or a passage_id")
                key = (doc_id, it.passage_id)
                if key in existing:
                    what = f"passage {it.passage_id}" if it.passage_id is not None else f"document {doc_id}"
                    raise ConflictError(f"{what} is already in case {case.id}")
                existing.add(key)
                pos += 1
                item = CaseItem(
                    case_id=case.id,
                    document_id=doc_id,
                    passage_id=it.passage_id,
                    position=pos,
                    query=it.query,
                    note=it.note,
                    added_by=principal.name,
                    added_at=utcnow(),
                )
                s.add(item)
                added.append(item)
            self._changed(
                s,
                case,
                principal,
                {
                    "op": "add_items",
                    "items": [
                        {
                            "item_id": i.id,
                            "document_id": i.document_id,
                            "passage_id": i.passage_id,
                            "query": i.query,
                        }
                        for i in added
                    ],
                },
            )
            ids = {i.id for i in added}
            return [i for i in self._items(s, case.id, principal) if i.id in ids]

    def _visible_item(self, s: Session, case_id: int, item_id: int, principal: Principal) -> CaseItem:
        row = s.execute(
            select(CaseItem, Collection.name)
            .join(Document, Document.id == CaseItem.document_id)
            .join(Collection, Collection.id == Document.collection_id)
            .where(CaseItem.id == item_id, CaseItem.case_id == case_id)
        ).first()
        if (
            row is None
            or not principal.can_read_document(row[1], row[0].document_id)
            or (row[0].passage_id is not None and row[0].passage_id in principal.hidden_passages)
        ):
            raise NotFoundError(f"item {item_id} not found in case {case_id}")
        item: CaseItem = row[0]
        return item

    def update_item(
        self, case_id: int, item_id: int, body: CaseItemUpdate, principal: Principal
    ) -> CaseItemPublic:
        with self.catalog.session() as s:
            case = self._case_for_edit(s, case_id, principal)
            item = self._visible_item(s, case_id, item_id, principal)
            if "note" in body.model_fields_set and body.note != item.note:
                old = item.note
                item.note = body.note
                self._changed(
                    s, case, principal, {"op": "item_note", "item_id": item.id, "from": old, "to": body.note}
                )
            return next(i for i in self._items(s, case.id, principal) if i.id == item.id)

    def remove_item(self, case_id: int, item_id: int, principal: Principal) -> None:
        with self.catalog.session() as s:
            case = self._case_for_edit(s, case_id, principal)
            item = self._visible_item(s, case_id, item_id, principal)
            details = {
                "op": "remove_item",
                "item_id": item.id,
                "document_id": item.document_id,
                "passage_id": item.passage_id,
            }
            s.delete(item)
            self._changed(s, case, principal, details)

    def reorder_items(self, case_id: int, body: CaseItemsOrder, principal: Principal) -> list[CaseItemPublic]:
        """Put the items the caller sees in the given order; items hidden from the caller keep
        their slots, so reordering neither reveals nor moves them."""
        with self.catalog.session() as s:
            case = self._case_for_edit(s, case_id, principal)
            visible = [row[0].id for row in self._item_rows(s, case.id, principal)]
            if sorted(visible) != sorted(body.item_ids) or len(set(body.item_ids)) != len(body.item_ids):
                # the case's state decides what a complete order is, so a conflict (409), not a 400
                raise ConflictError("item_ids must list every item of the case you see, each once")
            all_items = list(
                s.scalars(
                    select(CaseItem)
                    .where(CaseItem.case_id == case.id)
                    .order_by(CaseItem.position, CaseItem.id)
                )
            )
            vis = set(visible)
            new_order = iter(body.item_ids)
            by_id = {i.id: i for i in all_items}
            ordered = [by_id[next(new_order)] if i.id in vis else i for i in all_items]
            for pos, item in enumerate(ordered):
                item.position = pos
            self._changed(s, case, principal, {"op": "reorder", "item_ids": body.item_ids})
            return self._items(s, case.id, principal)

    # -- notes and members ------------------------------------------------------------------------

    def add_note(self, case_id: int, body: CaseNoteCreate, principal: Principal) -> CaseNotePublic:
        with self.catalog.session() as s:
            case = self._case_for_edit(s, case_id, principal)
            note = CaseNote(case_id=case.id, author=principal.name, text=body.text, created_at=utcnow())
            s.add(note)
            self._changed(s, case, principal, {"op": "add_note", "note_id": note.id})
            return CaseNotePublic(id=note.id, author=note.author, text=note.text, created_at=note.created_at)

    def list_notes(self, case_id: int, principal: Principal) -> list[CaseNotePublic]:
        return self.get_case(case_id, principal).notes

    @staticmethod
    def _members(s: Session, case_id: int) -> list[CaseMemberPublic]:
        return [
            CaseMemberPublic(username=u, permission=p)  # type: ignore[arg-type]
            for u, p in s.execute(
                select(User.username, CaseMember.permission)
                .join(User, User.id == CaseMember.user_id)
                .where(CaseMember.case_id == case_id)
                .order_by(User.username)
            ).all()
        ]

    def list_members(self, case_id: int, principal: Principal) -> list[CaseMemberPublic]:
        with self.catalog.session() as s:
            self._case(s, case_id, principal)
            return self._members(s, case_id)

    def _case_for_members(self, s: Session, case_id: int, principal: Principal) -> Case:
        case, access = self._case(s, case_id, principal)
        if access not in ("owner", "admin"):
            raise ForbiddenError("only the case's owner or an admin manages its members")
        return case

    def set_member(
        self, case_id: int, body: CaseMemberCreate, principal: Principal
    ) -> list[CaseMemberPublic]:
        with self.catalog.session() as s:
            case = self._case_for_members(s, case_id, principal)
            user = s.scalar(select(User).where(User.username == body.username))
            if user is None:
                raise NotFoundError(f"no user {body.username!r}")
            if body.permission == "edit" and user.role not in EDITOR_ROLES:
                raise ConflictError(f"{user.username} is a viewer and can only be a read member")
            if user.id == case.owner_id:
                raise ConflictError(f"{user.username} owns the case")
            row = s.get(CaseMember, (case.id, user.id))
            if row is None:
                s.add(CaseMember(case_id=case.id, user_id=user.id, permission=body.permission))
            else:
                row.permission = body.permission
            s.flush()
            self.audit.record(
                principal.name,
                "case",
                "case",
                case.id,
                {"op": "member", "username": user.username, "permission": body.permission},
                session=s,
            )
            return self._members(s, case.id)

    def remove_member(self, case_id: int, username: str, principal: Principal) -> None:
        with self.catalog.session() as s:
            case = self._case_for_members(s, case_id, principal)
            uid = s.scalar(select(User.id).where(User.username == username))
            if uid is None or s.get(CaseMember, (case.id, uid)) is None:
                raise NotFoundError(f"{username} is not a member of case {case_id}")
            s.execute(delete(CaseMember).where(CaseMember.case_id == case.id, CaseMember.user_id == uid))
            self.audit.record(
                principal.name,
                "case",
                "case",
                case.id,
                {"op": "member_removed", "username": username},
                session=s,
            )


def withdrawn_item(item: CaseItem, position: int, doc: Document, collection: str, sha: str) -> CaseItemPublic:
    """A case item whose document was withdrawn: its place, query and note, without content."""
    return CaseItemPublic(
        id=item.id,
        position=position,
        document_id=doc.id,
        passage_id=item.passage_id,
        filename=f"withdrawn-{doc.id}",
        title=None,
        collection=collection,
        sha256=sha,
        doc_type=doc.doc_type,
        lang="other",
        page=None,
        time_start=None,
        time_end=None,
        speaker=None,
        text=None,
        withdrawn=True,
        query=item.query,
        note=item.note,
        added_by=item.added_by,
        added_at=item.added_at,
    )
