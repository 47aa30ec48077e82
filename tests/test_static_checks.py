"""The static checks cover all the code: a new top-level module or package is type-checked by
mypy (unless it is a test, benchmark, script or migration) and sorted as first-party by ruff.

Without this, a package added next to ``services/`` would silently escape ``make lint``: mypy
only checks the paths its config names, and ruff would sort its imports as third-party.
"""
from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOT_TYPE_CHECKED = {"tests", "bench", "scripts", "migrations"}
NEVER_IMPORTED = {"migrations"}  # Alembic loads env.py by path


def top_level_code(root: Path) -> set[str]:
    """Every top-level module, and every top-level folder that holds Python files."""
    names = {path.stem for path in root.glob("*.py")}
    names |= {
        path.name for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and any(path.glob("*.py"))
    }
    return names


def mypy_targets(root: Path) -> set[str]:
    config = configparser.ConfigParser()
    config.read(root / "mypy.ini", encoding="utf-8")
    files = [entry.strip() for entry in config["mypy"]["files"].split(",") if entry.strip()]
    return {entry.removesuffix(".py").rstrip("/") for entry in files}


def ruff_first_party(root: Path) -> set[str]:
    with (root / "ruff.toml").open("rb") as handle:
        return set(tomllib.load(handle)["lint"]["isort"]["known-first-party"])


def test_the_scan_sees_the_known_rooms() -> None:
    code = top_level_code(PROJECT_ROOT)
    assert {"app", "services", "models", "tests", "migrations", "bench"} <= code
    assert "static" not in code and "templates" not in code


def test_mypy_checks_every_application_module() -> None:
    targets = mypy_targets(PROJECT_ROOT)
    expected = top_level_code(PROJECT_ROOT) - NOT_TYPE_CHECKED
    assert expected - targets == set(), "add these to `files` in mypy.ini"
    assert targets - expected == set(), "mypy.ini names paths that do not exist"


def test_ruff_knows_every_first_party_module() -> None:
    first_party = ruff_first_party(PROJECT_ROOT)
    expected = top_level_code(PROJECT_ROOT) - NEVER_IMPORTED
    assert expected - first_party == set(), "add these to known-first-party in ruff.toml"
