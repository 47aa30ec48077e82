"""Building the app starts no process; the processes that need Redis start the embedded one.

``create_app()`` only points ``REDIS_URL`` at the embedded server's socket when none is set. The
worker and the ``flask`` commands that use Redis start it; pages served while it is not running
degrade as with any Redis outage, never with a 500.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from services.embedded_redis import embedded_redis_url, is_running, socket_path_for, stop_embedded_redis
from tests.background.conftest import BIN, PROJECT_ROOT, process_env
from tests.conftest import AuthActions, Stores, make_app


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "instance"
    try:
        yield folder
    finally:
        stop_embedded_redis(folder)


def _without_redis(stores: Stores, instance: Path) -> Flask:
    """An app on the test database whose Redis is the (not started) embedded one of ``instance``."""
    return make_app(stores, REDIS_URL=None, INSTANCE_PATH=str(instance), RATELIMIT_ENABLED=True)


def test_create_app_points_at_the_embedded_redis_without_starting_it(stores: Stores, instance: Path) -> None:
    app = _without_redis(stores, instance)
    assert app.config["REDIS_URL"] == embedded_redis_url(app.instance_path)
    assert not is_running(socket_path_for(app.instance_path))


@pytest.mark.parametrize("command", [["metrics", "flush"], ["scheduler", "jobs"], ["jobs", "run", "prune", "--enqueue"]])
def test_commands_that_use_redis_start_the_embedded_one(
    app: Flask, stores: Stores, instance: Path, command: list[str],
) -> None:
    other = _without_redis(stores, instance)
    with other.app_context():  # the command runs in this app, not the test app pushed by ``app``
        result = other.test_cli_runner().invoke(args=command)
    assert result.exit_code == 0, result.output
    assert is_running(socket_path_for(other.instance_path))


def test_database_only_commands_start_no_redis(app: Flask, stores: Stores, instance: Path) -> None:
    other = _without_redis(stores, instance)
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    assert not is_running(socket_path_for(other.instance_path))


def test_pages_served_while_the_embedded_redis_is_down_are_not_errors(
    app: Flask, stores: Stores, instance: Path, alice, admin,  # noqa: ANN001
) -> None:
    other = _without_redis(stores, instance)
    client = other.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    login_page = client.get("/auth/login")
    assert login_page.status_code == 200 and 'name="password"' in login_page.get_data(as_text=True)
    response = AuthActions(client).login("root")  # its rate limit cannot be counted
    assert response.status_code == 503
    assert "try again shortly" in response.get_data(as_text=True)
    assert not is_running(socket_path_for(other.instance_path))


def test_worker_py_starts_the_embedded_redis_when_no_redis_url_is_set(stores: Stores, instance: Path) -> None:
    env = process_env(stores, INSTANCE_PATH=str(instance))
    env.pop("REDIS_URL")
    result = subprocess.run([str(BIN / "python"), "worker.py", "--burst"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert is_running(socket_path_for(instance))
