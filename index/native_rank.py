"""The embedded backend's ranked keyword pass in native code (``native/``, Rust on tantivy).

tantivy scores every match of a question whose words are disjunction-max clauses under required
ones: its block-max WAND prunes plain disjunctions of terms only (``docs/decisions.md``, "The
ranked pass stays exhaustive"). The ``archive_native`` extension opens the same index folder with
the same tantivy version and finds the top k with MaxScore and block-max windows, from tantivy's
own BM25 weights: the same passages, in the same order, scores equal up to the last bit of a
32-bit sum (added in the query's order rather than in the order tantivy's union happens to visit
its clauses).

This module decides which queries take that path — a disjunction of words (each a
disjunction-max of exact terms and OCR-tolerant variants; groups of words that only add up count
as their words), optionally with optional words that only add score, under the search's filters —
and translates them into the extension's JSON query. Everything else (phrases, prefixes, several
required words, excluded words, a search with no ranked window) stays on tantivy-py, whose
answers are the reference the contract test (``tests/index/test_native_rank.py``) compares these
with.

The extension is built at set-up where a Rust toolchain is at hand (``scripts/setup.sh``);
without it every query stays on tantivy-py, with the same answers, slower at a million passages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from index.backend import BoolNode, QueryNode, TermNode

try:  # built from ``native/`` by ``scripts/setup.sh`` where cargo is available
    import archive_native as _native
except ImportError:  # pragma: no cover - depends on the installation
    _native = None

log = logging.getLogger(__name__)

FUZZY_BOOST = 0.3
"""Constant score of a word's OCR-tolerant variants (``index/embedded.py``, ``_node``)."""


def available() -> bool:
    """Whether the extension is installed."""
    return _native is not None


def open_index(path: str) -> Any | None:
    """The extension's handle on the keyword index folder ``path`` (``None``: not installed, or
    it cannot read this index: the searches then stay on tantivy-py)."""
    if _native is None:
        return None
    try:
        return _native.KeywordIndex(path)
    except (OSError, ValueError) as exc:
        log.warning("native ranked pass off: cannot open %s (%s)", path, exc)
        return None


@dataclass(frozen=True)
class FilterSpec:
    """One filter of a search, in a form both tantivy-py's queries and the extension's are built
    from: ``kind`` ``text`` and ``int`` (the field holds one of ``values``), ``range`` (an integer
    field within ``values[0]..=values[1]``), ``any`` (one of ``of``), ``nothing``."""

    kind: str
    field: str = ""
    values: tuple[Any, ...] = ()
    of: tuple[FilterSpec, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if self.kind == "range":
            return {"kind": "range", "field": self.field, "lo": self.values[0], "hi": self.values[1]}
        if self.kind == "any":
            return {"kind": "any", "of": [s.to_json() for s in self.of]}
        if self.kind == "nothing":
            return {"kind": "nothing"}
        return {"kind": self.kind, "field": self.field, "values": list(self.values)}


Scored = Callable[[Sequence[str]], float | None]
"""The readable-set boost of a term's score (``None``: the score is left as tantivy's)."""
Variants = Callable[[str, int], list[str] | None]
"""The vocabulary's variants of a term within some edits (``None``: no vocabulary is kept)."""


def plan(
    node: QueryNode,
    *,
    ratio: Scored,
    variants: Variants,
    filters: Sequence[FilterSpec],
    exclude: Sequence[FilterSpec],
    field: str = "body",
) -> str | None:
    """The extension's query for ``node`` under the filters, as JSON; ``None`` when the query has
    another shape (it then runs on tantivy-py). ``ratio`` and ``variants`` are the backend's own
    (``_idf_ratio`` and the vocabulary), so that scores are built exactly as ``_node`` builds them."""
    content: list[TermNode] | None
    optional: list[TermNode] | None = []
    if isinstance(node, TermNode):
        content = [node]
    elif isinstance(node, BoolNode) and not node.must_not:
        if not node.must:
            content = _words(node.should)
        elif len(node.must) == 1:
            content = _words(node.must[:1])
            optional = _words(node.should)
        else:
            return None
    else:
        return None
    if not content or optional is None:
        return None
    clauses: list[dict[str, Any]] = []
    for words, is_content in ((content, True), (optional, False)):
        for word in words:
            alts = _alternatives(word, ratio, variants)
            if alts is None:
                return None
            clauses.append({"content": is_content, "alts": alts})
    spec = {
        "field": field,
        "clauses": clauses,
        "filters": [f.to_json() for f in filters],
        "exclude": [f.to_json() for f in exclude],
    }
    return json.dumps(spec, ensure_ascii=False)


def _words(nodes: Sequence[QueryNode]) -> list[TermNode] | None:
    """The words of clauses that only add up: words, and groups of optional clauses (a word the
    analyser cut in two, an ``OR``), whose score is their matching parts' sum and which match
    when one part does — as the parts do side by side. ``None``: a clause of another kind."""
    out: list[TermNode] = []
    for n in nodes:
        if isinstance(n, TermNode):
            out.append(n)
        elif isinstance(n, BoolNode) and not n.must and not n.must_not:
            inner = _words(n.should)
            if inner is None:
                return None
            out.extend(inner)
        else:
            return None
    return out


def _alternatives(word: QueryNode, ratio: Scored, variants: Variants) -> list[dict[str, Any]] | None:
    """A word's alternatives with their boosts, outermost first, as ``_node`` nests them."""
    if not isinstance(word, TermNode) or word.prefix or not word.terms:
        return None
    outer = [] if word.boost == 1.0 else [word.boost]
    alts: list[dict[str, Any]] = []
    for i, term in enumerate(word.terms):
        scored = ratio([term])
        boosts = outer if scored is None else [*outer, scored]
        alts.append({"kind": "term", "term": term, "boosts": boosts})
        if word.fuzzy and i == 0 and len(term) > 3:
            near = variants(term, word.fuzzy)
            fuzzy_boosts = [*outer, FUZZY_BOOST]
            if near is None:
                alts.append({"kind": "fuzzy", "term": term, "distance": word.fuzzy, "boosts": fuzzy_boosts})
            else:
                alts.append({"kind": "set", "terms": near or [term], "boosts": fuzzy_boosts})
    return alts
