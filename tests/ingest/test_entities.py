"""Entities (issue 18): extraction with spans, one entity across spellings, the ``person:``/
``place:``/``org:`` filters and entity facets on every stack with access control inside retrieval,
the entity API and its staff operations (audited), and the rebuild command's catalog path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from archive_search.catalog.models import AuditEntry, Entity, EntityMention
from archive_search.errors import ForbiddenError, NotFoundError
from archive_search.types import LOCAL_ADMIN, Extraction, SearchRequest, TextBlock
from archive_search.web import create_app
from ingest.entities import extract_mentions, query_key, word_key
from ingest.passages import drafts_from_spans
from ingest.registry import ExtractionError
from search_api.entities import EntityMerge, EntityRename, EntitySplit
from search_api.service import ArchiveService
from tests.conftest import ingest_files, run_archive

PASSWORD = "a long enough passphrase"


def _found(text: str, lang: str) -> set[tuple[str, str]]:
    return {(m.type, text[m.start : m.end]) for m in extract_mentions(text, lang)}


# -- extraction ------------------------------------------------------------------------------------


def test_extraction_finds_each_type_with_its_span() -> None:
    ru = (
        "Вчера Рамзан Ахматович Кадыров встретился в Грозном с генералом Шамановым. Сотрудники в/ч 12345 "
        "задержали Ивана Петрова в с. Алхан-Юрт. Тел. +7 (928) 123-45-67, e-mail: info@memo.ru, "
        "паспорт 45 12 345678, дело № 1-123/2015."
    )
    got = _found(ru, "ru")
    assert {
        ("person", "Рамзан Ахматович Кадыров"),
        ("place", "Грозном"),
        ("person", "Шамановым"),
        ("org", "в/ч 12345"),
        ("person", "Ивана Петрова"),
        ("place", "Алхан-Юрт"),
        ("phone", "+7 (928) 123-45-67"),
        ("email", "info@memo.ru"),
        ("docnum", "45 12 345678"),
        ("docnum", "1-123/2015"),
    } <= got
    assert not any(span == "Вчера" or span.startswith("Вчера ") for _, span in got)
    uk = "Свідок Олена Шевченко бачила військових батальйону «Айдар» біля Оленівки. СБУ відкрила справу."
    assert {
        ("person", "Олена Шевченко"),
        ("org", "батальйону «Айдар»"),
        ("place", "Оленівки"),
        ("org", "СБУ"),
    } <= (_found(uk, "uk"))
    en = "Ramzan Kadyrov met General Shamanov in Grozny. The Ministry of Defence said so."
    assert {("person", "Ramzan Kadyrov"), ("place", "Grozny"), ("org", "Ministry of Defence")} <= _found(
        en, "en"
    )
    be = "Кадыраў сустрэўся з Аляксандрам Лукашэнкам у Мінску."
    assert {("person", "Аляксандрам Лукашэнкам"), ("place", "Мінску")} <= _found(be, "be")


def test_spellings_and_inflections_share_one_key() -> None:
    keys = {word_key(w, None) for w in ("Кадыраў", "Kadyrov", "Kadyrow")}
    keys |= {query_key("person", w).partition(":")[2] for w in ("Кадыров", "Кадирові", "Кадырова", "Кадиров")}
    assert keys == {"~kadar"}
    assert query_key("person", "Рамзан Кадыров") == query_key("person", "Кадыров Рамзан")
    assert query_key("person", "Рамзан Ахматович Кадыров") == query_key("person", "Ramzan Kadyrov")
    assert query_key("place", "Оленівка") == query_key("place", "Оленівці")


def test_dates_amounts_and_plain_text_are_not_entities() -> None:
    assert extract_mentions("Это было 12.03.1995 года, заплатили 1500000 рублей.", "ru") == []
    assert extract_mentions("", "en") == []
    assert extract_mentions("1234567 " * 50, "other") == []


def test_a_name_after_an_opening_quote_at_the_end_of_a_passage() -> None:
    # the passage ends right after the name: the closing quote is missing (cut by the passage
    # splitter). This raised IndexError, which failed the whole file in the extraction worker.
    for text, lang in (("Він сказав «Київ", "uk"), ('Он сказал "Москва', "ru"), ("“London", "en")):
        found = extract_mentions(text, lang)
        assert all(0 <= m.start < m.end <= len(text) for m in found)
    assert ("place", "Київ") in _found("Він сказав «Київ", "uk")


def test_each_pattern_type_is_found_with_only_its_own_trigger_character() -> None:
    # the pattern pre-filters: an e-mail needs only "@", a quoted organisation only a quotation
    # mark, the number patterns only digits; a passage with none of them has no pattern mentions
    assert ("email", "kancelaria@rada.gov.ua") in _found("Пишіть на kancelaria@rada.gov.ua будь ласка", "uk")
    for quoted in ("ТОВ «Ромашка»", 'ТОВ "Ромашка"', "ТОВ „Ромашка“", "ТОВ “Ромашка”"):
        assert ("org", quoted) in _found(f"Договір уклала {quoted} вчора", "uk"), quoted
    assert ("org", "батальйон «Айдар»") in _found("Служив у батальйон «Айдар» рік", "uk")
    assert ("org", "в/ч 12345") in _found("Служив у в/ч 12345 рік", "uk")
    assert ("docnum", "АБ-123/45") in _found("Наказ № АБ-123/45 підписано", "uk")
    assert ("phone", "+380 (44) 123-45-67") in _found("Тел. +380 (44) 123-45-67 цілодобово", "uk")
    assert ("docnum", "СН 12 34 567890") in _found("паспорт СН 12 34 567890 видано", "uk")
    plain = "Іван Петренко поїхав до Києва працювати в міністерство охорони здоров'я"
    assert {t for t, _ in _found(plain, "uk")} <= {"person", "place", "org"}


def test_mentions_from_the_worker_are_checked() -> None:
    ex = Extraction(doc_type="text", blocks=[TextBlock(text="Иван Петров приехал.")])
    spans = [(0, 0, len(ex.blocks[0].text), "ru")]
    ok = drafts_from_spans(ex, spans, [[["person", 0, 11, "Иван Петров", "person:~ivan ~patr"]]])  # type: ignore[list-item]
    assert ok[0].mentions == [("person", 0, 11, "Иван Петров", "person:~ivan ~patr")]
    for bad in (
        [[["person", 0, 999, "x", "person:x"]]],  # past the passage
        [[["weapon", 0, 4, "x", "x"]]],  # unknown type
        [[["person", 0, 4, "", "person:x"]]],  # empty form
        [[["person", "0", 4, "x", "person:x"]]],  # not an offset
        [],  # not one list per passage
    ):
        with pytest.raises(ExtractionError):
            drafts_from_spans(ex, spans, bad)  # type: ignore[arg-type]


# -- search, access, staff operations ---------------------------------------------------------------

TEXTS_A = {
    "ru.txt": "Свидетель рассказал, что Рамзан Кадыров приезжал в Грозный в 2004 году.",
    "uk.txt": "За словами свідка, Рамзан Кадиров особисто керував операцією в Грозному.",
    "en.txt": "The witness said Ramzan Kadyrov was present in Grozny that night.",
    "other.txt": "Свидетель видел Ивана Петрова у моста в Самашках.",
}
TEXTS_B = {"secret.txt": "Донесение: генерал Шаманов прибыл в Бамут, с ним Кадыров."}


def _files(svc: ArchiveService, q: str, principal: object = LOCAL_ADMIN, **kw: object) -> set[str]:
    res = svc.search(SearchRequest(q=q, mode="keyword", size=50, **kw), principal)  # type: ignore[arg-type]
    return {h.filename for h in res.hits}


def _ingest(svc: ArchiveService, folder: Path, collection: str, texts: dict[str, str]) -> None:
    ingest_files(svc, folder, {name: text + "\n" for name, text in texts.items()}, collection)


@pytest.mark.all_stacks
def test_entities_in_search_filters_facets_and_pages(service: ArchiveService, tmp_path: Path) -> None:
    svc = service
    _ingest(svc, tmp_path / "a", "open", TEXTS_A)
    _ingest(svc, tmp_path / "b", "closed", TEXTS_B)
    svc.accounts.create_user("reader", PASSWORD, role="viewer")
    svc.accounts.grant("open", "read", user="reader")
    with svc.catalog.session() as s:
        uid = s.scalar(select(__import__("archive_search.catalog.models", fromlist=["User"]).User.id))
    reader = svc.accounts.principal_for_user(int(uid or 0))
    assert reader.readable == frozenset({"open"})

    # one entity across Кадыров / Кадиров / Kadyrov: the filter finds every spelling
    every = {"ru.txt", "uk.txt", "en.txt"}
    assert _files(svc, 'person:"Кадыров"') == every | {"secret.txt"}
    assert _files(svc, 'person:"Kadyrov"', reader) == every
    assert _files(svc, "", reader, persons=["Рамзан Кадиров"]) == every
    assert _files(svc, 'place:"Грозный"', reader) == every
    assert _files(svc, 'person:"Петров" place:"Самашки"') == {"other.txt"}
    assert _files(svc, 'person:"Нет Такого"') == set()

    # facets count only what the caller may read: Шаманов and Бамут are only in "closed"
    admin_facets = svc.search(SearchRequest(q="", mode="keyword"), LOCAL_ADMIN).facets
    reader_facets = svc.search(SearchRequest(q="", mode="keyword"), reader).facets
    assert any("Шаманов" in k for k in admin_facets["person"])
    assert any("Бамут" in k for k in admin_facets["place"])
    assert not any("Шаманов" in k for k in reader_facets["person"])
    assert not any("Бамут" in k for k in reader_facets["place"])
    kadyrov = [k for k in reader_facets["person"] if "Кадыров" in k or "Кадиров" in k or "Kadyrov" in k]
    assert len(kadyrov) == 1 and reader_facets["person"][kadyrov[0]] == 3
    # the closed collection's person filter gives the reader nothing (access filter inside retrieval)
    assert _files(svc, 'person:"Шаманов"', reader) == set()
    assert _files(svc, 'person:"Шаманов"') == {"secret.txt"}

    # the entity list and page cover readable documents only
    listed = {e.name: e for e in svc.entities.list_entities(reader, etype="person")}
    assert not any("Шаманов" in n for n in listed)
    ent = next(e for n, e in listed.items() if "Кадыров" in n or "Кадиров" in n or "Kadyrov" in n)
    page = svc.entities.get_entity(ent.id, reader)
    assert page.documents == 3 and {"Кадыров", "Кадиров", "Kadyrov"} <= {
        sp.split()[-1] for sp in page.spellings
    }
    assert "secret.txt" not in {d.filename for d in page.documents_list}
    assert any("Грозн" in c.name or "Grozny" in c.name for c in page.cooccurring)
    assert page.timeline == {"undated": 3} or sum(page.timeline.values()) == 3
    full = svc.entities.get_entity(ent.id, LOCAL_ADMIN)
    assert full.documents == 3  # "Кадыров" alone in the closed report is another entity (surname only)
    shamanov = next(e for e in svc.entities.list_entities(LOCAL_ADMIN, etype="person") if "Шаманов" in e.name)
    with pytest.raises(NotFoundError):
        svc.entities.get_entity(shamanov.id, reader)

    # staff operations: admin only, audited, and the index follows at once
    lone = next(
        e
        for e in svc.entities.list_entities(LOCAL_ADMIN, etype="person")
        if e.id != ent.id and e.name == "Кадыров"
    )
    with pytest.raises(ForbiddenError):
        svc.entities.merge(ent.id, EntityMerge(ids=[lone.id]), reader)
    merged = svc.entities.merge(ent.id, EntityMerge(ids=[lone.id]), LOCAL_ADMIN)
    assert merged.documents == 4
    assert _files(svc, "", LOCAL_ADMIN, persons=["Рамзан Кадыров"]) == every | {"secret.txt"}
    renamed = svc.entities.rename(ent.id, EntityRename(name="Рамзан Кадыров"), LOCAL_ADMIN)
    assert renamed.name == "Рамзан Кадыров"
    assert "Рамзан Кадыров" in svc.search(SearchRequest(q="", mode="keyword"), reader).facets["person"]
    new = svc.entities.split(ent.id, EntitySplit(aliases=["Кадыров"]), LOCAL_ADMIN)
    assert new.documents == 1 and new.id != ent.id
    assert _files(svc, "", LOCAL_ADMIN, persons=["Рамзан Кадыров"]) == every
    with svc.catalog.session() as s:
        ops = [e.details for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "entity"))]
    assert [__import__("json").loads(d)["op"] for d in ops] == ["merge", "rename", "split"]

    # the rebuild command's path: mentions recomputed, staff names kept, search unchanged
    with svc.catalog.session() as s:
        before = s.scalar(select(__import__("sqlalchemy").func.count(EntityMention.id)))
    out = svc.entities.rebuild(LOCAL_ADMIN)
    assert out["passages"] == 5 and out["mentions"] == before
    with svc.catalog.session() as s:
        assert s.get(Entity, ent.id) is not None and s.get(Entity, ent.id).name == "Рамзан Кадыров"  # type: ignore[union-attr]
    assert _files(svc, 'person:"Kadyrov"', reader) == every


def test_entity_api(service: ArchiveService, tmp_path: Path) -> None:
    svc = service
    _ingest(svc, tmp_path / "a", "open", TEXTS_A)
    _ingest(svc, tmp_path / "b", "closed", TEXTS_B)
    svc.accounts.create_user("root", PASSWORD, role="admin")
    svc.accounts.create_user("reader", PASSWORD, role="viewer")
    svc.accounts.grant("open", "read", user="reader")
    with TestClient(create_app(svc.settings, svc)) as c:
        tok = {
            u: {
                "Authorization": "Bearer "
                + c.post("/api/v1/auth/token", json={"username": u, "password": PASSWORD}).json()[
                    "access_token"
                ]
            }
            for u in ("root", "reader")
        }
        assert c.get("/api/v1/entities").status_code == 401
        r = c.get("/api/v1/entities", params={"type": "person"}, headers=tok["reader"])
        assert r.status_code == 200
        names = [e["name"] for e in r.json()]
        assert not any("Шаманов" in n for n in names)
        assert c.get("/api/v1/entities", params={"type": "weapon"}, headers=tok["reader"]).status_code == 422
        r = c.get("/api/v1/entities", params={"q": "Kadyrov"}, headers=tok["reader"])
        kid = next(e["id"] for e in r.json() if e["type"] == "person")
        page = c.get(f"/api/v1/entities/{kid}", headers=tok["reader"]).json()
        assert page["documents"] == 3 and page["passages"][0]["surface"]
        assert c.get("/api/v1/entities/999999", headers=tok["reader"]).status_code == 404
        r = c.get(
            "/api/v1/search", params={"q": "", "person": "Кадиров", "mode": "keyword"}, headers=tok["reader"]
        )
        assert r.status_code == 200 and r.json()["total"] == 3
        assert (
            c.patch(f"/api/v1/entities/{kid}", json={"name": "X"}, headers=tok["reader"]).status_code == 403
        )
        r = c.patch(f"/api/v1/entities/{kid}", json={"name": "Рамзан Кадыров"}, headers=tok["root"])
        assert r.status_code == 200 and r.json()["name"] == "Рамзан Кадыров"
        r = c.post(f"/api/v1/entities/{kid}/merge", json={"ids": [kid]}, headers=tok["root"])
        assert r.status_code == 409  # the entities' state, not the request's form: a conflict
        r = c.post(f"/api/v1/entities/{kid}/split", json={"aliases": ["Nobody"]}, headers=tok["root"])
        assert r.status_code == 409

    # the web pages: the entity list and page, and the search page's entity facets, for the reader
    with TestClient(create_app(svc.settings, svc)) as web:
        login = web.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', login)
        assert csrf
        r = web.post(
            "/login",
            data={"username": "reader", "password": PASSWORD, "csrf_token": csrf.group(1), "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        listing = web.get("/entities", params={"type": "person"}).text
        assert "Рамзан Кадыров" in listing and "Шаманов" not in listing
        page = web.get(f"/entities/{kid}").text
        assert "<mark>Ramzan Kadyrov</mark>" in page and "<mark>Рамзан Кадиров</mark>" in page
        assert "secret.txt" not in page
        assert "?person=" in page  # the link to the search filtered by it
        shamanov = next(e.id for e in svc.entities.list_entities(LOCAL_ADMIN, q="Шаманов"))
        assert web.get(f"/entities/{shamanov}").status_code == 404
        found = web.get("/", params={"q": "свидетель", "person": "Kadyrov"}).text
        assert "ru.txt" in found and "other.txt" not in found and "secret.txt" not in found
        assert 'id="facet-person"' in found and "Шаманов" not in found


def test_entities_command_line(tmp_path: Path) -> None:
    """``archive entities …`` as a user runs it: a real process on a real data folder."""
    import json
    import subprocess

    def archive(*args: str) -> subprocess.CompletedProcess[str]:
        return run_archive(tmp_path / "data", *args)

    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in {**TEXTS_A, **TEXTS_B}.items():
        (folder / name).write_text(text + "\n", "utf-8")
    assert archive("ingest", str(folder), "--collection", "c").returncode == 0
    listed = [
        json.loads(x) for x in archive("entities", "list", "--type", "person", "--json").stdout.splitlines()
    ]
    full = next(
        e for e in listed if e["name"] != "Кадыров" and "~kadar" not in e["name"] and e["documents"] == 3
    )
    lone = next(e for e in listed if e["name"] == "Кадыров")
    shown = json.loads(archive("entities", "show", str(full["id"]), "--json").stdout)
    assert shown["documents"] == 3 and len(shown["spellings"]) >= 3
    r = archive("entities", "merge", str(full["id"]), str(lone["id"]))
    assert r.returncode == 0 and "in 4 documents" in r.stdout, r.stderr
    assert archive("entities", "rename", str(full["id"]), "Рамзан Кадыров").stdout.strip() == "Рамзан Кадыров"
    r = archive("entities", "split", str(full["id"]), "Кадыров")
    assert r.returncode == 0 and "new entity" in r.stdout, r.stderr
    assert archive("entities", "show", "999999").returncode == 2  # not found: an error, not a crash
    rebuilt = json.loads(archive("entities", "rebuild").stdout)
    assert rebuilt["passages"] == 5
    res = json.loads(archive("search", 'person:"Ramzan Kadyrov"', "--mode", "keyword", "--json").stdout)
    assert {h["filename"] for h in res["hits"]} == {"ru.txt", "uk.txt", "en.txt"}
    res = json.loads(archive("search", 'person:"Kadyrov"', "--mode", "keyword", "--json").stdout)
    assert {h["filename"] for h in res["hits"]} == {"ru.txt", "uk.txt", "en.txt", "secret.txt"}
    audit = archive("audit", "list", "--json").stdout
    assert all(f'"op": "{op}"' in audit for op in ("merge", "rename", "split", "rebuild"))


def test_a_surname_alone_joins_the_documents_one_full_name(service: ArchiveService, tmp_path: Path) -> None:
    """Issue 18, fourth round: «Коваленко» later in a document where «Петра Коваленка» was named
    is that person (one full name with that surname in the document); with two such names, or in
    another document, the surname stays apart. The entity is named in the nominative."""
    svc = service
    texts = {
        "one.txt": "Свідок бачив Петра Коваленка біля школи.\n\nПотім Коваленко поїхав до Полтави.",
        "two.txt": "Петро Коваленко і Ганна Коваленко приїхали разом.\n\nКоваленко заявив, що спізнився.",
        "three.txt": "Коваленко заявив, що нічого не бачив.",
    }
    _ingest(svc, tmp_path / "k", "c", texts)
    with svc.catalog.session() as s:
        rows = list(
            s.execute(
                select(EntityMention.surface, EntityMention.entity_id, Entity.name, EntityMention.document_id)
                .join(Entity, Entity.id == EntityMention.entity_id)
                .where(Entity.type == "person")
            )
        )
        from archive_search.catalog.models import Document

        names = dict(s.execute(select(Document.id, Document.filename)).all())
    by_doc: dict[str, dict[str, tuple[int, str]]] = {}
    for surface, eid, name, did in rows:
        by_doc.setdefault(names[did], {})[surface] = (eid, name)
    one, two, three = by_doc["one.txt"], by_doc["two.txt"], by_doc["three.txt"]
    # joined: the surname is a mention of Петро Коваленко, named in the nominative
    assert one["Коваленко"][0] == one["Петра Коваленка"][0]
    assert one["Петра Коваленка"][1] == "Петро Коваленко"
    assert two["Петро Коваленко"][0] == one["Петра Коваленка"][0]
    # two full names with that surname: the surname alone is neither of them
    assert two["Коваленко"][0] not in (two["Петро Коваленко"][0], two["Ганна Коваленко"][0])
    # another document's surname alone is not joined to this one's full name
    assert three["Коваленко"][0] == two["Коваленко"][0] != one["Коваленко"][0]
