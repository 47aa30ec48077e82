"""Health-check runs per hour: counts over any window equal the raw counts, before and after
the rollup ran, mid-hour or not; recomputing replaces; the uptime figures read it."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from extensions import db
from models import HealthCheck, HealthHour
from services.health_history import check_uptime
from services.health_rollup import CRITICAL, _raw, counts, floor_hour, rollup_health_range, rollup_recent_health
from services.platform import uptime_percent


def _runs(start: datetime, minutes: int, *, failing_every: int = 7) -> None:
    """A run a minute: database (critical, failing every ``failing_every``th), redis (critical),
    dhgate (not critical, always failing)."""
    for minute in range(minutes):
        at = start + timedelta(minutes=minute)
        db.session.add_all([
            HealthCheck(name="database", status="failing" if minute % failing_every == 0 else "ok", critical=True, checked_at=at),
            HealthCheck(name="redis", status="ok", critical=True, checked_at=at),
            HealthCheck(name="dhgate", status="failing", critical=False, checked_at=at),
        ])
    db.session.commit()


def test_windows_count_the_same_from_the_rollup_as_from_raw_results(app: Flask) -> None:
    now = datetime.now(UTC)
    start = floor_hour(now) - timedelta(hours=5, minutes=-17)  # mid-hour, 5 hours back
    _runs(start, int((now - start).total_seconds() // 60))
    windows = [(start + timedelta(minutes=40), now), (start, now), (start - timedelta(days=1), now),
               (now - timedelta(hours=2, minutes=13), now)]
    before = {(name, s): _raw(name, s, now + timedelta(seconds=1)) for name in ("database", CRITICAL, "dhgate") for s, _ in windows}
    assert rollup_health_range(start, now + timedelta(hours=1), now) > 0
    assert db.session.scalar(select(func.count()).select_from(HealthHour)) > 0
    for (name, since), expected in before.items():
        assert counts(name, since, now + timedelta(seconds=1)) == expected, (name, since)
    rollup_health_range(start, now + timedelta(hours=1), now)  # again: replaced, not added
    for (name, since), expected in before.items():
        assert counts(name, since, now + timedelta(seconds=1)) == expected
    _runs(now + timedelta(seconds=10), 1, failing_every=1)  # after the rollup: read raw
    runs, passed = counts("database", start, now + timedelta(minutes=5))
    assert (runs, passed) == (before[("database", start)][0] + 1, before[("database", start)][1])


def test_uptime_figures_read_the_rollup(app: Flask) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(hours=3)
    _runs(start, 180, failing_every=4)  # database fails 45 of 180 runs
    expected_platform = uptime_percent(now - timedelta(hours=24), now)
    expected_check = check_uptime("database", now - timedelta(days=30), now)
    rollup_recent_health(now)
    assert uptime_percent(now - timedelta(hours=24), now) == expected_platform == 75.0
    assert check_uptime("database", now - timedelta(days=30), now) == expected_check == 75.0
    db.session.execute(HealthCheck.__table__.delete().where(HealthCheck.checked_at < floor_hour(now) - timedelta(hours=1)))
    db.session.commit()
    assert check_uptime("database", now - timedelta(days=30), now) == 75.0  # old hours: from the rollup only
