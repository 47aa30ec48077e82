"""The one cache entry behind the admin platform dashboard, and how to forget it.

Health checks (a state transition) and platform snapshots (a new row) both make the cached
figures stale. They live here, below both ``services.health`` and ``services.platform``, so that
each can import this module without importing the other.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import current_app
from redis.exceptions import RedisError

from extensions import cache, get_redis
from services import pubsub_mirror

logger = logging.getLogger(__name__)

# One key for every admin: nothing in the figures depends on who is looking. Bump the version
# when the shape of the cached object changes, so old entries are never unpickled into it.
DASHBOARD_CACHE_KEY = "platform:dashboard:v2"
# Changed by every invalidation: kept pages (``blueprints.dashboard.page_cache``) name the
# generation they were drawn in, so one write drops them all.
GENERATION_KEY = "platform:generation"


def cached_dashboard() -> Any | None:
    """The cached figures, or ``None`` (also when the cache cannot be reached: the page is then
    computed afresh instead of failing)."""
    try:
        return cache.get(DASHBOARD_CACHE_KEY)
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        logger.warning("dashboard cache unavailable", exc_info=True)
        return None


def store_dashboard(figures: Any, timeout: int) -> None:
    """Keep ``figures`` for ``timeout`` seconds; a cache outage only costs the next page a recount."""
    try:
        cache.set(DASHBOARD_CACHE_KEY, figures, timeout=timeout)
    except Exception:  # noqa: BLE001
        logger.warning("dashboard cache unavailable", exc_info=True)


def invalidate_dashboard() -> None:
    """Forget the cached figures and every kept page (after a snapshot, a health transition or
    a change of maintenance mode)."""
    try:
        cache.delete(DASHBOARD_CACHE_KEY)
        cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=0)
        pubsub_mirror.bump_and_learn(get_redis(), [generation_redis_key()])
    except Exception:  # noqa: BLE001
        logger.warning("could not invalidate the dashboard cache", exc_info=True)


def cached_value(key: str) -> Any | None:
    """Another cached part of the dashboard (its live cards, a window's charts), or ``None``."""
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        logger.warning("dashboard cache unavailable", exc_info=True)
        return None


def store_value(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout=timeout)
    except Exception:  # noqa: BLE001
        logger.warning("dashboard cache unavailable", exc_info=True)


def dashboard_generation_key() -> str:
    return GENERATION_KEY


def generation_redis_key() -> str:
    """A counter bumped by every ``invalidate_dashboard`` beside the cache's own generation, for
    readers that only compare it: the platform page reads it with the session check
    (``web.login.prefetched``), from the pub/sub mirror where Redis is local."""
    return f"{current_app.config['REDIS_KEY_PREFIX']}{GENERATION_KEY}:n"


def raw_generation() -> bytes | None:
    """The counter's value (``None`` when there is none yet, or Redis cannot answer)."""
    try:
        value = pubsub_mirror.read(get_redis(), [generation_redis_key()])[0]
    except RedisError as exc:  # no traceback kept: it would hold this request's frames
        logger.warning("dashboard cache unavailable (%s)", type(exc).__name__)
        return None
    return value if isinstance(value, bytes) else None


def cached_values(*keys: str) -> list[Any]:
    """Several cached entries in one round trip (``None`` for each missing one, and for all of
    them when the cache cannot be reached)."""
    try:
        return list(cache.get_many(*keys))
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        logger.warning("dashboard cache unavailable", exc_info=True)
        return [None] * len(keys)
