"""The search page (``/``) and the selection of results (``POST /selection``: tag them, or add
them to a case)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from archive_search.errors import (
    ArchiveError,
    InvalidRequestError,
)
from archive_search.types import LANGUAGES, MAX_ID, Principal, SearchMode, SearchRequest, SearchResponse
from search_api.audit import search_details
from search_api.bundle_redaction import cases_with_rules
from search_api.cases import (
    CaseCreate,
    CaseItemCreate,
    CaseItemsAdd,
)
from search_api.hits_export import export_response
from search_api.metadata import MetadataApply
from search_api.query import FILTER_FIELDS as QUERY_FILTER_FIELDS
from search_api.query import parse_query
from search_api.retrieval import MAX_RESULT_WINDOW, HitListHash
from search_api.service import ArchiveService
from search_api.tags import TagApply
from ui import documents as docs
from ui.common import (
    FILTER_FIELDS,
    PAGE_SIZE,
    SignedIn,
    SignedInForm,
    _failed,
    _here,
    _int_list,
    _invalid,
    _redirect,
    _service,
    _translator,
    _with_notice,
    _work_context,
    render,
    safe_next,
)
from ui.i18n import Translator

router = APIRouter(include_in_schema=False)


MODES: tuple[SearchMode, ...] = ("hybrid", "keyword", "semantic")


@dataclass
class SearchState:
    """The search page's parameters, and the links that change one of them."""

    q: str = ""
    mode: SearchMode = "hybrid"
    filters: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in FILTER_FIELDS})
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    collapse: bool = False
    """Fold further hits of a document family into its first hit (``collapse=family``)."""
    meta: list[str] = field(default_factory=list)
    """Metadata filters ``NAME=VALUE`` (the ``meta.NAME`` facets' check boxes)."""

    @classmethod
    def from_request(cls, request: Request) -> tuple[SearchState, list[str]]:
        qp = request.query_params
        problems: list[str] = []
        st = cls(q=qp.get("q", "")[:4000])
        mode = qp.get("mode", "hybrid")
        st.mode = next((m for m in MODES if m == mode), "hybrid")
        st.collapse = qp.get("collapse") == "family"
        st.meta = list(dict.fromkeys(v[:500] for v in qp.getlist("meta") if "=" in v))[:50]
        for k in FILTER_FIELDS:
            st.filters[k] = list(dict.fromkeys(v for v in qp.getlist(k) if v))[:50]
        for name in ("date_from", "date_to"):
            raw = qp.get(name, "")
            if raw:
                try:
                    setattr(st, name, date.fromisoformat(raw))
                except ValueError:
                    problems.append(f"{name}: {raw!r} is not a date (YYYY-MM-DD)")
        try:
            st.page = min(max(1, int(qp.get("page", "1"))), 10_000)
        except ValueError:
            st.page = 1
        return st, problems

    @property
    def active(self) -> bool:
        return bool(
            self.q.strip() or any(self.filters.values()) or self.meta or self.date_from or self.date_to
        )

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        d: dict[str, Any] = {
            "q": self.q,
            "mode": self.mode,
            **{k: list(v) for k, v in self.filters.items()},
            "meta": list(self.meta),
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "page": self.page,
            "collapse": "family" if self.collapse else "",
        }
        d.update(changes)
        out: list[tuple[str, str]] = []
        for k, v in d.items():
            for item in v if isinstance(v, list) else [v]:
                if (
                    item not in ("", None)
                    and not (k == "page" and item == 1)
                    and not (k == "mode" and item == "hybrid")
                ):
                    out.append((k, str(item)))
        return out

    def export_url(self, fmt: str) -> str:
        """The link of "Export all hits" for this search."""
        return "/search/export?" + urlencode([*self.params(page=1), ("format", fmt)])

    def url(self, **changes: Any) -> str:
        qs = urlencode(self.params(**changes))
        return "/" + (f"?{qs}" if qs else "")

    def toggle_url(self, name: str, value: str) -> str:
        current = self.filters[name]
        new = [v for v in current if v != value] if value in current else [*current, value]
        return self.url(**{name: new, "page": 1})

    def request(self) -> SearchRequest:
        return SearchRequest(
            q=self.q,
            mode=self.mode,
            lang=self.filters["lang"],
            collections=self.filters["collection"],
            types=self.filters["type"],
            tags=self.filters["tag"],
            persons=self.filters["person"],
            places=self.filters["place"],
            orgs=self.filters["organisation"],
            meta=self.meta,
            date_from=self.date_from,
            date_to=self.date_to,
            page=self.page,
            size=PAGE_SIZE,
            explain=True,
        )


_QUERY_FILTER = re.compile(r"(?<![^\s(])(?:" + "|".join(QUERY_FILTER_FIELDS) + r'):("[^"]*"|[^\s()"]+)')
"""A filter written in the query (``lang:xx``, ``date:1995..2000``): what the parser takes as one."""


def _empty_reasons(
    svc: ArchiveService, st: SearchState, principal: Principal, t: Translator, *, no_known_word: bool = False
) -> list[tuple[str, str | None, str | None]]:
    """Why a search found nothing, as (sentence, link or None, the link's text): an unknown
    language code, a date range that ends before it starts, filters that leave out every hit (with
    how many the words find without them), no word of the query a known word (the known-word gate
    of hybrid search: nothing by meaning, and a link to the same search by meaning only), or words
    found nowhere. The first reasons that apply."""
    out: list[tuple[str, str | None, str | None]] = []
    try:
        parsed = parse_query(st.q)
    except ArchiveError:
        return out
    langs = [*st.filters["lang"], *parsed.filters.get("lang", [])]
    unknown = [c for c in dict.fromkeys(langs) if c not in LANGUAGES]
    if unknown:
        known = ", ".join(f"{c} ({t.language_name(c)})" for c in LANGUAGES)
        out.append((t("empty_unknown_lang", codes=", ".join(unknown), known=known), None, None))
    starts = [d for d in (st.date_from, parsed.date_from) if d]
    ends = [d for d in (st.date_to, parsed.date_to) if d]
    if starts and ends and max(starts) > min(ends):
        out.append((t("empty_dates_reversed", start=t.date(max(starts)), end=t.date(min(ends))), None, None))
    words_only = _QUERY_FILTER.sub(" ", st.q).strip()
    filtered = any(st.filters.values()) or st.date_from or st.date_to or words_only != st.q.strip()
    if filtered and words_only:
        bare = SearchRequest(q=words_only, mode=st.mode, size=1)
        try:
            n = svc.search(bare, principal).total
        except ArchiveError:
            n = 0
        if n:
            link = SearchState(q=words_only, mode=st.mode, collapse=st.collapse).url()
            out.append((t("empty_filters_exclude", n=t.num(n)), link, t("empty_search_without_filters")))
    if no_known_word:
        # a false firing (a word newer than every dictionary) costs one click: the same search by
        # meaning only, which the gate never applies to
        out.append((t("empty_no_known_word"), st.url(mode="semantic", page=1), t("empty_search_by_meaning")))
    if not out:
        out.append((t("no_results"), None, None))
    return out


def _facet_entries(
    st: SearchState, facets: dict[str, dict[str, int]]
) -> dict[str, list[tuple[str, int | None]]]:
    """Per facet field: (value, count) sorted by count, with selected values always listed."""
    out: dict[str, list[tuple[str, int | None]]] = {}
    for name in FILTER_FIELDS:
        counts = dict(facets.get(name, {}))
        entries: list[tuple[str, int | None]] = [
            (v, c) for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        for v in st.filters[name]:
            if v not in counts:
                entries.append((v, None))
        out[name] = entries
    return out


@dataclass(frozen=True)
class MetaFacet:
    """One ``meta.NAME`` facet of the panel: the field's name and label, and its values."""

    name: str
    label: str
    entries: list[tuple[str, int | None]]


def _meta_facets(
    st: SearchState, facets: dict[str, dict[str, int]], labels: dict[str, str]
) -> list[MetaFacet]:
    """The ``meta.NAME`` facets the backend counted (over readable passages only), by count, with
    the values checked in the search always listed."""
    out: dict[str, dict[str, int | None]] = {}
    for key, counts in facets.items():
        if key.startswith("meta."):
            ranked: dict[str, int | None] = {
                v: n for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            }
            out[key[5:]] = ranked
    for spec in st.meta:
        name, _, value = spec.partition("=")
        out.setdefault(name, {}).setdefault(value, None)
    return [
        MetaFacet(name, labels.get(name, name), list(values.items())) for name, values in sorted(out.items())
    ]


def _meta_fields(
    svc: ArchiveService, principal: Principal
) -> tuple[dict[str, str], list[tuple[str, str, list[str]]]]:
    """The metadata fields of the collections the user may read: labels by name (for the facet
    panel), and (name, label, collections) of the fields of collections the user may write (for
    the bulk edit of a selection; fields of one name in several collections are one choice)."""
    labels: dict[str, str] = {}
    writable: dict[str, tuple[str, str, list[str]]] = {}
    for c in svc.collections(principal):
        try:
            fields = svc.metadata.list_fields(c["name"], principal)
        except ArchiveError:
            continue
        for f in fields:
            labels.setdefault(f.name, f.label)
            if principal.can_write(c["name"]):
                writable.setdefault(f.name, (f.name, f.label, []))[2].append(c["name"])
    return labels, sorted(writable.values())


def _pages(current: int, last: int) -> list[int | None]:
    """Page numbers to link: first, last and a window around the current one (None is a gap)."""
    wanted = sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
    out: list[int | None] = []
    for i, p in enumerate(wanted):
        if i and p - wanted[i - 1] > 1:
            out.append(None)
        out.append(p)
    return out


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request, principal: SignedIn) -> Response:
    svc = _service(request)
    t = _translator(request)
    st, problems = SearchState.from_request(request)
    resp: SearchResponse | None = None
    error: str | None = "; ".join(problems) or None
    status = 400 if error else 200
    if st.active and not error:
        req = st.request()
        try:
            resp = svc.search(req, principal)
        except ArchiveError as exc:
            if exc.status >= 500:
                raise
            error, status = exc.message, exc.status
        else:
            if st.collapse:
                resp = svc.families.collapse_search(resp, principal)
            record = svc.retrieval.search_record(
                req, principal, mode=resp.mode, total=resp.total, hits=HitListHash(resp.hits)
            )
            details = {**search_details(req, resp.total), "record": record, "ui": True}
            svc.cases.audit.record(principal.name, "search", None, None, details)
    # the service pages through the first MAX_RESULT_WINDOW results only
    last_page = min(max(1, math.ceil(resp.total / PAGE_SIZE)), MAX_RESULT_WINDOW // PAGE_SIZE) if resp else 1
    collections = svc.collections(principal) if not st.active else []
    meta_labels, meta_writable = _meta_fields(svc, principal)
    cards = svc.document_cards([h.document_id for h in resp.hits], principal) if resp else {}
    empty = (
        _empty_reasons(svc, st, principal, t, no_known_word=resp.no_known_word)
        if resp is not None and not resp.total
        else []
    )
    facets = resp.facets if resp else {}
    facets_approximate = bool(resp and resp.facets_approximate)
    if not st.active:
        # before any search, the facets count the whole readable archive: a way in by browsing
        browse = svc.search(SearchRequest(q="", mode="keyword", size=1), principal)
        facets, facets_approximate = browse.facets, browse.facets_approximate
    return render(
        request,
        "search.html",
        principal=principal,
        status=status,
        st=st,
        resp=resp,
        error=t("search_error", message=error) if error else None,
        facets=_facet_entries(st, facets),
        meta_facets=_meta_facets(st, facets, meta_labels),
        meta_fields=meta_writable if principal.role in ("editor", "admin") else [],
        facets_approximate=facets_approximate,
        facets_sample=svc.settings.total_hits_exact_up_to,
        years=sorted((y, n) for y, n in facets.get("date", {}).items() if re.fullmatch(r"\d{4}", y)),
        modes=MODES,
        pages=_pages(st.page, last_page) if resp and resp.total else [],
        last_page=last_page,
        collections=collections,
        back=_here(request),
        cards=cards,
        active_filters=sum(len(v) for v in st.filters.values())
        + len(st.meta)
        + bool(st.date_from)
        + bool(st.date_to),
        empty=empty,
        classify_marks=docs.classify_marks,
        match_kinds=docs.match_kinds,
        rule_cases=cases_with_rules(svc.cases, principal) if resp and resp.total else [],
        **_work_context(request, principal),
    )


@router.get("/search/export")
def export_page(request: Request, principal: SignedIn) -> Response:
    """The search page's "Export all hits": every hit of the current search, streamed (CSV or
    XLSX), as ``GET /api/v1/search/export`` gives it."""
    svc = _service(request)
    st, problems = SearchState.from_request(request)
    fmt = request.query_params.get("format", "csv")
    if problems or fmt not in ("csv", "xlsx", "jsonl") or not st.active:
        raise InvalidRequestError(
            "; ".join(problems) or "export needs a search and format csv, xlsx or jsonl"
        )
    req = replace(st.request(), group="passage", page=1)
    raw_case = request.query_params.get("redact_case", "")
    if raw_case and not (re.fullmatch(r"[0-9]{1,10}", raw_case) and 1 <= int(raw_case) <= MAX_ID):
        raise InvalidRequestError("redact_case must be a case id")
    redact_case = int(raw_case) if raw_case else None  # masked by that case's redaction rule
    return export_response(svc, principal, req, fmt, redact_case=redact_case)  # type: ignore[arg-type]


@router.post("/selection")
async def selection(request: Request, principal: SignedInForm) -> Response:
    """Tag the selected results' documents, or add their passages to a case (with the query)."""
    form = await request.form()
    svc = _service(request)
    back = safe_next(str(form.get("next", "/")))
    picked = [str(v) for v in form.getlist("hit")]
    doc_ids = _int_list([p.split(":")[0] for p in picked] + [str(v) for v in form.getlist("document")])
    passage_ids = _int_list([p.split(":")[1] for p in picked if ":" in p])
    pairs = [
        (int(d), int(p)) for d, _, p in (v.partition(":") for v in picked) if d.isdigit() and p.isdigit()
    ]
    action = str(form.get("action", ""))
    query = str(form.get("q", ""))[:4000] or None
    t = _translator(request)
    try:
        if not doc_ids:
            raise InvalidRequestError(t("nothing_selected"))
        if action == "tag":
            names = [n.strip() for n in str(form.get("tag", "")).split(",") if n.strip()]
            if not names:
                raise InvalidRequestError(t("tag_needed"))
            res = svc.tags.apply_tags(TagApply(names=names, document_ids=doc_ids), principal)
            return _redirect(_with_notice(back, "tagged", n=res.changed))
        if action == "metadata":
            name = str(form.get("meta_field", ""))
            if not name:
                raise InvalidRequestError(t("meta_field_needed"))
            raw = str(form.get("meta_value", "")).strip()
            value: str | list[str | float] | None = None
            if raw:
                parts: list[str | float] = [v.strip() for v in raw.split(";") if v.strip()]
                value = parts if len(parts) > 1 else str(parts[0])
            applied = svc.metadata.apply(MetadataApply(values={name: value}, document_ids=doc_ids), principal)
            return _redirect(_with_notice(back, "metadata_applied", n=applied.documents))
        if action == "case":
            case_id = _int_list([str(form.get("case_id", ""))])
            new_title = str(form.get("new_case", "")).strip()
            if new_title:
                case_id = [svc.cases.create_case(CaseCreate(title=new_title[:300]), principal).id]
            if not case_id:
                raise InvalidRequestError(t("case_needed"))
            note = str(form.get("note", "")).strip()[:10_000] or None
            # each hit keeps the query that found it (a selection may span searches)
            found = {p: str(form.get(f"found_{d}:{p}", ""))[:4000] or query for d, p in pairs}
            items = (
                [CaseItemCreate(passage_id=p, query=found.get(p, query), note=note) for p in passage_ids]
                if passage_ids
                else [CaseItemCreate(document_id=d, query=query, note=note) for d in doc_ids]
            )
            svc.cases.add_items(case_id[0], CaseItemsAdd(items=items), principal)
            if form.get("stay"):  # search page, corroboration entry: stay there, link to the case
                notice = "added_here" if form.get("stay") == "here" else "added_stay"
                return _redirect(_with_notice(back, notice, n=len(items), case=case_id[0]))
            return _redirect(_with_notice(f"/cases/{case_id[0]}", "added", n=len(items)))
        raise InvalidRequestError("unknown action")
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
