"""The admin dashboard's live figures and charts, each cached for ``DASHBOARD_CACHE_SECONDS``.

The live figures (KPI cards and the DHgate panel) are one cache entry shared by the page and
its JSON endpoint, so both show the same measurement; the endpoint's ETag is a digest of that
entry's JSON form, so a poller gets ``304 Not Modified`` until the next measurement. Charts are
cached per window. Nothing in any entry depends on which admin is looking. Each entry names the
cache generation it was measured in, so ``invalidate_dashboard`` drops them all at once.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from services.dashboard_cache import cached_values, dashboard_generation_key, store_value
from services.dhgate_panel import DhgatePanel, dhgate_panel
from services.kpi import Kpis, measure_kpis
from services.ops_charts import Charts, Window, build_charts

LIVE_KEY = "platform:live:v2"
CHARTS_KEY = "platform:charts:v2:"


@dataclass
class LiveFigures:
    kpis: Kpis
    dhgate: DhgatePanel
    payload: dict[str, Any]
    etag: str


def _timeout() -> int:
    return int(current_app.config["DASHBOARD_CACHE_SECONDS"])


def _kept(key: str) -> tuple[Any, Any]:
    """A kept entry if it belongs to the current generation (``invalidate_dashboard`` starts a
    new one), and that generation; one round trip for both."""
    generation, entry = cached_values(dashboard_generation_key(), key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == generation:
        return entry[1], generation
    return None, generation


def live_figures(*, use_cache: bool = True) -> LiveFigures:
    """The cards and the DHgate panel, from the cache when it holds them."""
    timeout = _timeout() if use_cache else 0
    generation = None
    if timeout:
        kept, generation = _kept(LIVE_KEY)
        if isinstance(kept, LiveFigures):
            return kept
    kpis = measure_kpis()
    panel = dhgate_panel()
    payload = live_payload(kpis, panel)
    figures = LiveFigures(kpis=kpis, dhgate=panel, payload=payload, etag=etag_of(payload))
    if timeout:
        store_value(LIVE_KEY, (generation, figures), timeout)
    return figures


def charts(window: Window, *, use_cache: bool = True) -> Charts:
    timeout = _timeout() if use_cache else 0
    key = CHARTS_KEY + window.key
    generation = None
    if timeout:
        kept, generation = _kept(key)
        if isinstance(kept, Charts):
            return kept
    built = build_charts(window)
    if timeout:
        store_value(key, (generation, built), timeout)
    return built


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def live_payload(kpis: Kpis, panel: DhgatePanel) -> dict[str, Any]:
    """The JSON the page's script reads: raw numbers keyed like the cards' ``data-kpi``."""
    traffic = kpis.traffic
    return {
        "measured_at": kpis.measured_at.isoformat(),
        "max_age": _timeout(),
        "kpis": {
            "uptime_24h": kpis.uptime_24h,
            "uptime_30d": kpis.uptime_30d,
            "p50_ms": traffic.p50_ms if traffic else None,
            "p95_ms": traffic.p95_ms if traffic else None,
            "error_rate": traffic.error_rate if traffic else None,
            "requests_per_minute": traffic.per_minute if traffic else None,
            "users_total": kpis.users.total,
            "users_active_7d": kpis.users.active_7d,
            "users_new_week": kpis.users.new_this_week,
            "active_monitors": kpis.active_monitors,
            "polls_24h": kpis.polls_24h_total,
            "polls_24h_by_outcome": kpis.polls_24h,
            "polling_lag_seconds": kpis.lag_seconds,
            "overdue_monitors": kpis.lag.overdue,
            "events_today": kpis.events_today,
            "delivered_today": kpis.delivered_today,
            "failed_today": kpis.failed_today,
            "cpu": kpis.cpu,
            "cpu_at": _iso(kpis.cpu_at),
            "memory": kpis.memory,
            "disk": kpis.disk,
        },
        "dhgate": [
            {"host": h.host, "state": h.state, "failures": h.failures, "budget_used": h.budget_used}
            for h in panel.hosts
        ],
    }


def etag_of(payload: dict[str, Any]) -> str:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:32]
