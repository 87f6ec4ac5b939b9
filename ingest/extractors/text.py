"""Plain text, in UTF-8/UTF-16 or a legacy Cyrillic encoding; transcripts with speaker labels
or timestamps become one block per turn."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

from archive_search.types import Extraction, SourceFile, TextBlock
from ingest.cyrillic_bigrams import SCORES, UNSEEN
from ingest.extractors.base import NO_BID, SPECIALIST, ExtractionError, Limits, Skip
from ingest.transcript import transcript_extraction

CYRILLIC_ENCODINGS = ["cp1251", "koi8_r", "koi8_u", "cp866", "iso8859_5", "mac_cyrillic", "cp855"]
"""Legacy 8-bit Cyrillic code pages tried, most common first (the first wins a tie)."""
LATIN_ENCODINGS = ["cp1252", "latin_1"]
SAMPLE_BYTES = 16 * 1024
"""At most this many bytes of lines with non-ASCII bytes are scored (ASCII reads the same in all)."""
_HIGH_LINE = re.compile(rb"[^\n]*[\x80-\xff][^\n]*")

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ODD = re.compile(r"[^\x00-\x7f\w\s«»„“”‘’‚—–…№•·°©®™€§\u00a0\u00ad]", re.UNICODE)
# NBSP or a euro sign glued to letters: MacCyrillic read for windows-1251 ("К" -> NBSP, "я" -> "€")
_GLUED = re.compile(r"(?<=[^\W\d_])€|€(?=[^\W\d_])|(?:^|(?<=[\s(\"«]))\u00a0(?=[^\W\d_])", re.MULTILINE)
# A line or sentence starting with a lower-case Cyrillic letter, perhaps after one punctuation
# mark: where code pages differ only in capitals, the right one starts sentences with them.
_LOWER_START = re.compile(r"(?:^|[.!?]\s+)[^\w\s]?[а-яёіїєґў]", re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# Scores per word or character: a wrongly decoded Cyrillic text shows mixed-script words, case
# flipping inside words (KOI8 read as cp1251 and back), implausible letter pairs and symbols.
MIXED_SCRIPT = -12.0
CASE_FLIP = -6.0
ACCENTED_LATIN = -3.0
ODD_CHAR = -6.0
CONTROL_CHAR = -10.0
LOWER_START = -4.0


def _is_cyr(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


@functools.lru_cache(maxsize=65536)
def _word_score(word: str) -> float:
    cyr = sum(1 for ch in word if _is_cyr(ch))
    if cyr == 0:
        # a Latin word: plain ASCII costs nothing, each accented letter a little
        return ACCENTED_LATIN * sum(1 for ch in word if not ch.isascii())
    if cyr != len(word):
        return MIXED_SCRIPT
    score = 0.0
    if any(a.islower() and b.isupper() for a, b in itertools.pairwise(word)):
        score += CASE_FLIP
    low = "^" + word.lower() + "$"
    for a, b in itertools.pairwise(low):
        score += SCORES.get(a + b, UNSEEN)
    return score


def plausibility(text: str) -> float:
    """How much ``text`` looks like correctly decoded ru/uk/be/en text: the sum of letter-bigram
    scores of its non-ASCII words, less penalties for mixed-script words, case flips, symbols and
    control characters. Only words with a non-ASCII letter count: ASCII reads the same in every
    candidate encoding."""
    score = 0.0
    for m in _WORD.finditer(text):
        w = m.group()
        if not w.isascii():
            score += _word_score(w)
    score += ODD_CHAR * (len(_ODD.findall(text)) + len(_GLUED.findall(text)))
    score += CONTROL_CHAR * len(_CONTROL.findall(text))
    score += LOWER_START * len(_LOWER_START.findall(text))
    return score


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few invalid sequences (a damaged file, encoded surrogates): decoded with
    replacement characters when valid multi-byte sequences far outnumber the invalid ones."""
    text = data.decode("utf-8", errors="replace")
    try:
        data.decode("utf-8", errors="surrogatepass")
        return text  # UTF-8 apart from encoded surrogate code points, which text cannot hold
    except UnicodeDecodeError:
        pass
    bad = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    if bad <= 0 or multibyte >= 20 * bad:
        return text
    return None


def best_legacy_encoding(data: bytes) -> tuple[str, float]:
    """The legacy 8-bit encoding under which ``data`` reads most plausibly, and its score."""
    parts: list[bytes] = []
    size = 0
    for m in _HIGH_LINE.finditer(data):
        parts.append(m.group()[:SAMPLE_BYTES])
        size += len(parts[-1])
        if size >= SAMPLE_BYTES:
            break
    sample = b"\n".join(parts)
    best: tuple[str, float] | None = None
    for enc in [*CYRILLIC_ENCODINGS, *LATIN_ENCODINGS]:
        try:
            text = sample.decode(enc)
        except UnicodeDecodeError:
            continue
        text = unicodedata.normalize("NFC", text)
        s = plausibility(text)
        if best is None or s > best[1]:
            best = (enc, s)
    assert best is not None  # latin_1 decodes any bytes
    return best


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes to text; returns (text, encoding). A byte-order mark or valid UTF-8 first;
    else the legacy encoding (windows-1251, KOI8-R/U, IBM866, ISO-8859-5, MacCyrillic, IBM855,
    windows-1252, Latin-1) whose decoding reads most plausibly, judged by Cyrillic letter-bigram
    statistics, case patterns and stray symbols (see ``plausibility``)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    damaged = _mostly_utf8(data)
    if damaged is not None:
        return damaged, "utf-8"
    enc, _ = best_legacy_encoding(data)
    try:
        return data.decode(enc), enc
    except UnicodeDecodeError as exc:  # a byte beyond the sample that the code page lacks
        text = data.decode(enc, errors="replace")
        if text.count("\ufffd") > len(text) * 0.01:
            raise ExtractionError("undecodable_text", "no text encoding fits the bytes") from exc
        return text, enc


class PlainTextExtractor:
    name = "text"
    version = "1"

    def bid(self, mime: str) -> int:
        return SPECIALIST if mime == "text/plain" else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        data = source.path.read_bytes()
        text, encoding = decode_text(data)
        if len(text) > limits.max_output_chars:
            raise ExtractionError("too_much_text", f"text exceeds {limits.max_output_chars} characters")
        if not text.strip():
            raise Skip("empty", "the file holds no text")
        transcript = transcript_extraction(text, metadata={"encoding": encoding})
        if transcript is not None:
            return transcript
        first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return Extraction(
            doc_type="text",
            blocks=[TextBlock(text=text, method="text")],
            title=first_line[:200] or None,
            metadata={"encoding": encoding},
        )
