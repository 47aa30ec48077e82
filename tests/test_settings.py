"""Settings are declared once (``settings.py``), loaded from there, and documented as declared.

* ``Config.load`` reads every declared setting, with the declared default, type and bounds.
* No ``Config`` attribute repeats a declared setting, and no product code repeats a default
  with ``config.get("NAME", <default>)``.
* The README's configuration table lists every setting with the same default, and nothing else.
"""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import settings
from config import Config, ConfigError, DevelopmentConfig, ProductionConfig, select_config
from settings import SETTINGS, Setting

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IN_CONFIG = [s for s in SETTINGS if s.in_config and s.kind != "schedule"]


def readme_rows() -> dict[str, str]:
    """variable -> default cell of the README's "Configuration" table."""
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        match = re.match(r"^\|\s*`([A-Z0-9_<>]+)`\s*\|(.*?)\|(.*)\|\s*$", line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is documented twice"
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_the_readme_documents_every_setting_with_its_declared_default() -> None:
    documented = readme_rows()
    declared = {variable: shown for variable, shown, _ in settings.documented_rows()}
    assert len(declared) > 50
    missing = sorted(set(declared) - set(documented))
    unknown = sorted(set(documented) - set(declared))
    assert not missing, f"undocumented in README.md (python settings.py prints the rows): {missing}"
    assert not unknown, f"documented in README.md but declared nowhere in settings.py: {unknown}"
    wrong = {v: (documented[v], declared[v]) for v in declared if documented[v] != declared[v]}
    assert wrong == {}, "README default (left) differs from settings.py (right)"


def test_every_setting_is_loaded_with_its_declared_default() -> None:
    loaded = DevelopmentConfig.load({})
    for setting in SETTINGS:
        if setting.in_config:
            assert loaded[setting.name] == settings.default(setting.name), setting.name
        else:
            assert setting.name not in loaded
    assert ProductionConfig.load({})["SESSION_COOKIE_SECURE"] is True  # a subclass's own default
    assert select_config({}) is DevelopmentConfig


def test_no_config_attribute_repeats_a_declared_setting() -> None:
    repeated = [s.name for s in SETTINGS if s.name in vars(Config)]
    assert repeated == []


def _valid_text(setting: Setting) -> tuple[str, Any]:
    """A value other than the default, as the environment would give it, and what it becomes."""
    low = setting.minimum or 0
    if setting.kind == "int":
        return str(int(low) + 7), int(low) + 7
    if setting.kind == "float":
        return str(low + 2.5), low + 2.5
    if setting.kind == "bool":
        return ("no", False) if setting.default else ("yes", True)
    if setting.kind == "choice":
        other = next(c for c in setting.choices if c != setting.default)
        return other.upper(), other
    if setting.kind == "list":
        return "a.example, b.example", ("a.example", "b.example")
    if setting.kind == "url":
        return "http://127.0.0.1:8700/", "http://127.0.0.1:8700"
    if setting.kind == "rates":
        return "Toys = 7.5, default=4", {"toys": Decimal("7.5"), "default": Decimal("4")}
    return "x" * 20, "x" * 20


@pytest.mark.parametrize("setting", IN_CONFIG, ids=[s.name for s in IN_CONFIG])
def test_each_setting_is_read_from_its_variable_and_checked(setting: Setting) -> None:
    text, expected = _valid_text(setting)
    assert DevelopmentConfig.load({setting.variable: text})[setting.name] == expected
    if setting.kind in ("int", "float", "bool"):
        with pytest.raises(ConfigError, match=setting.variable):
            DevelopmentConfig.load({setting.variable: "plenty"})
    if setting.minimum is not None and setting.kind in ("int", "float"):
        with pytest.raises(ConfigError, match=f"{setting.variable} must be at least"):
            DevelopmentConfig.load({setting.variable: str(setting.minimum - 1)})
    if setting.kind == "rates":
        for bad, message in (("toys=7", "needs a default"), ("toys=lots,default=5", "must be a number"),
                             ("toys=150,default=5", "between 0 and 100"), ("toys,default=5", "must look like")):
            with pytest.raises(ConfigError, match=message):
                DevelopmentConfig.load({setting.variable: bad})
    if setting.kind == "secret" and setting.minimum:
        with pytest.raises(ConfigError, match=f"{setting.variable} must be at least"):
            DevelopmentConfig.load({setting.variable: "x" * (int(setting.minimum) - 1)})


PRODUCT = ["app.py", "wsgi.py", "worker.py", "extensions.py", "blueprints", "jobs", "services", "web", "cli"]
# Being split into smaller modules by another change; its one repeated default
# (POLL_CLAIM_LEASE_SECONDS) goes with the split, after which the new modules are scanned.
NOT_YET: set[str] = set()


def test_no_product_code_repeats_a_declared_default() -> None:
    names = "|".join(re.escape(s.name) for s in SETTINGS)
    repeated = re.compile(rf"""config\.get\(\s*["']({names})["']\s*,""")
    found: list[str] = []
    for entry in PRODUCT:
        path = PROJECT_ROOT / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            relative = str(file.relative_to(PROJECT_ROOT))
            if relative in NOT_YET:
                continue
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
                if repeated.search(line):
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert found == [], "read these from the config without a default of their own"
