"""The import layering of the package, read with ``ast`` (no import runs): the arrows of
``docs/architecture.md`` point one way, and its table of who imports whom is the real graph.

Rules (issue 15, part 6): ``index`` never imports ``ingest``, ``search_api`` or ``ui``; ``ingest``
never imports ``search_api`` or ``ui``, and only ``ingest/jobs.py`` (the ingestion and indexing
jobs) imports ``index``; ``ui`` never imports ``index``, ``ingest`` or the catalog; nothing but the
app factory (``web.py``) imports ``ui``.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from tests.conftest import PACKAGES, REPO, source_files

LAYERS = {"ingest", "index", "search_api", "ui"}
"""Top-level packages, one per layer; ``archive_search`` is the shared core and the entry points."""
SHARED = {"types", "errors", "settings", "__init__"}
PARTS = {"shared", "catalog", "ingest", "index", "search_api", "ui", "web", "cli"}

FORBIDDEN: dict[str, set[str]] = {
    "index": {"ingest", "search_api", "ui", "web", "cli"},
    "ingest": {"search_api", "ui", "web", "cli"},
    "ui": {"index", "ingest", "catalog", "web", "cli"},
    "catalog": {"ingest", "index", "search_api", "ui", "web", "cli"},
    "shared": PARTS - {"shared"},
    "search_api": {"ui", "web", "cli"},
}


def _part(module: str) -> str:
    """The part of a module: a layer package (``ingest.…``), or for the core ``archive_search.<x>…``
    the shared modules as one part and ``catalog``, ``web``, ``cli`` as one each."""
    names = module.split(".")
    if names[0] in LAYERS:
        return names[0]
    if len(names) == 1 or names[1] in SHARED or names[1] == "__version__":
        return "shared"
    return names[1]


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _module_of(path: Path) -> str:
    rel = path.with_suffix("").relative_to(REPO)
    return ".".join(rel.parts).removesuffix(".__init__")


def imports() -> dict[str, set[str]]:
    """{module: project modules it imports}, at any depth (function-level imports included)."""
    out: dict[str, set[str]] = {}
    for path in source_files():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module in PACKAGES:
                    found.update(f"{node.module}.{a.name}" for a in node.names)
                else:
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: relative import; the layering check reads absolute ones")
        out[_module_of(path)] = {m for m in found if _is_project(m)}
    return out


def graph() -> dict[str, set[str]]:
    """{part: the other parts it imports}."""
    g: dict[str, set[str]] = defaultdict(set)
    for module, targets in imports().items():
        src = _part(module)
        g[src].update(t for t in map(_part, targets) if t != src)
        g.setdefault(src, set())
    return dict(g)


def test_every_module_belongs_to_a_known_part() -> None:
    assert {_part(m) for m in imports()} <= PARTS


def test_forbidden_imports() -> None:
    bad = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        for target in targets
        if _part(target) in FORBIDDEN.get(_part(module), set())
    ]
    assert not bad, "imports against the layering (docs/architecture.md):\n" + "\n".join(bad)


def test_only_the_app_factory_imports_ui() -> None:
    bad = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        for target in targets
        if _part(target) == "ui" and _part(module) not in ("ui", "web")
    ]
    assert not bad, "\n".join(bad)


TEXT_ANALYSIS = {
    "index.morph",
    "index.translit",
    "index.stopwords",
}
"""The analyser's word-level modules (no backend, no catalog): entity extraction in the extraction
worker (``ingest/entities.py``) lemmatises names and makes their transliteration keys with them."""


def test_only_the_ingestion_jobs_import_the_index_from_ingest() -> None:
    bad = [
        module
        for module, targets in imports().items()
        if _part(module) == "ingest"
        and module != "ingest.jobs"
        and any(
            _part(t) == "index" and not (module == "ingest.entities" and t in TEXT_ANALYSIS)
            for t in targets
        )
    ]
    assert not bad, f"only ingest/jobs.py (and entities.py, the text analysis) may import index/: {bad}"


def documented_graph() -> dict[str, set[str]]:
    """The table of docs/architecture.md: ``| part | modules | role | imports |``."""
    doc = (REPO / "docs" / "architecture.md").read_text("utf-8")
    table: dict[str, set[str]] = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].strip("`") in PARTS:
            names = re.findall(r"[a-z_]+", cells[3])
            table[cells[0].strip("`")] = set(names) - {"nothing"}
    return table


def test_the_architecture_doc_shows_the_real_graph() -> None:
    documented = documented_graph()
    assert set(documented) == PARTS, "docs/architecture.md: one row per part"
    real = graph()
    wrong = {
        p: (sorted(documented[p]), sorted(real.get(p, set())))
        for p in PARTS
        if documented[p] != real.get(p, set())
    }
    assert not wrong, f"docs/architecture.md's import table (documented, real) differs: {wrong}"


def _runtime_imports() -> dict[str, set[str]]:
    """{module: project modules it imports when it runs}: every import but those under
    ``if TYPE_CHECKING:`` (annotations only), resolved to the module that holds the name."""
    paths = {_module_of(p): p for p in source_files()}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    out: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        typing_only = {
            id(c)
            for n in ast.walk(tree)
            if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
            for c in ast.walk(n)
        }
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    target = full if full in paths else resolve(node.module)
                    if target:
                        found.add(target)
            elif isinstance(node, ast.Import):
                found.update(t for t in (resolve(a.name) for a in node.names) if t)
        found.discard(module)
        out[module] = found
    return out


def test_no_import_cycles_between_modules() -> None:
    """Issue 15: no file cycles. Imports inside functions count too (a deferred import that
    breaks a cycle at run time is still a cycle in the design); annotation-only imports do not."""
    graph_ = _runtime_imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph_[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph_):
        if v not in index:
            visit(v)
    assert cycles == [], cycles


BIG_MODULE_LINES = 500


def test_every_big_module_says_why_it_is_one_module() -> None:
    """Issue 15: no module over ~500 lines without a reason written at its top."""
    silent = []
    for path in source_files():
        text = path.read_text("utf-8")
        if text.count("\n") > BIG_MODULE_LINES:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "Why one module:" not in doc:
                silent.append(f"{path.relative_to(REPO)} ({text.count(chr(10))} lines)")
    assert silent == [], "split these or say at their top 'Why one module: …': " + ", ".join(silent)
