"""OCR-tolerant words expanded in the vocabulary (``index/vocabulary.py``, issue 17 part 3): the
same matches and scores as tantivy's fuzzy query over the keyword index, written in several
commits (segments), with the vocabulary kept a superset of the index's terms through writes,
readers in other processes, an index that had none, a purge and a clear. The vocabulary is kept
from ``VOCABULARY_FROM`` passages on: these small indexes lower it, but the first test."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import tantivy

from archive_search.types import IndexPassage
from index import embedded, vocabulary
from index.analysis import Analyzer
from index.backend import BoolNode, Filters, TermNode
from index.embedded import EmbeddedBackend

EVERYTHING = Filters(allowed_collections=None)
WORDS = [
    "затримання", "катування", "свідчення", "задержание", "пытками", "показания", "допрос",
    "Оленівка", "Кадыров", "Мариуполь", "вокзал", "бойкотов", "протокол", "обшук", "adwokat",
    "testimony", "detention", "прызнанне", "затрыманне", "сведка", "паліцыя",
]  # fmt: skip
ALPHABET = "абвгдеєжзиіїйклмнопрстуўфхцчшщьюяыэёabcdefghijklmnopqrstuvwxyz"


@pytest.fixture(autouse=True)
def _kept_from_the_first_passage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if not request.node.name.startswith("test_a_small_index"):
        monkeypatch.setattr(embedded, "VOCABULARY_FROM", 0)


def _damaged(word: str, rnd: random.Random) -> str:
    """``word`` with one or two OCR-like edits (substitution, deletion, insertion, transposition)."""
    chars = list(word)
    for _ in range(rnd.choice((1, 1, 2))):
        i = rnd.randrange(len(chars))
        kind = rnd.choice(("sub", "del", "ins", "swap"))
        if kind == "sub":
            chars[i] = rnd.choice(ALPHABET)
        elif kind == "del" and len(chars) > 3:
            del chars[i]
        elif kind == "ins":
            chars.insert(i, rnd.choice(ALPHABET))
        elif i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def _passage(pid: int, text: str, lang: str = "uk") -> IndexPassage:
    return IndexPassage(
        passage_id=pid, document_id=pid, collection="a", text=text, lang=lang, doc_type="text", seq=0
    )


def _terms(searcher: tantivy.Searcher, field: str) -> set[str]:
    """Every term of ``field`` in the segments of ``searcher``."""
    return {t for t, _ in searcher.terms_with_prefix(field, "")}


def _passages(start: int, n: int, seed: int) -> list[IndexPassage]:
    rnd = random.Random(seed)
    out = []
    for k in range(start, start + n):
        words = [rnd.choice(WORDS) for _ in range(6)]
        words = [_damaged(w, rnd) if rnd.random() < 0.5 else w for w in words]
        out.append(_passage(k, " ".join(words)))
    return out


def _backend(tmp_path: Path, commits: int = 4) -> EmbeddedBackend:
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer())
    for c in range(commits):
        backend.write(_passages(1 + c * 60, 60, seed=c))
    return backend


def _ranked(backend: EmbeddedBackend, term: str, edits: int) -> tuple[int, list[tuple[int, float]]]:
    query = BoolNode(should=(TermNode((term,), fuzzy=edits),))
    res = backend.keyword_search(query, EVERYTHING, limit=500)
    return res.total, [(h.passage_id, h.score) for h in res.hits]


def _query_words(backend: EmbeddedBackend) -> list[str]:
    analyzer = backend.analyzer
    return sorted({analyzer.query_terms(w)[0] for w in WORDS} | {analyzer.query_terms("катуваня")[0]})


def test_expansion_in_the_vocabulary_matches_and_scores_as_tantivys_fuzzy_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend(tmp_path)
    assert backend._current.num_segments >= 2, "the comparison needs several segments"
    searcher = backend._current
    through_vocabulary: dict[tuple[str, int], tuple[int, list[tuple[int, float]]]] = {}
    for word in _query_words(backend):
        for edits in (1, 2):
            variants = backend._vocab.expand(word, edits)
            assert variants is not None
            # the term sets agree with tantivy's own walk of the keyword index, passage by passage
            fuzzy = tantivy.Query.fuzzy_term_query(backend.schema, "body", word, distance=edits)
            as_set = tantivy.Query.term_set_query(backend.schema, "body", variants or [word])
            a = searcher.search(fuzzy, limit=1000, count=True)
            b = searcher.search(as_set, limit=1000, count=True)
            assert a.count == b.count and a.count > 0, (word, edits)
            assert sorted((h[1].segment_ord, h[1].doc, h[0]) for h in a.hits) == sorted(
                (h[1].segment_ord, h[1].doc, h[0]) for h in b.hits
            ), (word, edits)
            through_vocabulary[word, edits] = _ranked(backend, word, edits)
    # and through the backend: the same totals, passages and scores without the vocabulary
    monkeypatch.setattr(backend._vocab, "expand", lambda term, distance: None)
    for (word, edits), expected in through_vocabulary.items():
        assert _ranked(backend, word, edits) == expected, (word, edits)
    # damaged forms are what the expansion is for: some are found only through it
    assert any(
        len(through_vocabulary[w, 2][1]) > len(through_vocabulary[w, 1][1]) for w, _ in through_vocabulary
    )


def test_terms_of_a_later_commit_are_found_by_a_reader_in_another_process(tmp_path: Path) -> None:
    writer = _backend(tmp_path, commits=1)
    reader = EmbeddedBackend(tmp_path / "idx", Analyzer())
    word = writer.analyzer.query_terms("Шпаковскій")[0]
    assert _ranked(reader, word, 2)[0] == 0
    writer.write([_passage(999, "Шпакоўскій", lang="be")])
    reader._last_reload = 0.0  # its next search reloads (at most a second later otherwise)
    total, hits = _ranked(reader, word, 2)
    assert total == 1 and hits[0][0] == 999
    assert writer._vocab.expand(word, 2) == reader._vocab.expand(word, 2)


def test_an_index_without_a_vocabulary_searches_as_before_and_gets_one_at_its_next_write(
    tmp_path: Path,
) -> None:
    backend = _backend(tmp_path, commits=2)
    word = backend.analyzer.query_terms("катування")[0]
    expected = _ranked(backend, word, 2)
    terms = _terms(backend._current, "body")
    backend.close()
    # as an index written before the vocabulary existed (issue 17, part 3)
    for child in (tmp_path / "idx" / "vocabulary").iterdir():
        child.unlink()
    (tmp_path / "idx" / "vocabulary").rmdir()
    old = EmbeddedBackend(tmp_path / "idx", Analyzer())
    assert not old._vocab.complete() and old._vocab.expand(word, 2) is None
    assert _ranked(old, word, 2) == expected  # tantivy's fuzzy query over the index
    old.write(_passages(500, 5, seed=9))
    assert old._vocab.complete()
    held = _terms(old._vocab._opened().searcher(), vocabulary.FIELD)
    assert terms <= held
    assert held == _terms(old._current, "body")
    assert _ranked(old, word, 2)[1][: len(expected[1])] != [] and old._vocab.expand(word, 2) is not None


def test_a_purge_leaves_none_of_the_purged_terms_in_the_vocabulary(tmp_path: Path) -> None:
    backend = _backend(tmp_path, commits=2)
    secret = "Жмайлович"
    backend.write([_passage(777, f"свідок {secret}")])
    word = backend.analyzer.query_terms(secret)[0]
    assert word in (backend._vocab.expand(word, 1) or [])
    kept = [p for c in range(2) for p in _passages(1 + c * 60, 60, seed=c)]
    backend.purge_documents([777], lambda: iter(kept))
    assert backend._vocab.expand(word, 2) == []
    files = [p for p in (tmp_path / "idx" / "vocabulary").rglob("*") if p.is_file()]
    assert files and not any(word.encode() in p.read_bytes() for p in files)
    backend.clear()
    assert backend._vocab.complete() and len(backend._vocab) == 0


def test_an_expansion_beyond_the_limit_falls_back_to_the_fuzzy_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend(tmp_path, commits=1)
    word = backend.analyzer.query_terms("катування")[0]
    expected = _ranked(backend, word, 2)
    n = len(backend._vocab.expand(word, 2) or [])
    assert n > 1
    monkeypatch.setattr(vocabulary, "MAX_EXPANSION", n - 1)
    assert backend._vocab.expand(word, 2) is None
    assert _ranked(backend, word, 2) == expected


def test_a_small_index_keeps_no_vocabulary_until_it_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "VOCABULARY_FROM", 120)
    backend = _backend(tmp_path, commits=2)  # 60 passages, then 120 (the first commit saw 0, the second 60)
    word = backend.analyzer.query_terms("катування")[0]
    expected = _ranked(backend, word, 2)
    assert not backend._vocab.complete() and not (tmp_path / "idx" / "vocabulary").exists()
    backend.write(_passages(500, 3, seed=7))  # the index holds 120: kept from this write on
    assert backend._vocab.complete()
    held = _terms(backend._vocab._opened().searcher(), vocabulary.FIELD)
    assert held == _terms(backend._current, "body")
    total, hits = _ranked(backend, word, 2)
    assert total >= expected[0] and {pid for pid, _ in expected[1]} <= {pid for pid, _ in hits}


def test_a_vocabulary_held_by_another_writer_fails_the_write_and_leaves_the_index_as_it_was(
    tmp_path: Path,
) -> None:
    from archive_search.errors import BackendError

    backend = _backend(tmp_path, commits=1)
    before = backend.count(EVERYTHING)
    other = backend._vocab._opened().writer(15_000_000, 1)  # as another process would hold it
    new = [_passage(901, "Шпаковский", lang="ru")]
    with pytest.raises(BackendError, match="vocabulary"):
        backend.write(new)
    backend._last_reload = 0.0
    assert backend.count(EVERYTHING) == before  # the keyword index did not commit either
    other.rollback()
    del other
    backend.write(new)
    assert backend.count(EVERYTHING) == before + 1


def test_a_small_index_purged_or_cleared_gets_no_vocabulary_and_loses_a_half_built_one(
    tmp_path: Path,
) -> None:
    backend = _backend(tmp_path, commits=2)
    secret = "Жмайлович"
    backend.write([_passage(777, secret)])
    # the files of a build that was interrupted before it was marked complete, holding the term
    partial = tmp_path / "idx" / "vocabulary"
    partial.mkdir()
    (partial / "segment.term").write_bytes(secret.encode())
    kept = [p for c in range(2) for p in _passages(1 + c * 60, 60, seed=c)]
    backend.purge_documents([777], lambda: iter(kept))
    assert not partial.exists() and not backend._vocab.complete()
    backend.clear()
    assert not partial.exists() and not backend._vocab.complete()
