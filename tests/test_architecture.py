"""The layout's rules, checked on the real import statements of the whole product.

``docs/architecture.md`` describes the layers; this file is what keeps them true. Every module's
imports are read with ``ast`` (imports inside functions included), resolved to our own modules,
and checked:

* layers: a module imports only from its own package or from layers below it;
* no import cycles between our modules;
* no import hidden inside a function, except the one deliberate deferral in ``app``;
* services never reach for the request (``flask.request`` / ``flask.session``);
* blueprints do not import each other; the product never imports the sandbox.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Highest first. A module may import from its own top-level package and from any later layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("wsgi", "worker"),
    ("app",),
    ("app_parts", "cli"),
    ("blueprints", "jobs"),
    ("web",),
    ("services",),
    ("models",),
    ("extensions",),
    ("config",),
    ("settings",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# The product; ``sandbox`` is beside it and only the CLI's development command may use it.
PRODUCT_ROOTS = tuple(RANK)
# Deferred on purpose, with the reason in the importing module's docstring.
DEFERRED_IMPORTS = {("app", "app_parts")}  # keeps every `flask` command quick to start
REQUEST_NAMES = {"request", "session"}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # one of our modules, or the raw name for third-party ones
    names: tuple[str, ...]
    nested: bool
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules(root: Path, roots: Iterable[str] = (*PRODUCT_ROOTS, "sandbox")) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for top in roots:
        if (root / f"{top}.py").is_file():
            modules[top] = root / f"{top}.py"
        elif (root / top).is_dir():
            for path in sorted((root / top).rglob("*.py")):
                modules[module_name(path, root)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest known module prefix of ``name`` (``services.x.f`` -> ``services.x``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def scan(modules: dict[str, Path]) -> list[Import]:
    found: list[Import] = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        nested_nodes = {
            id(sub)
            for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for sub in ast.walk(node) if isinstance(sub, ast.Import | ast.ImportFrom)
        }
        for node in ast.walk(tree):
            nested = id(node) in nested_nodes
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _resolve(alias.name, modules) or alias.name
                    found.append(Import(importer, target, (), nested, node.lineno))
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:
                    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{node.module}"
                names = tuple(alias.name for alias in node.names)
                targets = {_resolve(f"{base}.{n}", modules) for n in names} - {""}
                for target in targets or {base}:
                    found.append(Import(importer, target, names, nested, node.lineno))
    return [i for i in found if i.imported != i.importer]


def top(name: str) -> str:
    return name.split(".")[0]


def layer_violations(imports: Iterable[Import]) -> list[str]:
    bad = []
    for i in imports:
        a, b = top(i.importer), top(i.imported)
        if a in RANK and b in RANK and a != b and RANK[b] <= RANK[a]:
            bad.append(f"{i.importer}:{i.line} imports {i.imported} (layer {a} may not import {b})")
    return bad


def cycles(imports: Iterable[Import], modules: Iterable[str]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for i in imports:
        if i.imported in graph:
            graph[i.importer].add(i.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def product() -> tuple[dict[str, Path], list[Import]]:
    modules = product_modules(PROJECT_ROOT)
    assert len(modules) > 80  # the scan really walked the tree
    return modules, scan(modules)


def test_every_layer_imports_only_downwards(product) -> None:  # noqa: ANN001
    _, imports = product
    assert layer_violations(imports) == []


def test_there_are_no_import_cycles(product) -> None:  # noqa: ANN001
    modules, imports = product
    # A package's __init__ importing its own submodules (blueprint registration) is how Flask
    # blueprints attach their routes; that is not a cycle between responsibilities.
    imports = [i for i in imports if not (i.importer.startswith(i.imported + ".")
                                          and modules[i.imported].name == "__init__.py")]
    assert cycles(imports, modules) == []


def test_no_import_hides_inside_a_function(product) -> None:  # noqa: ANN001
    _, imports = product
    hidden = sorted({f"{i.importer}:{i.line} {i.imported}" for i in imports if i.nested
                     and (i.importer, i.imported) not in DEFERRED_IMPORTS and top(i.importer) in RANK})
    assert hidden == []


def request_in_services(imports: Iterable[Import]) -> list[str]:
    return [f"{i.importer}:{i.line}" for i in imports
            if top(i.importer) in ("services", "models") and i.imported == "flask" and REQUEST_NAMES & set(i.names)]


def blueprints_importing_each_other(imports: Iterable[Import]) -> list[str]:
    def area(name: str) -> str | None:
        parts = name.split(".")
        return parts[1] if parts[0] == "blueprints" and len(parts) > 1 else None

    return [f"{i.importer}:{i.line} imports {i.imported}" for i in imports
            if area(i.importer) and area(i.imported) and area(i.importer) != area(i.imported)]


def sandbox_in_product(imports: Iterable[Import]) -> list[str]:
    return [f"{i.importer}:{i.line}" for i in imports
            if top(i.imported) == "sandbox" and top(i.importer) in PRODUCT_ROOTS and top(i.importer) != "cli"]


def test_services_never_reach_for_the_request(product) -> None:  # noqa: ANN001
    assert request_in_services(product[1]) == []


def test_blueprints_are_independent_of_each_other(product) -> None:  # noqa: ANN001
    assert blueprints_importing_each_other(product[1]) == []


def test_the_product_never_imports_the_sandbox(product) -> None:  # noqa: ANN001
    assert sandbox_in_product(product[1]) == []


def test_the_rules_catch_what_they_should(tmp_path: Path) -> None:
    """The scanner and each rule on a made-up tree that breaks every rule once."""
    files = {
        "models/__init__.py": "from services import helpers\n",  # upwards
        "services/__init__.py": "",
        "services/helpers.py": "from flask import request\nimport services.other\n",
        "services/other.py": "def f():\n    from services import helpers\n",  # nested + cycle
        "blueprints/__init__.py": "",
        "blueprints/a/__init__.py": "from blueprints.b import routes\n",
        "blueprints/b/__init__.py": "",
        "blueprints/b/routes.py": "from sandbox import server\n",
        "sandbox/__init__.py": "",
        "sandbox/server.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = product_modules(tmp_path)
    imports = scan(modules)
    assert layer_violations(imports) == ["models:1 imports services.helpers (layer models may not import services)"]
    assert cycles(imports, modules) == [["services.helpers", "services.other"]]
    assert [(i.importer, i.imported) for i in imports if i.nested] == [("services.other", "services.helpers")]
    assert request_in_services(imports) == ["services.helpers:1"]
    assert blueprints_importing_each_other(imports) == ["blueprints.a:1 imports blueprints.b.routes"]
    assert sandbox_in_product(imports) == ["blueprints.b.routes:1"]
