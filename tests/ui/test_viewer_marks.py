"""The viewer without a browser (``ui/documents.py``): layers of marks always well nested and the
text always escaped, whatever the spans; the tint on the matching sentences; the cost of a long
page with many marks; hit-to-hit navigation on a transcript over HTTP."""

from __future__ import annotations

import random
import re
import time

from markupsafe import escape

from archive_search.types import LOCAL_ADMIN
from tests.ui.conftest import UiArchive
from tests.ui.test_pages import client_for, log_in
from ui.documents import Span, hit_sentences, nest

TAG = re.compile(r"<(/?)([pam])>")


def spans(text: str, n: int, tag: str, rng: random.Random) -> list[Span]:
    points = sorted(rng.sample(range(len(text) + 1), 2 * n))
    return [(points[2 * i], points[2 * i + 1], f"<{tag}>", f"</{tag}>") for i in range(n)]


def well_nested(html: str) -> bool:
    stack: list[str] = []
    for m in TAG.finditer(html):
        if m.group(1):
            if not stack or stack.pop() != m.group(2):
                return False
        else:
            stack.append(m.group(2))
    return not stack


def test_layers_nest_and_the_text_is_escaped_whatever_the_spans() -> None:
    rng = random.Random(7)
    for _ in range(200):
        text = "".join(rng.choice("ab <&>\"'\n") for _ in range(rng.randint(0, 120)))
        n = len(text) // 6
        layers = [spans(text, min(n, 2), "p", rng), spans(text, n, "a", rng), spans(text, n, "m", rng)]
        out = nest(text, layers)
        assert well_nested(out), out
        assert TAG.sub("", out) == str(escape(text))


def test_overlapping_inner_spans_are_cut_at_the_outer_edge() -> None:
    text = "Петро Коваленко розповів"
    out = nest(text, [[(0, 15, "<a>", "</a>")], [(6, 24, "<m>", "</m>")]])
    assert out == "<a>Петро <m>Коваленко</m></a><m> розповів</m>"


def test_the_tint_lies_on_the_sentences_with_a_match() -> None:
    text = "Перше речення. Друге з іменем Коваленко. Третє речення! Четверте."
    at = text.index("Коваленко")
    terms: list[Span] = [(at, at + len("Коваленко"), "<m>", "</m>")]
    (band,) = hit_sentences(text, 0, len(text), terms)
    assert text[band[0] : band[1]].strip() == "Друге з іменем Коваленко."
    # no match in the passage (opened without a query): all of it
    assert hit_sentences(text, 0, len(text), [])[0][:2] == (0, len(text))
    # two neighbouring sentences with matches make one band
    at3 = text.index("Третє")
    both = hit_sentences(text, 0, len(text), [*terms, (at3, at3 + 5, "<m>", "</m>")])
    assert (
        len(both) == 1 and text[both[0][0] : both[0][1]].strip() == "Друге з іменем Коваленко. Третє речення!"
    )


def test_a_long_page_with_many_marks_renders_fast() -> None:
    rng = random.Random(1)
    text = "".join(rng.choice("abc ") for _ in range(200_000))
    layers = [spans(text, 50, "p", rng), spans(text, 3000, "a", rng), spans(text, 5000, "m", rng)]
    t0 = time.perf_counter()
    out = nest(text, layers)
    took = time.perf_counter() - t0
    assert well_nested(out)
    # ~0.2 s on the shared 2-core machine: each span visited about once, not once per outer span
    assert took < 5, took


def test_a_transcript_steps_from_turn_to_turn(ui_archive: UiArchive) -> None:
    """Hit-to-hit navigation on a transcript (turns, not pages), over HTTP: "hit k of n" and the
    next turn holding the word, plain links; a reader of another collection gets 404, no hits."""
    svc = ui_archive.service
    doc = ui_archive.sample_doc_ids["interview-uk-sample.srt"]
    turns = [p for p in svc.document_text(doc, LOCAL_ADMIN) if "затриман" in p["text"]]
    assert len(turns) >= 3, turns
    first = turns[0]["passage_id"]
    with client_for(ui_archive) as c:
        log_in(c, "researcher")
        html = c.get(f"/documents/{doc}", params={"q": "затримання", "passage": first}).text
        count = re.search(r'<span class="hit-count" id="hit-count">hit 1 of (\d+)</span>', html)
        assert count and int(count.group(1)) >= 3, html
        nxt = re.search(r'<a href="([^"]+)" rel="next" id="next-hit"', html)
        assert nxt, html
        second = turns[1]["passage_id"]
        assert f"passage={second}" in nxt.group(1) and nxt.group(1).endswith(f"#passage-{second}")
        html2 = c.get(nxt.group(1).replace("&amp;", "&")).text
        assert re.search(rf'<li id="passage-{second}" class="turn hit"', html2)
        assert "hit 2 of" in html2 and '<mark class="term' in html2
    with client_for(ui_archive) as c:
        log_in(c, "lawyer")  # reads the restricted collection only
        r = c.get(f"/documents/{doc}", params={"q": "затримання", "passage": first})
        assert r.status_code == 404 and "hit-nav" not in r.text
