"""Text that leaves the service for a spreadsheet or a terminal, made inert (issue 22).

* CSV cells: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
  formula to Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` in a file name sends the
  reader's data elsewhere on a click). Such a cell gets a leading ``'`` (OWASP's advice), which
  spreadsheets show as text; ``csv_uncell`` undoes it for our own readers (``verify-bundle``).
* Terminal output: file names and error texts come from uploads. Control characters (escape
  sequences that move the cursor, retitle the window or rewrite earlier lines; a newline that
  forges a ``failed(...)`` line) are shown as ``\\xNN``/``\\uNNNN`` escapes.
"""

from __future__ import annotations

import unicodedata

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` for a CSV cell: text that a spreadsheet would run as a formula gets a leading ``'``;
    numbers and everything else pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_uncell(value: str) -> str:
    """The text ``csv_cell`` was given (for reading back our own CSV files)."""
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def terminal_safe(text: str) -> str:
    """``text`` with every control or format character (C0, DEL, C1, bidi overrides, line and
    paragraph separators) written as an escape, so it prints on one line and cannot drive the
    terminal."""
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
