# ruff: noqa: E501, SIM115
"""Build ``bench/entities/devset.jsonl``: 40 sentences of NTREX-128 (the same 40 in ru, uk, be and en,
picked at random with seed 18 among the 933 sentences of 60-260 characters with at least two
capitalised words after the first word in English) with the hand annotations of ``gold_ntrex.py``,
and 12 sentences written for this set (three per language) for the pattern types and units.

    PYTHONPATH=$PWD .venv/bin/python bench/entities/build_devset.py
"""

import json
import random
import sys
from pathlib import Path

from ingest.normalize import normalize_text

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from gold_ntrex import G  # noqa: E402

D = Path("/work/shared/data/ntrex128-ru-uk-be-en")
LANGS = ("en", "ru", "uk", "be")
docs = {
    lang: {(d := json.loads(x))["_id"]: d["text"].split("\r\n") for x in open(D / f"corpus.{lang}.jsonl")}
    for lang in LANGS
}
cands = []
for did, lines in docs["en"].items():
    if not all(len(docs[lang][did]) == len(lines) for lang in LANGS):
        continue
    for i, s in enumerate(lines):
        if 60 <= len(s) <= 260 and sum(1 for w in s.split()[1:] if w[:1].isupper()) >= 2:
            cands.append((did, i))
random.seed(18)


def _locate(text: str, surf: str, start: int, placed: list[list]) -> int:
    """The first occurrence of ``surf`` from ``start`` that stands as whole words and does not
    overlap a mention placed before (a surname alone after the full name: "Джонни Инглиш …
    Инглиш" is the second one, not the one inside the full name)."""
    i = text.find(surf, start)
    while i >= 0:
        end = i + len(surf)
        whole = (i == 0 or not text[i - 1].isalnum()) and (end == len(text) or not text[end].isalnum())
        if whole and not any(i < e and s < end for _, s, e, _ in placed):
            return i
        i = text.find(surf, i + 1)
    return text.find(surf, start)  # as before when no other occurrence fits


pick = [
    {"doc": did, "line": i, **{lang: docs[lang][did][i] for lang in LANGS}}
    for did, i in sorted(random.sample(cands, 40))
]
rows = []
problems = []
for k, o in enumerate(pick):
    for lang in ("ru", "uk", "be", "en"):
        text = normalize_text(o[lang])
        pos = {}
        ents = []
        for typ, surf in G[k][lang]:
            start = _locate(text, surf, pos.get(surf, 0), ents)
            if start < 0:
                problems.append((k, lang, surf))
                continue
            pos[surf] = start + len(surf)
            ents.append([typ, start, start + len(surf), surf])
        rows.append(
            {
                "id": f"ntrex:{o['doc']}:{o['line']}:{lang}",
                "source": "ntrex128",
                "lang": lang,
                "text": text,
                "entities": sorted(ents, key=lambda e: e[1]),
            }
        )
print(problems)
# written for this dev set (not from shared/data): the pattern types and units, which news text lacks
W = [
    (
        "ru",
        "Заявитель указал контактный телефон +7 (928) 476-12-09 и адрес электронной почты petrova.an@mail.ru.",
        [("phone", "+7 (928) 476-12-09"), ("email", "petrova.an@mail.ru")],
    ),
    (
        "ru",
        "По материалам уголовного дела № 1-245/2016 военнослужащие в/ч 44822 задержали его на блокпосту.",
        [("docnum", "1-245/2016"), ("org", "в/ч 44822")],
    ),
    (
        "ru",
        "Свидетельница предъявила паспорт серии 96 05 № 412387, выданный ОВД Урус-Мартановского района.",
        [("docnum", "96 05 № 412387"), ("org", "ОВД")],
    ),
    (
        "uk",
        "Бійці батальйону «Айдар» затримали чоловіка; його телефон 067 123 45 67 вилучили.",
        [("org", "батальйону «Айдар»"), ("phone", "067 123 45 67")],
    ),
    (
        "uk",
        "Слідчий відкрив справу № 757/10234/19-к, скаргу надіслано на адресу sud@court.gov.ua.",
        [("docnum", "757/10234/19-к"), ("email", "sud@court.gov.ua")],
    ),
    (
        "uk",
        "Військова частина А0281 перебувала в Оленівці до березня.",
        [("org", "Військова частина А0281"), ("place", "Оленівці")],
    ),
    (
        "be",
        "Сведка патэлефанаваў па нумары +375 (29) 655-44-10 і адправіў ліст на viasna@spring96.org.",
        [("phone", "+375 (29) 655-44-10"), ("email", "viasna@spring96.org")],
    ),
    (
        "be",
        "Справа № 145/2021 датычыцца затрымання ў Мінску; у пашпарце нумар MP 3456789.",
        [("docnum", "145/2021"), ("place", "Мінску"), ("docnum", "MP 3456789")],
    ),
    (
        "be",
        "Байцы палка «Каліноўскага» перайшлі мяжу каля Гомеля.",
        [("org", "палка «Каліноўскага»"), ("place", "Гомеля")],
    ),
    (
        "en",
        "Call the hotline on +44 20 7946 0958 or write to info@example.org for case No. 2019/4471.",
        [("phone", "+44 20 7946 0958"), ("email", "info@example.org"), ("docnum", "2019/4471")],
    ),
    (
        "en",
        "His passport number 712345678 was recorded by the Azov battalion at the checkpoint.",
        [("docnum", "712345678"), ("org", "Azov battalion")],
    ),
    (
        "en",
        "The witness saw soldiers of military unit 3057 near Izium in September.",
        [("org", "military unit 3057"), ("place", "Izium")],
    ),
]
for i, (lang, text, ents) in enumerate(W):
    text = normalize_text(text)
    out = []
    pos = {}
    for typ, surf in ents:
        start = text.find(surf, pos.get(surf, 0))
        assert start >= 0, (surf, text)
        pos[surf] = start + len(surf)
        out.append([typ, start, start + len(surf), surf])
    rows.append(
        {
            "id": f"written:{i}:{lang}",
            "source": "written",
            "lang": lang,
            "text": text,
            "entities": sorted(out, key=lambda e: e[1]),
        }
    )
with open(HERE / "devset.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(rows), sum(len(r["entities"]) for r in rows))
