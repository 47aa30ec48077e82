"""The admin dashboard's DHgate panel: what every worker shares about each DHgate host.

Read straight from the Redis state the fetcher itself keeps (``services.dhgate.breaker``,
``services.dhgate.ratelimit``), with one MGET per host and Redis's own clock, so the figures are
what the next fetch would see; plus the last polls from ``poll_runs``.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pybreaker
import redis
from flask import current_app
from sqlalchemy import select

from extensions import db, get_redis
from models import Monitor, PollRun
from services.dhgate.fetcher import FetchSettings
from services.dhgate.ratelimit import MICROS

logger = logging.getLogger(__name__)

LAST_POLLS = 15
_STATE_SUFFIX = f":{pybreaker.CircuitRedisStorage.BASE_NAMESPACE}:state"


@dataclass
class HostPanel:
    """One host as every worker sees it."""

    host: str
    state: str  # closed / open / half-open
    failures: int
    opened_at: float | None  # epoch seconds, when the circuit last opened
    budget_used: float  # 0..1: share of the burst the reserved slots already take
    requests_per_second: float
    burst: int


@dataclass
class RecentPoll:
    monitor_id: int
    monitor_name: str
    started_at: datetime
    outcome: str | None
    http_status: int | None
    duration_ms: int | None


@dataclass
class DhgatePanel:
    hosts: list[HostPanel] = field(default_factory=list)
    polls: list[RecentPoll] = field(default_factory=list)
    redis_unavailable: bool = False


def _decode(raw: Any) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


def host_keys(settings: FetchSettings, client: redis.Redis) -> list[str]:
    """The configured host first, then any other host a worker has breaker state for."""
    configured = current_host_key(settings)
    found = {configured}
    pattern = f"{settings.key_prefix}dhgate:breaker:*{_STATE_SUFFIX}"
    start = len(f"{settings.key_prefix}dhgate:breaker:")
    for key in client.scan_iter(match=pattern, count=200):
        name = _decode(key) or ""
        found.add(name[start:-len(_STATE_SUFFIX)])
    return [configured, *sorted(found - {configured})]


def current_host_key(settings: FetchSettings) -> str:
    """The fetcher's own name for the configured host (``host:port``)."""
    origin = httpx.URL(settings.base_url)
    return f"{origin.host}:{origin.port or ''}"


def host_panel(settings: FetchSettings, client: redis.Redis, host: str) -> HostPanel:
    namespace = f"{settings.key_prefix}dhgate:breaker:{host}"
    base = f"{namespace}:{pybreaker.CircuitRedisStorage.BASE_NAMESPACE}"
    state, failures, opened, tat = client.mget(
        f"{base}:state", f"{base}:fail_counter", f"{namespace}:opened_at", f"{settings.key_prefix}dhgate:rate:{host}",
    )
    seconds, micros = client.time()
    now_us = int(seconds) * MICROS + int(micros)
    interval_us = max(1, round(MICROS / settings.requests_per_second))
    capacity_us = interval_us * max(settings.burst, 1)  # tolerance + one interval
    backlog_us = max(int(_decode(tat) or 0) - now_us, 0)
    return HostPanel(
        host=host, state=_decode(state) or pybreaker.STATE_CLOSED, failures=int(_decode(failures) or 0),
        opened_at=float(_decode(opened) or 0) if opened else None,
        budget_used=min(backlog_us / capacity_us, 1.0),
        requests_per_second=settings.requests_per_second, burst=settings.burst,
    )


def recent_polls(limit: int = LAST_POLLS) -> list[RecentPoll]:
    rows = db.session.execute(
        select(PollRun.monitor_id, Monitor.name, PollRun.started_at, PollRun.outcome, PollRun.http_status,
               PollRun.duration_ms)
        .join(Monitor, Monitor.id == PollRun.monitor_id)
        .order_by(PollRun.started_at.desc(), PollRun.id.desc()).limit(limit)
    ).all()
    return [RecentPoll(*row) for row in rows]


def dhgate_panel(config: Mapping[str, Any] | None = None) -> DhgatePanel:
    """Hosts from Redis (a Redis outage is reported, not raised) and the last polls."""
    settings = FetchSettings.from_config(config or current_app.config)
    panel = DhgatePanel(polls=recent_polls())
    try:
        client = get_redis()
        panel.hosts = [host_panel(settings, client, host) for host in host_keys(settings, client)]
    except redis.RedisError:
        logger.warning("DHgate panel: Redis unavailable", exc_info=True)
        panel.redis_unavailable = True
    return panel
