"""The public status page's content: each component's current state, 90 days of daily uptime
and the incidents, all from the recorded health checks.

It is shown to anyone when switched on, so it carries no error texts, hosts or timings: only
which part of the service is affected and since when. Anyone can ask for it, so its content is
cached for ``STATUS_PAGE_CACHE_SECONDS``: a burst of visitors costs one set of queries. A cache
outage only costs a recount, never the page.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l

from extensions import cache
from services.health import CHECKS, OverallState, latest_results, overall_state
from services.health_history import STATUS_DAYS, Day, Incident, daily_uptime, incidents

logger = logging.getLogger(__name__)
CACHE_KEY = "status_page:v1"  # bump when the shape of ``StatusPage`` changes

# What visitors read for each check: the part of the service, not the probe.
COMPONENT_LABELS = {
    "database": _l("Website and data"),
    "redis": _l("Logins and queues"),
    "worker": _l("Background checks"),
    "scheduler": _l("Scheduling"),
    "dhgate": _l("Connection to DHgate"),
}


def component_label(name: str) -> str:
    return str(COMPONENT_LABELS.get(name, name))


@dataclass(frozen=True)
class Component:
    """One part of the service. No words in it: the cached page is shared by readers of every
    language, so the template names it (``component_label``) per request."""

    name: str
    status: str | None  # ok / failing; None when never checked
    days: list[Day]

    @property
    def uptime(self) -> float | None:
        """The share of the whole period's days' uptime, weighted by runs."""
        runs = sum(d.runs for d in self.days)
        if not runs:
            return None
        return round(sum((d.uptime or 0.0) * d.runs for d in self.days) / runs, 3)


@dataclass(frozen=True)
class StatusPage:
    generated_at: datetime
    overall: OverallState | None  # None when no check has run yet
    components: list[Component]
    incidents: list[Incident]
    days: int


def status_page() -> StatusPage:
    """The page's content, from the cache while it is fresh."""
    timeout = int(current_app.config["STATUS_PAGE_CACHE_SECONDS"])
    if timeout:
        try:
            cached = cache.get(CACHE_KEY)
        except Exception:  # noqa: BLE001 - a cache outage must not take the page down
            logger.warning("status page cache unavailable", exc_info=True)
            cached = None
        if isinstance(cached, StatusPage):
            return cached
    page = collect_status_page()
    if timeout:
        try:
            cache.set(CACHE_KEY, page, timeout=timeout)
        except Exception:  # noqa: BLE001
            logger.warning("status page cache unavailable", exc_info=True)
    return page


def collect_status_page(now: datetime | None = None) -> StatusPage:
    """Every component's state and daily uptime, and the incidents, measured now."""
    now = now or datetime.now(UTC)
    latest = {c.name: c for c in latest_results()}
    components = [
        Component(
            name=check.name,
            status=latest[check.name].status if check.name in latest else None,
            days=daily_uptime(check.name, STATUS_DAYS, now),
        )
        for check in CHECKS
    ]
    return StatusPage(
        generated_at=now,
        overall=overall_state(latest.values()) if latest else None,
        components=components,
        incidents=incidents(STATUS_DAYS, now),
        days=STATUS_DAYS,
    )
