"""Entities in the catalog: mentions found at ingestion joined to entities by their match key,
and the staff operations on entities (rename, merge, split) as plain catalog changes. Who may do
them, the audit and re-indexing are the service's (``search_api/entities.py``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from archive_search.catalog.models import Entity, EntityKey, EntityMention, Passage
from archive_search.types import MentionRow

MentionAt = tuple[int, int, str, MentionRow]
"""(passage id, document id, passage text, mention) of one mention to store."""


def store_mentions(s: Session, mentions: Iterable[MentionAt]) -> int:
    """Join each mention to its entity (by key, creating entities as needed) and store it, in a
    few statements per call whatever the number of mentions: the keys known are read at once, the
    missing entities are created together, their keys inserted with ``ON CONFLICT DO NOTHING``
    (in sorted order, so that concurrent writers lock them in one order) and read back; an entity
    created here whose key another writer inserted first is deleted again."""
    rows = list(mentions)
    if not rows:
        return 0
    first: dict[str, tuple[str, str]] = {}
    rank: dict[str, tuple[int, bool]] = {}
    for _, _, text, (etype, start, end, norm, key) in rows:
        # a new entity is named after its fullest spelling (Петро Коваленко, not the surname
        # alone joined to it), among those after one written as its display form, that is in the
        # nominative (Петро Коваленко rather than the first met Петра Коваленка); else the first
        r = (len(norm.split()), text[start:end] == norm)
        if key not in rank or r > rank[key]:
            first[key], rank[key] = (etype, norm), r
    ids = _known(s, list(first))
    missing = sorted(k for k in first if k not in ids)
    if missing:
        created = {k: Entity(type=first[k][0], name=first[k][1][:300]) for k in missing}
        s.add_all(created.values())
        s.flush()
        dialect = s.get_bind().dialect.name
        from sqlalchemy.dialects import postgresql, sqlite  # here: ~0.07 s to import, searches need neither

        ins = postgresql.insert(EntityKey) if dialect == "postgresql" else sqlite.insert(EntityKey)
        for i in range(0, len(missing), 500):
            chunk = [{"key": k, "entity_id": created[k].id} for k in missing[i : i + 500]]
            s.execute(ins.values(chunk).on_conflict_do_nothing(index_elements=["key"]))
        owners = _known(s, missing)
        lost = [e.id for k, e in created.items() if owners.get(k) != e.id]
        if lost:  # another writer created these meanwhile
            s.execute(delete(Entity).where(Entity.id.in_(lost)))
        ids.update(owners)
    s.execute(
        insert(EntityMention),
        [
            {
                "entity_id": ids[key],
                "passage_id": passage_id,
                "document_id": document_id,
                "char_start": start,
                "char_end": end,
                "surface": text[start:end][:300],
                "alias": norm[:300],
                "key": key,
            }
            for passage_id, document_id, text, (_etype, start, end, norm, key) in rows
        ],
    )
    return len(rows)


def _known(s: Session, keys: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(0, len(keys), 500):
        q = select(EntityKey.key, EntityKey.entity_id).where(EntityKey.key.in_(keys[i : i + 500]))
        out.update((k, e) for k, e in s.execute(q))
    return out


def refresh_names(s: Session, entity_ids: Sequence[int] | None = None) -> None:
    """Name each entity (not renamed by staff) after its most frequent spelling of the most
    words (a surname named alone is a spelling of the full name, not its name)."""
    q = select(EntityMention.entity_id, EntityMention.alias, func.count()).group_by(
        EntityMention.entity_id, EntityMention.alias
    )
    if entity_ids is not None:
        q = q.where(EntityMention.entity_id.in_(list(entity_ids)))
    best: dict[int, Counter[str]] = {}
    for eid, alias, n in s.execute(q):
        best.setdefault(eid, Counter())[alias] = n
    for ent in s.scalars(select(Entity).where(Entity.id.in_(list(best)), Entity.renamed.is_(False))):
        name = max(best[ent.id].items(), key=lambda kv: (len(kv[0].split()), kv[1], -len(kv[0]), kv[0]))[0]
        ent.name = name


def touched_passages(s: Session, entity_ids: Sequence[int]) -> list[int]:
    return list(
        s.scalars(
            select(EntityMention.passage_id).where(EntityMention.entity_id.in_(list(entity_ids))).distinct()
        )
    )


def mark_for_index(s: Session, passage_ids: Sequence[int]) -> None:
    """Passages whose entities changed are indexed again (their entity fields)."""
    ids = list(passage_ids)
    for i in range(0, len(ids), 500):
        s.execute(update(Passage).where(Passage.id.in_(ids[i : i + 500])).values(indexed_at=None))


def merge(s: Session, target_id: int, source_ids: Sequence[int]) -> list[int]:
    """Move every mention and key of ``source_ids`` to ``target_id`` and delete the sources.
    Returns the passages whose index entries must be rewritten."""
    sources = [i for i in source_ids if i != target_id]
    passages = touched_passages(s, sources)
    s.execute(update(EntityMention).where(EntityMention.entity_id.in_(sources)).values(entity_id=target_id))
    s.execute(update(EntityKey).where(EntityKey.entity_id.in_(sources)).values(entity_id=target_id))
    s.execute(delete(Entity).where(Entity.id.in_(sources)))
    refresh_names(s, [target_id])
    mark_for_index(s, passages)
    return passages


def split(s: Session, entity_id: int, aliases: Sequence[str]) -> tuple[int, list[int]]:
    """Move the mentions spelt as one of ``aliases`` (display forms) to a new entity of the same
    type, with the keys only they use. Returns the new entity's id and the passages touched."""
    ent = s.get(Entity, entity_id)
    assert ent is not None
    wanted = set(aliases)
    new = Entity(type=ent.type, name=sorted(wanted)[0][:300])
    s.add(new)
    s.flush()
    moved = list(
        s.scalars(
            select(EntityMention).where(EntityMention.entity_id == entity_id, EntityMention.alias.in_(wanted))
        )
    )
    moved_keys = {m.key for m in moved}
    kept_keys = set(
        s.scalars(
            select(EntityMention.key).where(
                EntityMention.entity_id == entity_id, EntityMention.alias.not_in(wanted)
            )
        )
    )
    for m in moved:
        m.entity_id = new.id
    only_moved = sorted(moved_keys - kept_keys)
    if only_moved:
        s.execute(update(EntityKey).where(EntityKey.key.in_(only_moved)).values(entity_id=new.id))
    s.flush()
    refresh_names(s, [entity_id, new.id])
    passages = sorted({m.passage_id for m in moved})
    mark_for_index(s, passages)
    return new.id, passages


def passage_entities(s: Session, passage_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    """{passage id: [(type, entity id), ...]} of the named entities (person, place, org)."""
    out: dict[int, list[tuple[str, int]]] = {}
    ids = list(passage_ids)
    for i in range(0, len(ids), 900):
        q = (
            select(EntityMention.passage_id, Entity.type, Entity.id)
            .join(Entity, Entity.id == EntityMention.entity_id)
            .where(
                EntityMention.passage_id.in_(ids[i : i + 900]), Entity.type.in_(("person", "place", "org"))
            )
            .distinct()
        )
        for pid, etype, eid in s.execute(q):
            out.setdefault(pid, []).append((etype, eid))
    return out
