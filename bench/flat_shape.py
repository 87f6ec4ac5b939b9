"""Run another bench script with the embedded backend compiling queries in the *flat* shape
(an experiment for issue 17, part 3; nothing in the service uses it).

The service compiles a query of several words as ``Should`` over one ``DisjunctionMax`` per word
(the word's surface form, lemmas, cross-script keys and fuzzy variant: the best one counts, the
others add a tenth). ``bench/keyword_shape.py`` found that nesting to cost tantivy's ranked pass
2.4× at p95 against one flat ``Should`` of the same terms. Here every word of a ``Should`` list
puts its terms straight into that list (each with the same boosts: readable-set idf, the word's
boost, 0.3 for the fuzzy variant), so the *matches* — and with them totals and facets — are the
same, and only the scores change (a word's alternatives add up). ``Must`` words, phrases,
prefixes and exclusions compile as before.

    PYTHONPATH=$PWD .venv/bin/python bench/flat_shape.py bench/union.py --phase score --modes keyword …
    PYTHONPATH=$PWD .venv/bin/python bench/flat_shape.py bench/speed.py latency --data-dir DIR …
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for entry in (str(REPO), str(REPO / "bench")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import tantivy  # noqa: E402

from index import embedded  # noqa: E402
from index.backend import BoolNode, RankStats, TermNode  # noqa: E402

_nested = embedded.EmbeddedBackend._node


def _flat_node(self: Any, node: Any, stats: RankStats | None = None) -> tantivy.Query:
    """``EmbeddedBackend._node`` with the ``Should`` words of a boolean flattened into it."""
    if not isinstance(node, BoolNode) or not node.should:
        return _nested(self, node, stats)
    s = self.schema
    # sub-nodes through ``self._node`` (this function again): a boolean inside ``must`` — the
    # content words of a question, whose function words are its ``should`` — is flattened too.
    # (A first version compiled them with the nested shape, so only the function words were
    # flattened; its union run, `union-20261204T051828Z-kw-flat.json`, measured that by mistake.)
    clauses = [(tantivy.Occur.Must, self._node(n, stats)) for n in node.must]
    for n in node.should:
        if not isinstance(n, TermNode) or n.prefix:
            clauses.append((tantivy.Occur.Should, self._node(n, stats)))
            continue
        for i, term in enumerate(n.terms):
            q = tantivy.Query.term_query(s, "body", term)
            if stats is not None:
                q = tantivy.Query.boost_query(q, self._idf_ratio([term], stats))
            if n.boost != 1.0:
                q = tantivy.Query.boost_query(q, n.boost)
            clauses.append((tantivy.Occur.Should, q))
            if n.fuzzy and i == 0 and len(term) > 3:
                fz = tantivy.Query.fuzzy_term_query(s, "body", term, distance=n.fuzzy, prefix=False)
                clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(fz, 0.3 * n.boost)))
    clauses += [(tantivy.Occur.MustNot, self._node(n)) for n in node.must_not]
    return tantivy.Query.boolean_query(clauses)


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    embedded.EmbeddedBackend._node = _flat_node  # type: ignore[method-assign]
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
