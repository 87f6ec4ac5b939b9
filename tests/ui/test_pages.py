"""The web interface over HTTP (no browser): sessions, CSRF, languages, access, escaping."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from archive_search.types import LOCAL_ADMIN
from tests.ui.conftest import PASSWORD, XSS_NAME, UiArchive, client_for
from tests.web_session import csrf_of
from tests.web_session import log_in as sign_in
from ui.common import safe_next
from ui.i18n import MESSAGES, Translator, negotiate


def log_in(c: TestClient, user: str, password: str = PASSWORD) -> str:
    return sign_in(c, user, password)


# -- sessions and CSRF -----------------------------------------------------------------------


def test_pages_need_a_session(anon: TestClient) -> None:
    for path in ("/", "/?q=x", "/documents/1", "/documents/1/original", "/documents/1/pages/1.png"):
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path


def test_login_sets_a_strict_httponly_cookie_backed_by_an_api_token(anon: TestClient) -> None:
    cookie = log_in(anon, "researcher")
    assert "archive_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie.split("archive_presession")[0]  # plain http here
    token = anon.cookies["archive_session"]
    me = anon.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "researcher"
    # log out: the token is revoked for the API as well
    page = anon.get("/")
    assert page.status_code == 200 and "researcher" in page.text
    r = anon.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?logged_out=1"
    assert anon.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert anon.get("/", follow_redirects=False).status_code == 303


def test_cookie_is_secure_over_https(ui_archive: UiArchive) -> None:
    with client_for(ui_archive, base_url="https://archive.example") as c:
        cookie = log_in(c, "researcher")
    session_part = next(p for p in cookie.split(", archive_") if "archive_session=" in p)
    assert "Secure" in session_part


def test_forms_without_the_csrf_token_are_refused(ui_archive: UiArchive) -> None:
    with client_for(ui_archive) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "researcher", "password": PASSWORD, "csrf_token": "0" * 64})
        assert r.status_code == 403 and "archive_session" not in c.cookies
        r = c.post("/login", data={"username": "researcher", "password": PASSWORD})
        assert r.status_code == 403
        log_in(c, "researcher")
        token = c.cookies["archive_session"]
        # the pre-login token is not the session's: CSRF tokens are bound to the session
        assert c.post("/logout", data={"csrf_token": "f" * 64}).status_code == 403
        assert c.post("/lang", data={"lang": "uk"}).status_code == 403
        me = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200  # still logged in


def test_cross_origin_posts_are_refused(researcher: TestClient) -> None:
    token = csrf_of(researcher.get("/").text)
    r = researcher.post(
        "/lang", data={"lang": "uk", "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    r = researcher.post(
        "/lang", data={"lang": "uk", "csrf_token": token, "next": "/"}, follow_redirects=False
    )
    assert r.status_code == 303 and "archive_lang=uk" in r.headers["set-cookie"]


def test_login_errors_and_the_rate_limit_are_shown(ui_archive: UiArchive) -> None:
    with client_for(ui_archive, headers={"Accept-Language": "uk"}) as c:
        token = csrf_of(c.get("/login").text)
        r = c.post("/login", data={"username": "ratelimited", "password": "wrong", "csrf_token": token})
        assert r.status_code == 401
        assert "Неправильне ім'я користувача або пароль" in r.text.replace("&#39;", "'")
        assert 'value="ratelimited"' in r.text
        for _ in range(ui_archive.service.settings.login_max_failures):
            r = c.post("/login", data={"username": "ratelimited", "password": "wrong", "csrf_token": token})
        assert r.status_code == 429
        assert "Забагато невдалих спроб" in r.text
        assert re.search(r"через [\d\s\u00a0\u202f]+ с", r.text)


def test_next_is_never_another_site() -> None:
    assert safe_next("/?q=a") == "/?q=a"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x", "", None):
        assert safe_next(bad) == "/"


# -- languages -------------------------------------------------------------------------------


def test_every_language_has_every_message() -> None:
    keys = set(MESSAGES["en"])
    assert len(keys) > 300  # the catalogs were read
    for lang, messages in MESSAGES.items():
        assert set(messages) == keys, (lang, keys ^ set(messages))
        for key, text in messages.items():  # a translation keeps the English's placeholders
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", MESSAGES["en"][key])
            ), (
                lang,
                key,
            )


def test_the_catalogs_are_gettext_files_with_translator_comments() -> None:
    from babel.messages.pofile import read_po

    from ui.i18n import LOCALE_DIR

    for lang in ("uk", "ru"):
        with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
            catalog = read_po(f, locale=lang)
        search = catalog.get("search_label")
        assert search is not None and search.auto_comments == [MESSAGES["en"]["search_label"]]
        assert catalog.get("signed_in_as").auto_comments == [MESSAGES["en"]["signed_in_as"]]


def test_language_negotiation() -> None:
    assert negotiate(None, "uk-UA,uk;q=0.9,en;q=0.8") == "uk"
    assert negotiate(None, "be,ru;q=0.8,en;q=0.5") == "ru"
    assert negotiate(None, "de-DE,de;q=0.9") == "en"
    assert negotiate(None, "en;q=0.5,ru;q=0.9") == "ru"
    assert negotiate(None, "ru;q=0") == "en"
    assert negotiate("uk", "ru") == "uk"
    assert negotiate("xx", "ru") == "ru"


def test_numbers_and_dates_per_language() -> None:
    from datetime import date

    assert Translator("en").num(12345) == "12,345"
    assert Translator("uk").num(12345) in ("12\u00a0345", "12\u202f345")
    assert Translator("ru").num(12345) in ("12\u00a0345", "12\u202f345")

    def plain(s: str) -> str:  # CLDR puts (narrow) no-break spaces in dates
        return re.sub(r"[\u00a0\u202f]", " ", s)

    assert plain(Translator("uk").date(date(2024, 2, 24))) == "24 лютого 2024 р."
    assert plain(Translator("ru").date(date(2024, 2, 24))) == "24 февраля 2024 г."
    assert plain(Translator("en").date(date(2024, 2, 24))) == "24 February 2024"
    assert Translator("uk").language_name("be") == "білоруська"


def test_interface_language_from_accept_language_then_cookie(ui_archive: UiArchive) -> None:
    with client_for(ui_archive, headers={"Accept-Language": "ru-RU,ru;q=0.9"}) as c:
        page = c.get("/login").text
        assert '<html lang="ru">' in page and "Вход в архив" in page
        c.post("/lang", data={"lang": "uk", "csrf_token": csrf_of(page), "next": "/login"})
        page = c.get("/login").text
        assert '<html lang="uk">' in page and "Вхід до архіву" in page


# -- search ----------------------------------------------------------------------------------


def test_search_page_shows_hits_with_provenance_and_marks(researcher: TestClient) -> None:
    r = researcher.get("/", params={"q": "братерства", "mode": "keyword"})
    assert r.status_code == 200
    # each mark carries how its word matched (issue 21): the same word is exact
    assert '<mark class="m-exact">братерства</mark>' in r.text
    assert "udhr-uk-articles.pdf" in r.text and "udhr-uk.txt" in r.text
    # (the two Ukrainian versions; close misspellings — the Russian "братства" — may match too)
    m = re.search(r'id="result-count">(\d+) results<', r.text)
    assert m and int(m.group(1)) >= 2
    assert "/documents/" in r.text and "#passage-" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["cache-control"] == "no-store"


def test_query_and_errors_are_escaped(researcher: TestClient) -> None:
    evil = '"><script>alert(1)</script>'
    r = researcher.get("/", params={"q": evil})
    assert "<script>alert(1)" not in r.text
    assert "&lt;script&gt;" in r.text or "&#34;&gt;&lt;script" in r.text


def test_hostile_file_names_are_text(lawyer: TestClient) -> None:
    r = lawyer.get("/", params={"q": "brotherhood", "mode": "keyword"})
    assert r.status_code == 200
    assert XSS_NAME not in r.text and "&lt;img src=x onerror=alert(1)&gt;.txt" in r.text
    assert "&lt;b&gt;markup&lt;/b&gt;" in r.text or "<b>markup" not in r.text


def test_facets_and_filters(researcher: TestClient) -> None:
    r = researcher.get(
        "/", params={"q": "brotherhood OR братерства OR братства OR брацтва", "mode": "keyword"}
    )
    assert r.status_code == 200
    for lang in ("ru", "uk", "be", "en"):
        assert f'name="lang" value="{lang}"' in r.text
    only = researcher.get(
        "/", params={"q": "brotherhood OR братерства OR братства OR брацтва", "mode": "keyword", "lang": "uk"}
    )
    assert re.search(r'name="lang" value="uk"\s+checked', only.text)
    assert not re.search(r'name="lang" value="en"\s+checked', only.text)
    assert "udhr-uk" in only.text and "udhr-en" not in only.text and "udhr-ru" not in only.text


def test_a_user_sees_nothing_of_a_collection_they_may_not_read(
    researcher: TestClient, lawyer: TestClient, ui_archive: UiArchive
) -> None:
    for q in ("братерства", "братства", "брацтва", "brotherhood", "свідка"):
        r = researcher.get("/", params={"q": q, "mode": "keyword"})
        assert "restricted" not in r.text and "witness-statement" not in r.text, q
    r = researcher.get("/", params={"q": "свідка", "mode": "keyword", "collection": "restricted"})
    assert "witness-statement" not in r.text and "0 results" in r.text
    home = researcher.get("/").text
    assert "restricted" not in home and ">sample<" in home
    doc = ui_archive.restricted_doc
    for path in (f"/documents/{doc}", f"/documents/{doc}/original", f"/documents/{doc}/pages/1.png"):
        assert researcher.get(path).status_code == 404, path
        assert researcher.get(path.replace(str(doc), "999999")).status_code == 404
    r = lawyer.get("/", params={"q": "свідка", "mode": "keyword"})
    assert "witness-statement-restricted.txt" in r.text
    assert lawyer.get(f"/documents/{doc}").status_code == 200
    assert lawyer.get(f"/documents/{doc}/original").content.startswith("Протокол".encode())


def test_bad_parameters_and_unavailable_modes_are_explained(researcher: TestClient) -> None:
    r = researcher.get("/", params={"q": "x", "date_from": "yesterday"})
    assert r.status_code == 400 and "date_from" in r.text and 'role="alert"' in r.text
    r = researcher.get("/", params={"q": "братерства", "mode": "semantic"})
    assert r.status_code == 409 and "semantic search is not available" in r.text  # the archive's state
    r = researcher.get("/", params={"q": '"unclosed'})
    assert r.status_code == 400 and 'role="alert"' in r.text


def test_pagination(researcher: TestClient) -> None:
    r = researcher.get("/", params={"collection": "sample"})
    assert r.status_code == 200 and 'rel="next"' in r.text
    r2 = researcher.get("/", params={"collection": "sample", "page": "2"})
    assert 'aria-current="page"' in r2.text and 'rel="prev"' in r2.text and 'start="11"' in r2.text


# -- documents -------------------------------------------------------------------------------


def test_viewer_highlights_the_passage_on_its_page(researcher: TestClient, ui_archive: UiArchive) -> None:
    r = researcher.get("/", params={"q": "братерства", "mode": "keyword", "type": "pdf"})
    link = re.search(r'href="(/documents/(\d+)\?[^"]*passage=(\d+)[^"]*)"', r.text)
    assert link
    doc_id, passage = link.group(2), link.group(3)
    page = researcher.get(link.group(1).replace("&amp;", "&"))
    assert page.status_code == 200
    m = re.search(
        r'<section class="page hit" id="page-(\d+)".*?<mark class="passage" id="passage-(\d+)"',
        page.text,
        re.S,
    )
    assert m and m.group(2) == passage
    # marked as the snippet marks it, with how it matched (an exact match here)
    assert '<mark class="term m-exact">братерства</mark>' in page.text
    assert ui_archive.service.document(int(doc_id), LOCAL_ADMIN)["sha256"] in page.text
    assert f"/documents/{doc_id}/pages/1.png" in page.text
    png = researcher.get(f"/documents/{doc_id}/pages/1.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert researcher.get(f"/documents/{doc_id}/pages/99.png").status_code == 404
    orig = researcher.get(f"/documents/{doc_id}/original")
    assert orig.status_code == 200 and orig.content.startswith(b"%PDF")
    assert "attachment" in orig.headers["content-disposition"]
    assert orig.headers["x-content-sha256"] == ui_archive.service.document(int(doc_id), LOCAL_ADMIN)["sha256"]


def test_viewer_shows_transcript_turns(researcher: TestClient, ui_archive: UiArchive) -> None:
    doc = ui_archive.sample_doc_ids["interview-uk-sample.srt"]
    text = researcher.get(f"/documents/{doc}").text
    assert 'class="turns"' in text and 'class="time"' in text and 'class="speaker"' in text
    assert re.search(r"\d\d:\d\d:\d\d", text)
