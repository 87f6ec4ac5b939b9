"""Decide what a file is from its bytes, never from its name."""

from __future__ import annotations

import re
from pathlib import Path

HEAD_BYTES = 64 * 1024

_SRT_RE = re.compile(
    rb"^\s*\d+\s*\r?\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}"
)


def sniff_bytes(head: bytes) -> str:
    """MIME type of content starting with ``head`` (the first few KiB are enough)."""
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if b"%PDF-" in head[:1024]:
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if head.startswith(b"{\\rtf"):
        return "application/rtf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/x-ole-storage"
    if head.startswith((b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"BZh", b"\xfd7zXZ\x00")):
        return "application/x-compressed"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text/plain"  # UTF-16 with a byte-order mark
    if not head:
        return "application/x-empty"
    if b"\x00" in body[:HEAD_BYTES]:
        return "application/octet-stream"
    stripped = body.lstrip()
    if stripped.startswith(b"WEBVTT"):
        return "text/vtt"
    if _SRT_RE.match(stripped):
        return "application/x-subrip"
    lowered = stripped[:512].lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if _looks_textual(body):
        return "text/plain"
    return "application/octet-stream"


def _looks_textual(data: bytes) -> bool:
    """Few control characters besides tab, newline, carriage return and form feed."""
    sample = data[:HEAD_BYTES]
    if not sample:
        return False
    bad = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return bad / len(sample) < 0.01


def sniff_file(path: Path) -> str:
    with path.open("rb") as f:
        return sniff_bytes(f.read(HEAD_BYTES))
