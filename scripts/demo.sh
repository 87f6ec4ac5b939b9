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
echo "[demo] embeddings for semantic search are computed in the background while the service runs"
exec "${ARCHIVE[@]}" serve "$@"
