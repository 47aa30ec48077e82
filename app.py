"""The application factory: the one place a DHgate Monitor app is built.

Web (gunicorn via ``wsgi.py``), the RQ worker, the scheduler and the ``flask`` CLI all call
``create_app()``, so they share configuration, models and services. Nothing here runs at import,
and building an app starts no process: without ``REDIS_URL`` the app points at the embedded
Redis of its instance folder, which ``scripts/run_all.py``, the worker and the ``flask`` commands
that use Redis start (``services.embedded_redis``).

The app is built in two halves: the configuration and the ``flask`` commands (cheap), then the
extensions, request layer, blueprints and metrics (``app_parts``), which import SQLAlchemy, the
models and every service. When Flask's ``flask`` command builds the app only to list or look up
its commands (``flask --help``), the second half waits until a command runs (``cli.lazy`` says
how), so ``app_parts`` is imported in ``_build`` rather than at the top of this module: that one
deferred import is what keeps every ``flask`` command quick to start. Everyone else gets the
whole app at once.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from cli import register_commands
from cli.lazy import defer_setup, looking_up_commands
from config import ConfigError, select_config

PROJECT_ROOT = Path(__file__).resolve().parent


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build and configure an app.

    Settings come from the environment (``APP_ENV`` picks the ``Config`` class);
    ``config_overrides`` are applied last, which is how tests pass their database and Redis URLs.
    """
    environ = _environment()
    config_class = select_config(environ)
    overrides = dict(config_overrides or {})

    app = Flask(__name__, instance_path=_instance_path(environ, overrides))
    app.config.from_mapping(config_class.load(environ))
    app.config.from_mapping(overrides)
    app.config["ENV_NAME"] = config_class.ENV_NAME if not overrides.get("ENV_NAME") else overrides["ENV_NAME"]
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    _resolve_secret_key(app)
    _resolve_database_url(app)
    app.config.setdefault("MIGRATIONS_DIR", PROJECT_ROOT / "migrations")

    hops = int(app.config["PROXY_FIX_HOPS"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    register_commands(app)
    if looking_up_commands():
        defer_setup(app, _build)
    else:
        _build(app)
    return app


def _build(app: Flask) -> None:
    """The half of the app that requests, jobs and commands use (see the module docstring for
    why it is imported here)."""
    import app_parts

    app_parts.build(app)


def _environment() -> dict[str, str]:
    """The process environment on top of an optional ``.env`` file (the environment wins)."""
    values = {k: v for k, v in dotenv_values(PROJECT_ROOT / ".env").items() if v is not None}
    values.update(os.environ)
    return values


def _instance_path(environ: Mapping[str, str], overrides: Mapping[str, Any]) -> str:
    path = overrides.get("INSTANCE_PATH") or environ.get("INSTANCE_PATH") or PROJECT_ROOT / "instance"
    return str(Path(path).resolve())


def _resolve_secret_key(app: Flask) -> None:
    """Production refuses to start without SECRET_KEY; elsewhere one is generated once and kept
    in the instance folder, so sessions survive restarts without anyone choosing a secret."""
    if app.config.get("SECRET_KEY"):
        if app.config["ENV_NAME"] == "production" and len(app.config["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
        return
    if app.config["ENV_NAME"] == "production":
        raise ConfigError("SECRET_KEY is required in production (set it in the environment)")
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def _resolve_database_url(app: Flask) -> None:
    url = app.config.get("SQLALCHEMY_DATABASE_URI") or f"sqlite:///{Path(app.instance_path) / 'dhgate_monitor.db'}"
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("sqlite"):
        # SQLite: wait for writers instead of failing with "database is locked".
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
