"""Plain text, in UTF-8/UTF-16 or a legacy Cyrillic encoding."""

from __future__ import annotations

from charset_normalizer import from_bytes

from archive_search.ingest.registry import ExtractionError, Limits, Skip
from archive_search.types import Extraction, SourceFile, TextBlock

CYRILLIC_ENCODINGS = ["cp1251", "koi8_r", "koi8_u", "cp866", "iso8859_5", "mac_cyrillic"]


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes to text; returns (text, encoding). UTF-8 first, then a detector over the
    legacy Cyrillic encodings and Latin-1 family."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data, cp_isolation=[*CYRILLIC_ENCODINGS, "cp1252", "latin_1"]).best()
    if best is None:
        raise ExtractionError("undecodable_text", "no text encoding fits the bytes")
    return str(best), best.encoding


class PlainTextExtractor:
    name = "text"

    def accepts(self, mime: str) -> bool:
        return mime == "text/plain"

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        data = source.path.read_bytes()
        text, encoding = decode_text(data)
        if len(text) > limits.max_output_chars:
            raise ExtractionError("too_much_text", f"text exceeds {limits.max_output_chars} characters")
        if not text.strip():
            raise Skip("empty", "the file holds no text")
        first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return Extraction(
            doc_type="text",
            blocks=[TextBlock(text=text, method="text")],
            title=first_line[:200] or None,
            metadata={"encoding": encoding},
        )
