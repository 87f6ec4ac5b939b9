"""Accounts, groups, per-collection grants and bearer tokens.

Passwords are argon2id hashes (argon2-cffi); tokens are random, only their SHA-256 is stored.
A principal's collections are computed from its grants on every request, so a revoked grant
takes effect at once. Failed logins are rate-limited per user name and client address.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog, ensure_collection
from archive_search.catalog.models import (
    ApiToken,
    Collection,
    Document,
    DocumentAccess,
    Grant,
    Group,
    GroupMember,
    PassageAccess,
    PassageRestriction,
    User,
)
from archive_search.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
)
from archive_search.settings import Settings
from archive_search.types import Principal
from search_api.audit import AuditLog

Role = Literal["admin", "editor", "viewer"]
Permission = Literal["read", "write", "manage"]
ROLES: tuple[str, ...] = ("admin", "editor", "viewer")
PERMISSIONS: tuple[str, ...] = ("read", "write", "manage")
_NAME = re.compile(r"^[\w.@-]{1,150}$", re.UNICODE)
_hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """Verifying against this when a user does not exist keeps the timing of both answers alike.
    Made when the API starts (its lifespan calls this), not at import: hashing takes ~0.1-0.4 s,
    which every command-line start would pay (issue 17, part 6)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class LoginLimiter:
    """At most ``max_failures`` failed logins per (user name, client) within ``window_s``."""

    def __init__(self, max_failures: int, window_s: int) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, username: str, client: str) -> None:
        """Count this attempt as a failure *before* the password is checked, or refuse it (429).

        Checking first and counting after the (slow, by design) password hash let concurrent
        attempts all pass the check: 50 at once gave 27 password checks with a limit of 5
        (issue 22). Reserved under one lock, at most ``max_failures`` checks can run per window;
        a success clears the reservations (``succeeded``)."""
        key = (username.casefold(), client)
        now = time.monotonic()
        with self._lock:
            q = self._failures.setdefault(key, deque())
            while q and now - q[0] > self.window_s:
                q.popleft()
            if len(q) >= self.max_failures:
                wait = int(self.window_s - (now - q[0])) + 1
                raise RateLimitedError(f"too many failed logins; try again in {wait} s")
            q.append(now)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username.casefold(), client), None)


class Accounts:
    """Users, groups, grants and tokens in the catalog."""

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.limiter = LoginLimiter(settings.login_max_failures, settings.login_window_s)
        self.audit = AuditLog(catalog)

    # -- users and groups --------------------------------------------------------------------

    def _check_password(self, password: str) -> None:
        if len(password) < self.settings.min_password_length:
            raise InvalidRequestError(
                f"password too short: at least {self.settings.min_password_length} characters"
            )

    def create_user(self, username: str, password: str, *, role: Role = "viewer") -> int:
        if not _NAME.match(username):
            raise InvalidRequestError("user names are 1-150 letters, digits, '.', '@', '-' or '_'")
        if role not in ROLES:
            raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
        self._check_password(password)
        with self.catalog.session() as s:
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                raise ConflictError(f"user {username!r} exists")
            user = User(username=username, password_hash=_hasher.hash(password), role=role)
            s.add(user)
            s.flush()
            return user.id

    def set_password(self, username: str, password: str) -> None:
        self._check_password(password)
        with self.catalog.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            user.password_hash = _hasher.hash(password)
            # a new password ends every session and token of the account
            s.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )

    def _user_id(self, username: str) -> int:
        return self._id_of(User.id, User.username == username, f"no user {username!r}")

    def _group_id(self, name: str) -> int:
        return self._id_of(Group.id, Group.name == name, f"no group {name!r}")

    def _id_of(self, column: Any, where: Any, missing: str) -> int:
        with self.catalog.session() as s:
            found: int | None = s.scalar(select(column).where(where))
        if found is None:
            raise NotFoundError(missing)
        return found

    def create_group(self, name: str) -> int:
        if not _NAME.match(name):
            raise InvalidRequestError("group names are 1-150 letters, digits, '.', '@', '-' or '_'")
        with self.catalog.session() as s:
            if s.scalar(select(Group.id).where(Group.name == name)) is not None:
                raise ConflictError(f"group {name!r} exists")
            g = Group(name=name)
            s.add(g)
            s.flush()
            return g.id

    def add_to_group(self, group: str, username: str) -> None:
        gid, uid = self._group_id(group), self._user_id(username)
        with self.catalog.session() as s:
            if s.get(GroupMember, (gid, uid)) is None:
                s.add(GroupMember(group_id=gid, user_id=uid))

    def remove_from_group(self, group: str, username: str) -> None:
        gid, uid = self._group_id(group), self._user_id(username)
        with self.catalog.session() as s:
            s.execute(delete(GroupMember).where(GroupMember.group_id == gid, GroupMember.user_id == uid))

    # -- grants ------------------------------------------------------------------------------

    def _grantee(self, user: str | None, group: str | None) -> tuple[int | None, int | None]:
        if (user is None) == (group is None):
            raise InvalidRequestError("give exactly one of a user or a group")
        return (self._user_id(user), None) if user is not None else (None, self._group_id(str(group)))

    def grant(
        self,
        collection: str,
        permission: str,
        *,
        user: str | None = None,
        group: str | None = None,
        actor: str = "local",
    ) -> None:
        """Give ``permission`` on ``collection`` (created if missing); replaces an earlier grant."""
        if permission not in PERMISSIONS:
            raise InvalidRequestError(f"permission must be one of {', '.join(PERMISSIONS)}")
        uid, gid = self._grantee(user, group)
        cid = ensure_collection(self.catalog, collection)
        with self.catalog.session() as s:
            row = s.scalar(
                select(Grant).where(Grant.collection_id == cid, Grant.user_id == uid, Grant.group_id == gid)
            )
            before = None if row is None else row.permission
            if row is None:
                s.add(Grant(collection_id=cid, user_id=uid, group_id=gid, permission=permission))
            else:
                row.permission = permission
            self._grant_changed(s, actor, collection, "grant", user, group, before, permission)

    def _grant_changed(
        self,
        s: Session,
        actor: str,
        collection: str,
        op: str,
        user: str | None,
        group: str | None,
        before: str | None,
        after: str | None,
    ) -> None:
        """Audit a grant's change (``before``/``after``: the permission, ``None`` for none)."""
        s.flush()
        details = {"op": op, "user": user, "group": group, "from": before, "to": after}
        self.audit.record(actor, "grant", "collection", collection, details, session=s)

    def revoke(
        self,
        collection: str,
        permission: str = "read",
        *,
        user: str | None = None,
        group: str | None = None,
        actor: str = "local",
    ) -> bool:
        """Take ``permission`` and the ones above it away: revoking ``read`` removes the grant,
        ``write`` leaves read, ``manage`` leaves write. Returns whether anything changed."""
        if permission not in PERMISSIONS:
            raise InvalidRequestError(f"permission must be one of {', '.join(PERMISSIONS)}")
        uid, gid = self._grantee(user, group)
        with self.catalog.session() as s:
            cid = s.scalar(select(Collection.id).where(Collection.name == collection))
            row = (
                None
                if cid is None
                else s.scalar(
                    select(Grant).where(
                        Grant.collection_id == cid, Grant.user_id == uid, Grant.group_id == gid
                    )
                )
            )
            if row is None:
                return False
            level = PERMISSIONS.index(permission)
            if PERMISSIONS.index(row.permission) < level:
                return False
            before = row.permission
            after = None if level == 0 else PERMISSIONS[level - 1]
            if after is None:
                s.delete(row)
            else:
                row.permission = after
            self._grant_changed(s, actor, collection, "revoke", user, group, before, after)
            return True

    # -- principals --------------------------------------------------------------------------

    def principal_for_user(self, user_id: int) -> Principal:
        with self.catalog.session() as s:
            user = s.get(User, user_id)
            if user is None or user.disabled:
                raise UnauthorizedError("the account is disabled or gone")
            if user.role == "admin":
                return Principal(
                    name=user.username,
                    readable=None,
                    writable=None,
                    manageable=None,
                    role="admin",
                    user_id=user.id,
                )
            groups = select(GroupMember.group_id).where(GroupMember.user_id == user.id)
            rows = s.execute(
                select(Collection.name, Grant.permission)
                .join(Grant, Grant.collection_id == Collection.id)
                .where((Grant.user_id == user.id) | Grant.group_id.in_(groups))
            ).all()
            readable = frozenset(name for name, _ in rows)
            writable = frozenset(name for name, perm in rows if perm in ("write", "manage"))
            manageable = frozenset(name for name, perm in rows if perm == "manage")
            hidden = hidden_documents(s, user.id, readable - manageable)
            hidden_p = hidden_passages(s, user.id, readable - manageable)
        return Principal(
            name=user.username,
            readable=readable,
            writable=writable,
            manageable=manageable,
            role=user.role,
            user_id=user.id,
            hidden_documents=hidden,
            hidden_passages=hidden_p,
        )

    # -- tokens ------------------------------------------------------------------------------

    def login(self, username: str, password: str, client: str) -> tuple[str, datetime]:
        """A new bearer token for valid credentials; (token, expiry)."""
        self.limiter.reserve(username, client)  # counted as a failure until it succeeds
        with self.catalog.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            stored = user.password_hash if user is not None and not user.disabled else None
        try:
            _hasher.verify(stored or dummy_hash(), password)
            ok = stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None:
            self.audit.record(username, "login", "user", None, {"ok": False, "client": client})
            raise UnauthorizedError("wrong user name or password")
        self.limiter.succeeded(username, client)
        self.audit.record(username, "login", "user", user.id, {"ok": True, "client": client})
        if stored is not None and _hasher.check_needs_rehash(stored):
            with self.catalog.session() as s:
                u = s.get(User, user.id)
                if u is not None:
                    u.password_hash = _hasher.hash(password)
        ttl = timedelta(hours=self.settings.token_ttl_hours)
        return self.create_token(user.id, name="login", ttl=ttl)

    def create_token(self, user_id: int, *, name: str, ttl: timedelta | None) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + ttl if ttl is not None else datetime.max.replace(tzinfo=UTC)
        with self.catalog.session() as s:
            s.add(
                ApiToken(
                    user_id=user_id,
                    token_hash=_token_hash(token),
                    name=name,
                    expires_at=expires if ttl is not None else None,
                )
            )
        return token, expires

    def create_token_for(self, username: str, *, name: str, ttl: timedelta | None) -> tuple[str, datetime]:
        """An API token for scripts (``archive token create``)."""
        return self.create_token(self._user_id(username), name=name, ttl=ttl)

    def principal_for_token(self, token: str) -> Principal:
        now = datetime.now(UTC)
        with self.catalog.session() as s:
            row = s.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
            if row is None or row.revoked_at is not None:
                raise UnauthorizedError("invalid or revoked token")
            if row.expires_at is not None and row.expires_at <= now:
                raise UnauthorizedError("the token has expired; log in again")
            if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
                row.last_used_at = now
            user_id = row.user_id
        return self.principal_for_user(user_id)

    def revoke_token(self, token: str) -> None:
        with self.catalog.session() as s:
            row = s.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
            if row is not None and row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)


def hidden_documents(s: Session, user_id: int, collections: frozenset[str]) -> frozenset[int]:
    """Restricted documents of ``collections`` (readable, not managed) that the user may not read:
    neither the user nor one of the user's groups is on the document's access list."""
    if not collections:
        return frozenset()
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    listed = select(DocumentAccess.document_id).where(
        (DocumentAccess.user_id == user_id) | DocumentAccess.group_id.in_(groups)
    )
    rows = s.scalars(
        select(Document.id)
        .join(Collection, Collection.id == Document.collection_id)
        .where(
            Document.restricted.is_(True),
            Collection.name.in_(sorted(collections)),
            Document.id.not_in(listed),
        )
    ).all()
    return frozenset(int(i) for i in rows)


def hidden_passages(s: Session, user_id: int, collections: frozenset[str]) -> frozenset[int]:
    """Restricted passages of ``collections`` (readable, not managed) that the user may not read:
    neither the user nor one of the user's groups is on the passage's access list."""
    if not collections:
        return frozenset()
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    listed = select(PassageAccess.passage_id).where(
        (PassageAccess.user_id == user_id) | PassageAccess.group_id.in_(groups)
    )
    rows = s.scalars(
        select(PassageRestriction.passage_id)
        .join(Document, Document.id == PassageRestriction.document_id)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Collection.name.in_(sorted(collections)), PassageRestriction.passage_id.not_in(listed))
    ).all()
    return frozenset(int(i) for i in rows)
