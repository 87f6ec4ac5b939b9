"""The native ranked pass (``index/native_rank.py``, ``native/``) against tantivy-py's exhaustive
one, on a real index of several segments with deletions: the same hits in the same order, the
same scores (up to the last bit of a 32-bit sum), counts, relations, facets and document counts,
for random questions of every shape it takes (content words with their alternatives, OCR-tolerant
words, down-weighted optional words, boosts) under every kind of filter, and windows from the
first hit to deeper than the matches. The index is large enough (and the questions common enough)
that the top k fills long before the last match, so pruning decides most of each answer."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from archive_search.types import IndexPassage
from index import embedded, native_rank
from index.analysis import Analyzer
from index.backend import BackendResult, BoolNode, Filters, PhraseNode, QueryNode, TermNode
from index.embedded import EmbeddedBackend, _exclusion_specs, _filter_specs

WORDS = [
    "затримання",
    "допит",
    "свідок",
    "катування",
    "підвал",
    "міліція",
    "батальйон",
    "колона",
    "техніка",
    "міст",
    "річка",
    "обстріл",
    "село",
    "лікарня",
    "заручники",
    "полон",
    "табір",
    "фільтрація",
    "документи",
    "паспорт",
    "телефон",
    "родина",
    "задержание",
    "допрос",
    "свидетель",
    "пытки",
    "подвал",
    "милиция",
    "батальон",
    "колонна",
    "техника",
    "мост",
    "река",
    "обстрел",
    "деревня",
    "больница",
    "заложники",
    "плен",
    "лагерь",
    "фильтрация",
    "документы",
    "паспорт",
    "телефон",
    "семья",
    "detention",
    "interrogation",
    "witness",
    "torture",
    "basement",
    "police",
    "battalion",
    "column",
    "vehicles",
    "bridge",
    "river",
    "shelling",
    "village",
    "hospital",
    "hostages",
    "captivity",
    "camp",
    "filtration",
    "documents",
    "passport",
    "phone",
]
FUNCTION = ["і", "на", "у", "в", "з", "до", "the", "of", "and", "и", "по", "для"]
COLLECTIONS = ("a", "b", "c")
LANGS = ("uk", "ru", "en")


def _text(rnd: random.Random) -> str:
    n = rnd.choice((3, 8, 15, 30, 60, 120))
    # Zipf-like: the first words of the list are much more frequent
    words = [WORDS[min(int(rnd.paretovariate(0.7)) - 1, len(WORDS) - 1)] for _ in range(n)]
    words += rnd.sample(FUNCTION, k=min(len(FUNCTION), n // 4))
    rnd.shuffle(words)
    # OCR damage now and then: a letter changed (found only by the OCR-tolerant variants)
    if rnd.random() < 0.2:
        i = rnd.randrange(len(words))
        w = words[i]
        if len(w) > 5:
            j = rnd.randrange(1, len(w) - 1)
            words[i] = w[:j] + "п" + w[j + 1 :]
    return " ".join(words)


@pytest.fixture(scope="module")
def index_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("native") / "idx"
    rnd = random.Random(17)
    writer = EmbeddedBackend(root, Analyzer(), native=False)
    pid = 0
    for batch in range(4):  # four commits: several segments
        passages = []
        for _ in range(1500):
            pid += 1
            passages.append(
                IndexPassage(
                    passage_id=pid,
                    document_id=(pid + 2) // 3,
                    collection=COLLECTIONS[pid % 3],
                    text=_text(rnd),
                    lang=LANGS[(pid // 3) % 3],
                    doc_type="text" if pid % 5 else "scan",
                    seq=pid % 3,
                    doc_date=date(1995 + pid % 25, 1 + pid % 12, 1),
                    tags=["t1"] if pid % 7 == 0 else [],
                )
            )
        writer.write(passages)
        if batch == 2:  # deletions inside older segments
            writer.delete_documents([d for d in range(1, pid // 3) if d % 11 == 0])
    writer.close()
    return root


@pytest.fixture(scope="module")
def pair(index_root: Path) -> tuple[EmbeddedBackend, EmbeddedBackend]:
    assert native_rank.available(), "the native extension is not built: run scripts/setup.sh (it needs cargo)"
    reference = EmbeddedBackend(index_root, Analyzer(), native=False)
    native = EmbeddedBackend(index_root, Analyzer(), native=True)
    assert native._native is not None and reference._native is None
    return reference, native


def _word(analyzer: Analyzer, rnd: random.Random, text: str, *, boost: float = 1.0) -> TermNode:
    terms = analyzer.query_terms(text)
    fuzzy = rnd.choice((0, 0, 0, 1, 2)) if boost == 1.0 and len(terms[0]) > 4 else 0
    return TermNode(tuple(terms), fuzzy=fuzzy, boost=boost)


def _question(rnd: random.Random) -> QueryNode:
    analyzer = Analyzer()
    content = tuple(_word(analyzer, rnd, w) for w in rnd.sample(WORDS, k=rnd.randint(1, 7)))
    if rnd.random() < 0.15:  # a boosted word, as a user's weight would
        content = (*content[:-1], TermNode(content[-1].terms, boost=rnd.choice((0.5, 2.0))))
    light = tuple(
        _word(analyzer, rnd, w, boost=0.1) for w in rnd.sample(FUNCTION, k=rnd.choice((0, 0, 1, 2, 4)))
    )
    words: tuple[QueryNode, ...] = content
    if len(content) > 2 and rnd.random() < 0.3:  # a word the analyser cut in two, an OR group
        words = (BoolNode(should=content[:2]), *content[2:])
    if rnd.random() < 0.2:  # a word with no terms left (punctuation)
        words = (*words, BoolNode())
    if len(words) == 1 and not light:
        return words[0]
    if not light:
        return BoolNode(should=words)
    required = words[0] if len(words) == 1 else BoolNode(should=words)
    return BoolNode(must=(required,), should=light)


def _filters(rnd: random.Random) -> Filters:
    kind = rnd.randrange(7)
    if kind == 0:
        return Filters(allowed_collections=None)
    if kind == 1:
        return Filters(allowed_collections=frozenset({"a", "b"}))
    if kind == 2:
        return Filters(allowed_collections=frozenset({"c"}), langs=("uk", "en"))
    if kind == 3:
        hidden = frozenset(rnd.sample(range(1, 2000), 300))
        return Filters(allowed_collections=None, hidden_document_ids=hidden, types=("text",))
    if kind == 4:
        passages = frozenset(rnd.sample(range(1, 6000), 500))
        return Filters(allowed_collections=frozenset({"a", "c"}), hidden_passage_ids=passages)
    if kind == 5:
        return Filters(allowed_collections=None, date_from=date(2000, 1, 1), date_to=date(2010, 12, 31))
    return Filters(allowed_collections=None, tags=("t1",), exclude_document_ids=(5, 6, 7))


def _same(a: BackendResult, b: BackendResult, context: object) -> None:
    assert [h.passage_id for h in a.hits] == [h.passage_id for h in b.hits], context
    assert [h.document_id for h in a.hits] == [h.document_id for h in b.hits], context
    assert [h.terms for h in a.hits] == [h.terms for h in b.hits], context
    for x, y in zip(a.hits, b.hits, strict=True):
        assert x.score == pytest.approx(y.score, rel=2e-6), context
    assert (a.total, a.total_relation, a.documents) == (b.total, b.total_relation, b.documents), context
    assert (a.facets, a.facets_approximate) == (b.facets, b.facets_approximate), context


def _search(backend: EmbeddedBackend, query: QueryNode, f: Filters, **args: Any) -> BackendResult:
    """``keyword_search``; on the reference, the hits taken from a deeper window. Equal rounded
    scores go by passage id, but tantivy cuts its window by the unrounded scores first, so at the
    window's last score it may keep a later passage than an earlier one of the same rounded score
    (the native pass orders the whole match set the service's way)."""
    res = backend.keyword_search(query, f, **args)
    if backend._native is None:
        deeper = backend.keyword_search(query, f, limit=args["limit"] + args["offset"] + 200)
        res.hits = deeper.hits[args["offset"] : args["offset"] + args["limit"]]
    return res


def _plan(node: QueryNode) -> str | None:
    return native_rank.plan(node, ratio=lambda t: 1.0, variants=lambda t, d: None, filters=[], exclude=[])


def test_random_questions_answer_as_the_exhaustive_pass(
    pair: tuple[EmbeddedBackend, EmbeddedBackend],
) -> None:
    reference, native = pair
    rnd = random.Random(3)
    planned = 0
    for n in range(300):
        query, f = _question(rnd), _filters(rnd)
        limit = rnd.choice((1, 5, 10, 20, 50))
        offset = rnd.choice((0, 0, 0, 10, 40))
        bound = rnd.choice((None, 10, 100, 1000, 100_000))
        facets = rnd.random() < 0.5
        planned += _plan(query) is not None
        args = {"limit": limit, "offset": offset, "facets": facets, "exact_up_to": bound}
        _same(_search(native, query, f, **args), _search(reference, query, f, **args), (n, query, f, args))
    assert planned == 300  # every question of these shapes took the native path


def test_with_a_vocabulary_the_variants_are_a_term_set(
    index_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From ``VOCABULARY_FROM`` passages on, an OCR-tolerant word's variants come from the
    vocabulary (a term set, not tantivy's fuzzy query): the same answers."""
    monkeypatch.setattr(embedded, "VOCABULARY_FROM", 0)
    root = tmp_path / "idx"
    writer = EmbeddedBackend(root, Analyzer(), native=False)
    rnd = random.Random(5)
    writer.write([IndexPassage(i, i, "a", _text(rnd), "uk", "text", 0) for i in range(1, 1500)])
    reference = EmbeddedBackend(root, Analyzer(), native=False)
    native = EmbeddedBackend(root, Analyzer(), native=True)
    word = Analyzer().query_terms("фільтрація")
    assert native._vocab.expand(word[0], 2)  # the vocabulary is kept
    for fuzzy in (1, 2):
        query = BoolNode(
            should=(TermNode(tuple(word), fuzzy=fuzzy), TermNode(tuple(Analyzer().query_terms("табір"))))
        )
        for bound in (None, 20):
            args = {"limit": 10, "offset": 0, "facets": True, "exact_up_to": bound}
            f = Filters(allowed_collections=None)
            _same(_search(native, query, f, **args), _search(reference, query, f, **args), fuzzy)


def test_other_shapes_stay_on_tantivy() -> None:
    terms = TermNode(("свідок",))
    for node in (
        PhraseNode((("свідок",), ("допит",))),
        TermNode(("свід",), prefix=True),
        BoolNode(must=(terms, TermNode(("допит",)))),
        BoolNode(should=(terms,), must_not=(TermNode(("допит",)),)),
        BoolNode(should=(BoolNode(should=(terms,), must_not=(TermNode(("допит",)),)),)),
        BoolNode(must=(BoolNode(should=(terms,)),), should=(PhraseNode((("свідок",), ("допит",))),)),
        BoolNode(should=(BoolNode(),)),
    ):
        assert _plan(node) is None, node
    for node in (
        BoolNode(should=(terms,)),
        BoolNode(should=(BoolNode(should=(terms, TermNode(("допит",)))),)),
        BoolNode(must=(terms,), should=(TermNode(("допит",)),)),
    ):
        assert _plan(node) is not None, node


def test_a_new_commit_is_seen_after_the_reload(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "idx", Analyzer(), native=True)
    query = TermNode(tuple(Analyzer().query_terms("свідок")))
    f = Filters(allowed_collections=None)
    backend.write([IndexPassage(1, 1, "a", "свідок бачив", "uk", "text", 0)])
    assert [h.passage_id for h in backend.keyword_search(query, f, limit=5).hits] == [1]
    backend.write([IndexPassage(2, 2, "a", "свідок свідок", "uk", "text", 0)])
    assert [h.passage_id for h in backend.keyword_search(query, f, limit=5).hits] == [2, 1]
    backend.delete_documents([2])
    res = backend.keyword_search(query, f, limit=5, facets=True, exact_up_to=10)
    assert [h.passage_id for h in res.hits] == [1] and res.total == 1


def test_threads_answer_as_one(pair: tuple[EmbeddedBackend, EmbeddedBackend]) -> None:
    """Segments searched in several threads, which share the best floor any of them reached:
    the same top k as one thread, the same exact counts, and a count past the bound whenever
    one thread stopped counting."""
    _, native = pair
    searcher = native._native_current
    assert searcher is not None and searcher.num_segments > 1
    rnd = random.Random(11)
    for n in range(150):
        query = _question(rnd)
        f = _filters(rnd)
        specs = _filter_specs(f)
        assert specs is not None
        spec = native_rank.plan(
            query, ratio=lambda t: 1.0, variants=lambda t, d: None, filters=specs, exclude=_exclusion_specs(f)
        )
        assert spec is not None
        k = rnd.choice((1, 10, 50))
        bound = rnd.choice((None, 10, 1000))
        count_all = rnd.random() < 0.5
        one = searcher.search(spec, k, bound, count_all, 1)
        many = searcher.search(spec, k, bound, count_all, 3)
        context = (n, query, f, k, bound, count_all)
        assert [h[1:] for h in one[0]] == [h[1:] for h in many[0]], context
        assert [h[0] for h in one[0]] == pytest.approx([h[0] for h in many[0]], rel=1e-6), context
        if one[2] and many[2]:
            assert one[1] == many[1], context
        else:
            assert bound is not None and one[1] > bound and many[1] > bound, context
        if count_all:  # the count pass alone, in one thread and in several
            assert searcher.count(spec, 1) == searcher.count(spec, 3) == one[1], context
        # counted apart: the same top k, pruned from the start
        alone = searcher.search(spec, k, bound, False, 3, True)
        assert [h[1:] for h in alone[0]] == [h[1:] for h in one[0]], context


def test_bad_input_is_refused_clearly(pair: tuple[EmbeddedBackend, EmbeddedBackend], tmp_path: Path) -> None:
    """A malformed query or an unknown field is a ValueError that says so (the backend then maps
    tantivy's ValueErrors to a 400); a folder that is no keyword index leaves the backend on
    tantivy-py, with a warning, instead of failing to open."""
    reference, native = pair
    searcher = native._native_current
    assert searcher is not None
    with pytest.raises(ValueError, match="bad query spec"):
        searcher.search("{not json", 10)
    with pytest.raises(ValueError, match="bad query spec"):
        searcher.count('{"field": "body"}')  # no clauses
    with pytest.raises(ValueError, match="nowhere"):
        searcher.search('{"field": "nowhere", "clauses": []}', 10)
    (tmp_path / "empty").mkdir()
    assert native_rank.open_index(str(tmp_path / "empty")) is None
    # the searcher still answers after the refusals, as tantivy-py does
    word = TermNode(tuple(Analyzer().query_terms("свідок")))
    spec = _plan(word)
    assert spec is not None
    expected = reference.keyword_search(word, Filters(allowed_collections=None), limit=0).total
    assert expected > 0 and searcher.count(spec) == expected
