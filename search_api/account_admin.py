"""Account read-outs and changes for the admin pages that ``Accounts`` has no method for (lists
of users and groups, collection names; a user's role and disabled flag). Changes that ``Accounts``
offers (create user or group, membership, grant, revoke) go through it; grants are listed by
``CollectionAdmin.grants``.

Disabling a user ends every session at once: ``Accounts.principal_for_user`` refuses a disabled
account, so its tokens stop working on the next request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from archive_search.catalog.models import Collection, Group, GroupMember, User
from archive_search.errors import InvalidRequestError, NotFoundError
from search_api.auth import Accounts

ROLES = ("viewer", "editor", "admin")


class AccountAdmin:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.catalog = accounts.catalog

    def list_users(self) -> list[dict[str, Any]]:
        with self.catalog.session() as s:
            return [
                {"name": u.username, "role": u.role, "disabled": bool(u.disabled), "created_at": u.created_at}
                for u in s.scalars(select(User).order_by(User.username))
            ]

    def list_groups(self) -> list[dict[str, Any]]:
        with self.catalog.session() as s:
            groups = list(s.scalars(select(Group).order_by(Group.name)))
            members: dict[int, list[str]] = {g.id: [] for g in groups}
            for gid, name in s.execute(
                select(GroupMember.group_id, User.username)
                .join(User, User.id == GroupMember.user_id)
                .order_by(User.username)
            ).all():
                members.setdefault(gid, []).append(name)
            return [{"name": g.name, "members": members.get(g.id, [])} for g in groups]

    def collection_names(self) -> list[str]:
        with self.catalog.session() as s:
            return list(s.scalars(select(Collection.name).order_by(Collection.name)))

    def update_user(self, username: str, *, role: str | None, disabled: bool) -> None:
        if role is not None and role not in ROLES:
            raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
        with self.catalog.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            if role is not None:
                user.role = role
            user.disabled = disabled
