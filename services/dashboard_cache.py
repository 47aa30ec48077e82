"""The one cache entry behind the admin platform dashboard, and how to forget it.

Health checks (a state transition) and platform snapshots (a new row) both make the cached
figures stale. They live here, below both ``services.health`` and ``services.platform``, so that
each can import this module without importing the other.
"""
from __future__ import annotations

import logging
from typing import Any

from extensions import cache

logger = logging.getLogger(__name__)

# One key for every admin: nothing in the figures depends on who is looking. Bump the version
# when the shape of the cached object changes, so old entries are never unpickled into it.
DASHBOARD_CACHE_KEY = "platform:dashboard:v2"


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
    """Forget the cached figures (after a snapshot or a health transition)."""
    try:
        cache.delete(DASHBOARD_CACHE_KEY)
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
