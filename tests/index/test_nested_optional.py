"""Required clauses with several optional ones (a question's content words and its down-weighted
function words) are compiled with each optional clause nested around the required part
(issue 17, part 3): the matches are the required part's, and each passage's score is still the
required part's score plus that of every optional clause it matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_search.types import IndexPassage
from index.analysis import Analyzer
from index.backend import BoolNode, Filters, QueryNode, TermNode
from index.embedded import EmbeddedBackend

EVERYTHING = Filters(allowed_collections=None)
TEXTS = [
    "колона техніки на мосту",
    "колона техніки і на мосту і біля річки",
    "колона на дорозі",
    "техніка біля річки на мосту",
    "міст і річка",
    "колона",
    "колона біля річки і на мосту",
]


def _backend(tmp_path: Path) -> EmbeddedBackend:
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer())
    backend.write(
        [
            IndexPassage(
                passage_id=i + 1, document_id=i + 1, collection="a", text=t, lang="uk", doc_type="text", seq=0
            )
            for i, t in enumerate(TEXTS)
        ]
    )
    return backend


def _scores(backend: EmbeddedBackend, node: QueryNode) -> dict[int, float]:
    return {h.passage_id: h.score for h in backend.keyword_search(node, EVERYTHING, limit=50).hits}


def test_nested_optional_clauses_keep_the_matches_and_add_up_the_scores(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    required = BoolNode(should=(TermNode(("колона",)), TermNode(("техніки",))))
    optional = (
        TermNode(("на",), boost=0.1),
        TermNode(("мосту",), boost=0.1),
        TermNode(("і",), boost=0.1),
        TermNode(("біля",), boost=0.1),
    )
    query = BoolNode(must=(required,), should=optional)
    whole = _scores(backend, query)
    base = _scores(backend, BoolNode(must=(required,)))
    assert set(whole) == set(base) == {1, 2, 3, 6, 7}
    assert backend.keyword_search(query, EVERYTHING, limit=0).total == 5
    parts = [_scores(backend, BoolNode(must=(required, opt))) for opt in optional]
    for pid, score in whole.items():
        added = sum(p[pid] - base[pid] for p in parts if pid in p)
        assert score == pytest.approx(base[pid] + added, rel=1e-4), pid
    # more optional words matched, a higher score among passages of the same required score
    assert whole[7] > whole[6] and whole[1] > whole[6]


def test_nested_optional_clauses_with_an_exclusion(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    query = BoolNode(
        must=(TermNode(("колона",)),),
        should=(TermNode(("мосту",), boost=0.1), TermNode(("річки",), boost=0.1)),
        must_not=(TermNode(("техніки",)),),
    )
    assert set(_scores(backend, query)) == {3, 6, 7}
    assert backend.keyword_search(query, EVERYTHING, limit=0).total == 3
