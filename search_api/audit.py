"""The append-only, hash-chained audit log.

Each entry is ``(id, at, actor, action, object_type, object_id, details, prev_hash, hash)`` with
``hash = sha256(prev_hash + canonical JSON of the entry without its hashes)``; the first entry's
``prev_hash`` is 64 zeros. Appends are serialised by the single ``audit_head`` row: the append
transaction first *updates* that row (a row lock on PostgreSQL; on SQLite the first write takes
the database's write lock, and the following reads see the newest committed chain), then reads
the end of the chain, inserts the entry and moves the head. Ids are therefore gap-free, and the
head remembers the last id and hash, so that removing the newest entries is detected as well.

The database refuses ``UPDATE`` and ``DELETE`` on ``audit_log`` (triggers of migration 0003);
:func:`verify` detects what someone with the triggers dropped (or a file editor) changed.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import AuditEntry, AuditHead

GENESIS = "0" * 64
ACTIONS = (
    "ingest",
    "view",
    "download",
    "search",
    "tag",
    "case",
    "export",
    "grant",
    "login",
    "delete",
    "denied",
)


DENIED_LIMIT = 20
"""Refused reads recorded per user and ``DENIED_WINDOW_S`` (per server process); beyond, they are
only counted, and the next one recorded carries how many were left out (``suppressed``)."""
DENIED_WINDOW_S = 600.0


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant spaces, UTF-8 characters kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def audit_timestamp(dt: datetime | str) -> str:
    """Microsecond UTC timestamp; SQLite hands back naive datetimes (or text, read raw),
    PostgreSQL aware ones."""
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    prev_hash: str,
    *,
    id: int,
    at: datetime | str,
    actor: str,
    action: str,
    object_type: str | None,
    object_id: str | None,
    details: str,
) -> str:
    body = canonical_json(
        {
            "id": id,
            "at": audit_timestamp(at),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "details": json.loads(details),
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def stored_hash(e: AuditEntry) -> str:
    """The hash a stored entry should carry, recomputed from its fields and ``prev_hash``
    (``ValueError`` for details that are no JSON)."""
    return entry_hash(
        e.prev_hash,
        id=e.id,
        at=e.at,
        actor=e.actor,
        action=e.action,
        object_type=e.object_type,
        object_id=e.object_id,
        details=e.details,
    )


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problem: str | None = None
    first_bad_id: int | None = None


class AuditLog:
    """Appends to and verifies the audit log of one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def record(
        self,
        actor: str,
        action: str,
        object_type: str | None = None,
        object_id: str | int | None = None,
        details: dict[str, Any] | None = None,
        *,
        session: Session | None = None,
    ) -> int:
        """Append one entry (in ``session``'s transaction when given); returns its id."""
        if session is not None:
            return self._append(session, actor, action, object_type, object_id, details or {})
        with self.catalog.session() as s:
            return self._append(s, actor, action, object_type, object_id, details or {})

    def _append(
        self,
        s: Session,
        actor: str,
        action: str,
        object_type: str | None,
        object_id: str | int | None,
        details: dict[str, Any],
    ) -> int:
        # Lock first, read after: the UPDATE takes the row lock (PostgreSQL) or the write lock
        # (SQLite, whose reads before a first write are not in the transaction at all).
        s.execute(text("UPDATE audit_head SET last_id = last_id WHERE id = 1"))
        head = s.execute(
            select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)
        ).scalar_one()
        new_id = head.last_id + 1
        at = datetime.now(UTC)
        obj_id = None if object_id is None else str(object_id)
        det = canonical_json(details)
        fields: dict[str, Any] = {
            "id": new_id,
            "at": at,
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": obj_id,
            "details": det,
        }
        h = entry_hash(head.last_hash, **fields)
        s.add(AuditEntry(**fields, prev_hash=head.last_hash, hash=h))
        head.last_id = new_id
        head.last_hash = h
        s.flush()
        return new_id

    def entries(self, *, batch: int = 1000) -> Iterator[AuditEntry]:
        """Every entry in id order, read in batches."""
        last = 0
        while True:
            with self.catalog.session() as s:
                rows = list(
                    s.scalars(
                        select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)
                    )
                )
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    def recent(self, limit: int = 50) -> list[AuditEntry]:
        with self.catalog.session() as s:
            return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))

    def verify(self) -> VerifyResult:
        """Walk the chain; report the first entry that was edited, removed, inserted or reordered."""
        with self.catalog.session() as s:
            head = s.get(AuditHead, 1)
            head_id, head_hash = (head.last_id, head.last_hash) if head else (0, GENESIS)
        prev_hash = GENESIS
        expected_id = 1
        n = 0
        for e in self.entries():
            if e.id != expected_id:
                what = "removed" if e.id > expected_id else "duplicated or reordered"
                return VerifyResult(
                    False, n, f"entry {expected_id} is missing ({what}); next entry is {e.id}", expected_id
                )
            if e.prev_hash != prev_hash:
                return VerifyResult(
                    False,
                    n,
                    f"entry {e.id}: prev_hash does not match the hash of entry {e.id - 1} "
                    "(an entry before it was removed, replaced or reordered)",
                    e.id,
                )
            try:
                recomputed = stored_hash(e)
            except ValueError:
                recomputed = ""
            if recomputed != e.hash:
                return VerifyResult(
                    False, n, f"entry {e.id} was edited: its hash does not match its content", e.id
                )
            prev_hash = e.hash
            expected_id += 1
            n += 1
        if n != head_id or prev_hash != head_hash:
            return VerifyResult(
                False,
                n,
                f"the chain ends at entry {n} but the head records entry {head_id}: "
                "the newest entries were removed or the head was changed",
                n + 1,
            )
        return VerifyResult(True, n)


class DeniedReads:
    """The audit of refused requests — a 404 (an object the caller may not read, or that does not
    exist: the same answer) or a 403 to a signed-in caller —, as ``denied`` entries naming the
    method, path and code, so that probing for ids leaves a trace. Rate-limited per user so that
    probing cannot flood the log: at most ``DENIED_LIMIT`` entries per ``DENIED_WINDOW_S``; the
    ones left out are counted into the next entry's ``suppressed``."""

    def __init__(
        self, audit: AuditLog, *, limit: int = DENIED_LIMIT, window_s: float = DENIED_WINDOW_S
    ) -> None:
        self.audit = audit
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._recent: dict[str, list[float]] = {}
        self._suppressed: dict[str, int] = {}

    def record(self, actor: str, method: str, path: str, status: int, code: str) -> bool:
        """Record one refusal unless the user's limit is reached; whether it was recorded."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._recent.get(actor, []) if now - t < self.window_s]
            if len(times) >= self.limit:
                self._recent[actor] = times
                self._suppressed[actor] = self._suppressed.get(actor, 0) + 1
                return False
            times.append(now)
            self._recent[actor] = times
            suppressed = self._suppressed.pop(actor, 0)
        details: dict[str, Any] = {"method": method, "path": path[:500], "status": status, "code": code}
        if suppressed:
            details["suppressed"] = suppressed
        self.audit.record(actor, "denied", "request", None, details)
        return True


def entry_public(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": audit_timestamp(e.at),
        "actor": e.actor,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "details": json.loads(e.details),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def search_details(req: Any, total: int) -> dict[str, Any]:
    """What a search entry records: the query text, every filter and the number of results."""
    return {
        "q": req.q,
        "mode": req.mode,
        "filters": {
            "lang": list(req.lang),
            "collection": list(req.collections),
            "type": list(req.types),
            "tag": list(req.tags),
            "date_from": req.date_from.isoformat() if req.date_from else None,
            "date_to": req.date_to.isoformat() if req.date_to else None,
            **{
                k: list(v)
                for k, v in (
                    ("person", req.persons),
                    ("place", req.places),
                    ("org", req.orgs),
                    ("meta", getattr(req, "meta", [])),
                )
                if v
            },
        },
        "page": req.page,
        "size": req.size,
        "total": total,
    }
