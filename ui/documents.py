"""What the document viewer needs beyond what ``ArchiveService`` returns as is: the hit passage's
span, the marks in page text (the found passage, its matching sentences, the query's words as the
snippets mark them, entity links) and the hit-to-hit navigation. Everything is read through the
service, which checks access (a passage or document the principal may not read is
``NotFoundError``)."""

from __future__ import annotations

import bisect
import html
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from markupsafe import Markup, escape

from archive_search.errors import NotFoundError
from archive_search.types import MatchExplanation, Principal
from search_api.entities import DocumentMention
from search_api.service import ArchiveService, DocumentHits, PassagePlace


@dataclass(frozen=True)
class PassageSpan:
    passage_id: int
    page: int | None
    char_start: int
    char_end: int


def passage_span(
    service: ArchiveService, document_id: int, passage_id: int, principal: Principal
) -> PassageSpan | None:
    """Where a passage of this document lies (page and character span inside the page's text);
    ``None`` when it is not one of this document's, or not readable."""
    try:
        p = service.passage(passage_id, principal)
    except NotFoundError:
        return None
    if str(p["document_id"]) != str(document_id):
        return None
    return PassageSpan(int(p["id"]), p["page"], int(p["char_start"]), int(p["char_end"]))


Span = tuple[int, int, str, str]
"""A stretch of text to wrap: (start, end, opening tag, closing tag), tags already escaped."""


def nest(text: str, layers: Sequence[Sequence[Span]], lo: int = 0, hi: int | None = None) -> str:
    """``text[lo:hi]`` HTML-escaped, with each layer's spans wrapped in their tags, the first layer
    outermost: a span of an inner layer that crosses an outer span's edge is cut there, so that
    the result is always well nested. Each layer's spans are in text order and should not
    overlap (a later one that does is cut to what follows the earlier one). Only the spans
    around ``lo:hi`` are visited (bisection), so a long page with many marks costs about the
    number of its marks, not their product."""
    hi = len(text) if hi is None else hi
    if not layers:
        return str(escape(text[lo:hi]))
    first, rest = layers[0], layers[1:]
    out: list[str] = []
    pos = lo
    i = max(0, bisect.bisect_right(first, lo, key=lambda sp: sp[0]) - 1)  # one may start before lo
    for start, end, open_tag, close_tag in itertools.islice(first, i, None):
        if start >= hi:
            break
        start, end = max(start, pos), min(end, hi)
        if start >= end:
            continue
        out.append(nest(text, rest, pos, start))
        out.append(open_tag + nest(text, rest, start, end) + close_tag)
        pos = end
    out.append(nest(text, rest, pos, hi))
    return "".join(out)


def term_spans(found: DocumentHits | None, text: str) -> list[Span]:
    """The query's matches in ``text`` as the result snippets mark them (the same highlighter:
    inflected forms, other scripts and spellings, the OCR tolerance of rare words), each classed
    by how it matched, as the snippet's marks are (``classify_marks``)."""
    if found is None:
        return []
    out: list[Span] = []
    for s, e, how in found.marks(text):
        cls = f" {MATCH_CLASSES[how]}" if how in MATCH_CLASSES else ""
        out.append((s, e, f'<mark class="term{cls}">', "</mark>"))
    return out


def entity_spans(mentions: Sequence[DocumentMention], offset: int = 0) -> list[Span]:
    """Entity mentions (spans inside their passage, which starts at ``offset`` of the text shown)
    as links to their entity pages, in text order, without overlaps."""
    out: list[Span] = []
    end = -1
    for m in sorted(mentions, key=lambda m: (m.start, -m.end)):
        if m.start < end or m.end <= m.start:
            continue
        end = m.end
        open_tag = (
            f'<a class="entity entity-{escape(m.type)}" href="/entities/{m.entity_id}" '
            f'data-entity="{m.entity_id}">'
        )
        out.append((offset + m.start, offset + m.end, open_tag, "</a>"))
    return out


SENTENCE_END = re.compile(r"[.!?…]+[»\"')\]]*\s+|\n\s*\n")


def hit_sentences(text: str, start: int, end: int, terms: Sequence[Span]) -> list[Span]:
    """The sentences of the passage ``text[start:end]`` that hold a match of the query: the tint
    of the found passage covers those, not the whole passage (about 800 characters, most of a
    page); the whole passage when none of its words matched (opened from similar passages)."""
    inside = [(s, e) for s, e, _, _ in terms if s >= start and e <= end]
    tag = '<span class="hit-sentence">'
    if not inside:
        return [(start, end, tag, "</span>")]
    bounds = [start] + [m.end() + start for m in SENTENCE_END.finditer(text[start:end])] + [end]
    out: list[Span] = []
    for a, b in itertools.pairwise(bounds):
        if a < b and any(s < b and e > a for s, e in inside):
            if out and out[-1][1] == a:  # neighbouring sentences: one band
                a = out.pop()[0]
            out.append((a, b, tag, "</span>"))
    return out


def render_page(
    text: str,
    *,
    span: PassageSpan | None,
    anchor: str,
    found: DocumentHits | None,
    mentions: Sequence[tuple[int, Sequence[DocumentMention]]] = (),
) -> Markup:
    """A page's text, escaped: the found passage in ``<mark class="passage" id=anchor>`` (its
    matching sentences tinted), the query's matches in ``<mark class="term">`` everywhere on the
    page, and entity mentions as links. ``mentions`` holds (passage offset in the page, its
    mentions) pairs."""
    terms = term_spans(found, text)
    ents: list[Span] = []
    for offset, ms in mentions:
        ents.extend(entity_spans(ms, offset))
    ents.sort()
    layers: list[list[Span]] = []
    if span is not None and 0 <= span.char_start < span.char_end <= len(text):
        opening = f'<mark class="passage" id="{escape(anchor)}" tabindex="-1">'
        layers.append([(span.char_start, span.char_end, opening, "</mark>")])
        layers.append(hit_sentences(text, span.char_start, span.char_end, terms))
    layers.extend([ents, terms])
    return Markup(nest(text, layers))


@dataclass(frozen=True)
class HitLink:
    url: str
    page: int | None
    seq: int


@dataclass(frozen=True)
class HitNavigation:
    """Hit-to-hit navigation through a document: "hit k of n" and the previous and next matching
    passages, across pages (plain links: no script needed)."""

    total: int
    current: int | None
    """1-based place of the passage shown among the matches; ``None`` when it is not one of them
    (a passage found by meaning only, or no passage given)."""
    previous: HitLink | None
    next: HitLink | None


def hit_url(document_id: int, passage_id: int, q: str, back: str | None) -> str:
    params = {"passage": str(passage_id), "q": q}
    if back:
        params["back"] = back
    return f"/documents/{document_id}?{urlencode(params)}#passage-{passage_id}"


def hit_navigation(
    document_id: int,
    found: DocumentHits,
    places: Sequence[PassagePlace],
    span: PassageSpan | None,
    q: str,
    back: str | None,
) -> HitNavigation:
    """Where the passage shown stands among the query's matches in this document, and the links to
    the matches before and after it in document order."""
    hits = found.passages
    seq_of = {p.passage_id: p.seq for p in places}
    here = seq_of.get(span.passage_id) if span is not None else None

    def link(i: int) -> HitLink:
        h = hits[i]
        return HitLink(hit_url(document_id, h.passage_id, q, back), h.page, h.seq)

    shown = span.passage_id if span is not None else None
    current = next((i for i, h in enumerate(hits) if h.passage_id == shown), None)
    if current is not None:
        prev_i: int | None = current - 1 if current > 0 else None
        next_i: int | None = current + 1 if current + 1 < len(hits) else None
    elif here is None:
        prev_i, next_i = None, (0 if hits else None)
    else:
        before = [i for i, h in enumerate(hits) if h.seq < here]
        after = [i for i, h in enumerate(hits) if h.seq > here]
        prev_i, next_i = (before[-1] if before else None), (after[0] if after else None)
    return HitNavigation(
        total=len(hits),
        current=current + 1 if current is not None else None,
        previous=link(prev_i) if prev_i is not None else None,
        next=link(next_i) if next_i is not None else None,
    )


def has_page_images(mime: str) -> bool:
    return mime == "application/pdf" or mime.startswith("image/")


MATCH_CLASSES: dict[str, str] = {
    "exact": "m-exact",
    "lemma": "m-lemma",
    "transliteration": "m-translit",
    "misspelling": "m-approx",
}
"""The class of a ``<mark>`` by how its word matched (``MatchExplanation.how``): an approximate
or cross-script match never looks like an exact one (issue 21)."""
_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def match_forms(explain: list[MatchExplanation] | None) -> dict[str, str]:
    """{matched form, lower case: how} of a hit's explanation; the closest kind wins when a form
    matched several words (exact before lemma before transliteration before misspelling)."""
    order = list(MATCH_CLASSES)
    out: dict[str, str] = {}
    for e in explain or []:
        if e.how not in MATCH_CLASSES:
            continue
        for form in e.matched:
            key = form.lower()
            if key not in out or order.index(e.how) < order.index(out[key]):
                out[key] = e.how
    return out


def classify_marks(snippet: str, explain: list[MatchExplanation] | None) -> Markup:
    """The service's snippet (already HTML-escaped, matches in ``<mark>``) with each mark classed
    by how its word matched; nothing but the marks' class changes."""
    forms = match_forms(explain)

    def one(m: re.Match[str]) -> str:
        how = forms.get(html.unescape(m.group(1)).lower())
        cls = f' class="{MATCH_CLASSES[how]}"' if how else ""
        return f"<mark{cls}>{m.group(1)}</mark>"

    return Markup(_MARK.sub(one, snippet))


def match_kinds(explain: list[MatchExplanation] | None) -> list[MatchExplanation]:
    """The explanation, one entry per (word, how), for the card's match labels."""
    seen: set[tuple[str | None, str]] = set()
    out: list[MatchExplanation] = []
    for e in explain or []:
        if (e.word, e.how) not in seen:
            seen.add((e.word, e.how))
            out.append(e)
    return out
