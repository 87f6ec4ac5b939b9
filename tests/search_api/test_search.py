"""Search on the ingested sample archive, in every language, through the service layer."""

from __future__ import annotations

import pytest

from archive_search.errors import QuerySyntaxError
from archive_search.types import LOCAL_ADMIN, Principal, SearchRequest
from search_api.service import ArchiveService

pytestmark = pytest.mark.all_stacks  # also on OpenSearch + PostgreSQL

# a word of one UDHR article in each language, and the files holding that article
ARTICLE_WORDS = [
    ("ru", "братства", {"udhr-ru.txt", "udhr-ru-articles.pdf"}),
    ("uk", "братерства", {"udhr-uk.txt", "udhr-uk-articles.pdf"}),
    ("be", "брацтва", {"udhr-be.txt", "udhr-be-articles.pdf"}),
    ("en", "brotherhood", {"udhr-en.txt", "udhr-en-articles.pdf"}),
]


@pytest.mark.parametrize(("lang", "word", "files"), ARTICLE_WORDS)
def test_finds_article_one_in_each_language(
    sample_service: ArchiveService, lang: str, word: str, files: set[str]
) -> None:
    res = sample_service.search(SearchRequest(q=word, mode="keyword"), LOCAL_ADMIN)
    # exact matches first; a rare word may also match close spellings (OCR tolerance) below them
    top = res.hits[:2]
    assert {h.filename for h in top} == files
    for h in top:
        assert h.lang == lang
        assert f"<mark>{word}</mark>" in h.snippet.lower()
        assert len(h.sha256) == 64
    pdf_hit = next(h for h in top if h.filename.endswith(".pdf"))
    assert pdf_hit.page == 1
    # quoted, the word matches exactly: only its own article
    exact = sample_service.search(SearchRequest(q=f'"{word}"', mode="keyword"), LOCAL_ADMIN)
    assert {h.filename for h in exact.hits} == files and exact.total == 2
    assert exact.facets["lang"] == {lang: 2}
    assert exact.facets["type"] == {"text": 1, "pdf": 1}


def test_phrase_and_exclusion(sample_service: ArchiveService) -> None:
    res = sample_service.search(SearchRequest(q='"рождаются свободными"', mode="keyword"), LOCAL_ADMIN)
    assert {h.filename for h in res.hits} == {"udhr-ru.txt", "udhr-ru-articles.pdf"}
    reversed_phrase = sample_service.search(
        SearchRequest(q='"свободными рождаются"', mode="keyword"), LOCAL_ADMIN
    )
    assert reversed_phrase.total == 0
    res = sample_service.search(SearchRequest(q="пыткам", mode="keyword"), LOCAL_ADMIN)
    assert {h.filename for h in res.hits} >= {"udhr-ru.txt", "scan-ru-article-5.png"}
    only_scans = sample_service.search(SearchRequest(q="пыткам type:scan", mode="keyword"), LOCAL_ADMIN)
    assert {h.filename for h in only_scans.hits} == {"scan-ru-article-5.png", "scan-ru-article-5.pdf"}
    no_text = sample_service.search(SearchRequest(q="пыткам -Статья", mode="keyword"), LOCAL_ADMIN)
    assert all("Статья" not in h.snippet for h in no_text.hits)


def test_transcript_hits_carry_time_and_speaker(sample_service: ArchiveService) -> None:
    res = sample_service.search(
        SearchRequest(q="катування", mode="keyword", types=["transcript"]), LOCAL_ADMIN
    )
    assert res.hits and all(h.type == "transcript" for h in res.hits)
    assert all(h.time_start is not None and h.speaker for h in res.hits)


def test_filters_and_access_are_inside_retrieval(sample_service: ArchiveService) -> None:
    nobody = Principal(name="nobody", readable=frozenset())
    res = sample_service.search(SearchRequest(q="братства", mode="keyword"), nobody)
    assert res.total == 0 and res.hits == [] and all(v == {} for v in res.facets.values())
    other = Principal(name="other", readable=frozenset({"another-collection"}))
    assert sample_service.search(SearchRequest(q="", mode="keyword"), other).total == 0
    reader = Principal(name="reader", readable=frozenset({"sample"}))
    assert sample_service.search(SearchRequest(q="братства", mode="keyword"), reader).total == 2
    uk = sample_service.search(SearchRequest(q="", mode="keyword", lang=["uk"], size=100), LOCAL_ADMIN)
    assert uk.total > 0 and {h.lang for h in uk.hits} == {"uk"}
    assert set(uk.facets["lang"]) == {"uk"}


def test_pagination_is_stable(sample_service: ArchiveService) -> None:
    whole = sample_service.search(SearchRequest(q="права", mode="keyword", size=20), LOCAL_ADMIN)
    page1 = sample_service.search(SearchRequest(q="права", mode="keyword", size=10), LOCAL_ADMIN)
    page2 = sample_service.search(SearchRequest(q="права", mode="keyword", size=10, page=2), LOCAL_ADMIN)
    assert [h.passage_id for h in page1.hits + page2.hits] == [h.passage_id for h in whole.hits]


def test_hybrid_without_vectors_falls_back_to_keyword(sample_service: ArchiveService) -> None:
    res = sample_service.search(SearchRequest(q="brotherhood", mode="hybrid"), LOCAL_ADMIN)
    assert res.mode == "keyword" and res.total == 2


def test_malformed_queries_raise_a_syntax_error(sample_service: ArchiveService) -> None:
    for q in ['"unclosed', "(a OR b", "a AND", "date:1999-13", "OR x", "x OR", ")"]:
        with pytest.raises(QuerySyntaxError):
            sample_service.search(SearchRequest(q=q, mode="keyword"), LOCAL_ADMIN)


def test_reindex_rebuilds_from_the_catalog(sample_service: ArchiveService) -> None:
    before = sample_service.search(SearchRequest(q="brotherhood", mode="keyword"), LOCAL_ADMIN)
    n = sample_service.reindex()
    assert n == sample_service.status()["passages"]
    after = sample_service.search(SearchRequest(q="brotherhood", mode="keyword"), LOCAL_ADMIN)
    assert [h.passage_id for h in after.hits] == [h.passage_id for h in before.hits]
