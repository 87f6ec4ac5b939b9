"""Passage-level confidentiality (issue 20, part 3): what a reader sees of a document that holds
passages restricted away from them.

A restricted passage is left out of every search inside the backend query
(``Filters.hidden_passage_ids``); this module covers the reads that show a document's whole text —
the viewer (``ArchiveService.document_text``) and the text files of case bundles — where the
passage is *withheld*: on a page text its characters become ``WITHHELD_MASK`` (same length, so
every other passage's offsets stay valid and the viewer can mark the place), in a passage list its
text is empty and the entry says ``withheld``. The stored text is never changed: readers on the
passage's list, the collection's managers and administrators read it as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive_search.catalog.models import Passage, PassageRestriction
from archive_search.types import Principal

WITHHELD_MASK = "░"
"""What each character of a withheld passage becomes on a page text (not a word character, and not
the redaction mask ``█``: the viewer tells the two apart)."""
WITHHELD_NOTE = "[passage withheld: restricted]"
"""The line that stands for a withheld passage in a bundle's text file of a transcript or plain text."""


@dataclass(frozen=True)
class WithheldPassage:
    passage_id: int
    page: int | None
    char_start: int
    char_end: int


def withheld_passages(s: Session, document_id: int, principal: Principal) -> list[WithheldPassage]:
    """The restricted passages of a document that ``principal`` may not read, in order."""
    if not principal.hidden_passages:
        return []
    rows = s.execute(
        select(Passage.id, Passage.page, Passage.char_start, Passage.char_end)
        .join(PassageRestriction, PassageRestriction.passage_id == Passage.id)
        .where(Passage.document_id == document_id)
        .order_by(Passage.seq)
    ).all()
    return [
        WithheldPassage(int(i), p, int(a), int(b)) for i, p, a, b in rows if i in principal.hidden_passages
    ]


def restricted_documents(s: Session, document_ids: Sequence[int], principal: Principal) -> set[int]:
    """The documents among ``document_ids`` that hold a passage withheld from ``principal``."""
    if not principal.hidden_passages or not document_ids:
        return set()
    out: set[int] = set()
    uniq = sorted(set(document_ids))
    for i in range(0, len(uniq), 1000):
        for pid, did in s.execute(
            select(PassageRestriction.passage_id, PassageRestriction.document_id).where(
                PassageRestriction.document_id.in_(uniq[i : i + 1000])
            )
        ):
            if pid in principal.hidden_passages:
                out.add(int(did))
    return out


def on_page(w: WithheldPassage, page: int, single_page: bool) -> bool:
    """Whether a withheld passage lies on ``page`` (a one-page text's passages carry no page)."""
    return w.page == page or (w.page is None and single_page)


def mask_page(text: str, page: int, withheld: Sequence[WithheldPassage], *, single_page: bool) -> str:
    """A page text with the characters of its withheld passages replaced by ``WITHHELD_MASK``."""
    spans = [(w.char_start, w.char_end) for w in withheld if on_page(w, page, single_page)]
    if not spans:
        return text
    chars = list(text)
    for a, b in spans:
        for i in range(max(0, a), min(len(chars), b)):
            if chars[i] != "\n":  # words and their lengths are not shown, the lines stay
                chars[i] = WITHHELD_MASK
    return "".join(chars)


def withheld_pages(withheld: Sequence[WithheldPassage], pages: Sequence[int]) -> set[int]:
    """The page numbers (of ``pages``) that hold a withheld passage."""
    single = len(pages) == 1
    return {n for n in pages if any(on_page(w, n, single) for w in withheld)}
