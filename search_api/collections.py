"""Administration of collections: counts, creation, description and grants (admin role only).

Used by ``/api/v1/collections`` (``routes_collections.py``) and the web interface's collections
page. Grants go through ``Accounts.grant`` / ``revoke`` (which audit them); creating and describing
a collection are audited here (action ``grant``, ``op`` ``create_collection`` /
``describe_collection``), in the same transaction as the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from archive_search.catalog.db import ensure_collection
from archive_search.catalog.models import Collection, Document, Grant, Group, Passage, User
from archive_search.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError
from archive_search.types import Principal
from search_api.auth import Accounts

MAX_DESCRIPTION = 10_000
Permission = Literal["read", "write", "manage"]


class CollectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="1-200 characters, no '/' or '\\'")
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


class CollectionUpdate(BaseModel):
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


class GrantPublic(BaseModel):
    kind: Literal["user", "group"]
    name: str
    permission: Permission


class GrantSet(BaseModel):
    """Exactly one of ``user`` and ``group``."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["user"], "properties": {"user": {"type": "string"}}},
                {"required": ["group"], "properties": {"group": {"type": "string"}}},
            ]
        }
    )

    user: str | None = Field(default=None, min_length=1, max_length=150, description="A user name, or")
    group: str | None = Field(default=None, min_length=1, max_length=150, description="a group name")
    permission: Permission = "read"


class CollectionAdminPublic(BaseModel):
    name: str
    description: str | None
    created_at: datetime
    documents: int
    passages: int
    grants: list[GrantPublic]


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise ForbiddenError("administering collections needs the admin role")


class CollectionAdmin:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.catalog = accounts.catalog

    def grants(self, collection: str | None = None) -> list[dict[str, Any]]:
        """Every grant (of one collection), as ``{collection, kind, name, permission}``."""
        with self.catalog.session() as s:
            q = (
                select(Collection.name, User.username, Group.name, Grant.permission)
                .join(Collection, Collection.id == Grant.collection_id)
                .join(User, User.id == Grant.user_id, isouter=True)
                .join(Group, Group.id == Grant.group_id, isouter=True)
                .order_by(Collection.name, User.username, Group.name)
            )
            if collection is not None:
                q = q.where(Collection.name == collection)
            rows = s.execute(q).all()
        return [
            {
                "collection": col,
                "kind": "user" if user is not None else "group",
                "name": user if user is not None else group,
                "permission": perm,
            }
            for col, user, group, perm in rows
        ]

    def stats(self, principal: Principal, name: str | None = None) -> list[CollectionAdminPublic]:
        """Every collection (or one) with its documents, passages and grants."""
        _require_admin(principal)
        with self.catalog.session() as s:
            q = select(Collection).order_by(Collection.name)
            if name is not None:
                q = q.where(Collection.name == name)
            cols = list(s.scalars(q))
            if name is not None and not cols:
                raise NotFoundError(f"no collection {name!r}")
            docs = dict(
                s.execute(
                    select(Document.collection_id, func.count(Document.id)).group_by(Document.collection_id)
                ).all()
            )
            passages = dict(
                s.execute(
                    select(Document.collection_id, func.count(Passage.id))
                    .join(Passage, Passage.document_id == Document.id)
                    .group_by(Document.collection_id)
                ).all()
            )
            base = [
                (c.name, c.description, c.created_at, int(docs.get(c.id, 0)), int(passages.get(c.id, 0)))
                for c in cols
            ]
        grants: dict[str, list[GrantPublic]] = {}
        for g in self.grants(name):
            grants.setdefault(g["collection"], []).append(
                GrantPublic(kind=g["kind"], name=g["name"], permission=g["permission"])
            )
        return [
            CollectionAdminPublic(
                name=n, description=d, created_at=at, documents=nd, passages=np, grants=grants.get(n, [])
            )
            for n, d, at, nd, np in base
        ]

    def create(self, body: CollectionCreate, principal: Principal) -> CollectionAdminPublic:
        """A new collection (409 when the name exists; 400 for an invalid name)."""
        _require_admin(principal)
        name = body.name.strip()
        with self.catalog.session() as s:
            if s.scalar(select(Collection.id).where(Collection.name == name)) is not None:
                raise ConflictError(f"collection {name!r} exists")
        cid = ensure_collection(self.catalog, name)  # validates the name; safe under concurrency
        text = (body.description or "").strip() or None
        with self.catalog.session() as s:
            col = s.get(Collection, cid)
            assert col is not None
            col.description = text
            self.accounts.audit.record(
                principal.name,
                "grant",
                "collection",
                name,
                {"op": "create_collection", "id": cid, "description": text},
                session=s,
            )
        return self.stats(principal, name)[0]

    def describe(self, name: str, body: CollectionUpdate, principal: Principal) -> CollectionAdminPublic:
        _require_admin(principal)
        text = (body.description or "").strip() or None
        with self.catalog.session() as s:
            col = s.scalar(select(Collection).where(Collection.name == name))
            if col is None:
                raise NotFoundError(f"no collection {name!r}")
            if col.description != text:
                old, col.description = col.description, text
                self.accounts.audit.record(
                    principal.name,
                    "grant",
                    "collection",
                    name,
                    {"op": "describe_collection", "from": old, "to": text},
                    session=s,
                )
        return self.stats(principal, name)[0]

    def _existing(self, name: str) -> None:
        with self.catalog.session() as s:
            if s.scalar(select(Collection.id).where(Collection.name == name)) is None:
                raise NotFoundError(f"no collection {name!r}")

    def grant(self, name: str, body: GrantSet, principal: Principal) -> list[GrantPublic]:
        """Give a user or group a permission on an existing collection (replaces their grant)."""
        _require_admin(principal)
        self._existing(name)
        self.accounts.grant(name, body.permission, user=body.user, group=body.group, actor=principal.name)
        return self.stats(principal, name)[0].grants

    def revoke(self, name: str, principal: Principal, *, user: str | None, group: str | None) -> bool:
        """Remove a user's or group's grant on the collection; whether there was one."""
        _require_admin(principal)
        self._existing(name)
        if (user is None) == (group is None):
            raise InvalidRequestError("give exactly one of a user or a group")
        return self.accounts.revoke(name, "read", user=user, group=group, actor=principal.name)
