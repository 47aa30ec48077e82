"""The product never imports the sandbox marketplace.

``sandbox/`` is a development and test tool that stands in for DHgate; the app, its blueprints,
jobs, services and models must work (and be deployable) without it. The scan reads each module's
import statements with ``ast``, so an import hidden inside a function is caught too.
"""
from __future__ import annotations

import ast
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ["app.py", "wsgi.py", "worker.py", "config.py", "extensions.py",
           "blueprints", "jobs", "services", "models", "web"]


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def product_files() -> list[Path]:
    files: list[Path] = []
    for entry in PRODUCT:
        path = PROJECT_ROOT / entry
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
    return files


def test_the_product_never_imports_the_sandbox() -> None:
    files = product_files()
    assert len(files) > 20  # the scan really walked the tree
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): sorted(name for name in imported_modules(path)
                                                    if name == "sandbox" or name.startswith("sandbox."))
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from sandbox.server import SandboxServer\n    import sandbox\n")
    assert imported_modules(module) == {"sandbox.server", "sandbox"}
