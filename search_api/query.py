"""The query language, parsed safely into a tree (never passed raw to a backend).

    words              passages with any of the words rank by how many and how rare (BM25)
    +word  / a AND b   required
    -word  / NOT word  excluded
    a OR b             either
    "a phrase"         consecutive words;  "a b"~5  within 5 positions
    word*              prefix
    ( ... )            grouping
    lang:uk collection:NAME type:scan tag:NAME speaker:"NAME" date:1995..2000   filters
    from:ADDRESS-OR-NAME  to:ADDRESS-OR-NAME    e-mails (and their attachments) by sender, recipient
    person:"NAME" place:"NAME" org:"NAME"   passages mentioning that entity (any spelling)
    meta:"FIELD=VALUE"  meta:FIELD=FROM..TO     documents whose metadata field holds the value

A malformed query raises ``QuerySyntaxError`` with a message saying what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from archive_search.errors import QuerySyntaxError

FILTER_FIELDS = (
    "lang", "collection", "type", "tag", "date", "speaker", "from", "to", "person", "place", "org", "meta"
)
MAX_QUERY_CHARS = 4000
MAX_CLAUSES = 256
MAX_NESTING = 32
"""Parentheses inside parentheses: deeper queries are refused before the recursive descent
could reach Python's recursion limit (issue 22: 330 levels were a RecursionError and a 500)."""
MAX_PREFIX_CHARS = 64
"""The longest prefix before ``*``: longer ones compile into automata beyond the backends' state
limits (tantivy refuses more than 1000 regex states, OpenSearch 10,000 determinised ones)."""

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<phrase>"(?P<ptext>[^"]*)"(?:~(?P<slop>\d+))?)
  | (?P<unclosed>")
  | (?P<field>(?P<fname>[a-z_]+):(?P<fval>"[^"]*"|[^\s()"]+))
  | (?P<word>[+-]?[^\s()"]+)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Word:
    text: str
    prefix: bool = False
    weight: float = 1.0
    """Factor on the word's ranking score (the service lowers it for function words)."""


@dataclass(frozen=True)
class Phrase:
    text: str
    slop: int = 0


@dataclass(frozen=True)
class Group:
    """Clauses joined by juxtaposition: ``should`` rank, ``must`` are required, ``must_not`` excluded."""

    should: tuple[Node, ...] = ()
    must: tuple[Node, ...] = ()
    must_not: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Word | Phrase | Group | Or


@dataclass
class ParsedQuery:
    root: Node | None
    filters: dict[str, list[str]] = field(default_factory=dict)
    date_from: date | None = None
    date_to: date | None = None

    def _terms(self) -> list[Word | Phrase]:
        """The query's words and phrases that rank (not those under ``-``), in order."""
        out: list[Word | Phrase] = []

        def walk(n: Node | None) -> None:
            if isinstance(n, (Word, Phrase)):
                out.append(n)
            elif isinstance(n, Group):
                for c in (*n.should, *n.must):
                    walk(c)
            elif isinstance(n, Or):
                for c in n.items:
                    walk(c)

        walk(self.root)
        return out

    def words(self, *, weighted: bool = True) -> list[str]:
        """Every word and phrase word of the query (for highlighting and semantic text); without
        ``weighted``, the words whose weight was lowered (function words) are left out."""
        out: list[str] = []
        for n in self._terms():
            if isinstance(n, Phrase):
                out.extend(n.text.split())
            elif weighted or n.weight == 1.0:
                out.append(n.text)
        return out

    def prefixes(self) -> list[str]:
        """The prefixes of the query's ``word*`` terms (without the ``*``)."""
        return [n.text for n in self._terms() if isinstance(n, Word) and n.prefix]


def _parse_date(value: str, *, end: bool) -> date:
    parts = value.split("-")
    try:
        if len(parts) == 1:
            return date(int(parts[0]), 12, 31) if end else date(int(parts[0]), 1, 1)
        if len(parts) == 2:
            y, m = int(parts[0]), int(parts[1])
            if end:
                nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
                return date.fromordinal(nxt.toordinal() - 1)
            return date(y, m, 1)
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError as exc:
        raise QuerySyntaxError(f"not a date: {value!r} (use YYYY, YYYY-MM or YYYY-MM-DD)") from exc


def parse_date_range(value: str) -> tuple[date | None, date | None]:
    """``1995..2000``, ``1995-03..``, ``..2000-12-31`` or a single ``1995``."""
    if ".." in value:
        lo, hi = value.split("..", 1)
        d_from = _parse_date(lo, end=False) if lo else None
        d_to = _parse_date(hi, end=True) if hi else None
    else:
        d_from, d_to = _parse_date(value, end=False), _parse_date(value, end=True)
    if d_from and d_to and d_from > d_to:
        raise QuerySyntaxError(f"empty date range: {value!r}")
    return d_from, d_to


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, re.Match[str]]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:  # pragma: no cover - the word alternative matches anything else
                raise QuerySyntaxError(f"unexpected character at {pos}")
            kind = m.lastgroup or ""
            if kind == "unclosed":
                raise QuerySyntaxError(f'unclosed quote at position {pos + 1}: add a closing "')
            if kind != "ws":
                self.toks.append((kind, m))
            pos = m.end()
        self.i = 0
        self.filters: dict[str, list[str]] = {}
        self.date_from: date | None = None
        self.date_to: date | None = None
        self.clauses = 0
        self.depth = 0

    def peek(self) -> tuple[str, re.Match[str]] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def is_op(self, name: str) -> bool:
        t = self.peek()
        return t is not None and t[0] == "word" and t[1].group(0) == name

    def parse(self) -> ParsedQuery:
        root = self.or_expr()
        if self.peek() is not None:
            _kind, m = self.peek()  # type: ignore[misc]
            raise QuerySyntaxError(f"unexpected {m.group(0)!r} at position {m.start() + 1}")
        return ParsedQuery(root, self.filters, self.date_from, self.date_to)

    def or_expr(self) -> Node | None:
        items = [self.and_expr()]
        while self.is_op("OR"):
            if items[-1] is None:
                raise QuerySyntaxError("OR needs a term before it")
            self.i += 1
            if self.peek() is None or self.peek()[0] == "rparen":  # type: ignore[index]
                raise QuerySyntaxError("OR needs a term after it")
            items.append(self.and_expr())
        present = tuple(n for n in items if n is not None)
        if len(present) <= 1:
            return present[0] if present else None
        return Or(present)

    def and_expr(self) -> Node | None:
        should: list[Node] = []
        must: list[Node] = []
        must_not: list[Node] = []
        pending_and = False
        while True:
            t = self.peek()
            if t is None or t[0] == "rparen" or self.is_op("OR"):
                break
            if self.is_op("AND"):
                if not (should or must):
                    raise QuerySyntaxError("AND needs a term before it")
                self.i += 1
                pending_and = True
                # the previous clause becomes required too
                if should:
                    must.append(should.pop())
                continue
            negate = False
            required = pending_and
            if self.is_op("NOT"):
                self.i += 1
                negate = True
                if self.peek() is None:
                    raise QuerySyntaxError("NOT needs a term after it")
            node = self.unary()
            pending_and = False
            if node is None:
                continue
            self.clauses += 1
            if self.clauses > MAX_CLAUSES:
                raise QuerySyntaxError(f"too many terms (more than {MAX_CLAUSES})")
            sign, inner = node
            if negate or sign == "-":
                must_not.append(inner)
            elif required or sign == "+":
                must.append(inner)
            else:
                should.append(inner)
        if pending_and:
            raise QuerySyntaxError("AND needs a term after it")
        if not (should or must or must_not):
            return None
        if len(should) == 1 and not must and not must_not:
            return should[0]
        return Group(tuple(should), tuple(must), tuple(must_not))

    def unary(self) -> tuple[str, Node] | None:
        t = self.peek()
        assert t is not None
        kind, m = t
        self.i += 1
        if kind == "lparen":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise QuerySyntaxError(f"parentheses nested more than {MAX_NESTING} deep")
            inner = self.or_expr()
            self.depth -= 1
            if self.peek() is None or self.peek()[0] != "rparen":  # type: ignore[index]
                raise QuerySyntaxError("missing closing parenthesis")
            self.i += 1
            return None if inner is None else ("", inner)
        if kind == "rparen":
            raise QuerySyntaxError(f"unmatched ')' at position {m.start() + 1}")
        if kind == "phrase":
            text = m.group("ptext").strip()
            slop = int(m.group("slop") or 0)
            if slop > 100:
                raise QuerySyntaxError("proximity above 100 is not supported")
            return None if not text else ("", Phrase(text, slop))
        if kind == "field":
            name, value = m.group("fname"), m.group("fval").strip('"')
            if name in FILTER_FIELDS:
                self._filter(name, value)
                return None
            # not a known field: treat "word:word" as plain words
            return ("", Word(m.group(0)))
        text = m.group(0)
        sign = ""
        if text[0] in "+-" and len(text) > 1:
            sign, text = text[0], text[1:]
        elif text in ("+", "-"):
            return None
        prefix = text.endswith("*")
        text = text.rstrip("*")
        if not text:
            raise QuerySyntaxError("a lone * is not a query; put a prefix before it (e.g. катув*)")
        if prefix and len(text) < 2:
            raise QuerySyntaxError(f"prefix {text!r}* is too short (at least 2 letters)")
        if prefix and len(text) > MAX_PREFIX_CHARS:
            raise QuerySyntaxError(f"a prefix before * may have at most {MAX_PREFIX_CHARS} characters")
        return (sign, Word(text, prefix))

    def _filter(self, name: str, value: str) -> None:
        if not value:
            raise QuerySyntaxError(f"{name}: needs a value")
        if name == "date":
            self.date_from, self.date_to = parse_date_range(value)
            return
        self.filters.setdefault(name, []).append(value)


def parse_query(text: str) -> ParsedQuery:
    """Parse the query language; raises ``QuerySyntaxError`` on malformed input."""
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"query longer than {MAX_QUERY_CHARS} characters")
    return _Parser(text).parse()
