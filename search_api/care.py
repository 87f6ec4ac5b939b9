"""Duty of care: withdrawal of consent, purge, legal holds, document-level confidentiality and
retention review.

- **Withdraw** (manage right on the collection): the document (and the documents unpacked from it)
  is marked withdrawn in the catalog and deleted from the search backend at once, so no search,
  count, facet, suggestion, corroboration, batch search or export can reach it on either backend;
  reads by id answer ``not_found`` (``document_withdrawn`` to those who could read it); case files
  keep the item, marked withdrawn, without content; stored bundles that hold it are deleted. The
  indexer never writes a withdrawn document again (``index/indexer.py``). **Restore** undoes a
  withdrawal until the purge.
- **Purge** (administrators, once ``ARCHIVE_PURGE_HOLD_DAYS`` have passed since the withdrawal, and
  only without a legal hold on the document or its collection): the original bytes, pages,
  passages, vectors and index entries are deleted, the document row becomes a tombstone (no file
  name, title or date) and the audit log gets the tombstone entry (SHA-256, reason, who, when).
  The SQLite catalog is then vacuumed and its write-ahead log truncated, so that no freed page
  keeps the text; the backend rewrites what still holds it (``purge_documents``).
- **Restrict** (manage right): a document is readable only by named users and groups (besides
  administrators and the collection's managers). The principal carries the restricted documents
  it may not read (``Principal.hidden_documents``, computed with its grants), and every search
  excludes them inside the backend query (``Filters.hidden_document_ids``).
- **Restrict a passage** (manage right): one passage of a document is readable only by named users
  and groups (``Principal.hidden_passages``); every search leaves it out inside the backend query
  (``Filters.hidden_passage_ids``), and the viewer and bundles withhold it (``withheld.py``).
- **Retention**: a collection may have a review period; documents older than it are listed as due
  for review. Nothing is deleted without a person's action.

Why one module: one service for the duty-of-care actions, which share the resolution of a document
with its children, the deletion from the backend and the audit records.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from archive_search.catalog.models import (
    CaseItem,
    Collection,
    Document,
    DocumentAccess,
    DocumentFingerprint,
    DocumentTag,
    EmailHeader,
    Entity,
    EntityKey,
    EntityMention,
    FamilyLink,
    FamilyLsh,
    Group,
    IngestItem,
    Page,
    PageHash,
    Passage,
    PassageAccess,
    PassageRestriction,
    RedactionRegion,
    RedactionSpan,
    StoredFile,
    User,
)
from archive_search.catalog.models_metadata import DocumentMetadata
from archive_search.catalog.models_search import BatchJob
from archive_search.errors import (
    BackendError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from archive_search.types import Principal
from index import indexer
from search_api.access import managed_document, staff_document

if TYPE_CHECKING:
    from search_api.service import ArchiveService

log = logging.getLogger(__name__)
MAX_REASON = 2000
MAX_LISTED = 1000
"""Most users or groups on one document's access list, and most rows of one review listing."""


def _now() -> datetime:
    return datetime.now(UTC)


_Access = TypeVar("_Access", DocumentAccess, PassageAccess)


def _listed(s: Session, access: type[_Access], which: Any) -> dict[str, list[str]]:
    """The user and group names on an access list (``which`` picks its rows), sorted."""
    users = s.scalars(
        select(User.username).join(access, access.user_id == User.id).where(which).order_by(User.username)
    ).all()
    groups = s.scalars(
        select(Group.name).join(access, access.group_id == Group.id).where(which).order_by(Group.name)
    ).all()
    return {"users": list(users), "groups": list(groups)}


def _access_rows(
    access: type[_Access],
    key: dict[str, int],
    uids: Sequence[int],
    gids: Sequence[int],
    by: str,
    at: datetime,
) -> list[_Access]:
    """The rows of a new access list: one per user, one per group, each saying who added it when."""
    return [access(**key, user_id=u, added_by=by, added_at=at) for u in uids] + [
        access(**key, group_id=g, added_by=by, added_at=at) for g in gids
    ]


class CareService:
    """Withdrawal, purge, holds, restrictions and retention over one ``ArchiveService``."""

    def __init__(self, service: ArchiveService) -> None:
        self.service = service
        self.catalog = service.catalog
        self.audit = service.accounts.audit

    # -- look-ups ----------------------------------------------------------------------------

    def _document(self, s: Session, document_id: int, principal: Principal) -> tuple[Document, str]:
        return staff_document(s, document_id, principal)

    def _managed(self, s: Session, document_id: int, principal: Principal) -> tuple[Document, str]:
        return managed_document(s, document_id, principal, "changing")

    @staticmethod
    def _descendants(s: Session, document_ids: Sequence[int]) -> list[int]:
        """The documents and every document unpacked from them (archive members), in order."""
        out = list(dict.fromkeys(document_ids))
        frontier = list(out)
        while frontier:
            children = list(s.scalars(select(Document.id).where(Document.parent_id.in_(frontier))))
            frontier = [c for c in children if c not in out]
            out.extend(frontier)
        return out

    @staticmethod
    def _sha(s: Session, doc: Document) -> str:
        sha = s.scalar(select(StoredFile.sha256).where(StoredFile.id == doc.file_id))
        return str(sha)

    # -- withdraw and restore ----------------------------------------------------------------

    def withdraw(self, document_id: int, reason: str, principal: Principal) -> dict[str, Any]:
        """Withdraw a document (and its archive members): out of every search at once."""
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON:
            raise InvalidRequestError(f"a reason of 1-{MAX_REASON} characters is required")
        with self.catalog.session() as s:
            doc, col = self._managed(s, document_id, principal)
            if doc.purged_at is not None:
                raise ConflictError(f"document {document_id} was purged")
            targets = self._descendants(s, [doc.id])
            again = doc.withdrawn_at is not None
            if not again:
                now = _now()
                s.execute(
                    update(Document)
                    .where(Document.id.in_(targets), Document.withdrawn_at.is_(None))
                    .values(withdrawn_at=now, withdrawn_by=principal.name, withdrawn_reason=reason)
                )
                self.audit.record(
                    principal.name,
                    "document.withdraw",
                    "document",
                    doc.id,
                    {"reason": reason, "sha256": self._sha(s, doc), "documents": targets, "collection": col},
                    session=s,
                )
        # after the commit: from here on the indexer never writes these documents again
        try:
            self.service.backend.delete_documents(targets)
        except BackendError as exc:
            raise BackendError(
                f"the withdrawal of document {document_id} is recorded (reads and case files hide it) but "
                f"the search index could not be updated: {exc.message}; withdraw it again to finish",
                code="withdrawal_incomplete",
            ) from exc
        self.drop_exports(targets)
        return self.state(document_id, principal)

    def restore(self, document_id: int, principal: Principal) -> dict[str, Any]:
        """Undo a withdrawal (before the purge): the document is indexed again."""
        with self.catalog.session() as s:
            doc, _ = self._managed(s, document_id, principal)
            if doc.withdrawn_at is None:
                raise ConflictError(f"document {document_id} is not withdrawn")
            if doc.purged_at is not None:
                raise ConflictError(f"document {document_id} was purged; it cannot be restored")
            targets = self._descendants(s, [doc.id])
            s.execute(
                update(Document)
                .where(Document.id.in_(targets), Document.purged_at.is_(None))
                .values(withdrawn_at=None, withdrawn_by=None, withdrawn_reason=None)
            )
            s.execute(update(Passage).where(Passage.document_id.in_(targets)).values(indexed_at=None))
            self.audit.record(
                principal.name, "document.restore", "document", doc.id, {"documents": targets}, session=s
            )
        indexer.index_pending(self.catalog, self.service.backend)
        return self.state(document_id, principal)

    def state(self, document_id: int, principal: Principal) -> dict[str, Any]:
        """Withdrawal, purge, hold and restriction state of a document (managers of its
        collection: the reason of a withdrawal and the access list are not for every reader)."""
        with self.catalog.session() as s:
            doc, col = self._managed(s, document_id, principal)
            col_hold = bool(s.scalar(select(Collection.legal_hold).where(Collection.id == doc.collection_id)))
            access = self._access_list(s, doc.id)
            due = None
            if doc.withdrawn_at is not None and doc.purged_at is None:
                due = (doc.withdrawn_at + timedelta(days=self.service.settings.purge_hold_days)).isoformat()
            return {
                "document_id": str(doc.id),
                "collection": col,
                "withdrawn": doc.withdrawn_at is not None,
                "withdrawn_at": doc.withdrawn_at.isoformat() if doc.withdrawn_at else None,
                "withdrawn_by": doc.withdrawn_by,
                "reason": doc.withdrawn_reason,
                "purge_allowed_from": due,
                "purged": doc.purged_at is not None,
                "purged_at": doc.purged_at.isoformat() if doc.purged_at else None,
                "legal_hold": doc.legal_hold,
                "collection_legal_hold": col_hold,
                "restricted": doc.restricted,
                "access": access,
            }

    def withdrawn(self, principal: Principal) -> list[dict[str, Any]]:
        """Withdrawn documents of the collections the principal manages (all for administrators)."""
        with self.catalog.session() as s:
            q = (
                select(Document.id, Collection.name)
                .join(Collection, Collection.id == Document.collection_id)
                .where(Document.withdrawn_at.is_not(None))
                .order_by(Document.withdrawn_at, Document.id)
                .limit(MAX_LISTED)
            )
            if principal.manageable is not None:
                q = q.where(Collection.name.in_(sorted(principal.manageable)))
            ids = [i for i, _ in s.execute(q).all()]
        return [self.state(i, principal) for i in ids]

    # -- legal hold --------------------------------------------------------------------------

    def set_hold(
        self, principal: Principal, *, on: bool, document_id: int | None = None, collection: str | None = None
    ) -> dict[str, Any]:
        """Put (or lift) a legal hold on a document or a whole collection (administrators)."""
        if not principal.is_admin:
            raise ForbiddenError("legal holds are set by administrators")
        if (document_id is None) == (collection is None):
            raise InvalidRequestError("name either a document or a collection")
        with self.catalog.session() as s:
            if document_id is not None:
                doc, _ = self._document(s, document_id, principal)
                doc.legal_hold = on
                target: dict[str, Any] = {"document_id": str(doc.id)}
                obj_type, obj_id = "document", str(doc.id)
            else:
                col = s.scalar(select(Collection).where(Collection.name == collection))
                if col is None:
                    raise NotFoundError(f"collection {collection!r} not found")
                col.legal_hold = on
                target = {"collection": col.name}
                obj_type, obj_id = "collection", col.name
            self.audit.record(principal.name, "legal_hold", obj_type, obj_id, {"on": on}, session=s)
        return {**target, "legal_hold": on}

    # -- purge -------------------------------------------------------------------------------

    def purge(self, document_id: int, principal: Principal) -> dict[str, Any]:
        """Delete a withdrawn document's content for good; the tombstone stays in the audit log.

        Every document holding the same original (another collection's copy) and every member
        unpacked from it is purged with it, so all of them must be withdrawn; none may be under a
        legal hold (its own or its collection's), and the hold period must have passed for each."""
        if not principal.is_admin:
            raise ForbiddenError("purging needs the admin role")
        hold = timedelta(days=self.service.settings.purge_hold_days)
        now = _now()
        with self.catalog.session() as s:
            doc, _ = self._document(s, document_id, principal)
            again = doc.purged_at is not None  # finish the steps after the catalog once more
            targets = self._closure(s, doc.id)
            rows = s.execute(
                select(Document, Collection.name, Collection.legal_hold, StoredFile.sha256)
                .join(Collection, Collection.id == Document.collection_id)
                .join(StoredFile, StoredFile.id == Document.file_id)
                .where(Document.id.in_(targets))
                .order_by(Document.id)
            ).all()
            for d, col, col_hold, _ in rows:
                if again or d.purged_at is not None:
                    continue
                if d.withdrawn_at is None:
                    raise ConflictError(
                        f"document {d.id} ({col}) holds the same content and is not withdrawn; "
                        "withdraw it first (every copy is purged together)"
                    )
                if d.legal_hold or col_hold:
                    raise ConflictError(
                        f"document {d.id} is under a legal hold ({'document' if d.legal_hold else col}); "
                        "lift it before purging",
                        code="legal_hold",
                    )
                if d.withdrawn_at + hold > now:
                    raise ConflictError(
                        f"document {d.id} was withdrawn at {d.withdrawn_at.isoformat()}; it may be purged "
                        f"from {(d.withdrawn_at + hold).isoformat()} (ARCHIVE_PURGE_HOLD_DAYS)",
                        code="purge_hold",
                    )
            live = [d for d, *_ in rows if d.purged_at is None]
            ids = [d.id for d in live] or [d.id for d, *_ in rows]
            shas = sorted({sha for _, _, _, sha in rows})
            tombstone = {
                "documents": [
                    {
                        "document_id": d.id,
                        "collection": col,
                        "sha256": sha,
                        "reason": d.withdrawn_reason,
                        "withdrawn_by": d.withdrawn_by,
                        "withdrawn_at": d.withdrawn_at.isoformat() if d.withdrawn_at else None,
                    }
                    for d, col, _, sha in rows
                    if d.purged_at is None
                ],
                "purged_at": now.isoformat(),
            }
            if live:
                self._delete_content(s, [d.id for d in live], now)
                self.audit.record(principal.name, "document.purge", "document", doc.id, tombstone, session=s)
        # the content is gone from the catalog (committed); now its copies elsewhere
        started = _now()
        self.service.backend.purge_documents(ids, lambda: indexer.live_passages(self.catalog))
        # passages another process indexed while the backend rewrote its index: written again
        indexer.requeue_since(self.catalog, started)
        indexer.index_pending(self.catalog, self.service.backend)
        removed = self._delete_originals(shas)
        self.drop_exports(ids)
        self._compact_catalog()
        return {"document_id": str(document_id), "purged": ids, "originals_deleted": removed, **tombstone}

    def _closure(self, s: Session, document_id: int) -> list[int]:
        """The document, the documents with the same original, and their archive members."""
        out: list[int] = []
        frontier = [document_id]
        while frontier:
            out.extend(i for i in frontier if i not in out)
            files = select(Document.file_id).where(Document.id.in_(frontier))
            same = list(s.scalars(select(Document.id).where(Document.file_id.in_(files))))
            more = self._descendants(s, same)
            frontier = [i for i in more if i not in out]
        return sorted(out)

    @staticmethod
    def _delete_content(s: Session, ids: list[int], now: datetime) -> None:
        if not ids:
            return
        if s.get_bind().dialect.name == "sqlite":
            s.execute(text("PRAGMA secure_delete=ON"))  # freed space is zeroed (this connection)
        passages = select(Passage.id).where(Passage.document_id.in_(ids))
        # case items keep their place as items of the (withdrawn) document
        s.execute(update(CaseItem).where(CaseItem.passage_id.in_(passages)).values(passage_id=None))
        # what later features derived from the text: entity mentions (and entities left with none),
        # an e-mail's headers, the family fingerprints (text shingles' signatures, page hashes)
        touched = select(EntityMention.entity_id).where(EntityMention.document_id.in_(ids)).distinct()
        entity_ids = list(s.scalars(touched))
        s.execute(delete(EntityMention).where(EntityMention.document_id.in_(ids)))
        if entity_ids:
            still = select(EntityMention.entity_id).where(EntityMention.entity_id.in_(entity_ids))
            orphans = [e for e in entity_ids if e not in set(s.scalars(still))]
            s.execute(delete(EntityKey).where(EntityKey.entity_id.in_(orphans)))
            s.execute(delete(Entity).where(Entity.id.in_(orphans)))
        s.execute(delete(EmailHeader).where(EmailHeader.document_id.in_(ids)))
        s.execute(delete(DocumentMetadata).where(DocumentMetadata.document_id.in_(ids)))
        for table in (DocumentFingerprint, FamilyLsh, PageHash):
            s.execute(delete(table).where(table.document_id.in_(ids)))
        s.execute(delete(FamilyLink).where(or_(FamilyLink.doc_a.in_(ids), FamilyLink.doc_b.in_(ids))))
        restricted = select(PassageRestriction.passage_id).where(PassageRestriction.document_id.in_(ids))
        s.execute(delete(PassageAccess).where(PassageAccess.passage_id.in_(restricted)))
        s.execute(delete(PassageRestriction).where(PassageRestriction.document_id.in_(ids)))
        s.execute(delete(Passage).where(Passage.document_id.in_(ids)))
        s.execute(delete(Page).where(Page.document_id.in_(ids)))
        s.execute(delete(DocumentTag).where(DocumentTag.document_id.in_(ids)))
        s.execute(delete(DocumentAccess).where(DocumentAccess.document_id.in_(ids)))
        # what redactions masked (``redaction.py``) is kept beside the text: it goes with it
        s.execute(delete(RedactionSpan).where(RedactionSpan.document_id.in_(ids)))
        s.execute(delete(RedactionRegion).where(RedactionRegion.document_id.in_(ids)))
        s.execute(
            update(IngestItem).where(IngestItem.document_id.in_(ids)).values(path="(purged)", message=None)
        )
        for doc_id in ids:
            s.execute(
                update(Document)
                .where(Document.id == doc_id)
                .values(
                    filename=f"purged-{doc_id}",
                    title=None,
                    doc_date=None,
                    page_count=None,
                    purged_at=now,
                    restricted=False,
                )
            )
        # batch-search results computed before the withdrawal
        gone = {str(i) for i in ids}
        for job in s.scalars(select(BatchJob).where(BatchJob.results.is_not(None))):
            results = job.results
            if not isinstance(results, list):
                continue
            changed = False
            for entry in results:
                if not isinstance(entry, dict):
                    continue
                hits = entry.get("hits")
                if isinstance(hits, list):
                    kept = [h for h in hits if str(h.get("document_id")) not in gone]
                    if len(kept) != len(hits):
                        entry["hits"] = kept
                        changed = True
            if changed:
                job.results = json.loads(json.dumps(results))

    def _delete_originals(self, shas: list[str]) -> list[str]:
        """Delete stored originals no unpurged document uses any more."""
        removed = []
        with self.catalog.session() as s:
            for sha in shas:
                users = s.scalar(
                    select(func.count(Document.id))
                    .join(StoredFile, StoredFile.id == Document.file_id)
                    .where(StoredFile.sha256 == sha, Document.purged_at.is_(None))
                )
                if users:
                    continue
                path = self.service.store.path_for(sha)
                if path.exists():
                    path.unlink()
                removed.append(sha)
        return removed

    def drop_exports(self, document_ids: Sequence[int]) -> None:
        """Delete stored (not yet downloaded) bundles that hold any of these documents."""
        root: Path = self.service.settings.data_dir / "exports"
        if not root.is_dir():
            return
        wanted = {int(i) for i in document_ids}
        for z in root.glob("*.zip"):
            try:
                with zipfile.ZipFile(z) as zf:
                    manifest = json.loads(zf.read("manifest.json"))
                held = {int(d["document_id"]) for d in manifest.get("documents", [])}
            except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
                held = wanted  # unreadable: it cannot be shown to hold nothing of them
            if held & wanted:
                z.unlink(missing_ok=True)
                z.with_suffix(".json").unlink(missing_ok=True)

    def _compact_catalog(self) -> None:
        """SQLite: rebuild the file (VACUUM) and truncate the write-ahead log, so that no free
        page, free block or old log frame keeps deleted text. PostgreSQL: plain VACUUM of the
        tables that held the text (see docs/security.md for what it does not guarantee)."""
        engine = self.catalog.engine
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
                conn.exec_driver_sql("VACUUM")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            elif engine.dialect.name == "postgresql":
                for table in (
                    "passages",
                    "pages",
                    "documents",
                    "ingest_items",
                    "batch_jobs",
                    "redaction_spans",
                ):
                    conn.exec_driver_sql(f"VACUUM {table}")

    # -- restrictions ------------------------------------------------------------------------

    def visible_results(self, results: list[Any], principal: Principal) -> list[Any]:
        """Stored batch-search results without hits of documents withdrawn or restricted away
        since they were computed."""
        ids = {
            int(h["document_id"])
            for e in results
            if isinstance(e, dict)
            for h in e.get("hits", [])
            if isinstance(h, dict) and str(h.get("document_id", "")).isdigit()
        }
        if not ids:
            return results
        with self.catalog.session() as s:
            withdrawn = set(
                s.scalars(
                    select(Document.id).where(
                        Document.id.in_(sorted(ids)), Document.withdrawn_at.is_not(None)
                    )
                )
            )
        gone = {str(i) for i in withdrawn | (ids & principal.hidden_documents)}
        if not gone:
            return results
        out = []
        for e in results:
            if isinstance(e, dict) and isinstance(e.get("hits"), list):
                kept = [h for h in e["hits"] if str(h.get("document_id")) not in gone]
                e = {**e, "hits": kept}
            out.append(e)
        return out

    @staticmethod
    def _access_list(s: Session, document_id: int) -> dict[str, list[str]]:
        return _listed(s, DocumentAccess, DocumentAccess.document_id == document_id)

    def restrict(
        self, document_id: int, principal: Principal, *, users: Sequence[str] = (), groups: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Make a document readable only by these users and groups (who also need read on the
        collection), administrators and the collection's managers; replaces the access list."""
        if len(users) + len(groups) > MAX_LISTED:
            raise InvalidRequestError(f"at most {MAX_LISTED} users and groups")
        with self.catalog.session() as s:
            doc, col = self._managed(s, document_id, principal)
            if doc.withdrawn_at is not None:
                raise ConflictError(f"document {document_id} was withdrawn")
            uids, gids = self._grantees(s, users, groups)
            s.execute(delete(DocumentAccess).where(DocumentAccess.document_id == doc.id))
            for row in _access_rows(
                DocumentAccess, {"document_id": doc.id}, uids, gids, principal.name, _now()
            ):
                s.add(row)
            doc.restricted = True
            s.flush()
            self.audit.record(
                principal.name,
                "document.restrict",
                "document",
                doc.id,
                {"collection": col, "users": sorted(set(users)), "groups": sorted(set(groups))},
                session=s,
            )
        return self.state(document_id, principal)

    def unrestrict(self, document_id: int, principal: Principal) -> dict[str, Any]:
        """Lift a document's restriction: every reader of its collection reads it again."""
        with self.catalog.session() as s:
            doc, col = self._managed(s, document_id, principal)
            s.execute(delete(DocumentAccess).where(DocumentAccess.document_id == doc.id))
            doc.restricted = False
            self.audit.record(
                principal.name, "document.unrestrict", "document", doc.id, {"collection": col}, session=s
            )
        return self.state(document_id, principal)

    # -- passage-level restriction -----------------------------------------------------------

    def _managed_passage(self, s: Session, passage_id: int, principal: Principal) -> tuple[Passage, str]:
        """The passage and its collection; the manage right on it is needed (404 for a passage
        the caller may not read, 403 for one it reads but may not change)."""
        row = s.execute(
            select(Passage, Collection.name, Document.withdrawn_at)
            .join(Document, Document.id == Passage.document_id)
            .join(Collection, Collection.id == Document.collection_id)
            .where(Passage.id == passage_id)
        ).first()
        if (
            row is None
            or row[2] is not None
            or not (
                principal.can_read_passage(row[1], row[0].document_id, row[0].id)
                or principal.can_manage(row[1])
            )
        ):
            raise NotFoundError(f"passage {passage_id} not found")
        if not principal.can_manage(row[1]):
            raise ForbiddenError(f"changing passage {passage_id} needs the manage right on {row[1]!r}")
        return row[0], row[1]

    @staticmethod
    def _passage_access_list(s: Session, passage_id: int) -> dict[str, list[str]]:
        return _listed(s, PassageAccess, PassageAccess.passage_id == passage_id)

    def passage_state(self, passage_id: int, principal: Principal) -> dict[str, Any]:
        """Whether a passage is restricted, and to whom (managers of its collection)."""
        with self.catalog.session() as s:
            p, col = self._managed_passage(s, passage_id, principal)
            restricted = s.get(PassageRestriction, p.id) is not None
            return {
                "passage_id": str(p.id),
                "document_id": str(p.document_id),
                "collection": col,
                "restricted": restricted,
                "access": self._passage_access_list(s, p.id),
            }

    def restricted_passages(self, document_id: int, principal: Principal) -> list[dict[str, Any]]:
        """The restricted passages of a document, with their access lists (its managers)."""
        with self.catalog.session() as s:
            self._managed(s, document_id, principal)
            ids = list(
                s.scalars(
                    select(PassageRestriction.passage_id)
                    .where(PassageRestriction.document_id == document_id)
                    .order_by(PassageRestriction.passage_id)
                )
            )
        return [self.passage_state(i, principal) for i in ids]

    def restrict_passage(
        self, passage_id: int, principal: Principal, *, users: Sequence[str] = (), groups: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Make one passage readable only by these users and groups (who also need to read its
        document), administrators and the collection's managers; replaces the access list. From
        then on the passage is out of every search of everyone else, inside the backend query."""
        if len(users) + len(groups) > MAX_LISTED:
            raise InvalidRequestError(f"at most {MAX_LISTED} users and groups")
        with self.catalog.session() as s:
            p, col = self._managed_passage(s, passage_id, principal)
            uids, gids = self._grantees(s, users, groups)
            s.execute(delete(PassageAccess).where(PassageAccess.passage_id == p.id))
            now = _now()
            if s.get(PassageRestriction, p.id) is None:
                s.add(
                    PassageRestriction(
                        passage_id=p.id, document_id=p.document_id, added_by=principal.name, added_at=now
                    )
                )
                s.flush()
            for row in _access_rows(PassageAccess, {"passage_id": p.id}, uids, gids, principal.name, now):
                s.add(row)
            s.flush()
            self.audit.record(
                principal.name,
                "passage.restrict",
                "passage",
                p.id,
                {
                    "document_id": p.document_id,
                    "collection": col,
                    "users": sorted(set(users)),
                    "groups": sorted(set(groups)),
                },
                session=s,
            )
        return self.passage_state(passage_id, principal)

    def unrestrict_passage(self, passage_id: int, principal: Principal) -> dict[str, Any]:
        """Lift a passage's restriction: every reader of its document reads it again."""
        with self.catalog.session() as s:
            p, col = self._managed_passage(s, passage_id, principal)
            s.execute(delete(PassageAccess).where(PassageAccess.passage_id == p.id))
            s.execute(delete(PassageRestriction).where(PassageRestriction.passage_id == p.id))
            self.audit.record(
                principal.name,
                "passage.unrestrict",
                "passage",
                p.id,
                {"document_id": p.document_id, "collection": col},
                session=s,
            )
        return self.passage_state(passage_id, principal)

    @staticmethod
    def _grantees(s: Session, users: Sequence[str], groups: Sequence[str]) -> tuple[list[int], list[int]]:
        """The ids of named users and groups; 404 on the first unknown name."""
        uids = []
        for name in dict.fromkeys(users):
            uid = s.scalar(select(User.id).where(User.username == name))
            if uid is None:
                raise NotFoundError(f"user {name!r} not found")
            uids.append(uid)
        gids = []
        for name in dict.fromkeys(groups):
            gid = s.scalar(select(Group.id).where(Group.name == name))
            if gid is None:
                raise NotFoundError(f"group {name!r} not found")
            gids.append(gid)
        return uids, gids

    # -- retention ---------------------------------------------------------------------------

    def set_retention(self, collection: str, days: int | None, principal: Principal) -> dict[str, Any]:
        """Set (or clear, with ``None``) the review period of a collection (administrators)."""
        if not principal.is_admin:
            raise ForbiddenError("retention rules are set by administrators")
        if days is not None and not 1 <= days <= 365_000:
            raise InvalidRequestError("days must be between 1 and 365000")
        with self.catalog.session() as s:
            col = s.scalar(select(Collection).where(Collection.name == collection))
            if col is None:
                raise NotFoundError(f"collection {collection!r} not found")
            col.retention_days = days
            self.audit.record(principal.name, "retention", "collection", col.name, {"days": days}, session=s)
        return {"collection": collection, "retention_days": days}

    def due_for_review(self, principal: Principal, *, collection: str | None = None) -> list[dict[str, Any]]:
        """Documents older than their collection's review period (collections the principal
        manages; all for administrators), oldest first; nothing is changed."""
        now = _now()
        with self.catalog.session() as s:
            q = (
                select(Document, Collection.name, Collection.retention_days, Collection.legal_hold)
                .join(Collection, Collection.id == Document.collection_id)
                .where(Collection.retention_days.is_not(None), Document.purged_at.is_(None))
                .order_by(Document.created_at, Document.id)
            )
            if principal.manageable is not None:
                q = q.where(Collection.name.in_(sorted(principal.manageable)))
            if collection is not None:
                q = q.where(Collection.name == collection)
            out = []
            for d, col, days, col_hold in s.execute(q).yield_per(500):
                due = d.created_at + timedelta(days=int(days or 0))
                if due > now:
                    continue
                out.append(
                    {
                        "document_id": str(d.id),
                        "collection": col,
                        "filename": d.filename,
                        "created_at": d.created_at.isoformat(),
                        "review_due_at": due.isoformat(),
                        "withdrawn": d.withdrawn_at is not None,
                        "legal_hold": d.legal_hold or bool(col_hold),
                    }
                )
                if len(out) >= MAX_LISTED:
                    break
        return out
