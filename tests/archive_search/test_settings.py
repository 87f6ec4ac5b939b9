"""Settings come from one validated object; every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from archive_search.settings import Settings
from tests.conftest import REPO, source_files


def test_environment_variables_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARCHIVE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("ARCHIVE_PORT", "8123")
    monkeypatch.setenv("ARCHIVE_EMBEDDER", "none")
    s = Settings()
    assert s.data_dir == (tmp_path / "d").resolve()
    assert s.port == 8123
    assert s.catalog_url == f"sqlite:///{(tmp_path / 'd' / 'catalog.sqlite3').resolve()}"


def test_default_data_dir_is_local_archive_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ARCHIVE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().data_dir == (tmp_path / "archive-data").resolve()


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_BACKEND", "elasticsearch")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("ARCHIVE_BACKEND", "opensearch")
    monkeypatch.delenv("ARCHIVE_OPENSEARCH_URL", raising=False)
    with pytest.raises(ValidationError, match="OPENSEARCH_URL"):
        Settings()


def test_every_setting_is_documented() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text("utf-8")
    documented = set(re.findall(r"`(ARCHIVE_[A-Z_]+)`", doc))
    fields = {f"ARCHIVE_{name.upper()}" for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from docs/configuration.md"
    assert documented - fields == set(), "docs/configuration.md lists settings that do not exist"


def test_no_module_reads_the_environment_but_settings() -> None:
    offenders = []
    for path in source_files():
        text = path.read_text("utf-8")
        if path.name == "settings.py":
            continue
        # passing the environment on to a child process ({**os.environ, ...}) is not reading it
        if re.search(r"os\.environ\.get|os\.environ\[|os\.getenv\(", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
