"""Shared fixtures: ``app``, ``client``, ``runner``, ``db``, ``auth`` and the people of the tests.

The suite runs against real stores. By default a SQLite file and an embedded Redis server in a
temporary folder; with ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` set (as CI does) against the
machine's PostgreSQL and Redis. The schema is created once per run; after every test all tables
are emptied and the test Redis database is flushed, so each test starts clean.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

os.environ["APP_ENV"] = "testing"  # before any app is built; never read at import elsewhere


@dataclass(frozen=True)
class Stores:
    database_url: str
    redis_url: str
    instance_path: str


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    base = tmp_path_factory.mktemp("stores")
    embedded_dir: Path | None = None
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        from services.embedded_redis import ensure_embedded_redis

        embedded_dir = base / "redis"
        redis_url = ensure_embedded_redis(embedded_dir)
    database_url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{base / 'test.db'}"
    yield Stores(database_url=database_url, redis_url=redis_url, instance_path=str(base / "instance"))
    if embedded_dir is not None:
        from services.embedded_redis import stop_embedded_redis

        stop_embedded_redis(embedded_dir)


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context, as in production.

    The ``app`` fixture keeps an app context pushed for the whole test, and Flask reuses a pushed
    context for requests, so without this ``g`` (Flask-Login's cached user, Flask-WTF's cached
    CSRF token) would carry over from one request, and one browser, to the next.
    """

    def open(self, *args: Any, **kwargs: Any):  # noqa: ANN201
        with self.application.app_context():
            return super().open(*args, **kwargs)


def make_app(stores: Stores, **overrides: object) -> Flask:
    """An app wired to the test stores; extra settings as keyword arguments."""
    from app import create_app

    config = {
        "SQLALCHEMY_DATABASE_URI": stores.database_url,
        "REDIS_URL": stores.redis_url,
        "INSTANCE_PATH": stores.instance_path,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "SERVER_NAME": None,
        "DHGATE_BASE_URL": "http://127.0.0.1:9",  # never the internet; tests point it at a sandbox
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(scope="session")
def _schema(stores: Stores) -> None:
    """Create every table once per run (dropping leftovers of an earlier run first)."""
    from extensions import db

    app = make_app(stores)
    with app.app_context():
        import models  # noqa: F401  (registers every table)

        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()
        db.engine.dispose()


def _empty_stores(app: Flask) -> None:
    from extensions import db, get_redis

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        get_redis().flushdb()
        db.engine.dispose()


@pytest.fixture
def app(stores: Stores, _schema: None) -> Iterator[Flask]:
    app = make_app(stores)
    ctx = app.app_context()
    ctx.push()
    try:
        yield app
    finally:
        ctx.pop()
        _empty_stores(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask):  # noqa: ANN201 - Flask-SQLAlchemy's db object
    from extensions import db

    return db


# People of the tests (healthchecks' alice/bob/charlie): an owner, another member, an admin.
PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(app: Flask):  # noqa: ANN201
    from tests.factories import make_user

    return make_user("alice", password=PASSWORD)


@pytest.fixture
def bob(app: Flask):  # noqa: ANN201
    from tests.factories import make_user

    return make_user("bob", password=PASSWORD)


@pytest.fixture
def admin(app: Flask):  # noqa: ANN201
    from tests.factories import make_user

    return make_user("root", password=PASSWORD, role="admin")


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


class AuthActions:
    """Log in and out through the real form, CSRF token included (flaskr's ``auth``)."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def csrf_token(self, path: str = "/auth/login") -> str:
        return csrf_token_from(self._client.get(path).get_data(as_text=True))

    def login(self, login: str = "alice", password: str = PASSWORD, remember: bool = False, **extra: str):  # noqa: ANN201
        data = {"login": login, "password": password, "csrf_token": self.csrf_token()}
        if remember:
            data["remember"] = "y"
        data.update(extra)
        return self._client.post("/auth/login", data=data)

    def logout(self):  # noqa: ANN201
        token = self.csrf_token("/dashboard")
        return self._client.post("/auth/logout", data={"csrf_token": token})

    def post(self, path: str, data: dict | None = None, *, token_from: str | None = None, **kwargs):  # noqa: ANN201
        """POST a form the way the browser would: with the CSRF token of a page the user sees."""
        payload = dict(data or {})
        payload.setdefault("csrf_token", self.csrf_token(token_from or "/dashboard"))
        return self._client.post(path, data=payload, **kwargs)


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """A real sandbox marketplace on 127.0.0.1 (own port, fresh catalog, no faults): 4 stores of
    30 products (two store pages each), deterministic for the seed."""
    from sandbox import SandboxServer

    server = SandboxServer(seed=7, stores=4, products_per_store=30).start()
    try:
        yield server
    finally:
        server.stop()
