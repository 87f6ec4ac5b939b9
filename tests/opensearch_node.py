"""A real OpenSearch for the tests: ``ARCHIVE_OPENSEARCH_URL`` when set (``scripts/test.sh`` starts a
node and sets it), otherwise a single node this test session starts itself with
``scripts/opensearch.sh`` (built from Maven Central artifacts) and stops at the end. The OpenSearch
tests never skip for lack of a cluster: a node that cannot be started fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "opensearch.sh"
URL_ENV = "ARCHIVE_OPENSEARCH_URL"


def cluster_cmd(action: str, folder: Path, *args: str, timeout: float = 600) -> str:
    """Runs ``scripts/opensearch.sh ACTION --dir FOLDER ARGS``; returns its stdout (the URL for start)."""
    proc = subprocess.run(
        ["bash", str(SCRIPT), action, "--dir", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"opensearch.sh {action} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout.strip()


@contextmanager
def opensearch_url() -> Iterator[str]:
    """The URL of a live OpenSearch for this test session."""
    url = os.environ.get(URL_ENV)
    if url:
        yield url
        return
    folder = REPO / ".opensearch" / f"pytest-{os.getpid()}"
    port = os.environ.get("ARCHIVE_TEST_OPENSEARCH_PORT", "9410")
    try:
        yield cluster_cmd("start", folder, "--fresh", "--port", port)
    finally:
        cluster_cmd("stop", folder)
        shutil.rmtree(folder, ignore_errors=True)
