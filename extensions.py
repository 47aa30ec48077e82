"""Every Flask extension, created unbound here and bound to an app in ``init_extensions``.

Keeping them in one module lets blueprints, services and jobs import ``db`` or ``cache`` without
importing the app, and keeps import free of side effects (house rule 1). Flask-Migrate is the one
exception: it imports Alembic, which only ``flask db`` needs, so ``cli.database`` binds it there.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import redis
from flask import Flask, current_app
from flask_babel import Babel
from flask_caching import Cache
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from redis.maint_notifications import MaintNotificationsConfig
from sqlalchemy import MetaData, Table, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Stable, predictable constraint names, so Alembic migrations generated on SQLite and PostgreSQL
# agree and can drop what they created.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model (Flask-SQLAlchemy builds ``db.Model`` from its body)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    if TYPE_CHECKING:
        # Every model here maps one table (SQLAlchemy only promises some FROM clause).
        __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
babel = Babel()
cache = Cache()
compress = Compress()

REDIS_EXTENSION_KEY = "dhm_redis"


def limiter_storage_uri(redis_url: str) -> str:
    """The ``limits`` library spells a unix-socket Redis ``redis+unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


def redis_client(url: str, **options: Any) -> redis.Redis:
    """A Redis client whose new connections cost as few round trips as they can.

    redis-py 8 sends up to four commands on every new connection before the first real one
    (``HELLO``, ``CLIENT MAINT_NOTIFICATIONS`` for Redis Enterprise's failover hints, two
    ``CLIENT SETINFO`` naming the library, then ``SELECT``). A polling worker's pool grows
    with its busiest moment, so those showed up as a varying share of the round trips per poll
    (``docs/scaling.md``). We need neither the library name in ``CLIENT LIST`` nor the
    maintenance hints (nothing of ours reacts to them), nor a health-check ``PING`` on a
    connection opened a moment ago (``_handshake``): a new connection then says only ``HELLO``
    (and ``SELECT`` for a database other than 0)."""
    return redis.Redis.from_url(url, driver_info=None, redis_connect_func=_handshake,
                                maint_notifications_config=MaintNotificationsConfig(enabled=False), **options)


def _handshake(connection: Any) -> None:
    """redis-py's own handshake, minus the health check before it: with a
    ``health_check_interval`` a connection's first command would otherwise be preceded by a
    ``PING`` (its last answer is "never"), on a socket that has just connected."""
    connection.on_connect_check_health(check_health=False)


def get_redis() -> redis.Redis:
    """The app's shared Redis client (connection-pooled, bytes responses)."""
    return current_app.extensions[REDIS_EXTENSION_KEY]


def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite as a multi-process store: WAL lets readers (web) and the writer (worker) proceed
    together, ``synchronous=NORMAL`` is durable under WAL without an fsync per commit, and
    foreign keys are enforced as on PostgreSQL (SQLite leaves them off by default)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def init_extensions(app: Flask) -> None:
    """Bind every extension to ``app``. ``REDIS_URL`` must already be resolved."""
    redis_url: str = app.config["REDIS_URL"]
    app.extensions[REDIS_EXTENSION_KEY] = redis_client(
        redis_url, socket_connect_timeout=5, socket_timeout=10, health_check_interval=30
    )
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(redis_url))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", app.config["REDIS_KEY_PREFIX"] + "rl")
    # Redis down: the login form's rate limit cannot be counted, so a login answers "try again
    # shortly" (web.errors), never a 500 and never an unlimited login form.
    app.config.setdefault("CACHE_REDIS_URL", redis_url)

    if not event.contains(Engine, "connect", _tune_sqlite):
        event.listen(Engine, "connect", _tune_sqlite)
    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    cache.init_app(app)
    compress.init_app(app)
