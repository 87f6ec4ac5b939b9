"""Account read-outs and changes for the admin pages: lists of users and groups, collection
names; creating users and groups, a user's role and disabled flag, group membership — each change
audited here, by the admin who made it (``actor``), so that no caller has to remember to. The
changes themselves go through ``Accounts``; grants are listed by ``CollectionAdmin.grants``.

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

    def _audit(self, actor: str, object_type: str, object_id: int | str, details: dict[str, Any]) -> None:
        self.accounts.audit.record(actor, "grant", object_type, object_id, details)

    def create_user(self, actor: str, username: str, password: str, role: str) -> int:
        if role not in ROLES:
            raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
        uid = self.accounts.create_user(username, password, role=role)  # type: ignore[arg-type]
        self._audit(actor, "user", uid, {"op": "create_user", "user": username, "role": role})
        return uid

    def update_user(self, actor: str, username: str, *, role: str | None, disabled: bool) -> None:
        """Change a user's role (``None``: keep it) and disabled flag; an admin may neither
        disable themself nor give up their own admin role."""
        if role is not None and role not in ROLES:
            raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
        if username == actor and (disabled or (role is not None and role != "admin")):
            raise InvalidRequestError("you cannot disable yourself or take away your own admin role")
        with self.catalog.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            if role is not None:
                user.role = role
            user.disabled = disabled
        self._audit(actor, "user", username, {"op": "update_user", "role": role, "disabled": disabled})

    def create_group(self, actor: str, name: str) -> int:
        gid = self.accounts.create_group(name)
        self._audit(actor, "group", gid, {"op": "create_group", "group": name})
        return gid

    def add_member(self, actor: str, group: str, username: str) -> None:
        self.accounts.add_to_group(group, username)
        self._audit(actor, "group", group, {"op": "add_member", "user": username})

    def remove_member(self, actor: str, group: str, username: str) -> None:
        self.accounts.remove_from_group(group, username)
        self._audit(actor, "group", group, {"op": "remove_member", "user": username})
