"""The embedded backend's facet sample above the bound (issue 17, part 3): drawn from the
matches of the query's words as written, without the OCR-tolerant expansion of a rare word (whose
walk of every segment's term dictionary cost as much as the sample itself at 1M passages), so it
is still a part of the matches, counted no higher than they are."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from archive_search.types import IndexPassage
from index.analysis import Analyzer
from index.backend import BoolNode, Filters, TermNode
from index.embedded import EmbeddedBackend

EVERYTHING = Filters(allowed_collections=None)


def _passage(pid: int, text: str, lang: str, collection: str = "a") -> IndexPassage:
    return IndexPassage(
        passage_id=pid, document_id=pid, collection=collection, text=text, lang=lang, doc_type="text", seq=0
    )


def test_the_sample_leaves_out_the_fuzzy_expansion_and_stays_within_the_matches(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer())
    exact = [_passage(i, f"архівний фонд {i}", "uk") for i in range(1, 301)]
    damaged = [_passage(1000 + i, f"архівпий фонд {i}", "be", collection="b") for i in range(300)]
    hidden = [_passage(5000 + i, f"архівний фонд {i}", "ru") for i in range(50)]
    backend.write(exact + damaged + hidden)
    word = TermNode(("архівний",), fuzzy=1)
    query = BoolNode(should=(word,))
    f = Filters(allowed_collections=None, hidden_document_ids=frozenset(p.document_id for p in hidden))

    every = backend.keyword_search(query, f, limit=10, facets=True)
    assert every.total == 600 and every.facets["lang"] == {"uk": 300, "be": 300}

    bounded = backend.keyword_search(query, f, limit=10, facets=True, exact_up_to=60)
    assert (bounded.total, bounded.total_relation, bounded.facets_approximate) == (60, "gte", True)
    assert [h.passage_id for h in bounded.hits] == [h.passage_id for h in every.hits]
    # the exact word's matches only: no OCR-damaged ("be") passage, no hidden ("ru") one
    sampled = bounded.facets["lang"]
    assert set(sampled) == {"uk"} and 0 < sampled["uk"] <= 300
    assert bounded.facets["collection"] == {"a": sampled["uk"]}
    assert bounded.documents == sampled["uk"]
    # about the bound's share of the matches: the buckets hold ~60/600 of the passages
    assert 10 <= sampled["uk"] <= 60
    # the same buckets (60 of 600 matches, 30 of 300) as the query without the fuzzy word
    plain = backend.keyword_search(BoolNode(should=(TermNode(("архівний",)),)), f, limit=10, facets=True)
    assert plain.total == 300
    assert Counter(bounded.facets["lang"]) == Counter(
        backend.keyword_search(
            BoolNode(should=(TermNode(("архівний",)),)), f, limit=10, facets=True, exact_up_to=30
        ).facets["lang"]
    )


def test_without_a_fuzzy_word_the_sample_is_as_before(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer())
    backend.write([_passage(i, f"архівний фонд {i}", ("uk", "ru")[i % 2]) for i in range(1, 401)])
    query = BoolNode(should=(TermNode(("архівний",)),))
    res = backend.keyword_search(query, EVERYTHING, limit=5, facets=True, exact_up_to=40)
    assert (res.total, res.total_relation, res.facets_approximate) == (40, "gte", True)
    langs = res.facets["lang"]
    assert set(langs) <= {"uk", "ru"} and 10 <= sum(langs.values()) <= 80


def test_between_the_bound_and_twice_it_every_exact_match_is_counted(tmp_path: Path) -> None:
    """Up to twice the bound no buckets are drawn: every match of the words as written is counted
    (the fuzzy expansion still left out: the facets are marked approximate there too)."""
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer())
    exact = [_passage(i, f"архівний фонд {i}", "uk") for i in range(1, 31)]
    damaged = [_passage(1000 + i, f"архівпий фонд {i}", "be") for i in range(20)]
    backend.write(exact + damaged)
    query = BoolNode(should=(TermNode(("архівний",), fuzzy=1),))
    res = backend.keyword_search(query, EVERYTHING, limit=5, facets=True, exact_up_to=40)
    assert (res.total, res.total_relation, res.facets_approximate) == (40, "gte", True)
    assert res.facets["lang"] == {"uk": 30} and res.documents == 30
    below = backend.keyword_search(query, EVERYTHING, limit=5, facets=True, exact_up_to=50)
    assert (below.total, below.total_relation, below.facets_approximate) == (50, "eq", False)
    assert below.facets["lang"] == {"uk": 30, "be": 20} and below.documents == 50
