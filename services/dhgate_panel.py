"""The admin dashboard's DHgate panel: what every worker shares about each DHgate host.

Read straight from the Redis state the fetcher itself keeps (``services.dhgate.breaker``,
``services.dhgate.ratelimit``), with one MGET per host and Redis's own clock, so the figures are
what the next fetch would see; plus the last polls from ``poll_runs``.

With outbound proxies (``DHGATE_PROXIES``) each proxy is a client of its own in DHgate's eyes,
with its own breaker and request budget (``services.dhgate.egress``); the panel lists every
configured egress with its circuit, the cool-down left while DHgate blocks it, and how much of
its budget is taken, read from the same keys the egress uses.
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
from services.dhgate.egress import DIRECT, proxy_label
from services.dhgate.fetcher import FetchSettings
from services.dhgate.ratelimit import MICROS

logger = logging.getLogger(__name__)

LAST_POLLS = 15
_STATE_SUFFIX = f":{pybreaker.CircuitRedisStorage.BASE_NAMESPACE}:state"
_VIA = ":via:"  # between host and proxy in an egress's keys (``services.dhgate.egress``)


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
class EgressPanel:
    """One way out to the configured host (``direct`` or a proxy's host:port)."""

    name: str
    state: str  # closed / open / half-open
    failures: int
    cooldown_seconds: float | None  # while open: seconds until the next trial request
    budget_used: float  # 0..1 of this egress's own burst
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
    egresses: list[EgressPanel] = field(default_factory=list)
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
        name = (_decode(key) or "")[start:-len(_STATE_SUFFIX)]
        if _VIA not in name:  # an egress's own breaker: listed with the egresses
            found.add(name)
    return [configured, *sorted(found - {configured})]


def current_host_key(settings: FetchSettings) -> str:
    """The fetcher's own name for the configured host (``host:port``)."""
    origin = httpx.URL(settings.base_url)
    return f"{origin.host}:{origin.port or ''}"


@dataclass(frozen=True)
class _Circuit:
    state: str
    failures: int
    opened_at: float | None
    budget_used: float
    now: float  # Redis's clock, epoch seconds


def _read_circuit(settings: FetchSettings, client: redis.Redis, name: str) -> _Circuit:
    """Breaker and budget under one key name (a host, or a host via a proxy): one MGET and
    Redis's clock."""
    namespace = f"{settings.key_prefix}dhgate:breaker:{name}"
    base = f"{namespace}:{pybreaker.CircuitRedisStorage.BASE_NAMESPACE}"
    state, failures, opened, tat = client.mget(
        f"{base}:state", f"{base}:fail_counter", f"{namespace}:opened_at", f"{settings.key_prefix}dhgate:rate:{name}",
    )
    seconds, micros = client.time()
    now_us = int(seconds) * MICROS + int(micros)
    interval_us = max(1, round(MICROS / settings.requests_per_second))
    capacity_us = interval_us * max(settings.burst, 1)  # tolerance + one interval
    backlog_us = max(int(_decode(tat) or 0) - now_us, 0)
    return _Circuit(
        state=_decode(state) or pybreaker.STATE_CLOSED, failures=int(_decode(failures) or 0),
        opened_at=float(_decode(opened) or 0) if opened else None,
        budget_used=min(backlog_us / capacity_us, 1.0), now=now_us / MICROS,
    )


def host_panel(settings: FetchSettings, client: redis.Redis, host: str) -> HostPanel:
    circuit = _read_circuit(settings, client, host)
    return HostPanel(
        host=host, state=circuit.state, failures=circuit.failures, opened_at=circuit.opened_at,
        budget_used=circuit.budget_used, requests_per_second=settings.requests_per_second, burst=settings.burst,
    )


def egress_panels(settings: FetchSettings, client: redis.Redis) -> list[EgressPanel]:
    """Every configured egress in the fetcher's order: the proxies, or the direct route."""
    host = current_host_key(settings)
    names = [proxy_label(proxy) for proxy in settings.proxies] or [DIRECT]
    return [egress_panel(settings, client, host, name) for name in names]


def egress_panel(settings: FetchSettings, client: redis.Redis, host: str, name: str) -> EgressPanel:
    circuit = _read_circuit(settings, client, host if name == DIRECT else f"{host}{_VIA}{name}")
    cooldown = None
    if circuit.state == pybreaker.STATE_OPEN and circuit.opened_at is not None:
        cooldown = max(0.0, circuit.opened_at + settings.breaker_reset - circuit.now)
    return EgressPanel(
        name=name, state=circuit.state, failures=circuit.failures, cooldown_seconds=cooldown,
        budget_used=circuit.budget_used, requests_per_second=settings.requests_per_second, burst=settings.burst,
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
    """Hosts and egresses from Redis (a Redis outage is reported, not raised) and the last polls."""
    settings = FetchSettings.from_config(config or current_app.config)
    panel = DhgatePanel(polls=recent_polls())
    try:
        client = get_redis()
        panel.hosts = [host_panel(settings, client, host) for host in host_keys(settings, client)]
        panel.egresses = egress_panels(settings, client)
    except redis.RedisError:
        logger.warning("DHgate panel: Redis unavailable", exc_info=True)
        panel.redis_unavailable = True
    return panel
