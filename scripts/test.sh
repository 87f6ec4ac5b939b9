#!/usr/bin/env bash
# Install everything and run the whole test suite:
#
#   bash scripts/test.sh [extra pytest args...]     e.g.  bash scripts/test.sh -x -k catalog
#
# Steps: `scripts/setup.sh --dev`, a real single-node OpenSearch from Maven Central artifacts
# (scripts/opensearch.sh, stopped again at the end; ARCHIVE_OPENSEARCH_URL points the OpenSearch
# tests at it), then `ruff check .`, `mypy archive_search ingest index search_api ui` and `pytest -q "$@"` inside .venv. The checks all run even if an earlier one
# fails, so one run reports every problem; the script then exits 1 if any
# failed. (Formatting is deliberately not checked.)
#
# No PostgreSQL server needs to be running: tests start their own throwaway
# cluster (tests/pgcluster.py). The three-node OpenSearch failure tests start
# their own cluster too. ARCHIVE_TEST_OPENSEARCH_PORT (default 9400) moves the
# test node; an ARCHIVE_OPENSEARCH_URL already set is used as it is instead.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# Without a working environment none of the checks mean anything: stop here.
if ! bash scripts/setup.sh --dev; then
    echo "[test] FAILED: scripts/setup.sh --dev" >&2
    exit 1
fi

if [ -z "${ARCHIVE_OPENSEARCH_URL:-}" ]; then
    OS_DIR="$REPO_ROOT/.opensearch/test"
    bash scripts/opensearch.sh stop --dir "$OS_DIR" || true
    trap 'bash scripts/opensearch.sh stop --dir "$OS_DIR" || true' EXIT
    if ! ARCHIVE_OPENSEARCH_URL="$(bash scripts/opensearch.sh start --fresh --dir "$OS_DIR" \
        --port "${ARCHIVE_TEST_OPENSEARCH_PORT:-9400}")"; then
        echo "[test] FAILED: could not start the OpenSearch test node" >&2
        exit 1
    fi
    export ARCHIVE_OPENSEARCH_URL
fi
echo "[test] OpenSearch for the tests: $ARCHIVE_OPENSEARCH_URL"

PY="$REPO_ROOT/.venv/bin/python"
failed=()

step() {
    # step NAME CMD...: run CMD, remember NAME if it fails, never abort the script.
    local name="$1"
    shift
    echo
    echo "[test] ==> $name: $*"
    local start=$SECONDS rc=0
    "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "[test] <== $name: ok ($((SECONDS - start))s)"
    else
        echo "[test] <== $name: FAILED with exit code $rc ($((SECONDS - start))s)"
        failed+=("$name")
    fi
}

# `python -m ...` rather than .venv/bin/<tool>: no dependence on the scripts'
# absolute shebang paths. Note that `python -m pytest` also puts the repo root
# on sys.path.
step "ruff" "$PY" -m ruff check .
step "mypy" "$PY" -m mypy archive_search ingest index search_api ui
step "pytest" "$PY" -m pytest -q "$@"

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "[test] FAILED steps: ${failed[*]}"
    exit 1
fi
echo "[test] all steps passed"
