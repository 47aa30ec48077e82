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
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, or_, select, update

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


def due_monitor_ids(now: datetime, limit: int) -> list[int]:
    """Active monitors whose next poll is due (or never set) and that nobody holds a claim on,
    most overdue first."""
    query = (
        select(Monitor.id)
        .where(Monitor.active.is_(True), _is_due(now), _is_unclaimed(now))
        .order_by(Monitor.next_poll_at.is_not(None), Monitor.next_poll_at, Monitor.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def claim(monitor_id: int, now: datetime, lease_seconds: int) -> bool:
    """Claim one monitor if it is still due and unclaimed; True when this caller won it."""
    result = cast("CursorResult[Any]", db.session.execute(
        update(Monitor)
        .where(Monitor.id == monitor_id, Monitor.active.is_(True), _is_due(now), _is_unclaimed(now))
        .values(claimed_until=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    ))
    return result.rowcount == 1


def claim_due_monitors(now: datetime, *, lease_seconds: int, spread_seconds: int, limit: int) -> list[Claim]:
    """Claim every due monitor (up to ``limit``) and commit; each comes with a start delay that
    spreads the polls over ``spread_seconds`` (stable per monitor, so load stays even)."""
    claims: list[Claim] = []
    for monitor_id in due_monitor_ids(now, limit):
        if claim(monitor_id, now, lease_seconds):
            claims.append(Claim(monitor_id, spread_delay(monitor_id, spread_seconds)))
    db.session.commit()
    return claims


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
