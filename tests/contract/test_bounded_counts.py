"""Bounded totals and facets (issue 17, part 3): every backend counts a keyword search's matches
exactly up to ``exact_up_to`` and answers "at least N" beyond it, with facets counted over a
bounded part of the matches; the hits do not change, and nothing the caller may not read is
ever counted. Run unchanged on every backend (``conftest.py``)."""

from __future__ import annotations

import pytest

from index.backend import FACET_FIELDS, Filters, SearchBackend
from tests.contract.test_backend_contract import ALL, expected_facets, ids, kw_ids, nonzero, passage, term

MATCHES = 30
"""Passages holding "archive" (10 documents of 3); 6 more passages hold only "other"."""


def _load(backend: SearchBackend) -> list:  # type: ignore[type-arg]
    matching = [
        passage(
            i,
            f"archive record number {i}",
            doc=100 + (i - 1) // 3,
            lang=("uk", "ru", "en")[i % 3],
            tags=["odd"] if i % 2 else ["even"],
        )
        for i in range(1, MATCHES + 1)
    ]
    other = [passage(200 + i, f"other words {i}", doc=300 + i, lang="be") for i in range(6)]
    backend.write(matching + other)
    return matching


def _within(approx: dict[str, dict[str, int]], exact: dict[str, dict[str, int]]) -> None:
    """Approximate facets count a part of the matches: no value the matches lack, none above its
    exact count."""
    for name in FACET_FIELDS:
        for value, n in approx.get(name, {}).items():
            if n:
                assert 0 < n <= exact.get(name, {}).get(value, 0), (name, value, n, exact.get(name))


def test_totals_exact_below_the_bound_and_at_least_beyond(backend: SearchBackend) -> None:
    matching = _load(backend)
    plain = backend.keyword_search(term("archive"), ALL, limit=100, facets=True)
    assert plain.total == MATCHES and plain.total_relation == "eq" and not plain.facets_approximate
    for bound in (MATCHES + 1, 1000):
        res = backend.keyword_search(term("archive"), ALL, limit=100, facets=True, exact_up_to=bound)
        assert (res.total, res.total_relation, res.facets_approximate) == (MATCHES, "eq", False)
        assert nonzero(res.facets) == expected_facets(matching)
        assert res.documents == 10
        assert ids(res) == ids(plain)  # the bound changes counts, never the hits
    for bound in (1, 5, MATCHES - 1):
        res = backend.keyword_search(term("archive"), ALL, limit=100, facets=True, exact_up_to=bound)
        assert (res.total, res.total_relation, res.facets_approximate) == (bound, "gte", True)
        assert ids(res) == ids(plain)
        _within(nonzero(res.facets), expected_facets(matching))
        assert sum(nonzero(res.facets)["lang"].values()) >= 1
        assert res.documents is not None and 1 <= res.documents <= 10
        # without facets: the same total, and the page of hits as ever
        bare = backend.keyword_search(term("archive"), ALL, limit=3, exact_up_to=bound)
        assert (bare.total, bare.total_relation, ids(bare)) == (bound, "gte", ids(plain)[:3])


def test_at_the_bound_the_count_is_the_bound(backend: SearchBackend) -> None:
    _load(backend)
    res = backend.keyword_search(term("archive"), ALL, limit=0, exact_up_to=MATCHES)
    assert res.total == MATCHES
    # every match is counted: "eq" (a backend that stops at the bound may say "gte": both true)
    assert res.total_relation in ("eq", "gte")


def test_every_passage_bounded_browse(backend: SearchBackend) -> None:
    """No query (the browse facets of the search page): the whole readable archive, bounded."""
    matching = _load(backend)
    exact = expected_facets([*matching, *(passage(200 + i, "x", doc=300 + i, lang="be") for i in range(6))])
    res = backend.keyword_search(None, ALL, limit=1, facets=True, exact_up_to=10_000)
    assert (res.total, res.total_relation, res.facets_approximate) == (MATCHES + 6, "eq", False)
    assert nonzero(res.facets) == exact and res.documents == 16
    res = backend.keyword_search(None, ALL, limit=1, facets=True, exact_up_to=8)
    assert (res.total, res.total_relation, res.facets_approximate) == (8, "gte", True)
    _within(nonzero(res.facets), exact)


@pytest.mark.parametrize("bound", [3, 10_000])
def test_bounded_counts_never_see_what_the_caller_may_not_read(backend: SearchBackend, bound: int) -> None:
    readable = [
        passage(i, f"archive file {i}", doc=i, collection="a", tags=["open"], lang="uk") for i in range(1, 9)
    ]
    hidden_doc = [
        passage(50 + i, f"archive draft {i}", doc=50, collection="a", tags=["restricted"]) for i in range(5)
    ]
    other_collection = [
        passage(100 + i, "archive " * 5 + str(i), doc=100 + i, collection="b", tags=["secret"], lang="ru")
        for i in range(40)
    ]
    backend.write(readable + hidden_doc + other_collection)
    f = Filters(allowed_collections=frozenset({"a"}), hidden_document_ids=frozenset({50}))
    res = backend.keyword_search(term("archive"), f, limit=100, facets=True, exact_up_to=bound)
    assert set(ids(res)) == set(range(1, 9))
    facets = nonzero(res.facets)
    assert "secret" not in facets["tag"] and "restricted" not in facets["tag"]
    assert set(facets["collection"]) == {"a"} and set(facets["lang"]) == {"uk"}
    assert res.documents is not None and res.documents <= 8
    if bound >= 8:
        assert (res.total, res.total_relation, res.facets_approximate) == (8, "eq", False)
        assert facets == expected_facets(readable) and res.documents == 8
    else:
        assert (res.total, res.total_relation, res.facets_approximate) == (bound, "gte", True)
        _within(facets, expected_facets(readable))
    nothing = Filters(allowed_collections=frozenset())
    empty = backend.keyword_search(term("archive"), nothing, limit=10, facets=True, exact_up_to=bound)
    assert (empty.total, empty.total_relation, empty.documents) == (0, "eq", 0)
    assert not any(nonzero(empty.facets).values())


def test_a_one_word_count_is_the_count_under_every_filter(backend: SearchBackend) -> None:
    """A count of one word's matches (what retrieval asks for each longer query word, to decide
    whether it is rare enough for OCR tolerance) is the exact count, bounded, under the access
    filter, requested collections, hidden documents and passages, and after a deletion (the
    embedded backend answers it from its per-collection counts where only collections narrow the
    search)."""
    rows = [
        passage(i, f"archive entry {i}", doc=500 + i // 2, collection=("a", "b", "c")[i % 3], lang="uk")
        for i in range(1, 25)
    ]
    backend.write(rows)

    def reference(f: Filters) -> int:
        return len(kw_ids(backend, term("archive"), f))

    cases = [
        ALL,
        Filters(allowed_collections=frozenset({"a", "b"})),
        Filters(allowed_collections=frozenset({"a", "b"}), collections=("b", "c")),
        Filters(allowed_collections=None, collections=("c",)),
        Filters(allowed_collections=frozenset()),
        Filters(allowed_collections=frozenset({"a"}), hidden_document_ids=frozenset({501, 502})),
        Filters(allowed_collections=None, hidden_passage_ids=frozenset({3, 4, 5})),
        Filters(allowed_collections=None, langs=("uk",)),
    ]
    expected = {0: 24, 1: 16, 2: 8, 3: 8, 4: 0}
    for n, f in enumerate(cases):
        want = reference(f)
        assert want == expected.get(n, want)
        for bound in (want + 1, max(want - 1, 1), 10_000):
            res = backend.keyword_search(term("archive"), f, limit=0, exact_up_to=bound)
            answer = (want, "eq") if want <= bound else (bound, "gte")
            assert (res.total, res.total_relation) == answer, (n, bound)
        assert backend.keyword_search(term("archive"), f, limit=0).total == want
    backend.delete_documents([500, 501])  # passages 1, 2, 3
    assert backend.keyword_search(term("archive"), ALL, limit=0).total == 21 == reference(ALL)
    a_only = Filters(allowed_collections=frozenset({"a"}))
    assert backend.keyword_search(term("archive"), a_only, limit=0).total == reference(a_only) == 7
    assert backend.keyword_search(term("nowhere"), ALL, limit=0).total == 0
