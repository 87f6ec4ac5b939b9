"""Corroboration details of similar passages (issue 21, item 3): for each entry of a
``similar_passages`` answer, its document's date, the people named in the passage (then in the
rest of the document), and how strong the match is, in words as well as by score.

What a lawyer needs to weigh an entry without opening it. Everything here is read for entries the
caller was already allowed to see: the hits come from retrieval, which filtered them inside the
search backend (readable collections, restricted documents hidden from the caller, withdrawn
documents) on either backend, and the people are read from the mentions *of those documents
only*, so no name from a document the caller may not read is ever shown. The family grouping and
its counts come from ``families.py`` under the same rule.

Match strength
    ``vector`` answers (cosine similarity of e5 embeddings): **strong** at 0.90 and above (the
    median cosine of a passage and its translation in the calibration of docs/decisions.md, issue
    16), **moderate** from 0.855 (above the 99th percentile of a passage's best *unrelated*
    match there), **weak** below that (between the similar floor, 0.83, and 0.855).
    ``keyword`` answers (shared words while the passage has no embedding): the share of the asked
    passage's content words (the words the more-like-this query is built from) found in the hit:
    **strong** from one half, **moderate** from one quarter, **weak** below.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Document, Entity, EntityMention, Passage
from archive_search.types import Hit, Principal
from index.analysis import Analyzer
from search_api.access import passage_id_clause

Strength = Literal["strong", "moderate", "weak"]
VECTOR_STRONG = 0.90
VECTOR_MODERATE = 0.855
KEYWORD_STRONG = 0.5
KEYWORD_MODERATE = 0.25
MAX_PEOPLE = 6
"""People shown per entry: those named in the passage first, then the document's most named."""


class PersonRef(BaseModel):
    """A person (an entity of type ``person``) named in the entry's passage or document."""

    id: int = Field(description="The entity (GET /entities/{id})")
    name: str = Field(description="As spelled in this passage (or most often in this document)")
    in_passage: bool = Field(
        description="Named in the similar passage itself (else elsewhere in its document)"
    )


class CorroborationHit(Hit):
    """A similar passage with what is needed to weigh it: date, people and match strength."""

    date: str | None = Field(default=None, description="The document's date (ISO), when known")
    people: list[PersonRef] = Field(
        default_factory=list,
        description=f"Up to {MAX_PEOPLE} people named in the passage, then in the rest of its document",
    )
    strength: Strength = Field(
        description="strong, moderate or weak: vector answers by cosine (0.90 / 0.855), keyword "
        "answers by the share of the passage's words found (1/2, 1/4); docs/api.md"
    )


def content_terms(analyzer: Analyzer, text: str) -> set[str]:
    """The canonical terms of a text that the keyword "more like this" query uses (longer than three
    characters, not numbers)."""
    return {
        tok.terms[0] for tok in analyzer.tokens(text) if len(tok.terms[0]) > 3 and not tok.terms[0].isdigit()
    }


def strength_of(method: str, score: float, shared: float) -> Strength:
    """The human label of a match: by cosine for ``vector`` answers, by the share of shared
    content words for ``keyword`` ones (module docstring)."""
    if method == "vector":
        return "strong" if score >= VECTOR_STRONG else "moderate" if score >= VECTOR_MODERATE else "weak"
    return "strong" if shared >= KEYWORD_STRONG else "moderate" if shared >= KEYWORD_MODERATE else "weak"


class Corroboration:
    """Adds date, people and strength to the hits of a similar-passages answer."""

    def __init__(self, catalog: Catalog, analyzer: Analyzer) -> None:
        self.catalog = catalog
        self.analyzer = analyzer

    def enrich(self, out: dict[str, Any], passage_id: int, principal: Principal) -> dict[str, Any]:
        """``out`` (a ``similar_passages``/``similar_by_source`` answer for ``passage_id``, which
        the caller may read) with each hit as a :class:`CorroborationHit`.

        ``principal`` is not consulted for the hits (retrieval already left out what the caller
        may not read); the people are read from the hits' own passages and documents only, and
        never from a passage withheld from the principal (passage-level restriction)."""
        visible = passage_id_clause(principal, EntityMention.passage_id)
        hits: list[Hit] = list(out["hits"])
        if not hits:
            return {**out, "hits": []}
        doc_ids = sorted({int(h.document_id) for h in hits})
        passage_ids = {int(h.passage_id) for h in hits}
        with self.catalog.session() as s:
            asked = s.scalar(select(Passage.text).where(Passage.id == passage_id)) or ""
            texts = dict(s.execute(select(Passage.id, Passage.text).where(Passage.id.in_(passage_ids))).all())
            dates = dict(
                s.execute(select(Document.id, Document.doc_date).where(Document.id.in_(doc_ids))).all()
            )
            # the spelling written in these documents (``alias``), never the entity's catalog-wide
            # name: that may have been chosen from, or renamed after, a document the caller cannot read
            in_passage: dict[int, dict[int, str]] = defaultdict(dict)
            for pid, eid, alias, _first in s.execute(
                select(
                    EntityMention.passage_id,
                    EntityMention.entity_id,
                    EntityMention.alias,
                    func.min(EntityMention.char_start),
                )
                .join(Entity, Entity.id == EntityMention.entity_id)
                .where(Entity.type == "person", EntityMention.passage_id.in_(passage_ids))
                .group_by(EntityMention.passage_id, EntityMention.entity_id, EntityMention.alias)
                .order_by(EntityMention.passage_id, func.min(EntityMention.char_start))
            ).all():
                in_passage[int(pid)].setdefault(int(eid), str(alias))
            counts: dict[int, dict[int, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
            for did, eid, alias, n in s.execute(
                select(EntityMention.document_id, EntityMention.entity_id, EntityMention.alias, func.count())
                .join(Entity, Entity.id == EntityMention.entity_id)
                .where(Entity.type == "person", EntityMention.document_id.in_(doc_ids), visible)
                .group_by(EntityMention.document_id, EntityMention.entity_id, EntityMention.alias)
            ).all():
                counts[int(did)][int(eid)][str(alias)] += int(n)
        in_document: dict[int, list[tuple[int, str]]] = {
            did: [
                (eid, spellings.most_common(1)[0][0])
                for eid, spellings in sorted(
                    ents.items(), key=lambda kv: (-sum(kv[1].values()), kv[1].most_common(1)[0][0])
                )
            ]
            for did, ents in counts.items()
        }
        asked_terms = content_terms(self.analyzer, asked)
        method = str(out.get("method", "vector"))
        enriched: list[CorroborationHit] = []
        for h in hits:
            pid, did = int(h.passage_id), int(h.document_id)
            people = [PersonRef(id=e, name=n, in_passage=True) for e, n in in_passage.get(pid, {}).items()]
            seen = {p.id for p in people}
            people += [
                PersonRef(id=e, name=n, in_passage=False)
                for e, n in in_document.get(did, [])
                if e not in seen
            ]
            shared = 0.0
            if asked_terms:
                mine = {t for tok in self.analyzer.tokens(texts.get(pid, "")) for t in tok.terms}
                shared = len(asked_terms & mine) / len(asked_terms)
            d = dates.get(did)
            enriched.append(
                CorroborationHit(
                    **h.model_dump(exclude={"source"}),
                    source=h.source,
                    date=d.isoformat() if d is not None else None,
                    people=people[:MAX_PEOPLE],
                    strength=strength_of(method, h.score, shared),
                )
            )
        return {**out, "hits": enriched}
