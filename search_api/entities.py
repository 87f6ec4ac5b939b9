"""Entities for search and for people: the ``person:``/``place:``/``org:`` filters resolved to
entity ids, entity facets named, the entity list and page (spellings, documents and passages,
co-occurring entities, timeline), and the staff operations (rename, merge, split: admin only,
since they change documents the caller may not see; audited; the index follows at once).

Everything a caller sees is counted over the documents they may read: an entity is only listed or
shown when it has a mention in a readable collection, and its spellings, documents, passages,
co-occurrences and timeline are those of readable documents only.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from archive_search.catalog import entities as store
from archive_search.catalog.db import Catalog
from archive_search.catalog.metadata import remap_entity_values
from archive_search.catalog.models import Collection, Document, Entity, EntityKey, EntityMention, Passage
from archive_search.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError
from archive_search.types import Extraction, Principal, TextBlock
from index import indexer
from index.backend import SearchBackend
from ingest.entities import ENTITY_TYPES, query_key
from ingest.passages import passage_mentions
from search_api.access import passage_clause, passage_id_clause, readable_clause
from search_api.audit import AuditLog

FILTER_TYPES: dict[str, str] = {"person": "person", "place": "place", "org": "org", "organisation": "org"}
"""Query-language filter name → entity type."""
FACET_TYPES: dict[str, str] = {"person": "person", "place": "place", "organisation": "org"}
MAX_MATCHES = 200
"""Entities one filter name may stand for (an ambiguous surname: all its bearers)."""


class EntityPublic(BaseModel):
    id: int
    type: str
    name: str
    mentions: int = Field(description="Mentions in documents you may read")
    documents: int = Field(description="Documents you may read that mention it")


class EntityRef(BaseModel):
    id: int
    type: str
    name: str
    count: int


class EntityPassage(BaseModel):
    passage_id: str
    document_id: str
    filename: str
    collection: str
    page: int | None
    start: int
    end: int
    surface: str
    snippet: str = Field(description="The passage text around the mention")
    before: str = Field(description="The snippet's text before the mention")
    after: str = Field(description="The snippet's text after the mention")


class EntityDocument(BaseModel):
    document_id: str
    filename: str
    title: str | None
    collection: str
    date: str | None
    mentions: int


class EntityDetail(EntityPublic):
    spellings: dict[str, int] = Field(description="Spellings as found (display forms) and their counts")
    aliases: list[str] = Field(description="Display forms of the spellings")
    documents_list: list[EntityDocument]
    passages: list[EntityPassage]
    cooccurring: list[EntityRef]
    timeline: dict[str, int] = Field(description="Mentions per year of the document's date ('undated')")


@dataclass(frozen=True)
class DocumentMention:
    """One entity mention in a document: its character span inside its passage's text."""

    entity_id: int
    type: str
    name: str
    passage_id: int
    start: int
    end: int


class EntityRename(BaseModel):
    name: str = Field(min_length=1, max_length=300, pattern=r"\S")  # a visible character


class EntityMerge(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=1000, description="Entities merged into this one")


class EntitySplit(BaseModel):
    aliases: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        min_length=1, max_length=1000, description="Spellings moved to a new entity"
    )


def _readable(q: Select[Any], principal: Principal) -> Select[Any]:
    """Restrict a query joined to ``Document`` to what the principal may read: its collections,
    without the restricted documents hidden from it, and never a withdrawn document (issue 20)."""
    q = q.where(Document.withdrawn_at.is_(None), passage_id_clause(principal, EntityMention.passage_id))
    if principal.readable is None:
        return q
    return q.join(Collection, Collection.id == Document.collection_id).where(readable_clause(principal))


def resolve(s: Session, etype: str, name: str) -> tuple[str, ...]:
    """The ``type:ID`` values a filter name stands for: entities of ``etype`` one of whose match
    keys holds every word key of ``name`` (so ``Кадыров`` finds Рамзан Кадыров and Kadyrov, and
    ``Рамзан Кадыров`` only him), or whose name is ``name`` (case-insensitive). An unknown name
    gives a value that matches nothing."""
    exact = re.fullmatch(r"(.*\S) #(\d{1,10})", name.strip())
    if exact:  # a facet value of two entities with one name: "Иван Петров #12" is entity 12
        eid = int(exact.group(2))
        found = s.scalar(select(Entity.id).where(Entity.id == eid, Entity.type == etype))
        return (f"{etype}:{found or 0}",)
    key = query_key(etype, name)
    words = key.partition(":")[2].split()
    if not words:
        return (f"{etype}:0",)
    q = select(EntityKey.key, EntityKey.entity_id).where(EntityKey.key.like(f"{etype}:%"))
    for w in words:
        q = q.where(EntityKey.key.like(f"%{_like_escape(w)}%", escape="\\"))
    ids: set[int] = set()
    for k, eid in s.execute(q.limit(MAX_MATCHES * 5)):
        if set(words) <= set(k.partition(":")[2].split()):
            ids.add(eid)
    for eid in s.scalars(
        select(Entity.id).where(Entity.type == etype, func.lower(Entity.name) == name.strip().lower())
    ):
        ids.add(eid)
    if not ids:
        return (f"{etype}:0",)
    return tuple(f"{etype}:{i}" for i in sorted(ids)[:MAX_MATCHES])


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class EntityService:
    """Entity reads (any signed-in user, over what they may read) and staff changes (admin)."""

    def __init__(self, catalog: Catalog, backend: SearchBackend, audit: AuditLog) -> None:
        self.catalog = catalog
        self.backend = backend
        self.audit = audit

    # -- search support -----------------------------------------------------------------------

    def filter_groups(self, filters: dict[str, list[str]]) -> tuple[tuple[str, ...], ...]:
        """``{"person": ["Кадыров"], "org": [...]}`` → one group of ``type:ID`` values per name."""
        groups: list[tuple[str, ...]] = []
        with self.catalog.session() as s:
            for fname, names in filters.items():
                etype = FILTER_TYPES.get(fname)
                if etype is None:
                    continue
                for name in names:
                    groups.append(resolve(s, etype, name))
        return tuple(groups)

    # -- reads ----------------------------------------------------------------------------------

    def list_entities(
        self, principal: Principal, *, etype: str | None = None, q: str | None = None, limit: int = 50
    ) -> list[EntityPublic]:
        """Entities with mentions in readable documents, most mentioned first; ``q`` matches
        names across spellings (like the filters)."""
        if etype is not None and etype not in ENTITY_TYPES:
            raise InvalidRequestError(f"unknown entity type {etype!r}; one of {', '.join(ENTITY_TYPES)}")
        with self.catalog.session() as s:
            query: Any = (
                select(
                    Entity.id,
                    Entity.type,
                    Entity.name,
                    func.count(EntityMention.id),
                    func.count(func.distinct(EntityMention.document_id)),
                )
                .join(EntityMention, EntityMention.entity_id == Entity.id)
                .join(Document, Document.id == EntityMention.document_id)
            )
            query = _readable(query, principal)
            if etype is not None:
                query = query.where(Entity.type == etype)
            if q:
                types = [etype] if etype else ["person", "place", "org"]
                ids = {int(v.partition(":")[2]) for t in types for v in resolve(s, t, q)}
                ids |= set(
                    s.scalars(select(Entity.id).where(func.lower(Entity.name).contains(q.strip().lower())))
                )
                query = query.where(Entity.id.in_(sorted(ids)))
            query = (
                query.group_by(Entity.id, Entity.type, Entity.name)
                .order_by(func.count(EntityMention.id).desc(), Entity.id)
                .limit(max(1, min(limit, 1000)))
            )
            return [
                EntityPublic(id=i, type=t, name=n, mentions=m, documents=d)
                for i, t, n, m, d in s.execute(query)
            ]

    def in_document(self, document_id: int, principal: Principal) -> list[DocumentMention]:
        """Every entity mention of one document, in passage order (the viewer marks each as a link
        to its entity): none when the document is not one the principal may read (or withdrawn)."""
        base = (
            select(
                EntityMention.entity_id,
                Entity.type,
                Entity.name,
                EntityMention.passage_id,
                EntityMention.char_start,
                EntityMention.char_end,
            )
            .join(Entity, Entity.id == EntityMention.entity_id)
            .join(Document, Document.id == EntityMention.document_id)
            .where(EntityMention.document_id == document_id)
        )
        # as ``_readable``; and no mention inside a passage withheld from the principal
        query = base.where(
            Document.withdrawn_at.is_(None), passage_id_clause(principal, EntityMention.passage_id)
        )
        if principal.readable is not None:
            query = query.join(Collection, Collection.id == Document.collection_id).where(
                readable_clause(principal)
            )
        query = query.order_by(EntityMention.passage_id, EntityMention.char_start)
        with self.catalog.session() as s:
            return [
                DocumentMention(entity_id=e, type=t, name=n, passage_id=p, start=a, end=b)
                for e, t, n, p, a, b in s.execute(query)
            ]

    def get_entity(self, entity_id: int, principal: Principal, *, limit: int = 100) -> EntityDetail:
        with self.catalog.session() as s:
            ent = s.get(Entity, entity_id)
            base = (
                select(EntityMention, Passage, Document, Collection.name)
                .join(Passage, Passage.id == EntityMention.passage_id)
                .join(Document, Document.id == EntityMention.document_id)
                .join(Collection, Collection.id == Document.collection_id)
                .where(EntityMention.entity_id == entity_id)
            )
            base = base.where(
                Document.withdrawn_at.is_(None), readable_clause(principal), passage_clause(principal)
            )
            rows = s.execute(base.order_by(Document.doc_date, Document.id, Passage.seq)).all() if ent else []
            if ent is None or not rows:  # an entity only seen in unreadable documents is missing
                raise NotFoundError(f"entity {entity_id} not found")
            spellings = Counter(m.surface for m, _, _, _ in rows)
            aliases = sorted({m.alias for m, _, _, _ in rows})
            docs: dict[int, EntityDocument] = {}
            timeline: Counter[str] = Counter()
            passages: list[EntityPassage] = []
            for m, p, d, col in rows:
                if d.id not in docs:
                    docs[d.id] = EntityDocument(
                        document_id=str(d.id),
                        filename=d.filename,
                        title=d.title,
                        collection=col,
                        date=d.doc_date.isoformat() if d.doc_date else None,
                        mentions=0,
                    )
                docs[d.id].mentions += 1
                timeline[str(d.doc_date.year) if d.doc_date else "undated"] += 1
                if len(passages) < limit:
                    lo, hi = max(0, m.char_start - 80), min(len(p.text), m.char_end + 80)
                    passages.append(
                        EntityPassage(
                            passage_id=str(p.id),
                            document_id=str(d.id),
                            filename=d.filename,
                            collection=col,
                            page=p.page,
                            start=m.char_start,
                            end=m.char_end,
                            surface=m.surface,
                            snippet=p.text[lo:hi],
                            before=p.text[lo : m.char_start],
                            after=p.text[m.char_end : hi],
                        )
                    )
            passage_ids = sorted({p.id for _, p, _, _ in rows})
            co: Counter[int] = Counter()
            for i in range(0, len(passage_ids), 900):
                for eid, n in s.execute(
                    select(EntityMention.entity_id, func.count(func.distinct(EntityMention.passage_id)))
                    .where(
                        EntityMention.passage_id.in_(passage_ids[i : i + 900]),
                        EntityMention.entity_id != entity_id,
                    )
                    .group_by(EntityMention.entity_id)
                ):
                    co[eid] += n
            top = co.most_common(30)
            info = {e.id: e for e in s.scalars(select(Entity).where(Entity.id.in_([e for e, _ in top])))}
            return EntityDetail(
                id=ent.id,
                type=ent.type,
                name=ent.name,
                mentions=len(rows),
                documents=len(docs),
                spellings=dict(spellings.most_common()),
                aliases=aliases,
                documents_list=list(docs.values())[:limit],
                passages=passages,
                cooccurring=[
                    EntityRef(id=e, type=info[e].type, name=info[e].name, count=n)
                    for e, n in top
                    if e in info
                ],
                timeline=dict(sorted(timeline.items())),
            )

    # -- staff changes -----------------------------------------------------------------------------

    @staticmethod
    def _admin(principal: Principal, what: str) -> None:
        if not principal.is_admin:
            raise ForbiddenError(
                f"{what} an entity changes documents you may not see; it needs the admin role"
            )

    def rename(self, entity_id: int, body: EntityRename, principal: Principal) -> EntityPublic:
        self._admin(principal, "renaming")
        name = " ".join(body.name.split())
        if not name:
            raise InvalidRequestError("an entity name cannot be empty")
        with self.catalog.session() as s:
            ent = s.get(Entity, entity_id)
            if ent is None:
                raise NotFoundError(f"entity {entity_id} not found")
            old = ent.name
            ent.name, ent.renamed = name, True
            self.audit.record(
                principal.name,
                "entity",
                "entity",
                entity_id,
                {"op": "rename", "from": old, "to": name},
                session=s,
            )
        return self._public(entity_id)

    def merge(self, entity_id: int, body: EntityMerge, principal: Principal) -> EntityPublic:
        self._admin(principal, "merging")
        sources = sorted(set(body.ids) - {entity_id})
        if not sources:
            raise ConflictError("an entity cannot be merged into itself")
        with self.catalog.session() as s:
            target = s.get(Entity, entity_id)
            if target is None:
                raise NotFoundError(f"entity {entity_id} not found")
            found = {e.id: e for e in s.scalars(select(Entity).where(Entity.id.in_(sources)))}
            missing = [i for i in sources if i not in found]
            if missing:
                raise NotFoundError(f"entity {missing[0]} not found")
            if any(e.type != target.type for e in found.values()):
                raise ConflictError("only entities of one type can be merged")
            names = {i: found[i].name for i in sources}
            passages = store.merge(s, entity_id, sources)
            # metadata fields linking a merged entity now link the one it was merged into
            remap_entity_values(s, sources, entity_id)
            self.audit.record(
                principal.name,
                "entity",
                "entity",
                entity_id,
                {
                    "op": "merge",
                    "merged": [{"id": i, "name": names[i]} for i in sources],
                    "passages": len(passages),
                },
                session=s,
            )
        indexer.index_pending(self.catalog, self.backend)
        return self._public(entity_id)

    def split(self, entity_id: int, body: EntitySplit, principal: Principal) -> EntityPublic:
        """Move the mentions spelt as one of ``aliases`` to a new entity (returned)."""
        self._admin(principal, "splitting")
        with self.catalog.session() as s:
            ent = s.get(Entity, entity_id)
            if ent is None:
                raise NotFoundError(f"entity {entity_id} not found")
            aliases = set(s.scalars(select(EntityMention.alias).where(EntityMention.entity_id == entity_id)))
            wanted = sorted(set(body.aliases))
            unknown = [a for a in wanted if a not in aliases]
            if unknown:
                raise ConflictError(f"entity {entity_id} has no spelling {unknown[0]!r}")  # its state: 409
            if set(wanted) >= aliases:
                raise ConflictError("a split must leave at least one spelling behind")
            new_id, passages = store.split(s, entity_id, wanted)
            self.audit.record(
                principal.name,
                "entity",
                "entity",
                entity_id,
                {"op": "split", "aliases": wanted, "new_entity": new_id, "passages": len(passages)},
                session=s,
            )
        indexer.index_pending(self.catalog, self.backend)
        return self._public(new_id)

    def _public(self, entity_id: int) -> EntityPublic:
        with self.catalog.session() as s:
            ent = s.get(Entity, entity_id)
            assert ent is not None
            m, d = s.execute(
                select(
                    func.count(EntityMention.id), func.count(func.distinct(EntityMention.document_id))
                ).where(EntityMention.entity_id == entity_id)
            ).one()
            return EntityPublic(id=ent.id, type=ent.type, name=ent.name, mentions=m, documents=d)

    # -- rebuild ---------------------------------------------------------------------------------

    def rebuild(self, principal: Principal, *, batch: int = 500) -> dict[str, float]:
        """Extract the mentions of every passage again (after an upgrade of the extraction, or
        for an archive ingested before entities existed). Staff renames and merges survive:
        entities and their keys are kept, mentions are recomputed and joined by key."""
        self._admin(principal, "rebuilding")
        t0 = time.perf_counter()
        n_passages = n_mentions = 0
        last = 0
        while True:
            with self.catalog.session() as s:
                rows = list(
                    s.execute(
                        select(Passage.id, Passage.document_id, Passage.text, Passage.lang)
                        .where(Passage.id > last)
                        .order_by(Passage.id)
                        .limit(batch)
                    )
                )
                if not rows:
                    break
                last = rows[-1][0]
                ids = [r[0] for r in rows]
                s.execute(delete(EntityMention).where(EntityMention.passage_id.in_(ids)))
                ex = Extraction(doc_type="text", blocks=[TextBlock(text=r[2]) for r in rows])
                found = passage_mentions(
                    ex, [(i, 0, len(r[2]), r[3]) for i, r in enumerate(rows)], [r[1] for r in rows]
                )
                n_mentions += store.store_mentions(
                    s,
                    (
                        (pid, did, text, m)
                        for (pid, did, text, _), ms in zip(rows, found, strict=True)
                        for m in ms
                    ),
                )
                store.mark_for_index(s, ids)
                n_passages += len(rows)
        with self.catalog.session() as s:
            orphans = select(Entity.id).where(~Entity.id.in_(select(EntityMention.entity_id).distinct()))
            s.execute(delete(EntityKey).where(EntityKey.entity_id.in_(orphans)))
            s.execute(delete(Entity).where(Entity.id.in_(orphans), Entity.renamed.is_(False)))
            store.refresh_names(s)
            self.audit.record(
                principal.name, "entity", None, None, {"op": "rebuild", "passages": n_passages}, session=s
            )
        indexer.index_pending(self.catalog, self.backend)
        return {"passages": n_passages, "mentions": n_mentions, "seconds": round(time.perf_counter() - t0, 2)}
