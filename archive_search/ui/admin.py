"""Read-outs for the admin pages that ``Accounts`` has no method for (lists of users, groups and
grants; a user's role and disabled flag), over the catalog's public models. Changes that
``Accounts`` offers (create user or group, membership, grant, revoke) go through it instead.

Disabling a user ends every session at once: ``Accounts.principal_for_user`` refuses a disabled
account, so its tokens stop working on the next request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Collection, Grant, Group, GroupMember, User
from archive_search.errors import InvalidRequestError, NotFoundError

ROLES = ("viewer", "editor", "admin")


def list_users(catalog: Catalog) -> list[dict[str, Any]]:
    with catalog.session() as s:
        return [
            {"name": u.username, "role": u.role, "disabled": bool(u.disabled), "created_at": u.created_at}
            for u in s.scalars(select(User).order_by(User.username))
        ]


def list_groups(catalog: Catalog) -> list[dict[str, Any]]:
    with catalog.session() as s:
        groups = list(s.scalars(select(Group).order_by(Group.name)))
        members: dict[int, list[str]] = {g.id: [] for g in groups}
        for gid, name in s.execute(
            select(GroupMember.group_id, User.username)
            .join(User, User.id == GroupMember.user_id)
            .order_by(User.username)
        ).all():
            members.setdefault(gid, []).append(name)
        return [{"name": g.name, "members": members.get(g.id, [])} for g in groups]


def list_grants(catalog: Catalog) -> list[dict[str, Any]]:
    with catalog.session() as s:
        rows = s.execute(
            select(Collection.name, User.username, Group.name, Grant.permission)
            .join(Collection, Collection.id == Grant.collection_id)
            .join(User, User.id == Grant.user_id, isouter=True)
            .join(Group, Group.id == Grant.group_id, isouter=True)
            .order_by(Collection.name, User.username, Group.name)
        ).all()
    return [
        {
            "collection": col,
            "kind": "user" if user is not None else "group",
            "name": user if user is not None else group,
            "permission": perm,
        }
        for col, user, group, perm in rows
    ]


def collection_names(catalog: Catalog) -> list[str]:
    with catalog.session() as s:
        return list(s.scalars(select(Collection.name).order_by(Collection.name)))


def update_user(catalog: Catalog, username: str, *, role: str | None, disabled: bool) -> None:
    if role is not None and role not in ROLES:
        raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
    with catalog.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFoundError(f"no user {username!r}")
        if role is not None:
            user.role = role
        user.disabled = disabled
