"""Interview transcripts written as plain text (or in a word-processor file): turns that start
with a speaker label (``Q:``, ``Інтерв'юер:``, ``Свідок:``, ``Следователь:``, ``Interviewer:``,
...) and/or a timestamp (``[00:01:15]``, ``00:01:15``, ``(01:15)``).

``parse_transcript`` tells a transcript from ordinary text and cuts it into one block per turn
with its speaker and start time (the end time is the next turn's start). Ordinary text with an
occasional ``Note: ...`` line is not a transcript: a label must recur, or most lines must start
with a timestamp.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from archive_search.types import Extraction, TextBlock

_TIME = r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?:[.,](?P<ms>\d{1,3}))?"
_PAREN_TIME = _TIME.replace("?P<", "?P<p")
_BARE_TIME = _TIME.replace("?P<", "?P<b")
_STAMP = re.compile(
    rf"^\s*(?:\[\s*{_TIME}\s*\]|\(\s*{_PAREN_TIME}\s*\)|{_BARE_TIME}(?=[\s\]:\-–—]))\s*[-–—:]?\s*"
)
# A speaker label: at most four words of letters (with apostrophes, hyphens, initials' dots and
# a number, as in "Speaker 2"), then a colon and a space or the end of the line.
_LABEL = re.compile(
    r"^(?P<label>[^\W\d_][\w'’ʼ`.\-]*(?:[ \u00a0][\w'’ʼ`.\-()]+){0,3}?)\s?[:：](?:\s+|$)",
    re.UNICODE,
)
_MAX_LABEL = 40
MIN_TURNS = 3


@dataclass
class _Line:
    text: str
    time: float | None
    label: str | None


def _seconds(g: dict[str, str | None], prefix: str) -> float:
    h, m, s, ms = (g.get(prefix + k) for k in ("h", "m", "s", "ms"))
    assert h is not None and m is not None
    total = int(h) * 60 + int(m) if s is None else int(h) * 3600 + int(m) * 60 + int(s)  # mm:ss or h:mm:ss
    return total + (int(ms.ljust(3, "0")) / 1000 if ms else 0.0)


def _parse_line(line: str) -> _Line:
    rest = line
    time: float | None = None
    m = _STAMP.match(rest)
    if m:
        g = m.groupdict()
        prefix = "" if g.get("h") else "p" if g.get("ph") else "b"
        minutes = g.get(prefix + "m")
        seconds = g.get(prefix + "s")
        if minutes is not None and int(minutes) < 60 and (seconds is None or int(seconds) < 60):
            time = _seconds(g, prefix)
            rest = rest[m.end() :]
    label: str | None = None
    lm = _LABEL.match(rest.lstrip())
    if lm and len(lm.group("label")) <= _MAX_LABEL:
        label = " ".join(lm.group("label").split())
        rest = rest.lstrip()[lm.end() :]
    return _Line(text=rest.strip(), time=time, label=label)


def _header_and_body(text: str) -> tuple[list[str], list[str]]:
    """Leading ``#`` comment lines (a header some transcription tools write) and the rest."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header: list[str] = []
    i = 0
    while i < len(lines) and (lines[i].lstrip().startswith("#") or not lines[i].strip()):
        if lines[i].strip():
            header.append(lines[i].strip().lstrip("#").strip())
        i += 1
    return header, lines[i:]


def parse_transcript(text: str) -> tuple[list[TextBlock], list[str]] | None:
    """The turns of a transcript and its ``#`` header lines, or ``None`` when the text is not a
    transcript. Text before the first turn (a preamble) is kept as a block without a speaker."""
    header, body = _header_and_body(text.replace("\ufeff", ""))
    parsed = [_parse_line(ln) for ln in body if ln.strip()]
    if len(parsed) < MIN_TURNS:
        return None
    labels = Counter(p.label for p in parsed if p.label)
    repeated = {lab for lab, n in labels.items() if n >= 2}
    timed = sum(1 for p in parsed if p.time is not None)
    starts = [p for p in parsed if p.time is not None or p.label in repeated]
    labelled = sum(1 for p in parsed if p.label in repeated)
    if len(starts) < MIN_TURNS or len(starts) < 0.4 * len(parsed):
        return None
    if labelled < MIN_TURNS and timed < MIN_TURNS:
        return None
    # Speaker labels that are really field names of a form ("Адрес:", "Телефон:") do not recur
    # turn after turn; in a dialogue the top two labels hold most labelled lines.
    if labelled >= MIN_TURNS and timed < MIN_TURNS:
        top = sum(n for _, n in labels.most_common(6) if _ in repeated)
        if top < 0.8 * labelled or len(repeated) > 8:
            return None

    turns: list[TextBlock] = []
    preamble: list[str] = []
    for p in parsed:
        is_start = p.time is not None or p.label in repeated
        if not is_start:
            line = (f"{p.label}: " if p.label else "") + p.text
            if turns:
                turns[-1].text = (turns[-1].text + "\n" + line).strip()
            else:
                preamble.append(line)
            continue
        speaker = p.label
        if speaker is None and turns and labelled >= MIN_TURNS:
            speaker = turns[-1].speaker  # a timestamp alone goes on with the last speaker
        turns.append(TextBlock(text=p.text, time_start=p.time, speaker=speaker, method="transcript"))
    for cur, nxt in itertools.pairwise(turns):
        if cur.time_start is not None and nxt.time_start is not None and nxt.time_start >= cur.time_start:
            cur.time_end = nxt.time_start
    blocks = [t for t in turns if t.text.strip()]
    if not blocks:
        return None
    if preamble:
        blocks.insert(0, TextBlock(text="\n".join(preamble), method="text"))
    if header:
        blocks.insert(0, TextBlock(text="\n".join(header), method="text"))
    return blocks, header


def transcript_extraction(
    text: str, *, title: str | None = None, doc_date: date | None = None, metadata: dict[str, Any]
) -> Extraction | None:
    """The text as a transcript (one block per turn), or ``None`` when it is not one. ``title``
    wins over the transcript header's first line."""
    parsed = parse_transcript(text)
    if parsed is None:
        return None
    blocks, header = parsed
    return Extraction(
        doc_type="transcript",
        blocks=blocks,
        title=title or (header[0][:200] if header else None),
        doc_date=doc_date,
        metadata=metadata,
    )
