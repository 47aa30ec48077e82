"""Health checks over time: each check's recent results (a heartbeat bar), its uptime over a
window, daily uptime for the status page, and incidents read back from the transitions.

Everything is derived from ``health_checks`` rows (one per check per run); nothing is stored
twice. Uptime here is per check: the share of its runs in the window that passed. The platform's
own uptime figure (every critical check passing) stays in ``services.platform``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import case, func, select

from extensions import db
from models.metrics import HealthCheck
from services import health_rollup
from services.health import CHECKS, OK

logger = logging.getLogger(__name__)

BEATS_SHOWN = 60  # the heartbeat bar: the last hour of minute runs
STATUS_DAYS = 90  # the status page's bars


@dataclass(frozen=True)
class Beat:
    """One recorded result of one check."""

    status: str
    checked_at: datetime
    response_ms: float | None
    error: str | None


@dataclass(frozen=True)
class CheckHistory:
    """What the platform page shows per check: its last results and its uptime."""

    name: str
    beats: list[Beat]
    uptime_24h: float | None
    uptime_30d: float | None


def recent_beats(name: str, limit: int = BEATS_SHOWN) -> list[Beat]:
    """The last ``limit`` results of a check, oldest first (the bar reads left to right)."""
    rows = db.session.execute(
        select(HealthCheck.status, HealthCheck.checked_at, HealthCheck.response_ms, HealthCheck.error)
        .where(HealthCheck.name == name)
        .order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc())
        .limit(limit)
    ).all()
    return [Beat(*row) for row in reversed(rows)]


def check_uptime(name: str, since: datetime, until: datetime | None = None) -> float | None:
    """Percentage of the check's runs in [since, until] that passed; ``None`` without runs.
    Whole hours come from the hourly rollup (``services.health_rollup``), the rest raw."""
    until = until or datetime.now(UTC)
    return health_rollup.uptime(name, since, until + timedelta(microseconds=1))


def check_histories(now: datetime | None = None) -> list[CheckHistory]:
    """Every known check's bar and its 24-hour and 30-day uptime, in the order of ``CHECKS``."""
    now = now or datetime.now(UTC)
    return [
        CheckHistory(
            name=check.name,
            beats=recent_beats(check.name),
            uptime_24h=check_uptime(check.name, now - timedelta(hours=24), now),
            uptime_30d=check_uptime(check.name, now - timedelta(days=30), now),
        )
        for check in CHECKS
    ]


@dataclass(frozen=True)
class Day:
    """One day of one check on the status page; ``uptime`` is ``None`` when nothing ran."""

    day: date
    uptime: float | None
    runs: int


def daily_uptime(name: str, days: int = STATUS_DAYS, now: datetime | None = None) -> list[Day]:
    """The last ``days`` days (UTC) of a check, oldest first, each day's share of passing runs.

    One grouped query per check: the database counts, Python only fills in the days without runs.
    """
    now = now or datetime.now(UTC)
    first = (now - timedelta(days=days - 1)).date()
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    day_of = func.date(HealthCheck.checked_at)
    rows = db.session.execute(
        select(day_of, func.count(), func.sum(case((HealthCheck.status == OK, 1), else_=0)))
        .where(HealthCheck.name == name, HealthCheck.checked_at >= since)
        .group_by(day_of)
    ).all()
    counted = {str(day)[:10]: (int(runs), int(passed or 0)) for day, runs, passed in rows}
    result = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        runs, passed = counted.get(current.isoformat(), (0, 0))
        result.append(Day(current, round(100.0 * passed / runs, 3) if runs else None, runs))
    return result


@dataclass(frozen=True)
class Incident:
    """A stretch during which a check failed; ``ended_at`` is ``None`` while it still fails."""

    name: str
    critical: bool
    started_at: datetime
    ended_at: datetime | None


def incidents(days: int = STATUS_DAYS, now: datetime | None = None) -> list[Incident]:
    """Incidents of the last ``days`` days, newest first, read from the transitions of each
    check (a result whose status differs from the check's previous one)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    previous = func.lag(HealthCheck.status).over(
        partition_by=HealthCheck.name, order_by=(HealthCheck.checked_at, HealthCheck.id)
    )
    ordered = (
        select(HealthCheck.name, HealthCheck.critical, HealthCheck.status, HealthCheck.checked_at,
               previous.label("previous"))
        .where(HealthCheck.checked_at >= since)
        .subquery()
    )
    changes = db.session.execute(
        select(ordered.c.name, ordered.c.critical, ordered.c.status, ordered.c.checked_at)
        .where((ordered.c.previous.is_(None) & (ordered.c.status != OK)) | (ordered.c.status != ordered.c.previous))
        .order_by(ordered.c.checked_at)
    ).all()
    found: list[Incident] = []
    open_ones: dict[str, Incident] = {}
    for name, critical, status, checked_at in changes:
        if status != OK and name not in open_ones:
            open_ones[name] = Incident(name, bool(critical), checked_at, None)
        elif status == OK and name in open_ones:
            started = open_ones.pop(name)
            found.append(Incident(name, started.critical, started.started_at, checked_at))
    found.extend(open_ones.values())
    return sorted(found, key=lambda i: i.started_at, reverse=True)
