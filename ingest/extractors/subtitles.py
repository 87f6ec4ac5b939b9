"""SRT and WebVTT transcripts: one block per cue, with start/end time and speaker where labelled."""

from __future__ import annotations

import re

from archive_search.types import Extraction, SourceFile, TextBlock
from ingest.extractors.base import NO_BID, SPECIALIST, ExtractionError, Limits, Skip
from ingest.extractors.text import decode_text

_TIME = r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})[,.](\d{1,3})"
_CUE_TIME = re.compile(_TIME + r"\s*-->\s*" + _TIME)
_SPEAKER = re.compile(r"^\s*(?:<v\s+([^>]+)>|\[?([^\]:\n]{1,40})\]?:\s+)")
_TAGS = re.compile(r"</?[^>]+>")


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_cues(text: str) -> list[TextBlock]:
    """Cues of an SRT or VTT file; a cue starting ``Name:`` or ``<v Name>`` gives its speaker,
    and cues without a label continue the last labelled speaker's turn."""
    blocks: list[TextBlock] = []
    current: str | None = None
    for chunk in re.split(r"\r?\n\s*\r?\n", text.replace("\ufeff", "")):
        lines = [ln for ln in chunk.splitlines() if ln.strip()]
        idx = next((i for i, ln in enumerate(lines) if _CUE_TIME.search(ln)), None)
        if idx is None:
            continue
        m = _CUE_TIME.search(lines[idx])
        assert m is not None
        start = _seconds(*m.group(1, 2, 3, 4))
        end = _seconds(*m.group(5, 6, 7, 8))
        body = "\n".join(lines[idx + 1 :])
        sm = _SPEAKER.match(body)
        if sm:
            current = (sm.group(1) or sm.group(2) or "").strip() or None
            body = body[sm.end() :]
        speaker = current
        body = _TAGS.sub("", body).strip()
        if body:
            blocks.append(
                TextBlock(text=body, time_start=start, time_end=end, speaker=speaker, method="transcript")
            )
    return blocks


def merge_turns(blocks: list[TextBlock]) -> list[TextBlock]:
    """Join consecutive cues of the same speaker into one turn (cues are often a line each)."""
    out: list[TextBlock] = []
    for b in blocks:
        if out and b.speaker is not None and out[-1].speaker == b.speaker:
            last = out[-1]
            out[-1] = TextBlock(
                text=last.text + " " + b.text,
                time_start=last.time_start,
                time_end=b.time_end,
                speaker=b.speaker,
                method="transcript",
            )
        else:
            out.append(b)
    return out


class SubtitleExtractor:
    name = "subtitles"
    version = "1"

    def bid(self, mime: str) -> int:
        return SPECIALIST if mime in ("application/x-subrip", "text/vtt") else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        text, encoding = decode_text(source.path.read_bytes())
        if len(text) > limits.max_output_chars:
            raise ExtractionError("too_much_text", f"text exceeds {limits.max_output_chars} characters")
        blocks = merge_turns(parse_cues(text))
        if not blocks:
            raise Skip("no_text", "the transcript has no cues with text")
        return Extraction(doc_type="transcript", blocks=blocks, metadata={"encoding": encoding})
