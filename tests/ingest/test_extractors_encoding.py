"""Legacy encodings: decode_text on real Russian web pages in six Cyrillic code pages (chardet's
test corpus), the NLTK UDHR copies in windows-1251, and short UDHR snippets in every code page.

Accuracy = the fraction of files whose decoded text equals the reference decode (the folder's
encoding). Run with ``-s`` to see the numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.extractors.text import decode_text

SHARED = Path("/work/shared/data")
CHARDET = SHARED / "chardet-cyrillic-encodings"
UDHR = SHARED / "udhr-ru-uk-be-en"
ALEPH = SHARED / "aleph-ingest-fixtures" / "files"
FOLDERS = {
    "windows-1251-russian": "cp1251",
    "KOI8-R": "koi8_r",
    "IBM866": "cp866",
    "iso-8859-5-russian": "iso8859_5",
    "MacCyrillic": "mac_cyrillic",
    "IBM855": "cp855",
}
CODE_PAGES = ["cp1251", "koi8_r", "koi8_u", "cp866", "iso8859_5", "mac_cyrillic", "cp855"]


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data {path} is missing")
    return path


def test_chardet_corpus_accuracy() -> None:
    need(CHARDET)
    total = right = 0
    wrong: list[str] = []
    for folder, enc in FOLDERS.items():
        for f in sorted((CHARDET / folder).iterdir()):
            data = f.read_bytes()
            text, got = decode_text(data)
            total += 1
            if text == data.decode(enc, errors="replace"):
                right += 1
            else:
                wrong.append(f"{folder}/{f.name} -> {got}")
    print(f"\nchardet corpus: {right}/{total} = {right / total:.3f}")
    assert total >= 100
    assert right / total >= 0.97, wrong


def test_udhr_windows_1251_copies() -> None:
    folder = need(UDHR / "nltk-udhr-legacy-encodings")
    for lang in ("Russian", "Ukrainian", "Belorus_Belaruski"):
        text, enc = decode_text((folder / f"{lang}-Cyrillic").read_bytes())
        ref = (folder / f"{lang}-UTF8").read_text("utf-8-sig")
        common = min(len(text), len(ref)) - 200  # the files are cut at ~10 kB: compare a prefix
        assert enc == "cp1251", lang
        assert text.replace("\r\n", "\n")[:common] == ref.replace("\r\n", "\n")[:common], lang
    data = (folder / "English-Latin1").read_bytes()
    text, enc = decode_text(data)
    assert text == data.decode("latin_1") and "Universal Declaration of Human Rights" in text


@pytest.mark.parametrize("max_chars", [None, 60])
def test_udhr_articles_in_every_code_page(max_chars: int | None) -> None:
    articles = [json.loads(line) for line in need(UDHR / "articles.jsonl").read_text("utf-8").splitlines()]
    total = right = 0
    for a in articles:
        if a["lang"] == "en":
            continue
        ref = a["text"][:max_chars]
        for enc in CODE_PAGES:
            try:
                data = ref.encode(enc)
            except UnicodeEncodeError:
                continue  # e.g. Ukrainian letters in KOI8-R or IBM866
            total += 1
            right += decode_text(data)[0] == ref
    print(
        f"\nUDHR ru/uk/be articles (max {max_chars} chars) in {len(CODE_PAGES)} code pages: "
        f"{right}/{total} = {right / total:.3f}"
    )
    assert total > 300 and right / total >= 0.98


def test_short_mixed_and_latin_texts() -> None:
    cases = [
        ("Ніхто не повинен зазнавати тортур.", "koi8_u"),
        ("Ніхто не павінен падвяргацца катаванням.", "cp1251"),
        ("Сёння ў горадзе дождж.", "iso8859_5"),
        ("Привет, мир!", "koi8_r"),
        ("ЗАЯВЛЕНИЕ О ПРИЕМЕ НА РАБОТУ", "cp866"),
        ("Протокол № 5 от 12.03.1994 г. «Об итогах»", "cp1251"),
        ("Der Chef von Großbritanniens größter Partei", "cp1252"),
        ("Café society, naïve résumé", "cp1252"),
    ]
    for text, enc in cases:
        assert decode_text(text.encode(enc))[0] == text, (text, enc)


def test_real_legacy_and_damaged_files() -> None:
    text, enc = decode_text(need(ALEPH / "non_utf.txt").read_bytes())
    assert "größter" in text and enc == "cp1252"
    # every BMP character, UTF-8 with encoded surrogates: decoded as UTF-8, not as a code page
    text, enc = decode_text((ALEPH / "full-bmp.txt").read_bytes())
    assert enc == "utf-8" and "Markus Kuhn" in text and "Ж" in text
    assert decode_text("Усі люди".encode() + b"\xff" + "народжуються вільними".encode() * 10)[1] == "utf-8"


def test_short_lines_of_the_chardet_corpus() -> None:
    """Every distinct line (tags stripped, 5-80 characters with 5+ Cyrillic letters) of the
    windows-1251 pages, re-encoded into each code page: short texts are where detectors fail
    (charset-normalizer alone: 0.78 here)."""
    import re

    folder = need(CHARDET / "windows-1251-russian")
    lines: set[str] = set()
    for f in folder.iterdir():
        for line in f.read_bytes().decode("cp1251").splitlines():
            line = re.sub(r"<[^>]+>", "", line).strip()
            if len(line) <= 80 and sum(1 for ch in line if "\u0400" <= ch <= "\u04ff") >= 5:
                lines.add(line)
    total = right = 0
    for line in sorted(lines):
        for enc in ("cp1251", "koi8_r", "cp866", "iso8859_5", "mac_cyrillic"):
            try:
                data = line.encode(enc)
            except UnicodeEncodeError:
                continue
            total += 1
            right += decode_text(data)[0] == line
    print(f"\nchardet corpus, short lines in 5 code pages: {right}/{total} = {right / total:.3f}")
    assert total > 1000 and right / total >= 0.98
