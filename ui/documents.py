"""What the document viewer needs beyond what ``ArchiveService`` returns as is: the hit passage's
span, and query-term marks in page text. Everything is read through the service, which checks
access (a passage or document the principal may not read is ``NotFoundError``)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from archive_search.errors import NotFoundError, QuerySyntaxError
from archive_search.types import MatchExplanation, Principal
from search_api.query import parse_query
from search_api.service import ArchiveService


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


def query_terms(service: ArchiveService, q: str) -> set[str]:
    """The analysed terms of a query's words (what a snippet marks); empty for a malformed query."""
    try:
        parsed = parse_query(q)
    except QuerySyntaxError:
        return set()
    terms: set[str] = set()
    for w in parsed.words():
        for tok in service.analyzer.tokens(w):
            terms.update(tok.terms)
    return terms


def mark_terms(service: ArchiveService, text: str, terms: set[str]) -> Markup:
    """``text`` HTML-escaped, with the tokens matching ``terms`` wrapped in ``<mark>``."""
    if not terms or not text:
        return escape(text)
    out: list[str] = []
    pos = 0
    for tok in service.analyzer.tokens(text):
        if terms.intersection(tok.terms):
            out.append(str(escape(text[pos : tok.start])))
            out.append(f'<mark class="term">{escape(text[tok.start : tok.end])}</mark>')
            pos = tok.end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def page_with_passage(
    service: ArchiveService, text: str, span: PassageSpan | None, terms: set[str], anchor: str
) -> Markup:
    """A page's text, escaped, with the hit passage wrapped in ``<mark id=anchor>`` and the query's
    terms marked inside it."""
    if span is None or not 0 <= span.char_start < span.char_end <= len(text):
        return mark_terms(service, text, set())
    before, inside = text[: span.char_start], text[span.char_start : span.char_end]
    after = text[span.char_end :]
    return Markup(
        f'{escape(before)}<mark class="passage" id="{escape(anchor)}" tabindex="-1">'
        f"{mark_terms(service, inside, terms)}</mark>{escape(after)}"
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
