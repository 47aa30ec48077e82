"""Health-check runs per hour: uptime over 30 days without reading 30 days of raw results.

At one run a minute, five checks write 216,000 ``health_checks`` rows in 30 days. Each hour is
counted once into ``health_hours`` (runs and passed runs per check, and under ``@critical`` the
platform's runs: those in which every critical check passed). A count over a window then adds
the stored hours and reads raw rows only for what they do not cover: the part of the first hour
before the window starts, and everything after the last rollup (``counted_until``). The answer
is the same as counting raw rows, at any point in time; before the first rollup it *is* a raw
count. The rollup replaces the hours it recomputes, so running it twice changes nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError

from extensions import db
from models.metrics import HealthCheck, HealthHour
from services.health import OK

logger = logging.getLogger(__name__)

CRITICAL = "@critical"  # the platform: a run passes when every critical check in it passed
HOUR = timedelta(hours=1)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def floor_hour(moment: datetime) -> datetime:
    return _utc(moment).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == _utc(moment) else floor + HOUR


def hour_counts(rows: Iterable[tuple[str, str, bool, datetime]]) -> dict[tuple[str, datetime], list[int]]:
    """(name, status, critical, checked_at) rows as {(name, hour): [runs, passed]}, with the
    platform's runs under ``CRITICAL`` (one run = every result stored with one ``checked_at``)."""
    counts: dict[tuple[str, datetime], list[int]] = {}
    critical_runs: dict[datetime, bool] = {}
    for name, status, critical, checked_at in rows:
        entry = counts.setdefault((name, floor_hour(checked_at)), [0, 0])
        entry[0] += 1
        entry[1] += status == OK
        if critical:
            moment = _utc(checked_at)
            critical_runs[moment] = critical_runs.get(moment, True) and status == OK
    for moment, passed in critical_runs.items():
        entry = counts.setdefault((CRITICAL, floor_hour(moment)), [0, 0])
        entry[0] += 1
        entry[1] += passed
    return counts


def rollup_health_range(start: datetime, end: datetime, now: datetime | None = None) -> int:
    """Recompute the hours in [start, end) in one transaction; returns the rows written."""
    now = _utc(now or datetime.now(UTC))
    start, end = floor_hour(start), floor_hour(end)
    for attempt in range(3):
        rows = db.session.execute(
            select(HealthCheck.name, HealthCheck.status, HealthCheck.critical, HealthCheck.checked_at)
            .where(HealthCheck.checked_at >= start, HealthCheck.checked_at < min(end, now))
        ).all()
        counts = hour_counts(rows)
        db.session.execute(delete(HealthHour).where(HealthHour.hour >= start, HealthHour.hour < end))
        db.session.add_all([
            HealthHour(name=name, hour=hour, runs=runs, passed=passed, counted_until=min(hour + HOUR, now))
            for (name, hour), (runs, passed) in counts.items()
        ])
        try:
            db.session.commit()
            return len(counts)
        except IntegrityError:
            db.session.rollback()
            logger.info("health rollup raced another run (attempt %d); recomputing", attempt + 1)
    raise RuntimeError("health rollup kept racing another run")


def rollup_recent_health(now: datetime | None = None, keep_days: int = 30) -> int:
    """The scheduled job's work: the current hour and the two before it, or back to where the
    stored hours end after the scheduler was down (at most 48 hours); hours past retention go."""
    now = _utc(now or datetime.now(UTC))
    current = floor_hour(now)
    start = current - 2 * HOUR
    last: Any = db.session.scalar(select(func.max(HealthHour.hour)))
    if last is None or _utc(last) < start:
        start = max(_utc(last) if last is not None else current - 48 * HOUR, current - 48 * HOUR)
    written = rollup_health_range(start, current + HOUR, now)
    db.session.execute(delete(HealthHour).where(HealthHour.hour < current - timedelta(days=keep_days)))
    db.session.commit()
    return written


def _raw(name: str, since: datetime, until: datetime) -> tuple[int, int]:
    """Runs and passed runs in [since, until) counted from raw results."""
    if since >= until:
        return 0, 0
    if name != CRITICAL:
        runs, passed = db.session.execute(
            select(func.count(), func.coalesce(func.sum(case((HealthCheck.status == OK, 1), else_=0)), 0))
            .where(HealthCheck.name == name, HealthCheck.checked_at >= since, HealthCheck.checked_at < until)
        ).one()
        return int(runs), int(passed)
    per_run = (
        select(HealthCheck.checked_at, func.max(case((HealthCheck.status != OK, 1), else_=0)).label("failed"))
        .where(HealthCheck.critical.is_(True), HealthCheck.checked_at >= since, HealthCheck.checked_at < until)
        .group_by(HealthCheck.checked_at)
        .subquery()
    )
    runs, failed = db.session.execute(select(func.count(), func.coalesce(func.sum(per_run.c.failed), 0))).one()
    return int(runs), int(runs) - int(failed)


def counted_until(name: str) -> datetime | None:
    """How far the stored hours of ``name`` reach (one index lookup)."""
    value: Any = db.session.scalar(
        select(HealthHour.counted_until).where(HealthHour.name == name).order_by(HealthHour.hour.desc()).limit(1))
    return _utc(value) if value is not None else None


def counts(name: str, since: datetime, until: datetime) -> tuple[int, int]:
    """Runs and passed runs of ``name`` (a check, or ``CRITICAL``) in [since, until)."""
    since, until = _utc(since), _utc(until)
    reach = counted_until(name)
    first_hour = ceil_hour(since)
    if reach is None or reach <= first_hour or reach > until:
        return _raw(name, since, until)
    runs, passed = db.session.execute(
        select(func.coalesce(func.sum(HealthHour.runs), 0), func.coalesce(func.sum(HealthHour.passed), 0))
        .where(HealthHour.name == name, HealthHour.hour >= first_hour, HealthHour.hour < reach)
    ).one()
    head = _raw(name, since, first_hour)
    tail = _raw(name, reach, until)
    return int(runs) + head[0] + tail[0], int(passed) + head[1] + tail[1]


def uptime(name: str, since: datetime, until: datetime) -> float | None:
    """Percentage of passed runs in the window, ``None`` without runs."""
    runs, passed = counts(name, since, until)
    return round(100.0 * passed / runs, 3) if runs else None


def hours_between(start: datetime, end: datetime) -> list[tuple[str, datetime, int, int, datetime]]:
    """(name, hour, runs, passed, counted until) of the stored hours in [start, end)."""
    return [tuple(row) for row in db.session.execute(  # type: ignore[misc]
        select(HealthHour.name, HealthHour.hour, HealthHour.runs, HealthHour.passed, HealthHour.counted_until)
        .where(HealthHour.hour >= start, HealthHour.hour < end)
    ).all()]
