"""When monitors poll: claiming due monitors, backing off after failures, releasing claims.

Claims are conditional updates (``UPDATE … WHERE claimed_until IS NULL OR claimed_until < now``)
whose row count says who won, so any number of schedulers and workers can run this at the same
time without two of them polling the same monitor. A claim is a lease: if the worker that had
it dies, the monitor becomes claimable again when the lease runs out.

The poll job's dotted path, queue and id live here too: the scheduler's job and "check now" in
the web both enqueue polls, and services never import ``jobs`` to learn these names.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, func, or_, select, update

from extensions import db
from models import Monitor

POLL_JOB = "jobs.monitoring.poll_monitor"  # enqueued by dotted path: the web never imports jobs
POLL_QUEUE = "polling"


def poll_job_id(monitor_id: int) -> str:
    """One id per monitor (the same for the scheduler and "check now"): while a poll of a
    monitor is queued, scheduled or running, neither a tick nor a click adds a second one."""
    return f"poll_monitor-{monitor_id}"  # RQ job ids allow letters, digits, "_" and "-" only


@dataclass(frozen=True)
class Claim:
    """A monitor this caller claimed, and the delay its poll should start after."""

    monitor_id: int
    delay_seconds: int


@dataclass(frozen=True)
class ClaimedMonitor:
    """A monitor claimed by a batch claim, with what a batch needs to group and order it."""

    monitor_id: int
    user_id: int
    kind: str
    dhgate_id: str
    next_poll_at: datetime | None

    @property
    def target(self) -> tuple[str, str]:
        """The page(s) it watches: monitors with the same target share one fetch."""
        return self.kind, self.dhgate_id


def due_monitor_ids(now: datetime, limit: int) -> list[int]:
    """Active monitors whose next poll is due (or never set) and that nobody holds a claim on, in
    fair order: round-robin across owners, each owner's most overdue first."""
    return list(db.session.scalars(_fair_due_ids(now, limit)))


def _fair_due_ids(now: datetime, limit: int) -> Select[tuple[int]]:
    """The ids of ``due_monitor_ids`` as a query (a claim uses it as its subquery).

    Each due monitor gets its turn within its owner (1 for the owner's most overdue, 2 for the
    next …); ordering by turn first gives every owner one monitor before anyone gets a second,
    so one member's 500 due monitors cannot push another's 5 behind them when the request
    budget only lets part of them through."""
    overdue_first = (Monitor.next_poll_at.is_not(None), Monitor.next_poll_at, Monitor.id)
    ranked = (
        select(Monitor.id, Monitor.next_poll_at,
               func.row_number().over(partition_by=Monitor.user_id, order_by=overdue_first).label("turn"))
        .where(Monitor.active.is_(True), _is_due(now), _is_unclaimed(now))
        .subquery()
    )
    return (
        select(ranked.c.id)
        .order_by(ranked.c.turn, ranked.c.next_poll_at.is_not(None), ranked.c.next_poll_at, ranked.c.id)
        .limit(limit)
    )


def claim(monitor_id: int, now: datetime, lease_seconds: int) -> bool:
    """Claim one monitor if it is still due and unclaimed; True when this caller won it."""
    result = cast("CursorResult[Any]", db.session.execute(
        update(Monitor)
        .where(Monitor.id == monitor_id, Monitor.active.is_(True), _is_due(now), _is_unclaimed(now))
        .values(claimed_until=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    ))
    return result.rowcount == 1


def claim_due_batch(now: datetime, *, lease_seconds: int, limit: int) -> list[ClaimedMonitor]:
    """Claim up to ``limit`` due monitors in one statement and commit; returns them in fair
    order (``due_monitor_ids``).

    The UPDATE re-checks "due and unclaimed" on every row it takes, so two schedulers claiming
    at once never both win a monitor (PostgreSQL re-reads a row another transaction just
    updated; SQLite has one writer at a time)."""
    if limit <= 0:
        return []
    rows = db.session.execute(
        update(Monitor)
        .where(Monitor.id.in_(_fair_due_ids(now, limit).scalar_subquery()), Monitor.active.is_(True),
               _is_due(now), _is_unclaimed(now))
        .values(claimed_until=now + timedelta(seconds=lease_seconds))
        .returning(Monitor.id, Monitor.user_id, Monitor.kind, Monitor.dhgate_id, Monitor.next_poll_at)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    claimed = [ClaimedMonitor(*row) for row in rows]
    return fair_order(claimed)


def fair_order(claimed: list[ClaimedMonitor]) -> list[ClaimedMonitor]:
    """The fair order of ``_fair_due_ids`` again, in Python (RETURNING keeps no order)."""
    turns: dict[int, int] = {}
    ranked: list[tuple[int, bool, datetime | None, int, ClaimedMonitor]] = []
    for monitor in sorted(claimed, key=_overdue_key):
        turns[monitor.user_id] = turns.get(monitor.user_id, 0) + 1
        ranked.append((turns[monitor.user_id], *_overdue_key(monitor), monitor))
    ranked.sort(key=lambda row: row[:4])
    return [row[4] for row in ranked]


def _overdue_key(monitor: ClaimedMonitor) -> tuple[bool, datetime, int]:
    """Never-polled first, then the earliest due, then the id (as the SQL orders them)."""
    never = monitor.next_poll_at is None
    return (not never, monitor.next_poll_at or datetime.min.replace(tzinfo=UTC), monitor.monitor_id)


def claim_due_monitors(now: datetime, *, lease_seconds: int, spread_seconds: int, limit: int) -> list[Claim]:
    """Claim every due monitor (up to ``limit``) and commit; each comes with a start delay that
    spreads the polls over ``spread_seconds`` (stable per monitor, so load stays even)."""
    return [Claim(claimed.monitor_id, spread_delay(claimed.monitor_id, spread_seconds))
            for claimed in claim_due_batch(now, lease_seconds=lease_seconds, limit=limit)]


def release(monitor_id: int) -> None:
    """Drop a monitor's claim (its poll is over) and commit."""
    db.session.execute(
        update(Monitor).where(Monitor.id == monitor_id).values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def spread_delay(monitor_id: int, spread_seconds: int) -> int:
    """A stable pseudo-random offset in [0, spread_seconds): a thousand monitors due in the same
    minute start evenly across it instead of all in its first second."""
    if spread_seconds <= 0:
        return 0
    return zlib.crc32(f"monitor:{monitor_id}".encode()) % spread_seconds


def backoff_seconds(failures: int, interval: int, cap: int) -> int:
    """How long a failing monitor waits: twice its interval, then four times, never more than
    ``cap`` (unless its own interval is longer: then it simply keeps its interval)."""
    failures = max(1, failures)
    ceiling = max(interval, min(4 * interval, cap))
    return int(min(interval * (2 ** min(failures, 16)), ceiling))


def _is_due(now: datetime) -> ColumnElement[bool]:
    return or_(Monitor.next_poll_at.is_(None), Monitor.next_poll_at <= now)


def _is_unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(Monitor.claimed_until.is_(None), Monitor.claimed_until < now)
