"""Tags: the service behind ``/api/v1/tags`` (docs/architecture.md, "Tags").

Tags are global names, visible to every signed-in user; their *uses* are not: counts and tagged
documents only include documents the caller may read. Creating a tag and applying or removing one
needs the ``editor`` or ``admin`` role *and* read access to every document or passage touched (a
request naming one that is unreadable or missing fails as a whole with 404). Renaming, merging and
deleting a tag change documents the caller may not see, so they need ``admin``. Every change is
written to the audit log in the same transaction, and the passages it touches are re-indexed
before the call returns, so ``tag:NAME`` and the ``tag`` facet follow.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic.config import JsonDict
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Collection, Document, DocumentTag, Passage, PassageTag, Tag
from archive_search.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError
from archive_search.types import MAX_ID, Principal
from index import indexer
from index.backend import SearchBackend
from search_api.access import (
    MAX_BULK,
    passage_clause,
    readable_clause,
    readable_documents,
    readable_passages,
    require_editor,
)
from search_api.audit import AuditLog

# -- public models -----------------------------------------------------------------------------


_NOT_IN_NAMES = (
    '"'  # it would end tag:"NAME" in a query
    r"\x00-\x1f\x7f-\x9f"  # control characters (Cc)
    # format characters (Cf) of the Basic Multilingual Plane: invisible, they make look-alike names
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
TAG_NAME_PATTERN = rf"^[^{_NOT_IN_NAMES}]*[^\s{_NOT_IN_NAMES}][^{_NOT_IN_NAMES}]*$"
"""What a tag name may be: at least one visible character; no quote, control or format character.
The API schema states it; :func:`clean_tag_name` checks it."""
TagName = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=TAG_NAME_PATTERN, description="Used as tag:NAME in queries"),
]


class TagCreate(BaseModel):
    name: TagName


class TagUpdate(BaseModel):
    name: TagName


class TagMerge(BaseModel):
    into: int = Field(ge=1, le=MAX_ID, description="Id of the tag that absorbs this one (which is deleted)")


class TagPublic(BaseModel):
    id: int
    name: str
    documents: int = Field(description="Documents you may read that carry the tag")
    passages: int = Field(description="Passages you may read that carry the tag themselves")
    created_by: str
    created_at: datetime


def _one_of_non_empty(*names: str) -> JsonDict:
    """JSON Schema: at least one of the list fields ``names`` is given and not empty."""
    return {"anyOf": [{"required": [n], "properties": {n: {"minItems": 1}}} for n in names]}


ItemId = Annotated[int, Field(ge=1, le=MAX_ID)]


class TagApply(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [_one_of_non_empty("tag_ids", "names"), _one_of_non_empty("document_ids", "passage_ids")]
        }
    )

    tag_ids: list[ItemId] = Field(default_factory=list, max_length=100)
    names: list[TagName] = Field(
        default_factory=list, max_length=100, description="Tag names; created when missing"
    )
    document_ids: list[ItemId] = Field(default_factory=list, max_length=MAX_BULK)
    passage_ids: list[ItemId] = Field(default_factory=list, max_length=MAX_BULK)
    remove: StrictBool = Field(default=False, description="Take the tags off instead of putting them on")


class TagApplyResult(BaseModel):
    tags: list[TagPublic]
    changed: int = Field(description="Tag assignments added or removed")
    reindexed: int = Field(description="Passages re-indexed so that tag:NAME and the tag facet follow")


def _tagged(
    s: Session,
    item: InstrumentedAttribute[int],
    tag_col: InstrumentedAttribute[int],
    tag_id: int,
    ids: list[int],
) -> set[int]:
    """Which of ``ids`` (documents or passages, by the ``item`` column) already carry the tag."""
    if not ids:
        return set()
    return set(s.scalars(select(item).where(tag_col == tag_id, item.in_(ids))))


def clean_tag_name(name: str) -> str:
    """The stored form of a tag name: NFC, runs of white space as one space. Refused unless it
    fits :data:`TAG_NAME_PATTERN` (the schema's rule) and stays within 100 characters."""
    if not re.fullmatch(TAG_NAME_PATTERN, name):
        raise InvalidRequestError(
            'tag names need a visible character and may not contain quotes ("), control or format characters'
        )
    n = " ".join(unicodedata.normalize("NFC", name).split())
    if len(n) > 100:  # NFC can lengthen a few rare characters
        raise InvalidRequestError("tag names are 1-100 characters")
    return n


class TagService:
    """Tags over the catalog; tag changes re-index the passages they touch."""

    def __init__(self, catalog: Catalog, backend: SearchBackend, audit: AuditLog | None = None) -> None:
        self.catalog = catalog
        self.backend = backend
        self.audit = audit or AuditLog(catalog)

    def _tag_public(self, s: Session, tags: Sequence[Tag], principal: Principal) -> list[TagPublic]:
        ids = [t.id for t in tags]
        if not ids:
            return []
        docs = dict(
            s.execute(
                select(DocumentTag.tag_id, func.count())
                .join(Document, Document.id == DocumentTag.document_id)
                .join(Collection, Collection.id == Document.collection_id)
                .where(DocumentTag.tag_id.in_(ids), readable_clause(principal))
                .group_by(DocumentTag.tag_id)
            ).all()
        )
        passages = dict(
            s.execute(
                select(PassageTag.tag_id, func.count())
                .join(Passage, Passage.id == PassageTag.passage_id)
                .join(Document, Document.id == Passage.document_id)
                .join(Collection, Collection.id == Document.collection_id)
                .where(PassageTag.tag_id.in_(ids), readable_clause(principal), passage_clause(principal))
                .group_by(PassageTag.tag_id)
            ).all()
        )
        return [
            TagPublic(
                id=t.id,
                name=t.name,
                documents=int(docs.get(t.id, 0)),
                passages=int(passages.get(t.id, 0)),
                created_by=t.created_by,
                created_at=t.created_at,
            )
            for t in tags
        ]

    def list_tags(self, principal: Principal) -> list[TagPublic]:
        with self.catalog.session() as s:
            tags = list(s.scalars(select(Tag).order_by(Tag.name)))
            return self._tag_public(s, tags, principal)

    def get_tag(self, tag_id: int, principal: Principal) -> TagPublic:
        with self.catalog.session() as s:
            return self._tag_public(s, [self._tag(s, tag_id)], principal)[0]

    @staticmethod
    def _tag(s: Session, tag_id: int) -> Tag:
        tag = s.get(Tag, tag_id)
        if tag is None:
            raise NotFoundError(f"tag {tag_id} not found")
        return tag

    def _new_tag(self, s: Session, name: str, principal: Principal) -> Tag:
        """Create the tag ``name`` (already cleaned, not yet taken) and audit it."""
        tag = Tag(name=name, created_by=principal.name)
        s.add(tag)
        s.flush()
        self.audit.record(principal.name, "tag", "tag", tag.id, {"op": "create", "name": name}, session=s)
        return tag

    def create_tag(self, body: TagCreate, principal: Principal) -> TagPublic:
        require_editor(principal, "creating a tag")
        name = clean_tag_name(body.name)
        try:
            with self.catalog.session() as s:
                if s.scalar(select(Tag.id).where(Tag.name == name)) is not None:
                    raise ConflictError(f"tag {name!r} exists")
                tag = self._new_tag(s, name, principal)
                return self._tag_public(s, [tag], principal)[0]
        except IntegrityError as exc:  # created concurrently
            raise ConflictError(f"tag {name!r} exists") from exc

    @staticmethod
    def _passages_of_tag(s: Session, tag_id: int) -> set[int]:
        """Passages whose index entry carries the tag (their own, or their document's)."""
        direct = set(s.scalars(select(PassageTag.passage_id).where(PassageTag.tag_id == tag_id)))
        via_doc = set(
            s.scalars(
                select(Passage.id)
                .join(DocumentTag, DocumentTag.document_id == Passage.document_id)
                .where(DocumentTag.tag_id == tag_id)
            )
        )
        return direct | via_doc

    @staticmethod
    def _mark_unindexed(s: Session, passage_ids: Iterable[int]) -> int:
        ids = sorted(set(passage_ids))
        for i in range(0, len(ids), 1000):
            s.execute(update(Passage).where(Passage.id.in_(ids[i : i + 1000])).values(indexed_at=None))
        return len(ids)

    def _reindex(self) -> None:
        indexer.index_pending(self.catalog, self.backend)

    def rename_tag(self, tag_id: int, body: TagUpdate, principal: Principal) -> TagPublic:
        if not principal.is_admin:
            raise ForbiddenError("renaming a tag changes documents you may not see; it needs the admin role")
        name = clean_tag_name(body.name)
        try:
            with self.catalog.session() as s:
                tag = self._tag(s, tag_id)
                old = tag.name
                if old != name:
                    if s.scalar(select(Tag.id).where(Tag.name == name, Tag.id != tag_id)) is not None:
                        raise ConflictError(f"tag {name!r} exists; merge into it instead")
                    tag.name = name
                    self._mark_unindexed(s, self._passages_of_tag(s, tag_id))
                    s.flush()
                    self.audit.record(
                        principal.name,
                        "tag",
                        "tag",
                        tag_id,
                        {"op": "rename", "from": old, "to": name},
                        session=s,
                    )
        except IntegrityError as exc:
            raise ConflictError(f"tag {name!r} exists") from exc
        self._reindex()
        return self.get_tag(tag_id, principal)

    def merge_tag(self, tag_id: int, body: TagMerge, principal: Principal) -> TagPublic:
        """Move every use of ``tag_id`` to ``body.into`` and delete ``tag_id``."""
        if not principal.is_admin:
            raise ForbiddenError("merging tags changes documents you may not see; it needs the admin role")
        with self.catalog.session() as s:
            src, dst = self._tag(s, tag_id), self._tag(s, body.into)
            if src.id == dst.id:  # a conflict with the tag's state, not a malformed request
                raise ConflictError("a tag cannot be merged into itself")
            affected = self._passages_of_tag(s, src.id)
            have_docs = set(s.scalars(select(DocumentTag.document_id).where(DocumentTag.tag_id == dst.id)))
            have_pas = set(s.scalars(select(PassageTag.passage_id).where(PassageTag.tag_id == dst.id)))
            links: list[tuple[type[DocumentTag] | type[PassageTag], str, set[int]]] = [
                (DocumentTag, "document_id", have_docs),
                (PassageTag, "passage_id", have_pas),
            ]
            for model, key, have in links:
                found: list[DocumentTag | PassageTag] = list(
                    s.scalars(select(model).where(model.tag_id == src.id))
                )
                for link in found:
                    if getattr(link, key) not in have:
                        s.add(
                            model(
                                **{key: getattr(link, key)},
                                tag_id=dst.id,
                                added_by=link.added_by,
                                added_at=link.added_at,
                            )
                        )
            s.flush()
            s.execute(delete(DocumentTag).where(DocumentTag.tag_id == src.id))
            s.execute(delete(PassageTag).where(PassageTag.tag_id == src.id))
            src_name = src.name
            s.delete(src)
            self._mark_unindexed(s, affected)
            s.flush()
            self.audit.record(
                principal.name,
                "tag",
                "tag",
                tag_id,
                {"op": "merge", "from": src_name, "into": dst.name, "into_id": dst.id},
                session=s,
            )
        self._reindex()
        return self.get_tag(body.into, principal)

    def delete_tag(self, tag_id: int, principal: Principal) -> None:
        if not principal.is_admin:
            raise ForbiddenError("deleting a tag changes documents you may not see; it needs the admin role")
        with self.catalog.session() as s:
            tag = self._tag(s, tag_id)
            affected = self._passages_of_tag(s, tag_id)
            name = tag.name
            s.execute(delete(DocumentTag).where(DocumentTag.tag_id == tag_id))
            s.execute(delete(PassageTag).where(PassageTag.tag_id == tag_id))
            s.delete(tag)
            self._mark_unindexed(s, affected)
            s.flush()
            self.audit.record(principal.name, "tag", "tag", tag_id, {"op": "delete", "name": name}, session=s)
        self._reindex()

    def apply_tags(self, body: TagApply, principal: Principal) -> TagApplyResult:
        """Put tags on (or take them off) documents and passages, all or nothing."""
        require_editor(principal, "tagging")
        if not body.tag_ids and not body.names:
            raise InvalidRequestError("give tag_ids or names")
        if not body.document_ids and not body.passage_ids:
            raise InvalidRequestError("give document_ids or passage_ids")
        names = list(dict.fromkeys(clean_tag_name(n) for n in body.names))
        changed = 0
        with self.catalog.session() as s:
            docs = readable_documents(s, body.document_ids, principal)
            pas = readable_passages(s, body.passage_ids, principal)
            tags: dict[int, Tag] = {}
            for tid in body.tag_ids:
                tags[tid] = self._tag(s, tid)
            for name in names:
                tag = s.scalar(select(Tag).where(Tag.name == name))
                if tag is None:
                    if body.remove:
                        raise NotFoundError(f"tag {name!r} not found")
                    tag = self._new_tag(s, name, principal)
                tags[tag.id] = tag
            affected: set[int] = set()
            doc_ids, pas_ids = sorted(docs), sorted(pas)
            for tag in tags.values():
                have_d = _tagged(s, DocumentTag.document_id, DocumentTag.tag_id, tag.id, doc_ids)
                have_p = _tagged(s, PassageTag.passage_id, PassageTag.tag_id, tag.id, pas_ids)
                if body.remove:
                    d_change, p_change = sorted(have_d), sorted(have_p)
                    if d_change:
                        s.execute(
                            delete(DocumentTag).where(
                                DocumentTag.tag_id == tag.id, DocumentTag.document_id.in_(d_change)
                            )
                        )
                    if p_change:
                        s.execute(
                            delete(PassageTag).where(
                                PassageTag.tag_id == tag.id, PassageTag.passage_id.in_(p_change)
                            )
                        )
                else:
                    d_change = [d for d in doc_ids if d not in have_d]
                    p_change = [p for p in pas_ids if p not in have_p]
                    s.add_all(
                        DocumentTag(document_id=d, tag_id=tag.id, added_by=principal.name) for d in d_change
                    )
                    s.add_all(
                        PassageTag(passage_id=p, tag_id=tag.id, added_by=principal.name) for p in p_change
                    )
                changed += len(d_change) + len(p_change)
                if d_change:
                    for i in range(0, len(d_change), 1000):
                        affected.update(
                            s.scalars(
                                select(Passage.id).where(Passage.document_id.in_(d_change[i : i + 1000]))
                            )
                        )
                affected.update(p_change)
                if d_change or p_change:
                    self.audit.record(
                        principal.name,
                        "tag",
                        "tag",
                        tag.id,
                        {
                            "op": "remove" if body.remove else "apply",
                            "name": tag.name,
                            "document_ids": d_change,
                            "passage_ids": p_change,
                        },
                        session=s,
                    )
            self._mark_unindexed(s, affected)
            s.flush()
            public = self._tag_public(s, list(tags.values()), principal)
        self._reindex()
        return TagApplyResult(tags=public, changed=changed, reindexed=len(affected))
