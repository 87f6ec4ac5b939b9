"""A user's search history, read back from the audit log, and "run again": a recorded search run
now, with what changed since (issue 16, part 3).

Every search through the API or the UI appends a ``search`` entry whose details hold a *search
record* (:meth:`search_api.retrieval.Retrieval.search_record`): the query, mode, filters, the
collections the user could read, index, analyser and embedder, time, number of hits, the SHA-256
of the ordered hit list and the ids of the first hits. History lists the caller's own entries
(never another user's: an admin reads those in the audit log); "run again" rebuilds the request
from the record, runs it as the caller *now* (with the access the caller has now, so nothing
revoked since is shown again), records it as a new search pointing at the old one, and compares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from archive_search.catalog.models import AuditEntry
from archive_search.errors import NotFoundError
from archive_search.types import Principal, SearchRequest, SearchResponse
from search_api.audit import audit_timestamp, search_details
from search_api.retrieval import HitListHash

if TYPE_CHECKING:
    from search_api.service import ArchiveService

HISTORY_MAX = 100
"""The most history entries one request returns."""
SCAN_CHUNK = 200
"""Audit entries of the user read at a time while looking for search records."""

FILTER_FIELDS = {
    "lang": "lang",
    "collection": "collections",
    "type": "types",
    "tag": "tags",
    "speaker": "speakers",
    "person": "persons",
    "place": "places",
    "org": "orgs",
}


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded search of the user: its audit entry id and moment, and the record."""

    id: int
    at: str
    record: dict[str, Any]
    rerun_of: int | None

    def public(self) -> dict[str, Any]:
        r = self.record
        return {
            "id": self.id,
            "at": self.at,
            "q": r.get("q", ""),
            "mode": r.get("mode"),
            "mode_run": r.get("mode_run"),
            "group": r.get("group"),
            "filters": {k: v for k, v in (r.get("filters") or {}).items() if v not in (None, [], "", {})},
            "total": r.get("total"),
            "hits": r.get("hits"),
            "hits_sha256": r.get("hits_sha256"),
            "page": r.get("page"),
            "size": r.get("size"),
            "rerun_of": self.rerun_of,
            "record": r,
        }


def _entry(e: AuditEntry) -> HistoryEntry | None:
    try:
        details = json.loads(e.details)
    except ValueError:
        return None
    record = details.get("record") if isinstance(details, dict) else None
    if not isinstance(record, dict):
        return None
    rerun_of = details.get("rerun_of")
    return HistoryEntry(
        id=int(e.id),
        at=audit_timestamp(e.at),
        record=record,
        rerun_of=int(rerun_of) if isinstance(rerun_of, int) else None,
    )


def request_of(record: dict[str, Any], *, size: int | None = None) -> SearchRequest:
    """The search request a record describes (page 1 when it was a cursor page: a cursor is tied
    to the index it was made on)."""
    filters = record.get("filters") or {}
    kw: dict[str, Any] = {
        key: [str(v) for v in filters.get(name) or []] for name, key in FILTER_FIELDS.items()
    }
    for name in ("date_from", "date_to"):
        if filters.get(name):
            kw[name] = date.fromisoformat(str(filters[name]))
    mode = record.get("mode")
    group = record.get("group")
    page = record.get("page")
    return SearchRequest(
        q=str(record.get("q") or ""),
        mode=mode if mode in ("hybrid", "keyword", "semantic") else "hybrid",
        group=group if group in ("document", "passage") else "document",
        page=page if isinstance(page, int) and page >= 1 else 1,
        size=size or int(record.get("size") or 10),
        **kw,
    )


class SearchHistory:
    """The caller's recorded searches, and running one of them again."""

    def __init__(self, service: ArchiveService) -> None:
        self.service = service

    def list(self, principal: Principal, *, size: int = 20, before: int | None = None) -> list[HistoryEntry]:
        """The caller's searches, newest first, ``size`` at most, older than entry ``before``."""
        size = max(1, min(size, HISTORY_MAX))
        out: list[HistoryEntry] = []
        cursor = before
        with self.service.catalog.session() as s:
            while len(out) < size:
                stmt = select(AuditEntry).where(
                    AuditEntry.actor == principal.name, AuditEntry.action == "search"
                )
                if cursor is not None:
                    stmt = stmt.where(AuditEntry.id < cursor)
                rows = list(s.scalars(stmt.order_by(AuditEntry.id.desc()).limit(SCAN_CHUNK)))
                for e in rows:
                    h = _entry(e)
                    if h is not None:
                        out.append(h)
                        if len(out) == size:
                            break
                if len(rows) < SCAN_CHUNK:
                    break
                cursor = int(rows[-1].id)
        return out

    def get(self, principal: Principal, entry_id: int) -> HistoryEntry:
        """One of the caller's recorded searches (404 for anything else, another user's too)."""
        with self.service.catalog.session() as s:
            e = s.get(AuditEntry, entry_id)
            h = _entry(e) if e is not None and e.actor == principal.name and e.action == "search" else None
        if h is None:
            raise NotFoundError(f"search {entry_id} is not in your history")
        return h

    def rerun(self, principal: Principal, entry_id: int) -> dict[str, Any]:
        """Run a recorded search again as the caller now; the new run is recorded (``rerun_of``)
        and compared with the old one: totals, the hit list's hash, hits that are new or gone
        (of the recorded first hits), and whether access, index, analyser or embedder changed."""
        old = self.get(principal, entry_id)
        req = request_of(old.record)
        res: SearchResponse = self.service.search(req, principal)
        retrieval = self.service.retrieval
        record = retrieval.search_record(
            req, principal, mode=res.mode, total=res.total, hits=HitListHash(res.hits)
        )
        new_id = self.service.cases.audit.record(
            principal.name,
            "search",
            None,
            None,
            {**search_details(req, res.total), "record": record, "rerun_of": old.id},
        )
        return {
            "before": old.public(),
            "now": HistoryEntry(new_id, record["at"], record, old.id).public(),
            "changes": compare(old.record, record),
            "results": res,
        }


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two records of the same search."""
    old_ids = [str(i) for i in old.get("hit_ids") or []]
    new_ids = [str(i) for i in new.get("hit_ids") or []]
    # compare the hits both records list (an old record may list fewer: a smaller page)
    n = min(len(old_ids), len(new_ids)) if old_ids and new_ids else 0
    known = "hit_ids" in old
    old_set, new_set = set(old_ids), set(new_ids)
    added = [i for i in new_ids if i not in old_set] if known else []
    gone = [i for i in old_ids if i not in new_set] if known else []
    return {
        "total_before": old.get("total"),
        "total_now": new.get("total"),
        "same_hits": old.get("hits_sha256") == new.get("hits_sha256"),
        "hits_compared": known,
        "new_hits": added,
        "gone_hits": gone,
        "reordered": known and not added and not gone and old_ids[:n] != new_ids[:n],
        "access_changed": old.get("readable") != new.get("readable"),
        "index_changed": old.get("index") != new.get("index"),
        "embedder_changed": old.get("embedder") != new.get("embedder") and new.get("mode_run") != "keyword",
    }
