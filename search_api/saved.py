"""Saved searches: a query with filters kept by a user, and what is new since it was last viewed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from archive_search.catalog.models_search import SavedSearch
from archive_search.errors import InvalidRequestError, NotFoundError, QuerySyntaxError
from archive_search.types import Principal, SearchRequest, SearchResponse
from search_api.metadata import FIELD_NAME_PATTERN
from search_api.query import parse_query

if TYPE_CHECKING:
    from search_api.service import ArchiveService

PARAM_KEYS = (
    "mode", "lang", "collections", "types", "tags", "speakers", "persons", "places", "orgs", "meta",
    "date_from", "date_to",
)  # fmt: skip
"""What a saved search keeps besides its query: the ``SearchRequest`` fields of its filters (dates
as ISO strings)."""
DATE_KEYS = ("date_from", "date_to")


def _iso_date(name: str, value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise InvalidRequestError(f"{name}: {str(value)[:40]!r} is not a date (YYYY-MM-DD)") from exc


class SavedSearches:
    def __init__(self, service: ArchiveService) -> None:
        self.service = service

    def _owner(self, principal: Principal) -> int:
        if principal.user_id is None:
            raise InvalidRequestError("saved searches belong to a user account")
        return principal.user_id

    def _request(self, row: SavedSearch, **extra: Any) -> SearchRequest:
        params: dict[str, Any] = {k: v for k, v in row.params.items() if k in PARAM_KEYS}
        for k in DATE_KEYS:
            if isinstance(params.get(k), str):
                params[k] = date.fromisoformat(params[k])
        return SearchRequest(q=row.query, **params, **extra)

    def public(self, row: SavedSearch, principal: Principal) -> dict[str, Any]:
        new = self.service.search(self._request(row, added_after=row.last_viewed_at, size=1), principal).total
        return {
            "id": str(row.id),
            "name": row.name,
            "query": row.query,
            "params": row.params,
            "created_at": row.created_at.isoformat(),
            "last_viewed_at": row.last_viewed_at.isoformat(),
            "new_documents": new,
        }

    def create(self, principal: Principal, name: str, query: str, params: dict[str, Any]) -> dict[str, Any]:
        owner = self._owner(principal)
        parse_query(query)  # refuse a malformed query now, not when it is run
        clean = {k: v for k, v in params.items() if k in PARAM_KEYS and v not in (None, [], "")}
        for k in DATE_KEYS:
            if k in clean:
                clean[k] = _iso_date(k, clean[k])
        for spec in clean.get("meta", []):  # refuse a malformed metadata filter now, as the query
            field, sep, raw = str(spec).partition("=")
            if not sep or not raw.strip() or not re.fullmatch(FIELD_NAME_PATTERN, field.strip()):
                raise QuerySyntaxError(  # as the same filter in a search (search_api/metadata.py)
                    f"a meta filter is NAME=VALUE (or NAME=FROM..TO): {str(spec)[:80]!r}"
                )
        if not name.strip() or len(name) > 200:
            raise InvalidRequestError("a saved search needs a name of at most 200 characters")
        with self.service.catalog.session() as s:
            row = SavedSearch(owner_id=owner, name=name.strip(), query=query, params=clean)
            s.add(row)
            s.flush()
            s.refresh(row)
        return self.public(row, principal)

    def _get(self, principal: Principal, saved_id: int) -> SavedSearch:
        with self.service.catalog.session() as s:
            row = s.get(SavedSearch, saved_id)
        if row is None or row.owner_id != principal.user_id:
            raise NotFoundError(f"saved search {saved_id} not found")
        return row

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        owner = self._owner(principal)
        with self.service.catalog.session() as s:
            rows = list(
                s.scalars(select(SavedSearch).where(SavedSearch.owner_id == owner).order_by(SavedSearch.id))
            )
        return [self.public(r, principal) for r in rows]

    def delete(self, principal: Principal, saved_id: int) -> None:
        """Delete a saved search (audited)."""
        row = self._get(principal, saved_id)
        with self.service.catalog.session() as s:
            obj = s.get(SavedSearch, row.id)
            if obj is not None:
                s.delete(obj)
        self.service.accounts.audit.record(principal.name, "delete", "saved_search", saved_id, {})

    def run_new(
        self, principal: Principal, saved_id: int, *, page: int = 1, size: int = 10
    ) -> SearchResponse:
        """Documents ingested since the search was last viewed; viewing marks them seen (the read
        is audited)."""
        row = self._get(principal, saved_id)
        now = datetime.now(UTC)
        res = self.service.search(
            self._request(row, added_after=row.last_viewed_at, page=page, size=size), principal
        )
        with self.service.catalog.session() as s:
            obj = s.get(SavedSearch, row.id)
            if obj is not None:
                obj.last_viewed_at = now
        self._audit_read(principal, saved_id, {"new": True, "total": res.total})
        return res

    def run(self, principal: Principal, saved_id: int, *, page: int = 1, size: int = 10) -> SearchResponse:
        """Run a saved search (the read is audited)."""
        res = self.service.search(
            self._request(self._get(principal, saved_id), page=page, size=size), principal
        )
        self._audit_read(principal, saved_id, {"total": res.total})
        return res

    def _audit_read(self, principal: Principal, saved_id: int, details: dict[str, Any]) -> None:
        self.service.accounts.audit.record(principal.name, "search", "saved_search", saved_id, details)
