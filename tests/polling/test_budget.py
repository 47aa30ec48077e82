"""Demand against the request budget: what the Platform page says and the admins hear (once)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select, update

from extensions import db
from jobs import monitoring as monitoring_jobs
from models import Monitor, Notification
from services.polling.budget import OVERLOAD_KIND, claim_limit, note_pressure, poll_concurrency, polling_pressure
from tests.conftest import AuthActions
from tests.factories import make_monitor


def _monitors(user, count: int, interval: int, overdue: timedelta) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    for n in range(count):
        make_monitor(user, kind="product", dhgate_id=str(40_000 + n), poll_interval=interval,
                     next_poll_at=now - overdue - timedelta(seconds=n))


def test_pressure_says_how_far_demand_exceeds_the_budget_and_how_far_behind_polling_is(
    app: Flask, alice,  # noqa: ANN001
) -> None:
    app.config["DHGATE_REQUESTS_PER_SECOND"] = 1.0
    _monitors(alice, 90, 60, timedelta(minutes=10))  # 90 a minute × 2 pages (no poll ran yet)
    now = datetime.now(UTC)
    pressure = polling_pressure(now, app.config)
    assert pressure.demand_per_minute == 180.0 and pressure.budget_per_minute == 60.0
    assert pressure.over_budget and round(pressure.excess_percent) == 200
    assert pressure.due == 90
    assert 600 + 89 <= pressure.behind_seconds < 600 + 89 + 5  # the oldest has waited 10 min 89 s


def test_admins_hear_of_an_overload_once_per_incident(app: Flask, alice, admin) -> None:  # noqa: ANN001
    app.config.update(DHGATE_REQUESTS_PER_SECOND=1.0, RQ_SYNC=False, POLL_SPREAD_SECONDS=0)
    _monitors(alice, 90, 60, timedelta(minutes=1))
    for _tick in range(3):
        monitoring_jobs.poll_due_monitors()
    notes = db.session.scalars(select(Notification).where(Notification.kind == OVERLOAD_KIND)).all()
    assert [(n.user_id, n.severity) for n in notes] == [(admin.id, "warning")]
    assert "200 %" in notes[0].title and "180" in notes[0].body
    db.session.execute(update(Monitor).values(poll_interval=86_400))  # demand fits: the incident ends
    db.session.commit()
    monitoring_jobs.poll_due_monitors()
    db.session.execute(update(Monitor).values(poll_interval=60))  # and a new one starts a second later
    db.session.commit()
    later = datetime.now(UTC) + timedelta(seconds=2)
    note_pressure(later, app.config)
    assert len(db.session.scalars(select(Notification).where(Notification.kind == OVERLOAD_KIND)).all()) == 2


def test_the_platform_page_shows_the_budget_and_the_overload(
    app: Flask, client, auth: AuthActions, admin, alice,  # noqa: ANN001
) -> None:
    app.config["DHGATE_REQUESTS_PER_SECOND"] = 1.0
    auth.login("root")
    html = client.get("/dashboard/platform").get_data(as_text=True)
    assert 'data-testid="polling-budget">60<' in html and 'data-testid="polling-over-budget"' not in html
    _monitors(alice, 90, 60, timedelta(minutes=30))
    html = client.get("/dashboard/platform").get_data(as_text=True)
    assert 'data-testid="polling-over-budget"' in html and "Demand is 200 % over the budget" in html
    assert 'data-testid="polling-demand">180<' in html and 'data-testid="polling-due">90<' in html
    assert 'data-testid="polling-behind">31 min<' in html


def test_the_claim_and_the_concurrency_follow_the_budget(app: Flask, alice) -> None:  # noqa: ANN001
    app.config.update(DHGATE_REQUESTS_PER_SECOND=1.0, POLL_CONCURRENCY=32, POLL_BATCH_SIZE=2000)
    now = datetime.now(UTC)
    assert claim_limit(now, app.config) == 45  # 60 requests a tick × 1.5 ÷ 2 pages a poll
    make_monitor(alice, kind="product", dhgate_id="1", claimed_until=now + timedelta(minutes=5))
    assert claim_limit(now, app.config) == 44  # minus the polls in flight
    assert poll_concurrency(app.config) == 4  # four seconds of requests in flight
    app.config["DHGATE_REQUESTS_PER_SECOND"] = 100.0
    assert poll_concurrency(app.config) == 32 and claim_limit(now, app.config) == 2000


def test_a_slot_woken_up_to_too_late_is_given_up_and_another_reserved(app: Flask) -> None:
    """A sleeper that wakes long after its slot would reach DHgate right before the next slot's
    request: it reserves a new slot instead of using the old one."""
    from extensions import get_redis
    from services.dhgate.ratelimit import HostRateLimiter

    now = [0.0]
    oversleep = [0.3, 0.0]  # the first wake-up comes 0.3 s late (more than a quarter interval)

    def sleep(seconds: float) -> None:
        now[0] += seconds + (oversleep.pop(0) if oversleep else 0.0)

    limiter = HostRateLimiter(get_redis(), "dhm:test:late", 2.0, 1, sleep=sleep, monotonic=lambda: now[0])
    first = limiter.acquire(10)
    assert first.granted and first.wait == 0 and not first.late
    second = limiter.acquire(10)
    assert second.granted and not second.late
    assert second.slot_us - first.slot_us == 1_000_000  # the slot at +0.5 s went unused
    assert now[0] >= 0.5 + 0.3 + 0.5 - 0.01  # it slept for both slots
