"""Logging in while Redis is down: a clear "try again shortly" page, never a 500.

The login's rate limits and the lockout of unknown names live in Redis; without them a login
cannot be checked safely, so it waits. Everything else keeps working for people already logged
in. The Redis here is real: a throwaway embedded server of this test's own, stopped and started
again.
"""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import User
from services.embedded_redis import ensure_embedded_redis, is_running, socket_path_for
from services.site_settings import set_status_page_public
from tests.conftest import PASSWORD, AuthActions, Stores, csrf_token_from, make_app


class ThrowawayRedis:
    """An embedded Redis server in a folder of its own, to kill and start again at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = ensure_embedded_redis(folder)

    def kill(self) -> None:
        """Stop it the hard way (as a crash or an OOM kill would) and wait until it is gone; then
        remove its socket file, as a server that stops cleanly does."""
        pid_file = self.folder / "redis.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < deadline, "the killed Redis is still running"
        pid_file.unlink(missing_ok=True)
        socket_path_for(self.folder).unlink(missing_ok=True)
        assert not is_running(socket_path_for(self.folder))

    def start(self) -> None:
        assert ensure_embedded_redis(self.folder) == self.url

OFF_BY_DEFAULT = {"/auth/signup"}  # SIGNUP_ENABLED is off unless a site turns it on


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie nobody reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_app(app: Flask, stores: Stores, own_redis: ThrowawayRedis) -> Flask:
    """The product on the test database, with the throwaway Redis as its only Redis (the ``app``
    fixture still empties the database afterwards)."""
    return make_app(stores, REDIS_URL=own_redis.url)


def _post_login(client: FlaskClient, login: str, **headers: str):  # noqa: ANN202
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    return client.post(
        "/auth/login", data={"login": login, "password": PASSWORD, "csrf_token": token}, headers=headers
    )


def test_login_without_redis_asks_to_try_again_shortly(
    redis_app: Flask, own_redis: ThrowawayRedis, alice: User
) -> None:
    member = redis_app.test_client()
    assert AuthActions(member).login("alice").status_code == 302  # with Redis up, it works

    own_redis.kill()
    visitor = redis_app.test_client()
    for login in ("alice", "nobody-by-this-name"):
        response = _post_login(visitor, login)
        assert response.status_code == 503, response.get_data(as_text=True)[:2000]
        page = response.get_data(as_text=True)
        assert "try again" in page.lower()
        assert 'id="login-title"' in page  # in the login page's own layout
        assert response.headers.get("Retry-After")
    as_json = _post_login(visitor, "alice", Accept="application/json")
    assert as_json.status_code == 503 and as_json.is_json and as_json.json["status"] == 503
    in_dutch = _post_login(redis_app.test_client(), "alice", **{"Accept-Language": "nl"})
    assert in_dutch.status_code == 503 and "Inloggen lukt even niet" in in_dutch.get_data(as_text=True)

    for path in ("/dashboard", "/monitors/", "/notifications/", "/auth/sessions"):
        assert member.get(path).status_code == 200, path

    own_redis.start()
    assert _post_login(visitor, "alice").status_code == 302  # back as soon as Redis is


def test_pages_keep_rendering_without_redis(redis_app: Flask, own_redis: ThrowawayRedis, admin: User) -> None:
    """Every page an admin can open (from the URL map) still renders; only readiness says 503."""
    client = redis_app.test_client()
    assert AuthActions(client).login("root").status_code == 302
    with redis_app.app_context():
        set_status_page_public(True, admin.id)  # so /status renders instead of its "off" 404
    own_redis.kill()
    pages = sorted(
        rule.rule for rule in redis_app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and not rule.arguments and rule.endpoint != "static"
    )
    assert len(pages) > 10
    for path in pages:
        response = client.get(path)
        expected = {503} if path == "/readyz" else ({404} if path in OFF_BY_DEFAULT else {200, 302})
        assert response.status_code in expected, (path, response.status_code)


def test_a_page_that_needs_redis_asks_to_try_again(stores: Stores, app: Flask, own_redis: ThrowawayRedis) -> None:
    """Any view whose Redis call fails while Redis is down gets the site's 503 page, not a 500."""
    from extensions import get_redis

    redis_app = make_app(stores, REDIS_URL=own_redis.url)
    redis_app.add_url_rule("/needs-redis", "needs_redis", lambda: str(get_redis().incr("dhm:test:counter")))
    client = redis_app.test_client()
    assert client.get("/needs-redis").status_code == 200
    own_redis.kill()
    response = client.get("/needs-redis")
    assert response.status_code == 503
    assert "Please try again shortly." in response.get_data(as_text=True)
    assert response.headers["Retry-After"]
    as_json = client.get("/needs-redis", headers={"Accept": "application/json"})
    assert as_json.status_code == 503 and as_json.json["status"] == 503
    in_dutch = client.get("/needs-redis", headers={"Accept-Language": "nl"})
    assert "Een dienst die deze pagina nodig heeft, reageert niet." in in_dutch.get_data(as_text=True)
