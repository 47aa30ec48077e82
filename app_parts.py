"""The heavy half of the app: Redis URL, extensions, request layer, blueprints and metrics.

``app.create_app`` builds configuration and the ``flask`` command table first and calls
``build`` for the rest, so that ``flask --help`` never has to import SQLAlchemy, the models or
any service (see ``app``'s docstring). Everything a request, a job or a command needs is bound
here, in this order.
"""
from __future__ import annotations

from flask import Flask

from blueprints.admin import bp as admin_bp
from blueprints.affiliate import bp as affiliate_bp
from blueprints.affiliate import go_bp
from blueprints.api import bp as api_bp
from blueprints.auth import bp as auth_bp
from blueprints.dashboard import bp as dashboard_bp
from blueprints.demo import bp as demo_bp
from blueprints.health import bp as health_bp
from blueprints.monitoring import bp as monitoring_bp
from blueprints.notifications import bp as notifications_bp
from extensions import init_extensions
from services import metrics
from services.embedded_redis import embedded_redis_url
from web import assets, context, errors, i18n, login, params, security, session_cookie


def build(app: Flask) -> None:
    """Bind everything requests, jobs and commands use to a configured ``app``."""
    _resolve_redis_url(app)
    init_extensions(app)
    _init_web(app)
    _register_blueprints(app)
    _init_metrics(app)


def _resolve_redis_url(app: Flask) -> None:
    """Use ``REDIS_URL``, or the embedded Redis of the instance folder, *without starting it*:
    the processes that need Redis start it, and a page served while it is down degrades as with
    any Redis outage."""
    if not app.config.get("REDIS_URL"):
        app.config["REDIS_URL"] = embedded_redis_url(app.instance_path)


def _init_web(app: Flask) -> None:
    """Request-layer concerns: URL converters, sessions, languages, security headers, assets,
    error pages."""
    params.init_app(app)  # before any blueprint adds a rule with an ``<int:...>`` part
    session_cookie.init_app(app)
    login.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    assets.init_app(app)
    errors.init_app(app)
    context.init_app(app)


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(monitoring_bp, url_prefix="/monitors")
    app.register_blueprint(notifications_bp, url_prefix="/notifications")
    app.register_blueprint(affiliate_bp, url_prefix="/affiliate")
    app.register_blueprint(go_bp)
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(health_bp)
    if demo_mailbox_enabled(app):
        app.register_blueprint(demo_bp, url_prefix="/demo")


def demo_mailbox_enabled(app: Flask) -> bool:
    """The demo mailbox exists only where the demo runs: ``DEMO_MAIL_DIR`` set, and never in
    production, whatever the environment says."""
    return bool(app.config.get("DEMO_MAIL_DIR")) and app.config.get("ENV_NAME") != "production"


def _init_metrics(app: Flask) -> None:
    """Request/DB timing. Last: it wraps ``wsgi_app`` and sets ``request_class``."""
    metrics.init_app(app)
