"""The application factory: the one place a DHgate Monitor app is built.

Web (gunicorn via ``wsgi.py``), the RQ worker, the scheduler and the ``flask`` CLI all call
``create_app()``, so they share configuration, models and services. Nothing here runs at import.
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

from config import Config, ConfigError, env_int, select_config
from extensions import init_extensions

PROJECT_ROOT = Path(__file__).resolve().parent


def create_app(config: Mapping[str, Any] | type[Config] | None = None) -> Flask:
    """Build and configure an app.

    ``config`` may be a ``Config`` subclass (its settings are read from the environment) or a
    mapping of overrides applied last, which is how tests pass their database and Redis URLs.
    """
    environ = _environment()
    config_class = config if isinstance(config, type) else select_config(environ)
    overrides = dict(config) if isinstance(config, Mapping) else {}

    app = Flask(__name__, instance_path=_instance_path(environ, overrides))
    app.config.from_mapping(config_class.load(environ))
    app.config.from_mapping(overrides)
    app.config["ENV_NAME"] = config_class.ENV_NAME if not overrides.get("ENV_NAME") else overrides["ENV_NAME"]
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    _resolve_secret_key(app)
    _resolve_database_url(app)
    _resolve_redis_url(app)
    app.config.setdefault("MIGRATIONS_DIR", PROJECT_ROOT / "migrations")

    hops = env_int(environ, "PROXY_FIX_HOPS", 0, minimum=0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    init_extensions(app)
    _init_web(app)
    _register_blueprints(app)
    _register_cli(app)
    _init_metrics(app)
    return app


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


def _resolve_redis_url(app: Flask) -> None:
    """Use ``REDIS_URL``, or start/find the embedded Redis shared through the instance folder."""
    if app.config.get("REDIS_URL"):
        return
    from services.embedded_redis import ensure_embedded_redis

    app.config["REDIS_URL"] = ensure_embedded_redis(app.instance_path)


def _init_web(app: Flask) -> None:
    """Request-layer concerns: URL converters, sessions, languages, security headers, assets, error pages."""
    from services import sessions
    from web import assets, context, errors, i18n, params, security

    params.init_app(app)  # before any blueprint adds a rule with an ``<int:...>`` part
    sessions.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    assets.init_app(app)
    errors.init_app(app)
    context.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from blueprints.admin import bp as admin_bp
    from blueprints.affiliate import bp as affiliate_bp
    from blueprints.api import bp as api_bp
    from blueprints.auth import bp as auth_bp
    from blueprints.dashboard import bp as dashboard_bp
    from blueprints.health import bp as health_bp
    from blueprints.monitoring import bp as monitoring_bp
    from blueprints.notifications import bp as notifications_bp

    app.register_blueprint(dashboard_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(monitoring_bp, url_prefix="/monitors")
    app.register_blueprint(notifications_bp, url_prefix="/notifications")
    app.register_blueprint(affiliate_bp, url_prefix="/affiliate")
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(health_bp)


def _init_metrics(app: Flask) -> None:
    """Request/DB timing. Last: it wraps ``wsgi_app`` and sets ``request_class``."""
    from services import metrics

    metrics.init_app(app)


def _register_cli(app: Flask) -> None:
    from cli import register_commands

    register_commands(app)
