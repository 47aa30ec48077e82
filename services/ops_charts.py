"""The admin dashboard's charts over 24 h, 7 d or 30 d: the figures per time bucket.

Traffic comes from ``traffic_hours`` (at most 720 rows for 30 days, see
``services.traffic_rollup``); polls, events and health checks are counted by the database in ONE
grouped query each over their time index (the bucket number computed in SQL), so the answer is
one row per bucket and nothing is fetched row by row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, func, select
from sqlalchemy.orm import InstrumentedAttribute

from extensions import db
from models import HealthCheck, PollRun, ProductEvent, TrafficHour
from services import health_rollup, histograms
from services.health import OK
from services.traffic_rollup import HourTotals, as_utc

MIN_POINTS = 2  # one point is no line: fewer say since when data is being collected


@dataclass(frozen=True)
class Window:
    """A chart window: ``buckets`` buckets of ``step`` ending with the current one."""

    key: str
    step: timedelta
    buckets: int

    def edges(self, now: datetime) -> list[datetime]:
        """Bucket starts, oldest first, plus the end of the last (``buckets + 1`` instants)."""
        step_s = int(self.step.total_seconds())
        epoch = int(as_utc(now).timestamp())
        last_start = datetime.fromtimestamp(epoch - epoch % step_s, UTC)
        first = last_start - self.step * (self.buckets - 1)
        return [first + self.step * i for i in range(self.buckets + 1)]


WINDOWS: dict[str, Window] = {
    "24h": Window("24h", timedelta(hours=1), 24),
    "7d": Window("7d", timedelta(hours=4), 42),
    "30d": Window("30d", timedelta(days=1), 30),
}
DEFAULT_WINDOW = "24h"


def window_of(key: str | None) -> Window:
    """The window a query parameter names; anything else is the default (the page never fails
    on a hand-edited URL)."""
    return WINDOWS.get(key or DEFAULT_WINDOW, WINDOWS[DEFAULT_WINDOW])


@dataclass
class TrafficBucket:
    start: datetime
    requests: int = 0
    errors: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass
class Charts:
    """Everything the charts of one window show."""

    window: Window
    edges: list[datetime]
    traffic: list[TrafficBucket] = field(default_factory=list)
    polls: dict[str, list[int]] = field(default_factory=dict)  # outcome -> polls per bucket
    events: list[int] = field(default_factory=list)
    uptime: dict[str, list[float | None]] = field(default_factory=dict)  # check -> % per bucket
    traffic_since: datetime | None = None  # the first hour with traffic at all
    polls_since: datetime | None = None
    health_since: datetime | None = None

    @property
    def traffic_points(self) -> int:
        return sum(1 for bucket in self.traffic if bucket.requests)


def traffic_buckets(window: Window, edges: list[datetime]) -> list[TrafficBucket]:
    """Hour rows merged into the window's buckets (histograms added, percentiles recomputed)."""
    rows = db.session.execute(
        select(TrafficHour.hour, TrafficHour.requests, TrafficHour.errors, TrafficHour.min_ms, TrafficHour.max_ms,
               TrafficHour.histogram)
        .where(TrafficHour.hour >= edges[0], TrafficHour.hour < edges[-1])
    ).all()
    totals = [HourTotals() for _ in range(window.buckets)]
    for hour, requests, errors, low, high, histogram in rows:
        index = _bucket_index(edges, hour)
        if index is None:
            continue
        total = totals[index]
        total.requests += requests
        total.errors += errors
        total.min_ms = low if total.min_ms is None else (total.min_ms if low is None else min(total.min_ms, low))
        total.max_ms = high if total.max_ms is None else (total.max_ms if high is None else max(total.max_ms, high))
        total.buckets = histograms.merge(total.buckets, histograms.from_json(histogram))
    return [
        TrafficBucket(start=edges[i], requests=t.requests, errors=t.errors, p50_ms=t.percentile(0.50),
                      p95_ms=t.percentile(0.95))
        for i, t in enumerate(totals)
    ]


def _bucket_index(edges: list[datetime], moment: datetime) -> int | None:
    moment = as_utc(moment)
    for index in range(len(edges) - 1):
        if edges[index] <= moment < edges[index + 1]:
            return index
    return None


def _bucket_number(column: InstrumentedAttribute[Any], start: datetime, step: timedelta) -> ColumnElement[Any]:
    """Which bucket (0, 1, …) a row's time falls in, computed by the database: seconds since
    ``start`` floor-divided by the bucket's length. The epoch is read the dialect's own way."""
    seconds = int(step.total_seconds())
    if db.engine.dialect.name == "sqlite":
        epoch: ColumnElement[Any] = cast(func.strftime("%s", column), Integer)
    else:
        epoch = cast(func.extract("epoch", column), Integer)
    return (epoch - int(start.timestamp())) // seconds


def bucketed_counts(column: InstrumentedAttribute[Any], edges: list[datetime], *extra: ColumnElement[bool],
                    group_by: InstrumentedAttribute[Any] | None = None,
                    only: ColumnElement[bool] | None = None, since: datetime | None = None) -> dict[Any, list[int]]:
    """Rows per bucket (per value of ``group_by``; ``only``: count just the rows matching it;
    ``since``: only rows from then on), grouped by the database in one query over ``column``'s
    index range."""
    number = _bucket_number(column, edges[0], edges[1] - edges[0]).label("bucket")
    counted = func.count() if only is None else func.coalesce(func.sum(case((only, 1), else_=0)), 0)
    keys = [group_by] if group_by is not None else []
    statement = (
        select(*keys, number, counted)
        .where(column >= max(edges[0], since or edges[0]), column < edges[-1], *extra)
        .group_by(*keys, number)
    )
    result: dict[Any, list[int]] = {}
    for row in db.session.execute(statement).all():
        key, bucket, count = (row[0], row[1], row[2]) if group_by is not None else (None, row[0], row[1])
        values = result.setdefault(key, [0] * (len(edges) - 1))
        if 0 <= int(bucket) < len(values):
            values[int(bucket)] += int(count)
    return result


def polls_per_bucket(edges: list[datetime]) -> dict[str, list[int]]:
    counts = bucketed_counts(PollRun.started_at, edges, PollRun.outcome.is_not(None), group_by=PollRun.outcome)
    return {str(outcome): values for outcome, values in sorted(counts.items(), key=lambda kv: -sum(kv[1])) if sum(values)}


def events_per_bucket(edges: list[datetime]) -> list[int]:
    counts = bucketed_counts(ProductEvent.created_at, edges)
    return counts.get(None, [0] * (len(edges) - 1))


def uptime_per_bucket(edges: list[datetime]) -> dict[str, list[float | None]]:
    """Per check, the share of its runs in each bucket that passed (``None``: no runs): the
    rolled-up hours, plus raw results after where the rollup reaches (buckets start on hours)."""
    size = len(edges) - 1
    runs: dict[str, list[int]] = {}
    passed: dict[str, list[int]] = {}
    reach = edges[0]
    for name, hour, hour_runs, hour_passed, until in health_rollup.hours_between(edges[0], edges[-1]):
        if name == health_rollup.CRITICAL:
            continue
        index = _bucket_index(edges, hour)
        if index is None:
            continue
        runs.setdefault(name, [0] * size)[index] += hour_runs
        passed.setdefault(name, [0] * size)[index] += hour_passed
        reach = max(reach, as_utc(until))
    tail_runs = bucketed_counts(HealthCheck.checked_at, edges, group_by=HealthCheck.name, since=reach)
    tail_passed = bucketed_counts(HealthCheck.checked_at, edges, group_by=HealthCheck.name,
                                  only=HealthCheck.status == OK, since=reach)
    for name, values in tail_runs.items():
        target = runs.setdefault(name, [0] * size)
        target_passed = passed.setdefault(name, [0] * size)
        for index, value in enumerate(values):
            target[index] += value
            target_passed[index] += tail_passed.get(name, [0] * size)[index]
    return {
        str(name): [round(100.0 * ok / n, 2) if n else None for ok, n in zip(passed[name], runs[name], strict=True)]
        for name in sorted(runs)
    }


def first_seen(column: InstrumentedAttribute[Any]) -> datetime | None:
    """The oldest value of an indexed time column (one index lookup)."""
    value: datetime | None = db.session.scalar(select(func.min(column)))
    return value


def build_charts(window: Window, now: datetime | None = None) -> Charts:
    now = now or datetime.now(UTC)
    edges = window.edges(now)
    charts = Charts(window=window, edges=edges)
    charts.traffic = traffic_buckets(window, edges)
    charts.polls = polls_per_bucket(edges)
    charts.events = events_per_bucket(edges)
    charts.uptime = uptime_per_bucket(edges)
    charts.traffic_since = first_seen(TrafficHour.hour)
    charts.polls_since = first_seen(PollRun.started_at)
    charts.health_since = first_seen(HealthCheck.checked_at)
    return charts
