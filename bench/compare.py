"""Compare two ``bench/quality.py`` results files: nDCG@10 and Recall@100 side by side, with deltas.

    .venv/bin/python bench/compare.py bench/results/OLD.json bench/results/NEW.json [--pairs]

Rows are (data set, mode, unit) macro means over the monolingual and the cross-language pairs;
``--pairs`` lists every language pair instead. Only cells present in both files are compared, so
compare runs made with the same --max-docs/--max-queries/--seed (the files record them).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

Key = tuple[str, str, str, str]


def kind(row: dict[str, Any]) -> str:
    """``mono`` when the query and document languages agree (Tatoeba keys: ``en>uk``, ``en-uk``)."""
    same = row["query_lang"].split(">", 1)[0] == row["doc_lang"].split("-", 1)[0]
    return "mono" if same else "cross"


def cells(path: Path, per_pair: bool) -> dict[Key, tuple[float, float, int]]:
    """(data set, mode, unit, pair or mono/cross) → (mean nDCG@10, mean Recall@100, pairs averaged)."""
    rows = json.loads(path.read_text(encoding="utf-8"))["results"]
    groups: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        label = f"{r['query_lang']}→{r['doc_lang']}" if per_pair else kind(r)
        groups[(r["dataset"], r["mode"], r["unit"], label)].append(r)
    return {
        k: (
            sum(r["ndcg10"] for r in v) / len(v),
            sum(r["recall100"] for r in v) / len(v),
            len(v),
        )
        for k, v in groups.items()
    }


def main() -> int:
    """Print the comparison as a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--pairs", action="store_true", help="one row per language pair")
    args = p.parse_args()
    old, new = cells(args.old, args.pairs), cells(args.new, args.pairs)
    print("| data set | mode | unit | pairs | nDCG@10 old | nDCG@10 new | Δ | R@100 old | R@100 new | Δ |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(set(old) & set(new)):
        (n_o, r_o, _), (n_n, r_n, count) = old[key], new[key]
        ds, mode, unit, label = key
        print(
            f"| {ds} | {mode} | {unit} | {label} ({count}) | {n_o:.3f} | {n_n:.3f} | {n_n - n_o:+.3f} "
            f"| {r_o:.3f} | {r_n:.3f} | {r_n - r_o:+.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
