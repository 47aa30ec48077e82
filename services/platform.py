"""The platform's own figures: 5-minute snapshots and the admin dashboard's numbers.

Every figure is measured: latency and error rate from ``request_metrics`` (flushed request
timings), uptime from the history of critical health checks, queue lengths from RQ, worker and
scheduler liveness from their heartbeats, CPU/memory/disk from psutil. ``dashboard_metrics()`` is
cached for ``DASHBOARD_CACHE_SECONDS`` under one key: it is the same for every admin and holds
nothing user-specific.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from flask import current_app
from sqlalchemy import case, func, select

from extensions import db
from models import User
from models.metrics import PlatformMetric, RequestMetric
from services import health_rollup, histograms
from services.dashboard_cache import cached_dashboard, invalidate_dashboard, store_dashboard
from services.health import OverallState, latest_results, overall_state
from services.health_history import CheckHistory, check_histories
from services.queue import queue_counts
from services.schedule_plan import schedule_plan
from services.scheduler import last_outcomes, scheduler_status
from services.supervisor_status import SupervisorStatus, read_status
from services.worker_heartbeat import list_workers

logger = logging.getLogger(__name__)
EXCLUDED_FROM_LATENCY = ("static",)  # static files would make the app look faster than it is


# -- request figures from request_metrics ----------------------------------------------------

@dataclass
class Traffic:
    """HTTP traffic of a recent window (minute rows), static files left out."""

    window_minutes: int
    requests: int = 0
    errors: int = 0  # 5xx
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def per_minute(self) -> float:
        return self.requests / self.window_minutes if self.window_minutes else 0.0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def traffic(window: timedelta, now: datetime | None = None) -> Traffic:
    now = now or datetime.now(UTC)
    since = (now - window).replace(second=0, microsecond=0)
    rows = db.session.execute(
        select(RequestMetric.status_class, RequestMetric.count, RequestMetric.min_ms, RequestMetric.max_ms, RequestMetric.histogram)
        .where(
            RequestMetric.grain == "minute",
            RequestMetric.kind == "http",
            RequestMetric.bucket_start >= since,
            RequestMetric.endpoint.notin_(EXCLUDED_FROM_LATENCY),
        )
    ).all()
    result = Traffic(window_minutes=max(int(window.total_seconds() // 60), 1))
    merged = [0] * histograms.BUCKET_COUNT
    lows, highs = [], []
    for status_class, count, low, high, histogram in rows:
        result.requests += count
        if status_class == "5xx":
            result.errors += count
        merged = histograms.merge(merged, histograms.from_json(histogram))
        if low is not None:
            lows.append(low)
        if high is not None:
            highs.append(high)
    low, high = (min(lows) if lows else None), (max(highs) if highs else None)
    result.p50_ms = histograms.percentile(merged, 0.50, minimum=low, maximum=high)
    result.p95_ms = histograms.percentile(merged, 0.95, minimum=low, maximum=high)
    return result


def traffic_counts(window: timedelta, now: datetime | None = None) -> Traffic:
    """Requests and 5xx of a window, added up by the database (no percentiles: those need every
    row's histogram, which only the short windows read)."""
    now = now or datetime.now(UTC)
    since = (now - window).replace(second=0, microsecond=0)
    requests, errors = db.session.execute(
        select(func.coalesce(func.sum(RequestMetric.count), 0),
               func.coalesce(func.sum(case((RequestMetric.status_class == "5xx", RequestMetric.count), else_=0)), 0))
        .where(RequestMetric.grain == "minute", RequestMetric.kind == "http", RequestMetric.bucket_start >= since,
               RequestMetric.endpoint.notin_(EXCLUDED_FROM_LATENCY))
    ).one()
    return Traffic(window_minutes=max(int(window.total_seconds() // 60), 1), requests=int(requests), errors=int(errors))


@dataclass
class EndpointFigures:
    endpoint: str
    requests: int
    errors: int
    p95_ms: float | None


def busiest_endpoints(window: timedelta, limit: int = 8, now: datetime | None = None) -> list[EndpointFigures]:
    """The endpoints with the most requests in the window, with their own p95.

    The database ranks the endpoints by their summed counts; only the winners' rows are read
    with their histograms, so the cost does not grow with the number of endpoints.
    """
    now = now or datetime.now(UTC)
    since = (now - window).replace(second=0, microsecond=0)
    in_window = (RequestMetric.grain == "minute", RequestMetric.kind == "http", RequestMetric.bucket_start >= since)
    total = func.sum(RequestMetric.count)
    ranked = db.session.execute(
        select(RequestMetric.endpoint, total,
               func.coalesce(func.sum(case((RequestMetric.status_class == "5xx", RequestMetric.count), else_=0)), 0))
        .where(*in_window).group_by(RequestMetric.endpoint).order_by(total.desc(), RequestMetric.endpoint).limit(limit)
    ).all()
    if not ranked:
        return []
    rows = db.session.execute(
        select(RequestMetric.endpoint, RequestMetric.min_ms, RequestMetric.max_ms, RequestMetric.histogram)
        .where(*in_window, RequestMetric.endpoint.in_([name for name, _, _ in ranked]))
    ).all()
    merged: dict[str, list[int]] = {}
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for endpoint, low, high, histogram in rows:
        merged[endpoint] = histograms.merge(merged.get(endpoint, [0] * histograms.BUCKET_COUNT), histograms.from_json(histogram))
        if low is not None:
            lows[endpoint] = min(lows.get(endpoint, low), low)
        if high is not None:
            highs[endpoint] = max(highs.get(endpoint, high), high)
    return [
        EndpointFigures(name, int(requests), int(errors),
                        histograms.percentile(merged.get(name, []), 0.95, minimum=lows.get(name), maximum=highs.get(name)))
        for name, requests, errors in ranked
    ]


# -- uptime from health history --------------------------------------------------------------

def uptime_percent(since: datetime, until: datetime | None = None) -> float | None:
    """Share of health-check runs in [since, until] in which every critical check passed.

    A run is all results stored with one ``checked_at``; ``None`` when there were no runs. Whole
    hours come from the hourly rollup (``services.health_rollup``), the rest from raw results.
    """
    until = until or datetime.now(UTC)
    return health_rollup.uptime(health_rollup.CRITICAL, since, until + timedelta(microseconds=1))


# -- snapshots --------------------------------------------------------------------------------

@dataclass
class SystemUsage:
    cpu: float
    memory: float
    disk: float


def system_usage(disk_path: str | None = None) -> SystemUsage:
    """CPU (sampled over half a second), memory and disk use of the machine running this, in %."""
    return SystemUsage(
        cpu=float(psutil.cpu_percent(interval=0.5)),
        memory=float(psutil.virtual_memory().percent),
        disk=float(psutil.disk_usage(disk_path or current_app.instance_path).percent),
    )


def take_snapshot(now: datetime | None = None) -> PlatformMetric:
    """Write one ``platform_metrics`` row from measured figures."""
    now = now or datetime.now(UTC)
    recent = traffic(timedelta(minutes=5), now)
    usage = system_usage()
    row = PlatformMetric(
        timestamp=now,
        uptime_percent=uptime_percent(now - timedelta(hours=24), now),
        response_time_ms=recent.p50_ms,
        error_rate=recent.error_rate,
        total_users=db.session.scalar(select(func.count()).select_from(User)) or 0,
        cpu_usage=usage.cpu,
        memory_usage=usage.memory,
        disk_usage=usage.disk,
    )
    db.session.add(row)
    db.session.commit()
    invalidate_dashboard()
    return row


# -- the admin dashboard ----------------------------------------------------------------------

@dataclass
class ScheduleRow:
    name: str
    target: str
    trigger: str
    next_run: datetime | None
    last_enqueued_at: datetime | None = None
    last_job_id: str | None = None
    last_status: str | None = None


@dataclass
class DashboardMetrics:
    generated_at: datetime
    snapshot: dict[str, Any] | None = None
    traffic_5m: Traffic | None = None
    traffic_1h: Traffic | None = None
    endpoints: list[EndpointFigures] = field(default_factory=list)
    queues: dict[str, dict[str, int]] | None = None
    workers: list[Any] | None = None
    worker_running: bool | None = None
    scheduler: Any = None
    schedule: list[ScheduleRow] = field(default_factory=list)
    health: list[Any] = field(default_factory=list)
    health_ok: bool | None = None  # no critical check failing (``health_state`` says more)
    health_state: OverallState | None = None  # None until a health check has been recorded
    health_history: list[CheckHistory] = field(default_factory=list)
    supervisor: SupervisorStatus | None = None  # ``scripts/run_all.py``'s view of its processes
    unavailable: list[str] = field(default_factory=list)  # sections that could not be measured


def dashboard_metrics(*, use_cache: bool = True) -> DashboardMetrics:
    """The platform dashboard's figures, cached for ``DASHBOARD_CACHE_SECONDS`` (one key for all
    admins: nothing in it depends on who is looking)."""
    timeout = int(current_app.config["DASHBOARD_CACHE_SECONDS"])
    if use_cache and timeout:
        cached = cached_dashboard()
        if isinstance(cached, DashboardMetrics):
            return cached
    metrics = collect_dashboard_metrics()
    if use_cache and timeout:
        store_dashboard(metrics, timeout)
    return metrics


def collect_dashboard_metrics(now: datetime | None = None) -> DashboardMetrics:
    """Measure every section; a section whose store is down is listed in ``unavailable``."""
    now = now or datetime.now(UTC)
    metrics = DashboardMetrics(generated_at=now)
    sections = (
        ("database", lambda: _database_sections(metrics, now)),
        ("queues", lambda: _queue_sections(metrics)),
        ("scheduler", lambda: _scheduler_sections(metrics, now)),
        ("processes", lambda: setattr(metrics, "supervisor", read_status(current_app.instance_path))),
    )
    for name, fill in sections:
        try:
            fill()
        except Exception:  # noqa: BLE001 - show the rest of the page
            logger.warning("dashboard section %s unavailable", name, exc_info=True)
            if name == "database":
                db.session.rollback()
            metrics.unavailable.append(name)
    return metrics


def _database_sections(metrics: DashboardMetrics, now: datetime) -> None:
    latest = db.session.scalar(select(PlatformMetric).order_by(PlatformMetric.timestamp.desc()).limit(1))
    if latest is not None:
        metrics.snapshot = {
            "timestamp": latest.timestamp, "uptime_percent": latest.uptime_percent,
            "response_time_ms": latest.response_time_ms, "error_rate": latest.error_rate,
            "total_users": latest.total_users, "cpu_usage": latest.cpu_usage,
            "memory_usage": latest.memory_usage, "disk_usage": latest.disk_usage,
        }
    metrics.traffic_5m = traffic(timedelta(minutes=5), now)
    metrics.traffic_1h = traffic_counts(timedelta(hours=1), now)
    metrics.endpoints = busiest_endpoints(timedelta(hours=1), now=now)
    metrics.health = latest_results()
    critical = [c for c in metrics.health if c.critical]
    metrics.health_ok = all(c.status == "ok" for c in critical) if critical else None
    metrics.health_state = overall_state(metrics.health) if metrics.health else None
    metrics.health_history = check_histories(now)


def _queue_sections(metrics: DashboardMetrics) -> None:
    metrics.queues = queue_counts()
    metrics.workers = list_workers()
    metrics.worker_running = any(w.alive for w in metrics.workers)


def _scheduler_sections(metrics: DashboardMetrics, now: datetime) -> None:
    metrics.scheduler = scheduler_status()
    outcomes = last_outcomes()
    rows = []
    for entry in schedule_plan(current_app.config):
        outcome = outcomes.get(entry.job.name)
        rows.append(ScheduleRow(
            name=entry.job.name, target=entry.job.target, trigger=entry.describe(), next_run=entry.next_run(now),
            last_enqueued_at=outcome.enqueued_at if outcome else None,
            last_job_id=outcome.job_id if outcome else None,
            last_status=outcome.status if outcome else None,
        ))
    metrics.schedule = rows
