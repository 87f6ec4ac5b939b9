"""Case redaction rules (issue 20, part 2): staff choose entity types (every person, say) with the
entities to keep (the accused), and terms, for a case's bundles; each bundle is masked by the
rule as it is built.

- **Evaluated at export time.** The rule stores types, kept entity ids and terms, never a list of
  spans: each export finds the current mentions of those types in the bundle's documents
  (``entity_mentions``, with their spellings), so a document ingested after the rule was made and
  added to the case is masked like the others.
- **What is masked.** Every spelling seen of a matched entity in the bundle's documents, its name,
  and every term, as whole words in any case (``redaction.pattern_for``), each character becoming
  ``█``, in every text the bundle carries: the text files, the manifest (titles, file names and
  the paths made from them, passages, citations, notes, entity columns, family sources) and the
  report. The original of a document that mentions a masked entity or term is left out (it
  holds the words); so is a redacted PDF rendered from it. A search record (an audit entry,
  hashed in the audit chain) holding a masked word is left out, not altered, so that every record
  the bundle does carry still verifies.
- **Recorded.** The manifest's ``entity_redaction`` says which types, kept entities, how many
  terms (not the terms), who made the rule, when and why, and how many mentions and documents it
  masked; setting and lifting a rule are audited (``case.redaction_rule``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive_search.catalog.models import CaseRedactionRule, Entity, EntityMention, Page
from archive_search.errors import NotFoundError
from archive_search.types import MAX_ID, Principal
from index.analysis import Analyzer
from ingest import wordboxes
from search_api.redaction import MASK, PageMask, mask, merge_ranges, pattern_for

if TYPE_CHECKING:
    from search_api.cases import CaseService

EntityType = Literal["person", "place", "org", "phone", "email", "docnum"]


def _no_bool(v: Any) -> Any:
    """JSON ``true``/``false`` is not an entity id (an integer of the schema)."""
    if isinstance(v, bool):
        raise ValueError("an entity id is an integer")
    return v


class RedactionRuleBody(BaseModel):
    entity_types: list[EntityType] = Field(default_factory=list, max_length=6)
    keep_entities: list[Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_no_bool)]] = Field(
        default_factory=list, max_length=1000, description="Entity ids left unmasked"
    )
    terms: list[Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]] = Field(
        default_factory=list, max_length=1000, description="Words or phrases masked wherever they occur"
    )
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


@dataclass(frozen=True)
class Rule:
    entity_types: tuple[str, ...]
    keep_entities: frozenset[int]
    terms: tuple[str, ...]
    reason: str
    created_by: str
    created_at: str

    def public(self, case_id: int, *, with_terms: bool = True) -> dict[str, Any]:
        """The rule as the API shows it; the terms (names, often) only to the case's editors."""
        return {
            "case_id": case_id,
            "entity_types": list(self.entity_types),
            "keep_entities": sorted(self.keep_entities),
            "terms": list(self.terms) if with_terms else None,
            "term_count": len(self.terms),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


def load_rule(s: Session, case_id: int) -> Rule | None:
    row = s.get(CaseRedactionRule, case_id)
    if row is None:
        return None
    return Rule(
        entity_types=tuple(json.loads(row.entity_types)),
        keep_entities=frozenset(int(i) for i in json.loads(row.keep_entities)),
        terms=tuple(json.loads(row.terms)),
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at.isoformat(),
    )


@dataclass
class Scrubber:
    """The masks of one bundle: patterns of every masked spelling and term."""

    rule: Rule
    patterns: list[re.Pattern[str]]
    documents: set[int]
    """Documents mentioning a masked entity (their originals stay out)."""
    mentions: int

    keys: frozenset[str] = frozenset()
    """The analyser's lemma and transliteration keys of every masked spelling: a word carrying one
    is masked too, so an inflected form the entity finder did not link (``Гнурвальдова`` beside
    ``Гнурвальдів``) does not slip through."""

    def ranges(self, value: str) -> list[tuple[int, int]]:
        """Where ``value`` holds a masked spelling or term, or a word sharing a key with one."""
        if not value or not self.patterns:
            return []
        ranges = [(m.start(), m.end()) for p in self.patterns for m in p.finditer(value)]
        if self.keys:
            ranges += [(t.start, t.end) for t in _analyzer().tokens(value) if self.keys.intersection(t.terms)]
        return merge_ranges(ranges)

    def text(self, value: str) -> str:
        """``value`` with every masked spelling and term, and every word sharing a key with one,
        replaced by ``█`` characters."""
        merged = self.ranges(value)
        return mask(value, merged) if merged else value

    def page_mask(self, s: Session, document_id: int, page: int) -> PageMask:
        """What to black out on a page image for this rule: on a scanned page the OCR word boxes
        of the masked words (``ingest/wordboxes.py``; a masked word without a box: unlocatable),
        on a page with a text layer the masked words, each of which the layer must locate."""
        pg = s.scalar(select(Page).where(Page.document_id == document_id, Page.number == page))
        if pg is None:
            return PageMask(words=[], required=[])
        ranges = self.ranges(pg.text)
        if pg.method == "ocr":
            originals = {i: pg.text[i] for a, b in ranges for i in range(a, b)}
            boxes, located = wordboxes.boxes_for(
                wordboxes.from_json(pg.word_boxes, len(pg.text)), ranges, originals
            )
            return PageMask(words=[], required=[], boxes=boxes, unlocatable=not located)
        words = sorted({w for a, b in ranges for w in re.split(rf"[\s{MASK}]+", pg.text[a:b]) if w})
        return PageMask(words=words, required=words)

    def holds(self, value: str) -> bool:
        return self.text(value) != value

    def walk(self, value: Any) -> Any:
        """Every string inside ``value`` (dicts, lists) masked; keys too."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.walk(v) for k, v in value.items()}
        return value

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "entity_types": list(self.rule.entity_types),
            "keep_entities": sorted(self.rule.keep_entities),
            "terms": len(self.rule.terms),
            "reason": self.rule.reason,
            "rule_by": self.rule.created_by,
            "rule_at": self.rule.created_at,
            "mentions": self.mentions,
            "documents": sorted(self.documents),
        }


def scrubber_for(s: Session, rule: Rule, document_ids: Sequence[int]) -> Scrubber:
    """The masks of a bundle of ``document_ids`` under ``rule``, from the current mentions."""
    spellings: set[str] = set()
    docs: set[int] = set()
    n = 0
    if rule.entity_types and document_ids:
        uniq = sorted(set(document_ids))
        for i in range(0, len(uniq), 1000):
            rows = s.execute(
                select(EntityMention.document_id, EntityMention.surface, EntityMention.alias, Entity.name)
                .join(Entity, Entity.id == EntityMention.entity_id)
                .where(
                    EntityMention.document_id.in_(uniq[i : i + 1000]),
                    Entity.type.in_(list(rule.entity_types)),
                    Entity.id.not_in(sorted(rule.keep_entities)) if rule.keep_entities else Entity.id > 0,
                )
            ).all()
            for did, surface, alias, name in rows:
                n += 1
                docs.add(int(did))
                spellings.update(x for x in (surface, alias, name) if x and x.strip())
    spellings.update(t for t in rule.terms if t.strip())
    patterns = [pattern_for(x) for x in sorted(spellings, key=lambda x: (-len(x), x))]
    keys = frozenset(
        k
        for x in spellings
        for t in _analyzer().tokens(x)
        for k in (t.terms[0], *(k for k in t.terms if k.startswith("~")))
    )
    return Scrubber(rule, patterns, docs, n, keys=keys)


_ANALYZER: list[Analyzer] = []


def _analyzer() -> Analyzer:
    """The search analyser (``index/analysis.py``), built once per process."""
    if not _ANALYZER:
        _ANALYZER.append(Analyzer())
    return _ANALYZER[0]


# -- the rule of a case ------------------------------------------------------------------------------


def get_rule(cases: CaseService, case_id: int, principal: Principal) -> dict[str, Any]:
    """The case's rule (any member; its terms only for the case's editors); 404 when it has none."""
    with cases.catalog.session() as s:
        _, access = cases._case(s, case_id, principal)
        rule = load_rule(s, case_id)
    if rule is None:
        raise NotFoundError(f"case {case_id} has no redaction rule")
    return rule.public(case_id, with_terms=access != "read" and principal.role in ("admin", "editor"))


def set_rule(
    cases: CaseService, case_id: int, body: RedactionRuleBody, principal: Principal
) -> dict[str, Any]:
    """Set (replace) the case's rule: editors of the case. Audited without the terms."""
    terms = list(dict.fromkeys(t.strip() for t in body.terms if t.strip()))
    for t in terms:
        pattern_for(t)  # an empty phrase is refused here
    with cases.catalog.session() as s:
        cases._case_for_edit(s, case_id, principal, content=False)
        s.execute(delete(CaseRedactionRule).where(CaseRedactionRule.case_id == case_id))
        s.add(
            CaseRedactionRule(
                case_id=case_id,
                entity_types=json.dumps(sorted(set(body.entity_types))),
                keep_entities=json.dumps(sorted(set(body.keep_entities))),
                terms=json.dumps(terms, ensure_ascii=False),
                reason=body.reason.strip(),
                created_by=principal.name,
                created_at=datetime.now(UTC),
            )
        )
        cases.audit.record(
            principal.name,
            "case.redaction_rule",
            "case",
            case_id,
            {
                "op": "set",
                "entity_types": sorted(set(body.entity_types)),
                "keep_entities": sorted(set(body.keep_entities)),
                "terms": len(terms),
                "reason": body.reason.strip(),
            },
            session=s,
        )
    return get_rule(cases, case_id, principal)


def lift_rule(cases: CaseService, case_id: int, principal: Principal) -> dict[str, Any]:
    """Remove the case's rule (editors of the case); bundles are built unmasked again."""
    with cases.catalog.session() as s:
        cases._case_for_edit(s, case_id, principal, content=False)
        if s.get(CaseRedactionRule, case_id) is None:
            raise NotFoundError(f"case {case_id} has no redaction rule")
        s.execute(delete(CaseRedactionRule).where(CaseRedactionRule.case_id == case_id))
        cases.audit.record(principal.name, "case.redaction_rule", "case", case_id, {"op": "lift"}, session=s)
    return {"case_id": case_id, "lifted": True}


def cases_with_rules(cases: CaseService, principal: Principal) -> list[dict[str, Any]]:
    """The principal's cases that have a redaction rule (a hit export can be masked by one)."""
    mine = cases.list_cases(principal)
    if not mine:
        return []
    with cases.catalog.session() as s:
        ruled = set(
            s.scalars(
                select(CaseRedactionRule.case_id).where(CaseRedactionRule.case_id.in_([c.id for c in mine]))
            )
        )
    return [{"id": c.id, "title": c.title} for c in mine if c.id in ruled]
