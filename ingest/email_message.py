"""E-mail (``message/rfc822``) read with the standard library: the headers a lawyer searches by
(From, To, Cc, Subject, Date) become the first block of the text and are kept in the catalog for
the ``from:`` and ``to:`` filters; the body is the plain-text part (or the HTML part as text); each
attachment is handed back separately, to be ingested as a child document of the e-mail as an
archive's members are (``pipeline.py``), instead of being merged into the body.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from archive_search.types import Extraction, TextBlock
from ingest.extractors.text import decode_text

MAX_ATTACHMENTS = 1000
_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"}


READER = ("email", "1")
"""(name, version) recorded on an e-mail's document (the standard library's ``email`` parser)."""

class _HtmlText(HTMLParser):
    """The visible text of an HTML part (scripts and styles left out, block tags as line breaks)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(ln.split()) for ln in "".join(parser.parts).splitlines())
    return "\n".join(ln for ln in lines if ln)


@dataclass
class EmailHeaders:
    sender: str
    """The From header, decoded (``Name <address>``)."""
    recipients: str
    """To, Cc and Bcc, decoded, one ``Name <address>`` after another (comma-separated)."""
    subject: str


@dataclass
class ParsedEmail:
    extraction: Extraction
    headers: EmailHeaders
    attachments: list[tuple[str, bytes]] = field(default_factory=list)


def _header(msg: Message, name: str) -> str:
    try:
        values = msg.get_all(name) or []
        return ", ".join(" ".join(str(v).split()) for v in values)
    except (ValueError, LookupError, TypeError, AttributeError, IndexError):  # a malformed header
        raw = msg.get(name, failobj="")
        return " ".join(str(raw).split())


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset()
    text: str | None = None
    if charset:
        try:
            text = payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            text = None
    if text is None:
        text, _ = decode_text(payload)
    return html_text(text) if part.get_content_type() == "text/html" else text


def _attachment_name(part: Message, n: int) -> str:
    name = part.get_filename() or ""
    name = re.sub(r"[\x00-\x1f/\\]+", "_", str(name)).strip(" .")
    if not name:
        ext = {"message/rfc822": ".eml", "text/plain": ".txt", "text/html": ".html"}.get(
            part.get_content_type(), ".bin"
        )
        name = f"attachment-{n}{ext}"
    return name[:255]


def parse_email(data: bytes) -> ParsedEmail:
    """The e-mail's text (header block, then the body) and its attachments' bytes."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    sender = _header(msg, "From")
    recipients = ", ".join(v for v in (_header(msg, h) for h in ("To", "Cc", "Bcc")) if v)
    subject = _header(msg, "Subject")
    date_text = _header(msg, "Date")
    lines = [
        f"{label}: {value}"
        for label, value in (
            ("From", sender),
            ("To", _header(msg, "To")),
            ("Cc", _header(msg, "Cc")),
            ("Date", date_text),
            ("Subject", subject),
        )
        if value
    ]
    blocks = [TextBlock(text="\n".join(lines), method="email")] if lines else []

    body: list[str] = []
    attachments: list[tuple[str, bytes]] = []
    plain_seen = False
    for part in msg.walk():
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            continue
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        inline_text = disposition != "attachment" and ctype in ("text/plain", "text/html")
        if inline_text:
            if ctype == "text/html" and plain_seen:
                continue  # the HTML alternative of a plain part already read
            text = _part_text(part).strip()
            if text:
                body.append(text)
                plain_seen = plain_seen or ctype == "text/plain"
            continue
        if part is msg:
            continue
        if len(attachments) >= MAX_ATTACHMENTS:
            break
        if ctype == "message/rfc822":
            inner = part.get_payload()
            raw = (
                inner[0].as_bytes(policy=email.policy.default)
                if isinstance(inner, list) and inner and isinstance(inner[0], Message)
                else part.get_payload(decode=True)
            )
        else:
            raw = part.get_payload(decode=True)
        if isinstance(raw, bytes) and raw:
            attachments.append((_attachment_name(part, len(attachments) + 1), raw))
    if body:
        blocks.append(TextBlock(text="\n\n".join(body), method="email"))
    doc_date = None
    if date_text:
        try:
            doc_date = email.utils.parsedate_to_datetime(date_text).date()
        except (TypeError, ValueError, IndexError):
            doc_date = None
    extraction = Extraction(
        doc_type="email",
        blocks=blocks,
        title=subject or None,
        doc_date=doc_date,
        metadata={"from": sender, "to": recipients},
    )
    return ParsedEmail(extraction, EmailHeaders(sender, recipients, subject), attachments)
