"""Schemathesis against the OpenAPI schema: generated requests to every operation, as an
authenticated administrator, on a data folder with part of the sample archive ingested.
Checks: no 5xx, response status documented, response body matching its schema.

    .venv/bin/pytest bench/test_schemathesis.py -q -p no:cacheprovider    # results: docs/benchmarks.md
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from archive_search.settings import Settings
from archive_search.web import create_app
from search_api.service import ArchiveService

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "archive_search" / "sample_archive" / "files"
PASSWORD = "schemathesis-password"

_tmp = Path(tempfile.mkdtemp(prefix="archive-schemathesis-"))
_service = ArchiveService(Settings(data_dir=_tmp / "data", embedder="none"))
_service.ingest(
    [SAMPLE / "udhr-uk-articles.pdf", SAMPLE / "interview-uk-sample.srt", SAMPLE / "udhr-en.txt"], "sample"
)
_service.accounts.create_user("fuzz", PASSWORD, role="admin")
_token, _ = _service.accounts.login("fuzz", PASSWORD, "schemathesis")
app = create_app(_service.settings, _service)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
HEADERS = {"Authorization": f"Bearer {_token}"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case: Any) -> None:
    if case.operation.path in ("/api/v1/auth/logout",):
        return  # would revoke the token the other cases use
    case.call_and_validate(
        headers=HEADERS,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
