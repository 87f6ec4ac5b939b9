#!/usr/bin/env bash
# Install everything, ingest the sample archive shipped in the package, and run the service on
# the embedded default (catalog, originals and indexes in ./archive-data unless ARCHIVE_DATA_DIR
# says otherwise). Re-running is fast: installation and ingestion are both resumable.
#
#   bash scripts/demo.sh            # then open the printed URL
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

bash scripts/setup.sh
ARCHIVE=("$REPO_ROOT/.venv/bin/archive")

echo "[demo] ingesting the sample archive (UDHR in ru/uk/be/en, PDFs, a scan, an interview transcript)"
# exit code 1 only means some file failed; the report says which, and the demo goes on
"${ARCHIVE[@]}" ingest archive_search/sample_archive/files --collection sample || [ $? -eq 1 ]
"${ARCHIVE[@]}" status
# There are no default accounts: the demo makes (or resets) an administrator "demo" with a fresh
# random password, printed here once. Outside a demo, create accounts with `archive user create`.
DEMO_PASSWORD="$("$REPO_ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))')"
if printf '%s\n' "$DEMO_PASSWORD" | "${ARCHIVE[@]}" user create demo --admin --password-stdin 2>/dev/null; then
    :
else
    printf '%s\n' "$DEMO_PASSWORD" | "${ARCHIVE[@]}" user password demo --password-stdin
fi
echo "[demo] log in as: demo / $DEMO_PASSWORD"
echo "[demo] embeddings for semantic search are computed in the background while the service runs"
exec "${ARCHIVE[@]}" serve "$@"
