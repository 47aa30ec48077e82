"""Fixtures of the background-system tests: an app with request metrics on, and helpers to run
the real worker and scheduler processes against the test stores."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import Stores

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def metrics_app(app: Flask) -> Flask:
    """The test app with the request-metrics middleware switched on (as app.py will do)."""
    from services.metrics import init_app

    init_app(app)
    return app


def process_env(stores: Stores, **extra: str) -> dict[str, str]:
    """The environment of a worker/scheduler subprocess: the test stores, testing config."""
    env = dict(os.environ)
    env.update(
        APP_ENV="testing",
        DATABASE_URL=stores.database_url,
        REDIS_URL=stores.redis_url,
        INSTANCE_PATH=stores.instance_path,
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        DHGATE_BASE_URL="http://127.0.0.1:9",
        FLASK_APP="app:create_app",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Processes:
    """Subprocesses started by one test; whatever is still running at the end is killed."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        handle = log.open("wb")
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def processes() -> Iterator[Processes]:
    running = Processes()
    try:
        yield running
    finally:
        running.stop_all()


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    """Poll until ``condition()`` is truthy; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
