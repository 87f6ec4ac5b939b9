"""One retrieval path: parse → compile → rank → fuse → hydrate → highlight.

Search, batch search, saved searches (through :meth:`Retrieval.search`) and corroboration
(similar passages and documents) all run here, so that each gets the same query analysis, the
same OCR tolerance, the access filter inside the backend query and the same hydration of hits
with provenance and highlighted snippets. :class:`~archive_search.search_api.service.ArchiveService`
owns the components and hands them in.
"""

from __future__ import annotations

import string
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal, TypeGuard

import numpy as np
from sqlalchemy import select

from archive_search.catalog.models import Collection, Document, Passage, StoredFile
from archive_search.errors import InvalidRequestError, NotFoundError
from archive_search.index.analysis import Highlighter, fold
from archive_search.index.backend import (
    FACET_FIELDS,
    BackendHit,
    BoolNode,
    Filters,
    PhraseNode,
    QueryNode,
    TermNode,
)
from archive_search.index.components import ComponentsView
from archive_search.index.embeddings import Embedder
from archive_search.index.stopwords import is_stop_word
from archive_search.ingest.lang import detect_language
from archive_search.search_api.query import Group, Node, Or, ParsedQuery, Phrase, Word, parse_query
from archive_search.types import Hit, PassageRef, Principal, SearchRequest, SearchResponse

FUZZY_MIN_LEN = 5
RARE_TERM_MAX = 20
"""A query word with at most this many exact passage matches also matches close misspellings."""
MAX_CANDIDATES = 2000
"""Most passages ranked for one grouped search page."""
MAX_RESULT_WINDOW = 1000
"""Deepest result reachable by paging (page × size), as in Elasticsearch's max_result_window."""
MORE_PASSAGES = 3
EntryMatch = Literal["all", "any", "phrase"]


class Retrieval(ComponentsView):
    """Thread-safe for searches; reads its owner's components on every use (``ComponentsView``)."""

    # -- search: parse, compile, rank, fuse -------------------------------------------------

    def _fuzziness(self, term: str, filters: Filters) -> int:
        """Edits allowed for a query term: OCR damage ("пытнам" for "пыткам") is tolerated for
        rare terms only — a term with few exact matches among the passages the caller may read
        (counted under the same filters, so other collections never influence it). 1 edit from
        5 letters, 2 from 9; fuzzy matches rank below exact ones (the backend boosts them 0.3)."""
        if len(term) < FUZZY_MIN_LEN or not any(ch.isalpha() for ch in term):
            return 0
        exact = self.backend.keyword_search(TermNode((term,)), filters, limit=0).total
        if exact > RARE_TERM_MAX:
            return 0
        return 2 if len(term) >= 9 else 1

    def _compile(
        self, node: Node, filters: Filters | None = None, fuzzy: dict[str, int] | None = None
    ) -> QueryNode:
        """The backend query of a parsed query; with ``filters``, rare words get OCR tolerance
        (recorded in ``fuzzy`` for highlighting)."""
        if isinstance(node, Word):
            text = node.text
            if not node.prefix:
                # the word as the analyser cuts it: "Фервекс?" → "Фервекс", "мг/125" → two words
                toks = self.analyzer.tokens(text)
                if not toks:
                    return BoolNode()
                if len(toks) > 1:
                    parts = tuple(Word(text[t.start : t.end], weight=node.weight) for t in toks)
                    return BoolNode(should=tuple(self._compile(p, filters, fuzzy) for p in parts))
                text = text[toks[0].start : toks[0].end]
            terms = self.analyzer.query_terms(text)
            edits = 0
            if filters is not None and not node.prefix and terms and node.weight == 1.0:
                edits = self._fuzziness(terms[0], filters)
                if edits and fuzzy is not None:
                    fuzzy[terms[0]] = edits
            return TermNode(terms, prefix=node.prefix, fuzzy=edits, boost=node.weight)
        if isinstance(node, Phrase):
            words = tuple(t.terms for t in self.analyzer.tokens(node.text))
            if not words:
                return BoolNode()
            return PhraseNode(words, slop=node.slop)
        if isinstance(node, Or):
            return BoolNode(should=tuple(self._compile(n, filters, fuzzy) for n in node.items))
        return BoolNode(
            must=tuple(self._compile(n, filters, fuzzy) for n in node.must),
            should=tuple(self._compile(n, filters, fuzzy) for n in node.should),
            # an excluded word is excluded exactly: no fuzzy expansion of exclusions
            must_not=tuple(self._compile(n) for n in node.must_not),
        )

    def _highlight_terms(self, parsed: ParsedQuery) -> set[str]:
        terms: set[str] = set()
        for w in parsed.words(weighted=False):
            for tok in self.analyzer.tokens(w):
                terms.update(tok.terms)
                terms.update(self.analyzer.query_terms(w[tok.start : tok.end]))
        return terms

    def _filters(self, req: SearchRequest, parsed: ParsedQuery, principal: Principal) -> Filters:
        f = parsed.filters
        return Filters(
            allowed_collections=principal.readable,
            hidden_document_ids=principal.hidden_documents,
            collections=tuple(dict.fromkeys([*req.collections, *f.get("collection", [])])),
            langs=tuple(dict.fromkeys([*req.lang, *f.get("lang", [])])),
            types=tuple(dict.fromkeys([*req.types, *f.get("type", [])])),
            tags=tuple(dict.fromkeys([*req.tags, *f.get("tag", [])])),
            date_from=parsed.date_from or req.date_from,
            date_to=parsed.date_to or req.date_to,
            speakers=tuple(dict.fromkeys([*req.speakers, *f.get("speaker", [])])),
            added_after=req.added_after,
        )

    def _effective_mode(self, mode: str, sem_text: str) -> tuple[str, Embedder | None]:
        """The mode that can really run: hybrid falls back to keyword while no vectors exist."""
        if mode == "keyword" or not sem_text:
            return "keyword", None
        embedder = self.embedder()
        if embedder is None or not self.backend.has_vectors():
            if mode == "semantic":
                raise InvalidRequestError(
                    "semantic search is not available: no embedder configured or no passage embedded yet",
                    code="semantic_unavailable",
                )
            return "keyword", None
        return mode, embedder

    def _ranked(
        self,
        mode: str,
        node: QueryNode | None,
        filters: Filters,
        qvec: list[float] | None,
        depth: int,
        *,
        facets: bool,
    ) -> tuple[list[BackendHit], int, dict[str, dict[str, int]]]:
        """The top ``depth`` passages in rank order, the number of matching passages, facets."""
        if mode == "keyword":
            kw = self.backend.keyword_search(node, filters, limit=depth, facets=facets)
            return kw.hits, kw.total, kw.facets
        assert qvec is not None
        cfg = self.settings
        vec = self.backend.vector_search(qvec, filters, limit=max(depth, cfg.hybrid_candidates))
        if mode == "semantic":
            hits = vec.hits[:depth]
            return hits, len(vec.hits), self._facets_of(vec.hits) if facets else {}
        limit = max(depth, cfg.hybrid_candidates)
        kw = self.backend.keyword_search(node, filters, limit=limit, facets=facets)
        fused = rrf(
            [kw.hits, vec.hits],
            weights=[cfg.hybrid_keyword_weight, cfg.hybrid_semantic_weight],
            k=cfg.rrf_k,
        )
        return fused[:depth], max(kw.total, len(fused)), kw.facets

    def search(self, req: SearchRequest, principal: Principal) -> SearchResponse:
        """Run one search for ``principal``; only collections it may read are ever touched.

        With ``group="document"`` (the default) each hit is the best passage of one document and
        carries up to three more of its matching passages; ``total`` counts documents. With
        ``group="passage"`` hits are passages and ``total`` counts passages.
        """
        t0 = time.perf_counter()
        if req.page < 1:
            raise InvalidRequestError("page must be 1 or more")
        if not 1 <= req.size <= self.settings.max_page_size:
            raise InvalidRequestError(f"size must be between 1 and {self.settings.max_page_size}")
        if req.page * req.size > MAX_RESULT_WINDOW:
            raise InvalidRequestError(f"results beyond the first {MAX_RESULT_WINDOW} cannot be paged to")
        parsed = parse_query(req.q)
        filters = self._filters(req, parsed, principal)
        fuzzy: dict[str, int] = {}
        ranked_root = weigh_function_words(parsed.root, self.settings.function_word_weight)
        node = self._compile(ranked_root, filters, fuzzy) if ranked_root is not None else None
        offset = (req.page - 1) * req.size
        sem_text = " ".join(parsed.words())
        mode, embedder = self._effective_mode(req.mode, sem_text)
        qvec = embedder.embed_query(sem_text).tolist() if embedder is not None else None
        terms = self._highlight_terms(ParsedQuery(ranked_root))

        if req.group == "passage":
            if mode == "keyword":
                res = self.backend.keyword_search(node, filters, limit=req.size, offset=offset, facets=True)
                page_hits, total, facets = res.hits, res.total, res.facets
            else:
                ranked, total, facets = self._ranked(
                    mode, node, filters, qvec, offset + req.size, facets=True
                )
                page_hits = ranked[offset : offset + req.size]
            hits = self._hydrate(page_hits, terms, principal, fuzzy)
        else:
            need = offset + req.size
            depth = min(max(need * 5, 50), MAX_CANDIDATES)
            while True:
                ranked, n_passages, facets = self._ranked(mode, node, filters, qvec, depth, facets=True)
                groups = group_by_document(ranked)
                if len(groups) >= need or len(ranked) < depth or depth >= MAX_CANDIDATES:
                    break
                depth = min(depth * 4, MAX_CANDIDATES)
            if mode == "keyword":
                total = self.backend.count_documents(node, filters)
            else:
                kw_docs = self.backend.count_documents(node, filters) if mode == "hybrid" else 0
                total = max(kw_docs, len(groups))
            page_groups = groups[offset:need]
            best = [g[0] for g in page_groups]
            more = [h for g in page_groups for h in g[1 : 1 + MORE_PASSAGES]]
            hydrated = {int(h.passage_id): h for h in self._hydrate(best + more, terms, principal, fuzzy)}
            hits = []
            for g in page_groups:
                top = hydrated.get(g[0].passage_id)
                if top is None:
                    continue
                top.more = [
                    PassageRef.from_hit(hydrated[h.passage_id])
                    for h in g[1 : 1 + MORE_PASSAGES]
                    if h.passage_id in hydrated
                ]
                top.matching_passages = len(g)
                hits.append(top)
            del n_passages
        return SearchResponse(
            total=total,
            took_ms=int((time.perf_counter() - t0) * 1000),
            hits=hits,
            facets={k: facets.get(k, {}) for k in FACET_FIELDS},
            mode=mode,
            group=req.group,
            query_lang=detect_language(sem_text) if sem_text else None,
        )

    def _facets_of(self, hits: list[BackendHit]) -> dict[str, dict[str, int]]:
        """Facet counts over a candidate list (semantic mode has no boolean match set)."""
        out: dict[str, dict[str, int]] = {k: {} for k in FACET_FIELDS}
        if not hits:
            return out
        with self.catalog.session() as s:
            rows = s.execute(
                select(Passage.lang, Collection.name, Document.doc_type)
                .join(Document, Passage.document_id == Document.id)
                .join(Collection, Document.collection_id == Collection.id)
                .where(Passage.id.in_([h.passage_id for h in hits]))
            ).all()
        for lang, col, typ in rows:
            for key, val in (("lang", lang), ("collection", col), ("type", typ)):
                out[key][val] = out[key].get(val, 0) + 1
        return out

    def _hydrate(
        self,
        hits: list[BackendHit],
        terms: set[str],
        principal: Principal,
        fuzzy: dict[str, int] | None = None,
    ) -> list[Hit]:
        if not hits:
            return []
        ids = [h.passage_id for h in hits]
        with self.catalog.session() as s:
            rows = s.execute(
                select(Passage, Document, Collection.name, StoredFile.sha256)
                .join(Document, Passage.document_id == Document.id)
                .join(Collection, Document.collection_id == Collection.id)
                .join(StoredFile, Document.file_id == StoredFile.id)
                .where(Passage.id.in_(ids))
            ).all()
        by_id = {p.id: (p, d, c, sha) for p, d, c, sha in rows}
        highlighter = Highlighter(self.analyzer, terms, fuzzy=fuzzy)  # one per page: words memoised
        out: list[Hit] = []
        for h in hits:
            row = by_id.get(h.passage_id)
            if row is None:  # deleted from the catalog since it was indexed
                continue
            p, d, col, sha = row
            if not principal.can_read_document(col, d.id) or d.withdrawn_at is not None:
                continue  # defence in depth; retrieval already filtered
            out.append(
                Hit(
                    document_id=str(d.id),
                    passage_id=str(p.id),
                    score=round(h.score, 6),
                    filename=d.filename,
                    title=d.title,
                    collection=col,
                    lang=p.lang,
                    type=d.doc_type,
                    page=p.page,
                    time_start=p.time_start,
                    time_end=p.time_end,
                    speaker=p.speaker,
                    sha256=sha,
                    snippet=highlighter.snippet(p.text),
                )
            )
        return out

    # -- batch entries -----------------------------------------------------------------------

    def entry_node(self, text: str, match: EntryMatch) -> Node | None:
        """The query of a batch entry: plain text, not the query language (names carry
        apostrophes, hyphens, quotes). ``all``: every word, ``any``: any word, ``phrase``: the
        words in a row; each word is cut as the analyser cuts text."""
        tokens = self.analyzer.tokens(text)
        if not tokens:
            return None
        if match == "phrase":
            return Phrase(text)
        words = tuple(Word(text[t.start : t.end]) for t in tokens)
        return Group(must=words) if match == "all" else Group(should=words)

    def search_entry(
        self, text: str, match: EntryMatch, filters: Filters, principal: Principal, *, size: int
    ) -> tuple[int, list[Hit]]:
        """(matching documents, the best passage of each of the top ``size`` documents) for one
        batch entry, compiled as a search is (rare words get the same OCR tolerance)."""
        root = self.entry_node(text, match)
        if root is None:
            return 0, []
        fuzzy: dict[str, int] = {}
        node = self._compile(root, filters, fuzzy)
        res = self.backend.keyword_search(node, filters, limit=max(size * 5, 20))
        best = [g[0] for g in group_by_document(res.hits)][:size]
        terms = {t for tok in self.analyzer.tokens(text) for t in self.analyzer.query_terms(tok.terms[0])}
        terms |= {t for tok in self.analyzer.tokens(text) for t in tok.terms}
        return self.backend.count_documents(node, filters), self._hydrate(best, terms, principal, fuzzy)

    # -- corroboration -----------------------------------------------------------------------

    def _same_source_documents(self, document_id: int) -> tuple[int, ...]:
        """The document and every other document made from the same original bytes."""
        with self.catalog.session() as s:
            file_id = s.scalar(select(Document.file_id).where(Document.id == document_id))
            return tuple(s.scalars(select(Document.id).where(Document.file_id == file_id)))

    def similar_passages(
        self,
        passage_id: int,
        principal: Principal,
        *,
        size: int = 10,
        exclude: Literal["source", "document", "none"] = "source",
        lang: list[str] | None = None,
    ) -> dict[str, Any]:
        """Passages of other documents that describe the same thing, in any language: nearest by
        embedding (cross-lingual), or by the passage's own terms while it has no embedding yet.
        One passage per document, best first."""
        if not 1 <= size <= self.settings.max_page_size:
            raise InvalidRequestError(f"size must be between 1 and {self.settings.max_page_size}")
        with self.catalog.session() as s:
            row = s.execute(
                select(Passage, Collection.name, Document.withdrawn_at)
                .join(Document, Passage.document_id == Document.id)
                .join(Collection, Document.collection_id == Collection.id)
                .where(Passage.id == passage_id)
            ).first()
        if row is None or not principal.can_read_document(row[1], row[0].document_id) or row[2] is not None:
            raise NotFoundError(f"passage {passage_id} not found")
        p = row[0]
        if exclude == "source":
            excluded = self._same_source_documents(p.document_id)
        elif exclude == "document":
            excluded = (p.document_id,)
        else:
            excluded = ()
        filters = Filters(
            allowed_collections=principal.readable,
            hidden_document_ids=principal.hidden_documents,
            langs=tuple(lang or ()),
            exclude_document_ids=excluded,
        )
        depth = min(size * 5, MAX_CANDIDATES)
        if p.embedding is not None and self.backend.has_vectors():
            method = "vector"
            vec = np.frombuffer(p.embedding, dtype=np.float32).tolist()
            ranked = [
                h
                for h in self.backend.vector_search(vec, filters, limit=depth + 1).hits
                if h.passage_id != p.id
            ]
        else:
            method = "keyword"
            node = self._more_like_this(p.text)
            ranked = [] if node is None else self.backend.keyword_search(node, filters, limit=depth).hits
        best = [g[0] for g in group_by_document(ranked)][:size]
        terms = {t for tok in self.analyzer.tokens(p.text) for t in tok.terms}
        return {
            "passage_id": str(p.id),
            "method": method,
            "hits": self._hydrate(best, terms, principal),
        }

    def _more_like_this(self, text: str, max_terms: int = 30) -> QueryNode | None:
        """A should-query of a text's longer canonical terms (BM25 weighs the rare ones up)."""
        seen: dict[str, None] = {}
        for tok in self.analyzer.tokens(text):
            term = tok.terms[0]
            if len(term) > 3 and not term.isdigit():
                seen.setdefault(term)
        if not seen:
            return None
        return BoolNode(should=tuple(TermNode((t,)) for t in list(seen)[:max_terms]))

    def similar_documents(self, doc: Document, principal: Principal, *, size: int = 10) -> dict[str, Any]:
        """Documents like this one (``doc``, which the caller may read): nearest to the mean of its
        passage vectors (or its terms)."""
        filters = Filters(
            allowed_collections=principal.readable,
            hidden_document_ids=principal.hidden_documents,
            exclude_document_ids=self._same_source_documents(doc.id),
        )
        with self.catalog.session() as s:
            rows = s.execute(
                select(Passage.text, Passage.embedding)
                .where(Passage.document_id == doc.id)
                .order_by(Passage.seq)
            ).all()
        vecs = [np.frombuffer(e, dtype=np.float32) for _, e in rows if e is not None]
        depth = min(size * 10, MAX_CANDIDATES)
        if vecs and self.backend.has_vectors():
            method = "vector"
            mean = np.mean(np.stack(vecs), axis=0)
            ranked = self.backend.vector_search(mean.tolist(), filters, limit=depth).hits
        else:
            method = "keyword"
            node = self._more_like_this(" ".join(t for t, _ in rows)[:20000], max_terms=50)
            ranked = [] if node is None else self.backend.keyword_search(node, filters, limit=depth).hits
        best = [g[0] for g in group_by_document(ranked)][:size]
        return {"document_id": str(doc.id), "method": method, "hits": self._hydrate(best, set(), principal)}


def group_by_document(hits: list[BackendHit]) -> list[list[BackendHit]]:
    """Passages grouped by document, documents in the order of their best passage."""
    groups: dict[int, list[BackendHit]] = {}
    for h in hits:
        groups.setdefault(h.document_id, []).append(h)
    return list(groups.values())


_PUNCTUATION = string.punctuation + "«»„“”‘’…—–"


def weigh_function_words(root: Node | None, weight: float) -> Node | None:
    """The query with its optional function words ("як", "the", "что") reduced to a tie-breaker.

    As Elasticsearch's "common terms" query does with frequent words: a passage must hold at
    least one of the other (content) words, and the function words only add ``weight`` times their
    score among those passages. BM25 gives frequent words a low weight already, but in a long
    question "як/слід/для/у" still add up to outrank the one rare word that matters, and in hybrid
    search a passage matching only "and" would take a keyword rank of its own (measured in
    ``docs/benchmarks.md``). With ``weight`` 0 function words are left out, with 1 the query is
    searched as typed. Only bare optional words of the top-level clause list are function words
    here; phrases, prefixes, ``+required`` and excluded words, ``OR`` groups and a query of
    function words alone are searched as typed.
    """
    if not isinstance(root, Group) or weight == 1.0:
        return root

    def function_word(n: Node) -> TypeGuard[Word]:
        return isinstance(n, Word) and not n.prefix and is_stop_word(fold(n.text.strip(_PUNCTUATION)))

    content = tuple(n for n in root.should if not function_word(n))
    if len(content) == len(root.should) or not (content or root.must):
        return root
    light = () if weight == 0 else tuple(Word(n.text, weight=weight) for n in root.should if function_word(n))
    if root.must:  # the required clauses already demand content
        return Group(should=content + light, must=root.must, must_not=root.must_not)
    required = content[0] if len(content) == 1 else Or(content)
    return Group(should=light, must=(required,), must_not=root.must_not)


def rrf(
    rankings: list[list[BackendHit]], *, weights: Sequence[float] | None = None, k: int = 60
) -> list[BackendHit]:
    """Weighted reciprocal rank fusion: score = sum over rankings of weight / (k + rank).

    Ties are broken by passage id so that a page boundary never shows one passage twice.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    first: dict[int, BackendHit] = {}
    for weight, ranking in zip(weights, rankings, strict=True):
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.passage_id] = scores.get(hit.passage_id, 0.0) + weight / (k + rank)
            first.setdefault(hit.passage_id, hit)
    ordered = sorted(scores, key=lambda pid: (-scores[pid], pid))
    return [replace(first[pid], score=scores[pid]) for pid in ordered]
