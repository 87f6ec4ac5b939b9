"""A document's date found in its text, for documents whose metadata has none.

Recognised forms (day-first wherever the order is numeric, as in the archive's countries):

- Ukrainian, Russian, Belarusian month names in the genitive, with an optional year marker and
  the quotes of official letters: ``12 березня 2022 р.``, ``«12» марта 2022 г.``,
  ``12 сакавіка 2022``; old Russian spelling ``12 марта 2022 года``;
- English: ``March 12, 2022``, ``12 March 2022``, ``Mar. 12 2022``;
- numeric: ``12.03.2022`` (also ``12/03/2022``, ``12-03-2022``), and ISO ``2022-03-12``.

``document_date`` looks only at the head of the text (letterheads, the first lines of a
statement or a court decision carry the date) and returns the first plausible date there: a real
calendar day between ``MIN_YEAR`` and today. "First", not "earliest": a testimony's header date
comes before the dates of the events it tells, while the earliest date of a page is often a
birth date.
"""

from __future__ import annotations

import re
from datetime import date

MIN_YEAR = 1900
HEAD_CHARS = 3000
"""How much of the document's start is searched."""

_MONTHS: dict[str, int] = {}
for _n, _names in enumerate(
    (
        # uk genitive, ru genitive, be genitive, en name and abbreviation
        ("січня", "января", "студзеня", "january", "jan"),
        ("лютого", "февраля", "лютага", "february", "feb"),
        ("березня", "марта", "сакавіка", "march", "mar"),
        ("квітня", "апреля", "красавіка", "april", "apr"),
        ("травня", "мая", "мая", "may", "may"),
        ("червня", "июня", "чэрвеня", "june", "jun"),
        ("липня", "июля", "ліпеня", "july", "jul"),
        ("серпня", "августа", "жніўня", "august", "aug"),
        ("вересня", "сентября", "верасня", "september", "sep"),
        ("жовтня", "октября", "кастрычніка", "october", "oct"),
        ("листопада", "ноября", "лістапада", "november", "nov"),
        ("грудня", "декабря", "снежня", "december", "dec"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _n
_MONTHS["sept"] = 9
_MONTHS["жнiўня"] = 8  # Latin i typed for Belarusian і

_MONTH_RE = "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True))
_Q = r"[«»\"“”„']?"  # the quotes of «12» березня
_DAY = r"(?P<d>[0-3]?\d)"
_YEAR = r"(?P<y>(?:19|20)\d\d)"

_PATTERNS = (
    # 12 березня 2022 р. / «12» марта 2022 г. / 12 March 2022
    re.compile(rf"(?<![\w.]){_Q}{_DAY}{_Q}\s*(?P<m>{_MONTH_RE})\.?,?\s+{_YEAR}(?!\d)", re.IGNORECASE),
    # March 12, 2022 / Mar. 12 2022
    re.compile(rf"(?<!\w)(?P<m>{_MONTH_RE})\.?\s+{_DAY}(?:st|nd|rd|th)?,?\s+{_YEAR}(?!\d)", re.IGNORECASE),
    # 2022-03-12
    re.compile(r"(?<![\w.\-/])(?P<y>(?:19|20)\d\d)-(?P<m>[01]?\d)-(?P<d>[0-3]?\d)(?![\w\-/]|\.\d)"),
    # 12.03.2022, 12/03/2022, 12-03-2022 (day first)
    re.compile(r"(?<![\w.\-/])(?P<d>[0-3]?\d)([./-])(?P<m>[01]?\d)\2(?P<y>(?:19|20)\d\d)(?![\w\-/]|\.\d)"),
)


def _make(y: str, m: str, d: str, today: date) -> date | None:
    month = int(m) if m.isdigit() else _MONTHS.get(m.lower().rstrip("."))
    if month is None:
        return None
    try:
        found = date(int(y), month, int(d))
    except ValueError:  # 31.02.2022, month 13
        return None
    if found.year < MIN_YEAR or found > today:
        return None
    return found


def find_dates(text: str, *, today: date | None = None) -> list[tuple[int, date]]:
    """Every plausible date in ``text`` as (offset, date), in the order they appear."""
    today = today or date.today()
    found: dict[int, date] = {}
    taken: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue  # part of a date another pattern already read
            d = _make(m.group("y"), m.group("m"), m.group("d"), today)
            if d is not None:
                found[m.start()] = d
                taken.append((m.start(), m.end()))
    return sorted(found.items())


def document_date(text: str, *, today: date | None = None, head_chars: int = HEAD_CHARS) -> date | None:
    """The first plausible date in the first ``head_chars`` characters of ``text``, or None."""
    dates = find_dates(text[:head_chars], today=today)
    return dates[0][1] if dates else None
