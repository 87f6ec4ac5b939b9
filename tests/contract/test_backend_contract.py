"""The search backend contract: every ``SearchBackend`` passes these tests unchanged.

The data is small, multilingual and deterministic (vectors come from ``numpy.random.RandomState``
seeded per passage, normalised, dimension 16). Queries are built the way the search service
builds them: terms come from the shared analyser.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from archive_search.types import IndexPassage
from index.analysis import Analyzer
from index.backend import (
    ENTITY_FACETS,
    FACET_FIELDS,
    BackendResult,
    BoolNode,
    Filters,
    PhraseNode,
    QueryNode,
    SearchBackend,
    TermNode,
)
from tests.contract.conftest import DIM, BackendFactory, OpenBackend, PlainAnalyzer

ALL = Filters(allowed_collections=None)
"""No restriction (an administrator)."""
EVERYTHING = 10_000


# -- helpers -------------------------------------------------------------------------------------


def vec(seed: int) -> list[float]:
    v = np.random.RandomState(seed).standard_normal(DIM)
    return [float(x) for x in v / np.linalg.norm(v)]


def passage(
    pid: int,
    text: str,
    *,
    doc: int | None = None,
    collection: str = "a",
    lang: str = "en",
    doc_type: str = "text",
    tags: Sequence[str] = (),
    doc_date: date | None = None,
    vector: bool | list[float] = True,
    entities: Sequence[str] = (),
) -> IndexPassage:
    return IndexPassage(
        passage_id=pid,
        document_id=pid if doc is None else doc,
        collection=collection,
        text=text,
        lang=lang,
        doc_type=doc_type,
        seq=0,
        doc_date=doc_date,
        tags=list(tags),
        entities=list(entities),
        vector=(vec(pid) if vector is True else None) if isinstance(vector, bool) else vector,
    )


_AN = PlainAnalyzer()


def term(word: str, *, prefix: bool = False) -> TermNode:
    return TermNode(_AN.query_terms(word), prefix=prefix)


def phrase(text: str, slop: int = 0) -> PhraseNode:
    return PhraseNode(tuple(_AN.query_terms(w) for w in text.split()), slop=slop)


def ids(result: BackendResult) -> list[int]:
    return [h.passage_id for h in result.hits]


def kw_ids(backend: SearchBackend, query: QueryNode | None, filters: Filters = ALL) -> set[int]:
    res = backend.keyword_search(query, filters, limit=EVERYTHING)
    found = ids(res)
    assert len(found) == len(set(found)), f"duplicate hits: {found}"
    assert res.total == len(found)
    return set(found)


def vec_ids(backend: SearchBackend, filters: Filters = ALL, seed: int = 999) -> set[int]:
    res = backend.vector_search(vec(seed), filters, limit=EVERYTHING)
    found = ids(res)
    assert len(found) == len(set(found)), f"duplicate hits: {found}"
    return set(found)


def brute_force(query: Sequence[float], passages: Iterable[IndexPassage]) -> list[int]:
    q = np.asarray(query)
    sims = [(float(np.dot(q, np.asarray(p.vector))), p.passage_id) for p in passages if p.vector]
    return [pid for _, pid in sorted(sims, key=lambda t: -t[0])]


def expected_facets(passages: Iterable[IndexPassage]) -> dict[str, dict[str, int]]:
    ps = list(passages)
    return {
        "lang": dict(Counter(p.lang for p in ps)),
        "collection": dict(Counter(p.collection for p in ps)),
        "type": dict(Counter(p.doc_type for p in ps)),
        "tag": dict(Counter(t for p in ps for t in set(p.tags))),
        "date": dict(Counter(str(p.doc_date.year) for p in ps if p.doc_date is not None)),
        **{
            facet: dict(
                Counter(e.partition(":")[2] for p in ps for e in set(p.entities) if e.startswith(fld + ":"))
            )
            for facet, fld in {**ENTITY_FACETS, "meta": "meta"}.items()
        },
    }


def nonzero(facets: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Facets with every field present and zero buckets dropped (backends may omit or list them)."""
    assert set(FACET_FIELDS) <= set(facets), f"facet fields missing: {sorted(facets)}"
    return {f: {k: n for k, n in facets[f].items() if n} for f in FACET_FIELDS}


def matches(p: IndexPassage, f: Filters) -> bool:
    """The reference semantics of ``Filters`` (tags: any of; dates inclusive; no date: excluded)."""
    cols = f.effective_collections()
    if cols is not None and p.collection not in cols:
        return False
    if f.langs and p.lang not in f.langs:
        return False
    if f.types and p.doc_type not in f.types:
        return False
    if f.tags and not set(f.tags) & set(p.tags):
        return False
    if any(not set(group) & set(p.entities) for group in f.entities):
        return False
    if (f.date_from or f.date_to) and p.doc_date is None:
        return False
    if f.date_from and p.doc_date and p.doc_date < f.date_from:
        return False
    return not (f.date_to and p.doc_date and p.doc_date > f.date_to)


# a small multilingual archive with every filter field varied; some passages have no date
CORPUS: list[IndexPassage] = [
    passage(
        1,
        "Архив городской думы хранит протоколы заседаний",
        doc=10,
        collection="a",
        lang="ru",
        doc_type="pdf",
        tags=["council"],
        entities=["person:1", "place:2", "meta:4=2022-03-05"],
        doc_date=date(1990, 5, 1),
    ),
    passage(
        2,
        "Протоколы заседаний думы за 1991 год, архив",
        doc=10,
        collection="a",
        lang="ru",
        doc_type="pdf",
        tags=["council", "minutes"],
        entities=["person:1"],
        doc_date=date(1991, 3, 15),
    ),
    passage(
        3,
        "Міська рада ухвалила рішення про архів",
        doc=11,
        collection="a",
        lang="uk",
        doc_type="scan",
        tags=["council"],
        doc_date=date(1995, 1, 1),
    ),
    passage(
        4,
        "Гарадскі архіў захоўвае дакументы і пратаколы",
        doc=12,
        collection="b",
        lang="be",
        doc_type="scan",
        tags=["minutes"],
        entities=["org:3", "person:5", "meta:4=2022-03-10", "meta:7=full"],
        doc_date=None,
    ),
    passage(
        5,
        "The city archive keeps the council minutes",
        doc=13,
        collection="b",
        lang="en",
        doc_type="text",
        tags=["council", "minutes"],
        entities=["place:2"],
        doc_date=date(2001, 12, 31),
    ),
    passage(
        6,
        "Interview transcript about the flood of 1993",
        doc=14,
        collection="c",
        lang="en",
        doc_type="transcript",
        tags=[],
        doc_date=date(1993, 6, 1),
    ),
    passage(
        7,
        "Ёлка на площади у архива, зима",
        doc=15,
        collection="c",
        lang="ru",
        doc_type="text",
        tags=["photo"],
        entities=["person:1", "org:3"],
        doc_date=None,
    ),
    passage(
        8,
        "Letters from the mayor, undated archive box",
        doc=16,
        collection="a",
        lang="en",
        doc_type="text",
        tags=["letters"],
        doc_date=None,
    ),
]


@pytest.fixture
def loaded(backend: SearchBackend) -> SearchBackend:
    backend.write(CORPUS)
    return backend


# -- basics --------------------------------------------------------------------------------------


def test_implements_protocol(backend: SearchBackend) -> None:
    assert isinstance(backend, SearchBackend)
    assert isinstance(backend.name, str) and backend.name


def test_backend_module_available(backend_factory: BackendFactory, backend_name: str) -> None:
    """Runs in the test body so a missing backend module is a FAILED test, not an error or skip."""
    if backend_name == "opensearch":
        from index.opensearch import OpenSearchBackend  # type: ignore[import-not-found]

        assert OpenSearchBackend is not None
    assert callable(backend_factory)


def test_health_ok(backend: SearchBackend) -> None:
    h = backend.health()
    assert isinstance(h, dict)
    assert h["status"] == "ok"


def test_has_vectors_only_after_vectors_written(backend: SearchBackend) -> None:
    assert backend.has_vectors() is False
    backend.write([passage(1, "no vector here", vector=False)])
    assert backend.has_vectors() is False
    backend.write([passage(2, "a vector here")])
    assert backend.has_vectors() is True


def test_empty_backend_answers_empty(backend: SearchBackend) -> None:
    assert backend.count(ALL) == 0
    res = backend.keyword_search(None, ALL, limit=10, facets=True)
    assert res.hits == [] and res.total == 0
    assert not any(nonzero(res.facets).values())
    assert backend.vector_search(vec(1), ALL, limit=10).hits == []


# -- keyword search ------------------------------------------------------------------------------


def test_write_then_keyword_search_finds_by_term(loaded: SearchBackend) -> None:
    assert kw_ids(loaded, term("протоколы")) == {1, 2}
    assert kw_ids(loaded, term("Протоколы")) == {1, 2}  # the analyser folds case
    assert kw_ids(loaded, term("рішення")) == {3}
    assert kw_ids(loaded, term("архіў")) == {4}
    assert kw_ids(loaded, term("ёлка")) == {7}
    assert kw_ids(loaded, term("елка")) == {7}  # ё folds to е
    assert kw_ids(loaded, term("minutes")) == {5}
    assert kw_ids(loaded, term("nonexistentword")) == set()
    res = loaded.keyword_search(term("архив"), ALL, limit=10)
    assert {h.passage_id: h.document_id for h in res.hits} == {1: 10, 2: 10}
    assert all(h.score > 0 for h in res.hits)


def test_keyword_none_query_matches_every_visible_passage(loaded: SearchBackend) -> None:
    assert kw_ids(loaded, None) == {p.passage_id for p in CORPUS}
    assert loaded.count(ALL) == len(CORPUS)


def test_bm25_term_twice_ranks_above_once(backend: SearchBackend) -> None:
    backend.write(
        [
            passage(1, "river bank stone wall"),
            passage(2, "river river stone wall"),
            passage(3, "field bank stone wall"),
        ]
    )
    res = backend.keyword_search(term("river"), ALL, limit=10)
    assert ids(res) == [2, 1]
    assert res.hits[0].score > res.hits[1].score


def test_phrase_consecutive_positions_and_order(backend: SearchBackend) -> None:
    backend.write(
        [
            passage(1, "старый городской архив открыт"),
            passage(2, "архив городской старый закрыт"),
            passage(3, "городской старый архив"),
        ]
    )
    assert kw_ids(backend, phrase("городской архив")) == {1}
    assert kw_ids(backend, phrase("архив городской")) == {2}
    assert kw_ids(backend, phrase("старый городской архив")) == {1}
    # both words anywhere: all three
    assert kw_ids(backend, BoolNode(must=(term("городской"), term("архив")))) == {1, 2, 3}


def test_phrase_with_slop(backend: SearchBackend) -> None:
    backend.write(
        [
            passage(1, "quick brown fox"),
            passage(2, "quick red brown fox"),
            passage(3, "quick red old brown fox"),
        ]
    )
    assert kw_ids(backend, phrase("quick brown", slop=0)) == {1}
    assert kw_ids(backend, phrase("quick brown", slop=1)) == {1, 2}
    assert kw_ids(backend, phrase("quick brown", slop=2)) == {1, 2, 3}


def test_bool_must_should_must_not(backend: SearchBackend) -> None:
    backend.write(
        [
            passage(1, "apple banana"),
            passage(2, "apple cherry"),
            passage(3, "banana cherry"),
            passage(4, "apple banana cherry"),
            passage(5, "plum"),
        ]
    )
    apple, banana, cherry = term("apple"), term("banana"), term("cherry")
    assert kw_ids(backend, BoolNode(must=(apple, banana))) == {1, 4}
    assert kw_ids(backend, BoolNode(should=(apple, banana))) == {1, 2, 3, 4}
    assert kw_ids(backend, BoolNode(must=(apple,), must_not=(cherry,))) == {1}
    assert kw_ids(backend, BoolNode(must_not=(cherry,))) == {1, 5}  # pure negation: all but
    assert kw_ids(backend, BoolNode(must=(BoolNode(should=(banana, cherry)),), must_not=(apple,))) == {3}
    # should only raises the score of passages that already satisfy the must clauses
    res = backend.keyword_search(BoolNode(must=(apple,), should=(cherry,)), ALL, limit=10)
    assert set(ids(res)) == {1, 2, 4}
    assert set(ids(res)[:2]) == {2, 4} and ids(res)[2] == 1
    # more satisfied should clauses rank higher
    res = backend.keyword_search(BoolNode(should=(apple, banana, cherry)), ALL, limit=10)
    assert ids(res)[0] == 4


def test_prefix_term(backend: SearchBackend) -> None:
    backend.write(
        [
            passage(1, "archival records"),
            passage(2, "the architecture"),
            passage(3, "march of time"),
            passage(4, "архивные документы"),
            passage(5, "Архитектура города"),
            passage(6, "монархия"),
        ]
    )
    assert kw_ids(backend, term("arch", prefix=True)) == {1, 2}
    assert kw_ids(backend, term("Арх", prefix=True)) == {4, 5}
    assert kw_ids(backend, term("архивн", prefix=True)) == {4}
    assert kw_ids(backend, term("arch")) == set()  # not a prefix query: exact term only


def test_fuzzy_term(backend: SearchBackend) -> None:
    backend.write([passage(1, "archive box"), passage(2, "archiv box"), passage(3, "orchard box")])
    assert kw_ids(backend, TermNode(("archive",))) == {1}
    res = backend.keyword_search(TermNode(("archive",), fuzzy=1), ALL, limit=10)
    assert ids(res) == [1, 2]  # the exact form ranks above the one-edit variant
    assert kw_ids(backend, TermNode(("orchardd",), fuzzy=1)) == {3}


def test_term_alternatives_match_any(backend: SearchBackend) -> None:
    backend.write([passage(1, "colour film"), passage(2, "color film"), passage(3, "black film")])
    assert kw_ids(backend, TermNode(("colour", "color"))) == {1, 2}
    assert kw_ids(backend, TermNode(("nonexistent", "black"))) == {3}


class _TranslitAnalyzer(PlainAnalyzer):
    """Indexes a Latin transliteration as a second term at the same position as each word."""

    _MAP = str.maketrans("архивгодскйетлынму", "arhivgodskjetlynmu")

    def terms_for(self, word: str) -> tuple[str, ...]:
        (canonical,) = super().terms_for(word)
        latin = canonical.translate(self._MAP)
        return (canonical,) if latin == canonical else (canonical, latin)


def test_several_terms_at_one_position(open_backend: OpenBackend, tmp_path: Path) -> None:
    """A token indexed under several terms matches by any of them; phrases still line up."""
    an = _TranslitAnalyzer()
    b = open_backend(tmp_path / "translit", an)
    b.write([passage(1, "городской архив"), passage(2, "архив городской"), passage(3, "gorodskoj arhiv")])

    def t(w: str) -> TermNode:
        return TermNode(an.query_terms(w))

    assert kw_ids(b, TermNode(("архив",))) == {1, 2}
    assert kw_ids(b, t("архив")) == {1, 2, 3}  # query word with its alternative key
    assert kw_ids(b, TermNode(("arhiv",))) == {1, 2, 3}  # the alternative key matches Cyrillic text
    assert kw_ids(b, TermNode(("arh",), prefix=True)) == {1, 2, 3}
    # a phrase of alternatives: positions are shared, so the Latin phrase finds the Cyrillic text
    assert kw_ids(b, PhraseNode((("gorodskoj",), ("arhiv",)))) == {1, 3}
    # a phrase must match by the canonical terms; matching further alternatives is allowed
    assert {1} <= kw_ids(b, PhraseNode((an.query_terms("городской"), an.query_terms("архив")))) <= {1, 3}


# -- upsert and delete ---------------------------------------------------------------------------


def test_write_same_passage_id_twice_is_an_upsert(backend: SearchBackend) -> None:
    backend.write([passage(1, "old orange text", vector=vec(101)), passage(2, "unrelated words")])
    backend.write([passage(1, "new lemon text", vector=vec(202))])
    assert kw_ids(backend, term("text")) == {1}
    assert kw_ids(backend, term("orange")) == set()
    assert kw_ids(backend, term("lemon")) == {1}
    assert backend.count(ALL) == 2
    res = backend.vector_search(vec(202), ALL, limit=10)
    assert sorted(ids(res)) == [1, 2]
    assert ids(res)[0] == 1


def test_upsert_moves_passage_between_collections(backend: SearchBackend) -> None:
    backend.write([passage(1, "secret report", collection="a", tags=["x"])])
    backend.write([passage(1, "secret report", collection="b", tags=["y"], vector=vec(5))])
    only_a = Filters(allowed_collections=frozenset({"a"}))
    assert kw_ids(backend, term("secret"), only_a) == set()
    assert vec_ids(backend, only_a) == set()
    assert backend.count(only_a) == 0
    assert kw_ids(backend, None, Filters(allowed_collections=None, tags=("x",))) == set()
    assert vec_ids(backend, Filters(allowed_collections=None, tags=("x",))) == set()
    assert vec_ids(backend, Filters(allowed_collections=frozenset({"b"}), tags=("y",))) == {1}


def test_upsert_without_vector_drops_the_old_vector(
    backend: SearchBackend, request: pytest.FixtureRequest, backend_name: str
) -> None:
    backend.write([passage(1, "secret report", collection="a")])
    backend.write([passage(1, "secret report", collection="b", vector=False)])
    assert vec_ids(backend, Filters(allowed_collections=frozenset({"a"}))) == set()
    assert vec_ids(backend) == set()
    assert backend.has_vectors() is False


def test_rewrite_batch_of_passages_with_vectors(
    backend: SearchBackend, request: pytest.FixtureRequest, backend_name: str
) -> None:
    first = [passage(i, f"passage number {i}", vector=vec(i)) for i in range(1, 6)]
    backend.write(first)
    again = [replace(p, vector=vec(100 + p.passage_id)) for p in first]
    backend.write(again)
    res = backend.vector_search(vec(103), ALL, limit=10)
    assert sorted(ids(res)) == [1, 2, 3, 4, 5]
    assert ids(res) == brute_force(vec(103), again)


def test_delete_documents_removes_keyword_and_vector(loaded: SearchBackend) -> None:
    # document 10 has passages 1 and 2
    loaded.delete_documents([10, 999])  # an unknown id is ignored
    assert kw_ids(loaded, term("протоколы")) == set()
    assert kw_ids(loaded, None) == {3, 4, 5, 6, 7, 8}
    assert vec_ids(loaded) == {3, 4, 5, 6, 7, 8}
    assert ids(loaded.vector_search(vec(1), ALL, limit=1)) != [1]
    assert loaded.count(ALL) == 6
    assert nonzero(loaded.facet_counts(None, ALL)) == expected_facets(
        p for p in CORPUS if p.document_id != 10
    )
    loaded.delete_documents([])
    assert loaded.count(ALL) == 6


def test_delete_then_write_again(backend: SearchBackend) -> None:
    backend.write([passage(1, "first version", doc=1), passage(2, "other", doc=2)])
    backend.delete_documents([1])
    backend.write([passage(1, "second version", doc=1, vector=vec(77))])
    assert kw_ids(backend, term("version")) == {1}
    assert kw_ids(backend, term("first")) == set()
    assert ids(backend.vector_search(vec(77), ALL, limit=1)) == [1]
    assert vec_ids(backend) == {1, 2}


# -- filters -------------------------------------------------------------------------------------

FILTER_CASES: dict[str, Filters] = {
    "collections": Filters(allowed_collections=None, collections=("a",)),
    "collections-two": Filters(allowed_collections=None, collections=("b", "c")),
    "langs": Filters(allowed_collections=None, langs=("ru",)),
    "langs-two": Filters(allowed_collections=None, langs=("uk", "be")),
    "types": Filters(allowed_collections=None, types=("scan",)),
    "tags": Filters(allowed_collections=None, tags=("minutes",)),
    "tags-any-of": Filters(allowed_collections=None, tags=("letters", "photo")),
    "date-from": Filters(allowed_collections=None, date_from=date(1993, 6, 1)),
    "date-to": Filters(allowed_collections=None, date_to=date(1991, 3, 15)),
    "date-range": Filters(allowed_collections=None, date_from=date(1991, 1, 1), date_to=date(1995, 1, 1)),
    "combined": Filters(
        allowed_collections=None,
        collections=("a", "b"),
        langs=("ru", "en"),
        tags=("council",),
        date_from=date(1991, 1, 1),
    ),
    "combined-empty": Filters(allowed_collections=None, langs=("uk",), types=("pdf",)),
    "entity": Filters(allowed_collections=None, entities=(("person:1",),)),
    "entity-any-of": Filters(allowed_collections=None, entities=(("org:3", "place:2"),)),
    "entity-two-groups": Filters(allowed_collections=None, entities=(("person:1",), ("place:2",))),
    "entity-unknown": Filters(allowed_collections=None, entities=(("person:99",),)),
    "entity-allowed-a": Filters(allowed_collections=frozenset({"a"}), entities=(("person:1", "org:3"),)),
    "meta": Filters(allowed_collections=None, entities=(("meta:4=2022-03-05", "meta:4=2022-03-10"),)),
    "meta-and-entity": Filters(allowed_collections=None, entities=(("meta:7=full",), ("person:5",))),
    "meta-allowed-a": Filters(allowed_collections=frozenset({"a"}), entities=(("meta:7=full",),)),
    "unknown-collection": Filters(allowed_collections=None, collections=("zzz",)),
    "allowed-a": Filters(allowed_collections=frozenset({"a"})),
    "allowed-a-c-langs": Filters(allowed_collections=frozenset({"a", "c"}), langs=("ru",)),
    "allowed-a-requested-a-b": Filters(allowed_collections=frozenset({"a"}), collections=("a", "b")),
    "allowed-a-requested-b": Filters(allowed_collections=frozenset({"a"}), collections=("b",)),
    "allowed-nothing": Filters(allowed_collections=frozenset()),
    "default-fails-closed": Filters(),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filters_keyword_vector_count_facets_agree(loaded: SearchBackend, case: str) -> None:
    f = FILTER_CASES[case]
    want = [p for p in CORPUS if matches(p, f)]
    want_ids = {p.passage_id for p in want}
    assert kw_ids(loaded, None, f) == want_ids
    assert kw_ids(loaded, term("архив"), f) == want_ids & {1, 2}
    assert vec_ids(loaded, f) == want_ids
    assert loaded.count(f) == len(want)
    assert nonzero(loaded.facet_counts(None, f)) == expected_facets(want)
    res = loaded.keyword_search(None, f, limit=3, facets=True)
    assert res.total == len(want)
    assert nonzero(res.facets) == expected_facets(want)


def test_filter_reference_semantics_are_not_vacuous() -> None:
    """Each filter case above selects what it is meant to (guards the expectations themselves)."""
    sel = {name: {p.passage_id for p in CORPUS if matches(p, f)} for name, f in FILTER_CASES.items()}
    assert sel["date-from"] == {3, 5, 6}  # 1993-06-01 inclusive; undated 4, 7, 8 excluded
    assert sel["date-to"] == {1, 2}  # 1991-03-15 inclusive
    assert sel["date-range"] == {2, 3, 6}
    assert sel["combined"] == {2, 5}
    assert sel["tags-any-of"] == {7, 8}
    assert sel["allowed-a-requested-b"] == set() and sel["allowed-nothing"] == set()
    assert sel["default-fails-closed"] == set()


def test_access_filter_empty_set_returns_nothing(loaded: SearchBackend) -> None:
    nothing = Filters(allowed_collections=frozenset())
    for q in (None, term("архив"), BoolNode(must_not=(term("zzz"),)), phrase("council minutes")):
        res = loaded.keyword_search(q, nothing, limit=10, facets=True)
        assert res.hits == [] and res.total == 0
        assert not any(nonzero(res.facets).values())
        assert not any(nonzero(loaded.facet_counts(q, nothing)).values())
    assert loaded.count(nothing) == 0
    assert loaded.vector_search(vec(1), nothing, limit=10).hits == []
    # requested collections do not widen an empty access set
    assert loaded.count(Filters(allowed_collections=frozenset(), collections=("a", "b"))) == 0


def test_access_filter_never_leaks_a_stronger_other_collection(backend: SearchBackend) -> None:
    strong = [
        passage(
            100 + i,
            "archive " * 6 + f"strong {i}",
            collection="b",
            tags=["hidden"],
            lang="uk",
            vector=vec(500),
        )  # b holds the exact query vector and the best BM25 scores
        for i in range(10)
    ]
    weak = [
        passage(i, f"one archive mention among many other words here {i}", collection="a", vector=vec(i))
        for i in range(1, 4)
    ]
    backend.write(strong + weak)
    only_a = Filters(allowed_collections=frozenset({"a"}))
    for limit in (1, 2, 3, 10):
        res = backend.keyword_search(term("archive"), only_a, limit=limit, facets=True)
        assert set(ids(res)) <= {1, 2, 3} and len(res.hits) == min(limit, 3)
        assert res.total == 3
        assert nonzero(res.facets) == expected_facets(weak)
        vres = backend.vector_search(vec(500), only_a, limit=limit)
        assert ids(vres) == brute_force(vec(500), weak)[:limit]
        assert vres.total <= 3  # never counts what the caller may not see
    assert backend.count(only_a) == 3
    assert nonzero(backend.facet_counts(term("archive"), only_a)) == expected_facets(weak)
    assert nonzero(backend.facet_counts(None, only_a))["tag"] == {}
    # requesting the other collection explicitly changes nothing
    a_asks_b = Filters(allowed_collections=frozenset({"a"}), collections=("b",))
    assert backend.keyword_search(term("archive"), a_asks_b, limit=10).total == 0
    assert backend.vector_search(vec(500), a_asks_b, limit=10).hits == []
    assert backend.count(a_asks_b) == 0


def test_selective_filter_never_empties_top_k(backend: SearchBackend) -> None:
    big = [passage(i, f"big passage {i}", collection="big") for i in range(1, 301)]
    small = [passage(1000 + i, f"small passage {i}", collection="small") for i in range(5)]
    backend.write(big + small)
    query = vec(150)  # identical to a passage of "big": many big passages are nearer than any small
    allowed_small = Filters(allowed_collections=frozenset({"small"}))
    res = backend.vector_search(query, allowed_small, limit=5)
    assert ids(res) == brute_force(query, small)
    assert all(a.score >= b.score for a, b in itertools.pairwise(res.hits))
    assert ids(backend.vector_search(query, allowed_small, limit=3)) == brute_force(query, small)[:3]
    requested_small = Filters(allowed_collections=None, collections=("small",))
    assert ids(backend.vector_search(query, requested_small, limit=5)) == brute_force(query, small)
    # and unfiltered, the nearest neighbours overall
    assert ids(backend.vector_search(query, ALL, limit=10)) == brute_force(query, big + small)[:10]
    # the keyword side too
    assert kw_ids(backend, term("passage"), allowed_small) == {p.passage_id for p in small}


# -- facets and pagination -----------------------------------------------------------------------


def test_facets_match_the_matching_set(loaded: SearchBackend) -> None:
    q = term("архив")
    res = loaded.keyword_search(q, ALL, limit=1, facets=True)
    assert nonzero(res.facets) == expected_facets(p for p in CORPUS if p.passage_id in {1, 2})
    assert nonzero(loaded.facet_counts(q, ALL)) == expected_facets(
        p for p in CORPUS if p.passage_id in {1, 2}
    )
    everything = nonzero(loaded.facet_counts(None, ALL))
    assert everything == expected_facets(CORPUS)
    assert everything["tag"] == {"council": 4, "minutes": 3, "photo": 1, "letters": 1}
    assert everything["collection"] == {"a": 4, "b": 2, "c": 2}
    q2 = BoolNode(should=(term("archive"), term("архив"), term("архів")))
    want = [p for p in CORPUS if p.passage_id in {1, 2, 3, 5, 8}]
    assert kw_ids(loaded, q2) == {1, 2, 3, 5, 8}
    assert nonzero(loaded.facet_counts(q2, ALL)) == expected_facets(want)


def test_pagination_concatenates_to_full_ranking(backend: SearchBackend) -> None:
    # seven term frequencies (ties within each); fillers make every passage the same length
    docs = [
        passage(i, " ".join(["needle"] * (i % 7 + 1) + [f"filler{j}" for j in range(8 - (i % 7 + 1))]))
        for i in range(1, 24)
    ]
    docs.append(passage(99, "no match here"))
    backend.write(docs)
    q = term("needle")
    full = backend.keyword_search(q, ALL, limit=100)
    assert full.total == 23 and len(full.hits) == 23
    scores = [h.score for h in full.hits]
    assert scores == sorted(scores, reverse=True)
    pages: list[int] = []
    for offset in range(0, 30, 5):
        page = backend.keyword_search(q, ALL, limit=5, offset=offset)
        assert page.total == 23
        assert len(page.hits) == max(0, min(5, 23 - offset))
        pages += ids(page)
    assert len(pages) == len(set(pages)) == 23
    # equal scores may come in any order, but the ranking by score is the same
    by_id = {h.passage_id: h.score for h in full.hits}
    assert [by_id[i] for i in pages] == pytest.approx(scores)
    assert [by_id[i] for i in pages] == sorted((by_id[i] for i in pages), reverse=True)
    assert set(pages) == set(ids(full))
    # without a query (every passage), pages also cover everything exactly once
    seen: list[int] = []
    for offset in range(0, 24, 7):
        seen += ids(backend.keyword_search(None, ALL, limit=7, offset=offset))
    assert sorted(seen) == sorted(p.passage_id for p in docs)


def test_limit_zero_counts_without_hits(loaded: SearchBackend) -> None:
    res = loaded.keyword_search(term("архив"), ALL, limit=0)
    assert res.hits == [] and res.total == 2


# -- lifecycle -----------------------------------------------------------------------------------


def test_clear_empties_everything_and_reindex_works(loaded: SearchBackend) -> None:
    loaded.clear()
    assert loaded.count(ALL) == 0
    assert kw_ids(loaded, None) == set()
    assert kw_ids(loaded, term("архив")) == set()
    assert loaded.vector_search(vec(1), ALL, limit=10).hits == []
    assert loaded.has_vectors() is False
    assert not any(nonzero(loaded.facet_counts(None, ALL)).values())
    # the re-index path: write everything again
    loaded.write(CORPUS)
    assert kw_ids(loaded, term("архив")) == {1, 2}
    assert loaded.count(ALL) == len(CORPUS)
    assert ids(loaded.vector_search(vec(3), ALL, limit=1)) == [3]
    assert loaded.has_vectors() is True
    assert loaded.health()["status"] == "ok"


def test_persistence_across_instances(open_backend: OpenBackend, tmp_path: Path) -> None:
    location = tmp_path / "persist"
    first = open_backend(location)
    first.write(CORPUS)
    first.delete_documents([11])
    queries: list[QueryNode | None] = [
        None,
        term("архив"),
        phrase("council minutes"),
        term("arch", prefix=True),
    ]
    filt = Filters(allowed_collections=frozenset({"a", "b"}))

    def snapshot(b: SearchBackend) -> object:
        kw = [
            [(h.passage_id, h.document_id, round(h.score, 4)) for h in b.keyword_search(q, f, limit=20).hits]
            for q in queries
            for f in (ALL, filt)
        ]
        vs = [
            [(h.passage_id, round(h.score, 4)) for h in b.vector_search(vec(s), f, limit=5).hits]
            for s in (1, 5, 999)
            for f in (ALL, filt)
        ]
        return kw, vs, b.count(ALL), b.count(filt), nonzero(b.facet_counts(None, ALL)), b.has_vectors()

    before = snapshot(first)
    first.close()
    second = open_backend(location)
    after = snapshot(second)
    assert after == before
    assert second.count(ALL) == len(CORPUS) - 1
    assert second.has_vectors() is True
    # the reopened backend keeps working
    second.write([passage(50, "fresh archive passage", collection="a")])
    assert 50 in kw_ids(second, term("archive"))
    assert ids(second.vector_search(vec(50), ALL, limit=1)) == [50]


def test_vector_scores_are_cosine_ordered(loaded: SearchBackend) -> None:
    q = vec(3)
    res = loaded.vector_search(q, ALL, limit=len(CORPUS))
    assert ids(res) == brute_force(q, CORPUS)
    assert all(not math.isnan(h.score) for h in res.hits)
    assert all(a.score >= b.score for a, b in itertools.pairwise(res.hits))
    assert ids(loaded.vector_search(q, ALL, limit=2)) == brute_force(q, CORPUS)[:2]


def test_with_the_project_analyzer(open_backend: OpenBackend, tmp_path: Path) -> None:
    """With the real (morphological) analyser: every word finds its passage, every two
    consecutive words find it as a phrase, and the access filter still holds."""
    an = Analyzer()
    b = open_backend(tmp_path / "project-analyzer", an)
    b.write(CORPUS)
    for p in CORPUS:
        words = [p.text[t.start : t.end] for t in an.tokens(p.text)]
        for w in words:
            assert p.passage_id in kw_ids(b, TermNode(an.query_terms(w))), w
        for w1, w2 in itertools.pairwise(words):
            node = PhraseNode((an.query_terms(w1), an.query_terms(w2)))
            assert p.passage_id in kw_ids(b, node), (w1, w2)
    only_b = Filters(allowed_collections=frozenset({"b"}))
    every_word = BoolNode(should=tuple(TermNode(an.query_terms(w)) for p in CORPUS for w in p.text.split()))
    assert kw_ids(b, every_word, only_b) == {4, 5}
    assert nonzero(b.facet_counts(every_word, only_b))["collection"] == {"b": 2}


def test_clear_is_persistent(open_backend: OpenBackend, tmp_path: Path) -> None:
    location = tmp_path / "cleared"
    first = open_backend(location)
    first.write(CORPUS)
    first.clear()
    first.close()
    second = open_backend(location)
    assert second.count(ALL) == 0
    assert second.has_vectors() is False
    assert second.vector_search(vec(1), ALL, limit=5).hits == []
    assert kw_ids(second, term("архив")) == set()


def test_delete_after_reopen(open_backend: OpenBackend, tmp_path: Path) -> None:
    location = tmp_path / "reopened"
    first = open_backend(location)
    first.write(CORPUS)
    first.close()
    second = open_backend(location)
    second.delete_documents([13])  # passage 5
    assert 5 not in vec_ids(second)
    assert 5 not in kw_ids(second, None)
    second.close()
    third = open_backend(location)
    assert vec_ids(third) == {p.passage_id for p in CORPUS} - {5}
    assert third.count(ALL) == len(CORPUS) - 1


def test_delete_then_rewrite_batch_with_vectors(
    backend: SearchBackend, request: pytest.FixtureRequest, backend_name: str
) -> None:
    first = [passage(i, f"passage number {i}", doc=1) for i in range(1, 6)] + [passage(10, "other", doc=2)]
    backend.write(first)
    backend.delete_documents([1])
    again = [replace(p, vector=vec(100 + p.passage_id)) for p in first[:5]]
    backend.write(again)
    assert ids(backend.vector_search(vec(103), ALL, limit=10)) == brute_force(vec(103), [*again, first[5]])
    backend.write([passage(20, "later", doc=3), passage(21, "later", doc=3)])
    assert vec_ids(backend) == {1, 2, 3, 4, 5, 10, 20, 21}


# -- every hit: search-after pages and the exhaustive iteration (issue 16) -------------------------


def test_cursor_pages_and_iteration_give_every_hit_once_in_rank_order(loaded: SearchBackend) -> None:
    from index.backend import Cursor

    for query, filters in (
        (None, ALL),
        (term("архив"), ALL),
        (None, Filters(allowed_collections=frozenset())),
    ):
        everything = loaded.keyword_search(query, filters, limit=EVERYTHING)
        streamed = list(loaded.iter_keyword(query, filters, chunk=2))
        assert [h.passage_id for h in streamed] == ids(everything)
        assert [h.score for h in streamed] == sorted((h.score for h in streamed), reverse=True)
        paged: list[int] = []
        after: Cursor | None = None
        while True:
            page = loaded.keyword_after(query, filters, after=after, size=3)
            paged += [h.passage_id for h in page]
            if len(page) < 3:
                break
            after = Cursor(page[-1].score, page[-1].passage_id, len(paged))
        assert paged == ids(everything) and len(paged) == everything.total
