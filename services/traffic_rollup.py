"""Hourly HTTP traffic for the admin charts: one ``traffic_hours`` row per hour.

The charts of 24 h, 7 d and 30 d must not read every minute row of every endpoint (at 50
endpoints that is 2 million rows for 30 days). An hour's row is recomputed from
``request_metrics``: the hour's minute rows plus its hour row (retention moves minutes there
when they age out, deleting them in the same transaction, so the two never overlap). A
recomputation *replaces* the row, so the job can run any number of times, at once or late.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from extensions import db
from models.metrics import RequestMetric, TrafficHour
from services import histograms

logger = logging.getLogger(__name__)

EXCLUDED_ENDPOINTS = ("static",)  # static files would make the app look faster than it is
RECENT_HOURS = 2  # each run refreshes the current hour and this many before it
CATCH_UP_HOURS = 48  # after the scheduler was down, hours missed are filled in this far back


@dataclass
class HourTotals:
    """One hour's traffic, every endpoint together."""

    requests: int = 0
    errors: int = 0
    min_ms: float | None = None
    max_ms: float | None = None
    buckets: list[int] = field(default_factory=lambda: [0] * histograms.BUCKET_COUNT)

    def add(self, status_class: str, count: int, low: float | None, high: float | None, histogram: Any) -> None:
        self.requests += int(count or 0)
        if status_class == "5xx":
            self.errors += int(count or 0)
        if low is not None:
            self.min_ms = low if self.min_ms is None else min(self.min_ms, low)
        if high is not None:
            self.max_ms = high if self.max_ms is None else max(self.max_ms, high)
        self.buckets = histograms.merge(self.buckets, histograms.from_json(histogram))

    def percentile(self, share: float) -> float | None:
        return histograms.percentile(self.buckets, share, minimum=self.min_ms, maximum=self.max_ms)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def hour_of(moment: datetime) -> datetime:
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


def totals_by_hour(rows: Iterable[tuple[datetime, str, int, float | None, float | None, Any]]) -> dict[datetime, HourTotals]:
    """(bucket start, status class, count, min, max, histogram) rows added up per hour."""
    hours: dict[datetime, HourTotals] = {}
    for bucket_start, status_class, count, low, high, histogram in rows:
        hours.setdefault(hour_of(bucket_start), HourTotals()).add(status_class, count, low, high, histogram)
    return hours


def _source_rows(start: datetime, end: datetime) -> list[Any]:
    """The minute rows of [start, end) and the hour rows starting in it, static files left out."""
    return list(db.session.execute(
        select(RequestMetric.bucket_start, RequestMetric.status_class, RequestMetric.count,
               RequestMetric.min_ms, RequestMetric.max_ms, RequestMetric.histogram)
        .where(
            or_(and_(RequestMetric.grain == "minute", RequestMetric.bucket_start >= start,
                     RequestMetric.bucket_start < end),
                and_(RequestMetric.grain == "hour", RequestMetric.bucket_start >= start,
                     RequestMetric.bucket_start < end)),
            RequestMetric.kind == "http",
            RequestMetric.endpoint.notin_(EXCLUDED_ENDPOINTS),
        )
    ).all())


def store_hours(hours: dict[datetime, HourTotals], now: datetime | None = None) -> int:
    """Write (replace) the given hours' rows in one transaction; returns how many were written."""
    now = now or datetime.now(UTC)
    for hour, totals in sorted(hours.items()):
        row = db.session.get(TrafficHour, hour)
        if row is None:
            row = TrafficHour(hour=hour)
            db.session.add(row)
        row.requests, row.errors = totals.requests, totals.errors
        row.min_ms, row.max_ms = totals.min_ms, totals.max_ms
        row.histogram = histograms.to_json(totals.buckets)
        row.updated_at = now
    db.session.commit()
    return len(hours)


def rollup_range(start: datetime, end: datetime, now: datetime | None = None) -> int:
    """Recompute every hour in [start, end) (hours without traffic get no row); returns the
    number of hour rows written. A concurrent run inserting the same hour first is retried."""
    start, end = hour_of(start), hour_of(end)
    for attempt in range(3):
        hours = totals_by_hour(_source_rows(start, end))
        try:
            return store_hours(hours, now)
        except IntegrityError:
            db.session.rollback()
            logger.info("traffic rollup raced another run (attempt %d); recomputing", attempt + 1)
    raise RuntimeError("traffic rollup kept racing another run")


def rollup_recent(now: datetime | None = None, keep_days: int = 30) -> int:
    """The scheduled job's work: the current hour and the ``RECENT_HOURS`` before it, reaching
    back to the last stored hour after a pause of the scheduler (at most ``CATCH_UP_HOURS``);
    hours older than ``keep_days`` are deleted, as retention deletes their source rows."""
    now = now or datetime.now(UTC)
    current = hour_of(now)
    start = current - timedelta(hours=RECENT_HOURS)
    last: datetime | None = db.session.scalar(select(func.max(TrafficHour.hour)))
    if last is None or as_utc(last) < start:
        start = max(as_utc(last) if last else current - timedelta(hours=CATCH_UP_HOURS),
                    current - timedelta(hours=CATCH_UP_HOURS))
    written = rollup_range(start, current + timedelta(hours=1), now)
    db.session.execute(delete(TrafficHour).where(TrafficHour.hour < current - timedelta(days=keep_days)))
    db.session.commit()
    return written
