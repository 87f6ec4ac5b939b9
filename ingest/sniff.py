"""Decide what a file is from its bytes, never from its name.

``sniff_bytes`` looks at the first bytes only; ``sniff_file`` also looks inside containers whose
kind the first bytes cannot tell: a PK-zip file is a DOCX, an ODT, an EPUB, ... or a plain zip
archive depending on its members, and an OLE2 compound file is a Word, Excel, PowerPoint or
Outlook file, or an encrypted OOXML package, depending on its stream names.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

HEAD_BYTES = 64 * 1024

ZIP = "application/zip"
OLE = "application/x-ole-storage"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
EPUB = "application/epub+zip"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
MSG = "application/vnd.ms-outlook"
OOXML_ENCRYPTED = "application/x-tika-ooxml-protected"
EML = "message/rfc822"
MBOX = "application/mbox"
HTML = "text/html"
JP2 = "image/jp2"
J2K = "image/x-jp2-codestream"
DJVU = "image/vnd.djvu"

_SRT_RE = re.compile(
    rb"^\s*\d+\s*\r?\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}"
)
_HTML_START = re.compile(
    rb"^(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<meta\s[^>]*charset|<title>)",
    re.IGNORECASE | re.DOTALL,
)
# A mail header line ("Name: value") or a folded continuation line of one.
_HEADER_LINE = re.compile(rb"^(?:([A-Za-z][A-Za-z0-9-]{0,60}):[ \t]*\S?.*|[ \t]+\S.*)$")
_MAIL_HEADERS = {
    b"from",
    b"to",
    b"cc",
    b"bcc",
    b"subject",
    b"date",
    b"received",
    b"message-id",
    b"return-path",
    b"mime-version",
    b"delivered-to",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"content-type",
    b"content-transfer-encoding",
    b"x-mailer",
    b"sender",
    b"envelope-to",
}
# Headers that ordinary prose or a transcript practically never starts lines with.
_STRONG_MAIL_HEADERS = {b"received", b"message-id", b"return-path", b"mime-version", b"delivered-to", b"from"}
_MBOX_FROM = re.compile(rb"^From \S+ .*\d{4}\s*$")


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
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return JP2  # JPEG 2000 file (signature box)
    if head.startswith(b"\xff\x4f\xff\x51"):
        return J2K  # bare JPEG 2000 code stream (SOC, SIZ markers)
    if head.startswith(b"AT&TFORM") and head[12:16] in (b"DJVU", b"DJVM"):
        return DJVU  # single page (DJVU) or bundled multi-page (DJVM)
    if head.startswith(b"PK\x03\x04"):
        return _zip_from_head(head)
    if head.startswith(b"{\\rtf"):
        return "application/rtf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _ole_kind(head) or OLE
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "application/x-bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "application/x-xz"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "application/x-7z-compressed"
    if head.startswith(b"Rar!\x1a\x07"):
        return "application/vnd.rar"
    if head[257:262] == b"ustar":
        return "application/x-tar"
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
    if _HTML_START.match(stripped[:4096]):
        return HTML
    mail = _mail_kind(stripped)
    if mail:
        return mail
    if _looks_textual(body):
        return "text/plain"
    return "application/octet-stream"


def _mail_kind(data: bytes) -> str | None:
    """``message/rfc822`` for an e-mail (a block of header lines with typical mail headers,
    then a blank line or the end), ``application/mbox`` for a Unix mailbox, else ``None``."""
    lines = data[:16384].split(b"\n")
    mbox = bool(lines) and _MBOX_FROM.match(lines[0].rstrip(b"\r")) is not None
    if mbox:
        lines = lines[1:]
    names: list[bytes] = []
    complete = False
    for raw in lines:
        line = raw.rstrip(b"\r")
        if not line.strip():
            complete = True
            break
        m = _HEADER_LINE.match(line)
        if m is None:
            return None
        if m.group(1):
            names.append(m.group(1).lower())
    if not complete and len(lines) > 1 and len(data) >= 16384:
        return None  # no end of the header block in sight
    known = {n for n in names if n in _MAIL_HEADERS}
    if len(known) >= 2 and known & _STRONG_MAIL_HEADERS:
        return MBOX if mbox else EML
    return None


def _zip_from_head(head: bytes) -> str:
    """A zip's kind from the members whose local headers lie within ``head``; ``sniff_file``
    refines this with the central directory."""
    names: list[str] = []
    mimetype = b""
    pos = 0
    while len(names) < 200:
        pos = head.find(b"PK\x03\x04", pos)
        if pos < 0 or pos + 30 > len(head):
            break
        method = int.from_bytes(head[pos + 8 : pos + 10], "little")
        csize = int.from_bytes(head[pos + 18 : pos + 22], "little")
        nlen = int.from_bytes(head[pos + 26 : pos + 28], "little")
        xlen = int.from_bytes(head[pos + 28 : pos + 30], "little")
        name = head[pos + 30 : pos + 30 + nlen].decode("utf-8", "replace")
        names.append(name)
        data_at = pos + 30 + nlen + xlen
        if name == "mimetype" and method == 0:
            mimetype = head[data_at : data_at + min(csize, 200)]
        pos = data_at if data_at > pos else pos + 4
    return zip_kind(names, mimetype.decode("ascii", "replace"), complete=False)


def zip_kind(names: list[str], mimetype: str, *, complete: bool = True) -> str:
    """The document type of a PK-zip container from its member names and its ``mimetype`` member
    (OpenDocument and EPUB); a plain zip archive where no document format fits."""
    mimetype = mimetype.strip()
    members = set(names)
    if mimetype == EPUB and ("META-INF/container.xml" in members or not complete):
        return EPUB
    if mimetype.startswith("application/vnd.oasis.opendocument.") and (
        "content.xml" in members or not complete
    ):
        return mimetype
    if "word/document.xml" in members:
        return DOCX
    if "xl/workbook.xml" in members:
        return XLSX
    if "ppt/presentation.xml" in members:
        return PPTX
    return ZIP


_OLE_STREAMS: list[tuple[bytes, str]] = [
    ("EncryptedPackage".encode("utf-16-le"), OOXML_ENCRYPTED),
    ("WordDocument".encode("utf-16-le"), DOC),
    ("PowerPoint Document".encode("utf-16-le"), PPT),
    ("Workbook".encode("utf-16-le"), XLS),
    ("Book".encode("utf-16-le") + b"\x00\x00", XLS),
    ("__substg1.0_".encode("utf-16-le"), MSG),
]


def _ole_kind(data: bytes) -> str | None:
    for name, mime in _OLE_STREAMS:
        if name in data:
            return mime
    return None


def _ole_directory(f: object, head: bytes) -> bytes:
    """The first directory sectors of an OLE2 compound file (stream names live there)."""
    if len(head) < 512:
        return b""
    shift = int.from_bytes(head[30:32], "little")
    if not 7 <= shift <= 16:
        return b""
    sector = 1 << shift
    first_dir = int.from_bytes(head[48:52], "little")
    if first_dir >= 0xFFFFFFFA:
        return b""
    offset = (first_dir + 1) * sector
    try:
        f.seek(offset)  # type: ignore[attr-defined]
        out: bytes = f.read(sector * 4)  # type: ignore[attr-defined]
    except (OSError, OverflowError, ValueError):
        return b""
    return out


def _looks_textual(data: bytes) -> bool:
    """Few control characters besides tab, newline, carriage return and form feed."""
    sample = data[:HEAD_BYTES]
    if not sample:
        return False
    bad = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return bad / len(sample) < 0.01


def sniff_file(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
        mime = sniff_bytes(head)
        if mime == OLE:
            return _ole_kind(_ole_directory(f, head)) or OLE
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip_file(path, mime)
    return mime


def _sniff_zip_file(path: Path, guess: str) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            mimetype = b""
            if "mimetype" in names:
                info = zf.getinfo("mimetype")
                if info.file_size <= 200:
                    mimetype = zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        return guess  # broken or encrypted: what the local headers said
    return zip_kind(names, mimetype.decode("ascii", "replace"))
