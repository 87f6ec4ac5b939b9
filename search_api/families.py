"""Document families for readers: corroboration by source, collapsing, provenance, decisions.

The links are built by ``ingest/families.py``. Here a *family* is a connected component of the
links that are not ``broken``, **over the documents the caller may read only**: a document in a
collection the caller cannot read is never a member, never counted, never named, and never joins
two readable documents (a path through it does not count). So a family's id (its smallest
readable document id), its size and its labels depend on the caller, and nothing in them tells of
a document the caller may not see. The search backends are not involved: the similar-passage and
search hits this module groups were already filtered inside retrieval, on either backend, and the
family look-up reads the catalog under the same rule.

- :meth:`FamilyService.group_similar` turns the output of ``Retrieval.similar_passages`` (one hit
  per document) into one entry per family, labelled ``same source`` (a copy, re-scan, edited copy
  or translation of the query's document) or ``independent``, with the other documents of the
  family that were also hit folded into the entry (``collapsed``).
- :meth:`FamilyService.collapse_search` does the same to a page of search hits ("1 of 4 copies").
- :meth:`FamilyService.family` lists a document's family: members, links and the provenance chain
  (first by date, then by ingestion time; collection; who added it).
- :meth:`FamilyService.decide` confirms or breaks a link (editor or admin, both documents
  readable; audited).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import and_, or_, select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import (
    AuditEntry,
    Collection,
    Document,
    DocumentFingerprint,
    FamilyLink,
    IngestItem,
)
from archive_search.errors import InvalidRequestError, NotFoundError
from archive_search.types import CollapsedMember, Hit, Principal, SearchResponse, SourceInfo
from search_api.access import require_editor
from search_api.audit import AuditLog

MAX_FAMILY = 500
"""Most documents followed in one family (a bound on the work of one look-up)."""
KIND_LABEL = {"copy": "copy", "edited_copy": "edited copy", "rescan": "re-scan", "translation": "translation"}
KIND_ORDER = {"copy": 0, "rescan": 1, "edited_copy": 2, "translation": 3}


@dataclass
class _Doc:
    id: int
    filename: str
    collection: str
    lang: str
    doc_date: date | None
    created_at: datetime


@dataclass
class _Component:
    root: int
    members: dict[int, _Doc]
    via: dict[int, tuple[int, str]]
    """How each member was reached from the root: (parent, kind)."""


class FamilyService:
    """Families as the caller may see them; thread-safe (no state but the catalog)."""

    def __init__(self, catalog: Catalog, audit: AuditLog) -> None:
        self.catalog = catalog
        self.audit = audit

    # -- components -------------------------------------------------------------------------------

    def _docs(self, ids: Iterable[int], principal: Principal) -> dict[int, _Doc]:
        """The readable documents among ``ids``."""
        uniq = sorted(set(ids))
        out: dict[int, _Doc] = {}
        with self.catalog.session() as s:
            for i in range(0, len(uniq), 900):
                for d, col in s.execute(
                    select(Document, Collection.name)
                    .join(Collection, Collection.id == Document.collection_id)
                    .where(Document.id.in_(uniq[i : i + 900]))
                ).all():
                    if principal.can_read_document(col, d.id) and d.withdrawn_at is None:
                        out[d.id] = _Doc(d.id, d.filename, col, d.lang, d.doc_date, d.created_at)
        return out

    def _component(self, start: int, principal: Principal, known: dict[int, _Doc]) -> _Component:
        """Breadth-first over unbroken links, stepping on readable documents only."""
        members = {start: known[start]}
        via: dict[int, tuple[int, str]] = {}
        frontier = [start]
        while frontier and len(members) < MAX_FAMILY:
            with self.catalog.session() as s:
                rows = s.execute(
                    select(FamilyLink.doc_a, FamilyLink.doc_b, FamilyLink.kind).where(
                        FamilyLink.status != "broken",
                        or_(FamilyLink.doc_a.in_(frontier), FamilyLink.doc_b.in_(frontier)),
                    )
                ).all()
            edges: dict[int, tuple[int, str]] = {}
            front = set(frontier)
            for a, b, kind in sorted(rows, key=lambda r: KIND_ORDER.get(r[2], 9)):
                for here, there in ((a, b), (b, a)):
                    if here in front and there not in members and there not in edges:
                        edges[there] = (here, kind)
            readable = self._docs([d for d in edges if d not in known], principal)
            known.update(readable)
            frontier = []
            for d, (parent, kind) in edges.items():
                if d in known and len(members) < MAX_FAMILY:
                    members[d] = known[d]
                    via[d] = (parent, kind)
                    frontier.append(d)
        return _Component(start, members, via)

    def _components(self, ids: Iterable[int], principal: Principal) -> dict[int, _Component]:
        """The component of each readable document among ``ids`` (shared between members)."""
        known = self._docs(ids, principal)
        out: dict[int, _Component] = {}
        for d in dict.fromkeys(ids):
            if d in out or d not in known:
                continue
            comp = self._component(d, principal, known)
            for m in comp.members:
                out.setdefault(m, comp)
        return out

    @staticmethod
    def _relation(comp: _Component, a: int, b: int) -> tuple[str | None, int | None]:
        """(kind, other end) of the link by which ``b`` hangs on the path from ``a``: the direct
        link if there is one, else the edge that reached ``b`` in a walk from ``a``."""
        if comp.root == a and b in comp.via:
            parent, kind = comp.via[b]
            return kind, parent
        if comp.root == b and a in comp.via:
            parent, kind = comp.via[a]
            return kind, b if parent == b else parent
        if b in comp.via:
            parent, kind = comp.via[b]
            return kind, parent
        if a in comp.via:
            return comp.via[a][1], a
        return None, None

    def _direct_kinds(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
        keys = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
        if not keys:
            return {}
        out: dict[tuple[int, int], str] = {}
        with self.catalog.session() as s:
            for a, b, kind in s.execute(
                select(FamilyLink.doc_a, FamilyLink.doc_b, FamilyLink.kind).where(
                    FamilyLink.status != "broken",
                    or_(*(and_(FamilyLink.doc_a == a, FamilyLink.doc_b == b) for a, b in keys)),
                )
            ).all():
                k = (int(a), int(b))
                if k not in out or KIND_ORDER[kind] < KIND_ORDER[out[k]]:
                    out[k] = kind
        return out

    def _fold(self, head: Hit, h: Hit, comp: _Component | None, d: int) -> None:
        """Fold hit ``h`` (of document ``d``) into its family's first hit ``head``."""
        assert head.source is not None
        kind, _ = self._relation(comp, int(head.document_id), d) if comp else (None, None)
        head.source.collapsed.append(
            CollapsedMember(
                document_id=h.document_id,
                passage_id=h.passage_id,
                filename=h.filename,
                collection=h.collection,
                lang=h.lang,
                kind=kind,
            )
        )

    # -- similar passages -------------------------------------------------------------------------

    def group_similar(
        self, out: dict[str, Any], query_document_id: int, principal: Principal, *, size: int
    ) -> dict[str, Any]:
        """One entry per family in ``out["hits"]`` (a ``similar_passages``/``similar_documents``
        answer, best first), labelled relative to ``query_document_id``; at most ``size`` entries.
        Adds ``independent_sources`` and ``same_source`` counts."""
        hits: list[Hit] = list(out["hits"])
        doc_ids = [int(h.document_id) for h in hits]
        comps = self._components([query_document_id, *doc_ids], principal)
        qcomp = comps.get(query_document_id)
        direct = self._direct_kinds((query_document_id, d) for d in doc_ids)
        entries: dict[int, Hit] = {}
        order: list[int] = []
        for h, d in zip(hits, doc_ids, strict=True):
            comp = comps.get(d)
            fid = min(comp.members) if comp is not None else d
            if fid in entries:
                self._fold(entries[fid], h, comp, d)
                continue
            size_f = len(comp.members) if comp is not None else 1
            if qcomp is not None and d in qcomp.members:
                kind = direct.get((min(d, query_document_id), max(d, query_document_id)))
                of: int | None = query_document_id
                if kind is None:
                    kind, of = self._relation(qcomp, query_document_id, d)
                of_doc = qcomp.members.get(of) if of is not None else None
                what = KIND_LABEL.get(kind or "", "copy")
                label = f"same source ({what} of {of_doc.filename if of_doc else '…'})"
                h.source = SourceInfo(
                    family_id=str(fid),
                    family_size=size_f,
                    relation="same_source",
                    kind=kind,
                    of_document_id=str(of) if of is not None else None,
                    of_filename=of_doc.filename if of_doc else None,
                    label=label,
                )
            else:
                h.source = SourceInfo(
                    family_id=str(fid), family_size=size_f, relation="independent", label="independent"
                )
            entries[fid] = h
            order.append(fid)
        grouped = [entries[f] for f in order][:size]
        for h in grouped:
            assert h.source is not None
            if h.source.relation == "independent" and h.source.family_size > 1:
                h.source.label = f"independent (1 of {h.source.family_size} in its family)"
        return {
            **out,
            "hits": grouped,
            "independent_sources": sum(
                1 for h in grouped if h.source is not None and h.source.relation == "independent"
            ),
            "same_source": sum(
                1 for h in grouped if h.source is not None and h.source.relation == "same_source"
            ),
        }

    # -- search -----------------------------------------------------------------------------------

    def collapse_search(self, res: SearchResponse, principal: Principal) -> SearchResponse:
        """The page's hits with every further hit of a family folded into the family's first hit
        ("1 of 4 copies"); ``total`` is unchanged (it counts documents)."""
        doc_ids = [int(h.document_id) for h in res.hits]
        comps = self._components(doc_ids, principal)
        kept: dict[int, Hit] = {}
        out: list[Hit] = []
        for h, d in zip(res.hits, doc_ids, strict=True):
            comp = comps.get(d)
            if comp is None or len(comp.members) == 1:
                out.append(h)
                continue
            fid = min(comp.members)
            if fid in kept:
                self._fold(kept[fid], h, comp, d)
                continue
            n = len(comp.members)
            h.source = SourceInfo(family_id=str(fid), family_size=n, label=f"1 of {n} in this family")
            kept[fid] = h
            out.append(h)
        res.hits = out
        return res

    # -- a family, its provenance -----------------------------------------------------------------

    def family(self, document_id: int, principal: Principal) -> dict[str, Any]:
        """The family of a document the caller may read: members, links among them, and the
        provenance chain (oldest first)."""
        known = self._docs([document_id], principal)
        if document_id not in known:
            raise NotFoundError(f"document {document_id} not found")
        comp = self._component(document_id, principal, known)
        ids = sorted(comp.members)
        with self.catalog.session() as s:
            links = s.execute(
                select(FamilyLink).where(FamilyLink.doc_a.in_(ids), FamilyLink.doc_b.in_(ids))
            ).scalars()
            link_list = [_link_public(link) for link in links]
            text_dates = dict(
                s.execute(
                    select(DocumentFingerprint.document_id, DocumentFingerprint.first_date).where(
                        DocumentFingerprint.document_id.in_(ids)
                    )
                ).all()
            )
        added_by = self._added_by(ids)
        chain: list[dict[str, Any]] = []
        for d in ids:
            m = comp.members[d]
            when, source = (m.doc_date, "metadata") if m.doc_date else (text_dates.get(d), "text")
            chain.append(
                {
                    "document_id": str(d),
                    "filename": m.filename,
                    "collection": m.collection,
                    "lang": m.lang,
                    "date": when.isoformat() if when else None,
                    "date_source": source if when else None,
                    "ingested_at": m.created_at.isoformat(),
                    "added_by": added_by.get(d),
                    "relation": (
                        None
                        if d == document_id
                        else {"kind": comp.via[d][1], "to_document_id": str(comp.via[d][0])}
                        if d in comp.via
                        else None
                    ),
                }
            )
        far = date.max

        def key(e: dict[str, Any]) -> tuple[date, str, int]:
            d = date.fromisoformat(e["date"]) if e["date"] else far
            return (d, e["ingested_at"], int(e["document_id"]))

        chain.sort(key=key)
        for i, e in enumerate(chain):
            e["position"] = i + 1
        return {
            "document_id": str(document_id),
            "family_id": str(min(ids)),
            "size": len(ids),
            "first": chain[0]["document_id"],
            "provenance": chain,
            "links": link_list,
        }

    def _added_by(self, ids: list[int]) -> dict[int, str]:
        """Who added each document: the actor of the audited upload or ingestion job."""
        out: dict[int, str] = {}
        with self.catalog.session() as s:
            jobs = dict(
                s.execute(
                    select(IngestItem.document_id, IngestItem.job_id)
                    .where(IngestItem.document_id.in_(ids))
                    .order_by(IngestItem.id.desc())
                ).all()
            )
            rows = s.execute(
                select(AuditEntry.object_type, AuditEntry.object_id, AuditEntry.actor)
                .where(
                    AuditEntry.action == "ingest",
                    or_(
                        and_(
                            AuditEntry.object_type == "document",
                            AuditEntry.object_id.in_([str(i) for i in ids]),
                        ),
                        and_(
                            AuditEntry.object_type == "job",
                            AuditEntry.object_id.in_([str(j) for j in set(jobs.values())]),
                        ),
                    ),
                )
                .order_by(AuditEntry.id)
            ).all()
        by_job = {oid: actor for typ, oid, actor in rows if typ == "job"}
        by_doc = {oid: actor for typ, oid, actor in rows if typ == "document"}
        for d in ids:
            actor = by_doc.get(str(d)) or by_job.get(str(jobs.get(d)))
            if actor:
                out[d] = actor
        return out

    # -- decisions --------------------------------------------------------------------------------

    def decide(
        self,
        link_id: int,
        status: Literal["confirmed", "broken"],
        principal: Principal,
        *,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Confirm or break a link (editor or admin, both its documents readable). Breaking a link
        breaks every link between the two documents (they are not the same source, whatever the
        kind); the builder never links a broken pair again. Audited in the same transaction."""
        require_editor(principal, "deciding family links")
        if status not in ("confirmed", "broken"):
            raise InvalidRequestError("status must be confirmed or broken")
        with self.catalog.session() as s:
            link = s.get(FamilyLink, link_id)
            if link is None:
                raise NotFoundError(f"family link {link_id} not found")
            readable = self._docs([link.doc_a, link.doc_b], principal)
            if link.doc_a not in readable or link.doc_b not in readable:
                raise NotFoundError(f"family link {link_id} not found")
            now = datetime.now(UTC)
            targets = (
                list(
                    s.scalars(
                        select(FamilyLink).where(
                            FamilyLink.doc_a == link.doc_a, FamilyLink.doc_b == link.doc_b
                        )
                    )
                )
                if status == "broken"
                else [link]
            )
            before = link.status
            for t in targets:
                t.status = status
                t.decided_by = principal.name
                t.decided_at = now
            self.audit.record(
                principal.name,
                "family_link",
                "family_link",
                link_id,
                {
                    "status": status,
                    "before": before,
                    "document_a": link.doc_a,
                    "document_b": link.doc_b,
                    "kind": link.kind,
                    "links": [t.id for t in targets],
                    "note": (note or "")[:2000],
                },
                session=s,
            )
            return _link_public(link)

    # -- case-file bundles ------------------------------------------------------------------------

    def sources_of(self, doc_ids: list[int], principal: Principal) -> list[dict[str, Any]]:
        """The documents of a case grouped by source: one entry per family, the family's other
        cited documents labelled by how they are the same source."""
        comps = self._components(doc_ids, principal)
        seen: dict[int, dict[str, Any]] = {}
        out: list[dict[str, Any]] = []
        for d in dict.fromkeys(doc_ids):
            comp = comps.get(d)
            if comp is None:
                continue
            fid = min(comp.members)
            if fid in seen:
                kind, of = self._relation(comp, int(seen[fid]["document_id"]), d)
                seen[fid]["same_source"].append(
                    {
                        "document_id": d,
                        "kind": kind,
                        "of_document_id": of,
                        "label": KIND_LABEL.get(kind or "", "copy"),
                    }
                )
                continue
            entry: dict[str, Any] = {
                "family_id": fid,
                "document_id": d,
                "family_size": len(comp.members),
                "same_source": [],
            }
            seen[fid] = entry
            out.append(entry)
        for e in out:
            e["label"] = (
                "independent"
                if not e["same_source"]
                else f"one source, {1 + len(e['same_source'])} documents"
            )
        return out


def _link_public(link: FamilyLink) -> dict[str, Any]:
    """A family link as the API answers it (a family's links, a decision)."""
    return {
        "id": str(link.id),
        "document_a": str(link.doc_a),
        "document_b": str(link.doc_b),
        "kind": link.kind,
        "score": link.score,
        "status": link.status,
        "details": json.loads(link.details or "{}"),
        "decided_by": link.decided_by,
        "decided_at": link.decided_at.isoformat() if link.decided_at else None,
    }
