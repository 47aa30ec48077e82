"""A revoked session is logged out on its very next request in every web worker: real gunicorn
with two worker processes on the test stores, a browser logged in over HTTP, the session revoked
from another process (this one), and the workers' own access log naming which process answered."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask

from models import User
from services.sessions import revoke_user_sessions
from tests.conftest import PASSWORD, Stores, csrf_token_from

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUNICORN = PROJECT_ROOT / ".venv" / "bin" / "gunicorn"
PID_LINE = re.compile(r"^pid=(\d+) status=(\d+)$")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Workers:
    """gunicorn with two sync workers; ``answered()`` reads (pid, status) per request from the
    access log the server writes to its stdout."""

    def __init__(self, stores: Stores, secret_key: str) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        env = {
            **os.environ, "APP_ENV": "testing", "DATABASE_URL": stores.database_url, "REDIS_URL": stores.redis_url,
            "INSTANCE_PATH": stores.instance_path, "SECRET_KEY": secret_key, "DHGATE_BASE_URL": "http://127.0.0.1:9",
        }
        self.process = subprocess.Popen(
            [str(GUNICORN), "app:create_app()", "--bind", self.url.removeprefix("http://"), "--workers", "2",
             "--worker-class", "sync", "--access-logfile", "-", "--access-logformat", "pid=%(p)s status=%(s)s"],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self._lines: list[tuple[int, int]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            match = PID_LINE.match(line.strip().replace("<", "").replace(">", ""))
            if match:
                self._lines.append((int(match.group(1)), int(match.group(2))))

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "gunicorn exited"
            try:
                httpx.get(self.url + "/auth/login", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("gunicorn did not answer within 60 s")

    def answered(self) -> list[tuple[int, int]]:
        time.sleep(0.3)  # the access log line follows the response
        return list(self._lines)

    def stop(self) -> None:
        """SIGTERM: the master stops its workers too (a killed master would leave them running)."""
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def workers(app: Flask, stores: Stores) -> Iterator[Workers]:
    server = Workers(stores, app.config["SECRET_KEY"])
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _log_in(url: str, login: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=10)
    token = csrf_token_from(browser.get("/auth/login").text)
    response = browser.post("/auth/login", data={"login": login, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text[:300]
    return browser


def _until_both_workers_answered(workers: Workers, browser: httpx.Client, since: int) -> list[tuple[int, int]]:
    """Requests from a fresh connection each (so either worker may accept) until both answered."""
    for _ in range(200):
        with httpx.Client(base_url=workers.url, cookies=browser.cookies, timeout=10) as fresh:
            fresh.get("/dashboard")
        seen = workers.answered()[since:]
        if len({pid for pid, _ in seen}) == 2:
            return seen
    raise AssertionError("one gunicorn worker answered every request")


def test_a_revoked_session_is_refused_by_every_worker_at_once(
    app: Flask, stores: Stores, alice: User, workers: Workers,
) -> None:
    browser = _log_in(workers.url, "alice")
    before = _until_both_workers_answered(workers, browser, len(workers.answered()))
    assert {status for _, status in before} == {200}  # both workers have served the live session

    revoke_user_sessions(alice.id, "revoked")  # another process ends it
    after = _until_both_workers_answered(workers, browser, len(workers.answered()))
    assert {status for _, status in after} == {302}  # every worker, from the very next request
