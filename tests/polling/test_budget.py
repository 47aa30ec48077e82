"""Demand against the request budget: what the Platform page says and the admins hear (once)."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select, update

from extensions import db, get_redis
from jobs import monitoring as monitoring_jobs
from models import Monitor, Notification
from services.dhgate.ratelimit import HostRateLimiter
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
    app.config["DASHBOARD_CACHE_SECONDS"] = 0  # each visit renders the figures of its moment
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
    assert claim_limit(now, app.config) == 23  # 30 requests a (30 s) tick × 1.5 ÷ 2 pages a poll, rounded up
    make_monitor(alice, kind="product", dhgate_id="1", claimed_until=now + timedelta(minutes=5))
    assert claim_limit(now, app.config) == 22  # minus the polls in flight
    assert poll_concurrency(app.config) == 4  # four seconds of requests in flight
    app.config["DHGATE_REQUESTS_PER_SECOND"] = 100.0
    assert poll_concurrency(app.config) == 32 and claim_limit(now, app.config) == 2000



def test_a_request_woken_up_late_still_leaves_an_interval_after_the_one_before(app: Flask) -> None:
    """The send gate: a sleeper that wakes after the next slot's holder has already sent does not
    follow it straight away; it is held until a full interval after that request."""
    limiter = HostRateLimiter(get_redis(), "dhm:test:gate", 2.0, 1)
    redis_client = get_redis()
    assert limiter.reserve(10).wait == 0  # someone sends right now
    late, on_time = limiter.reserve(10), limiter.reserve(10)  # slots at +0.5 s and +1.0 s
    assert on_time.slot_us - late.slot_us == 500_000
    sent_by_on_time: list[int] = []

    def send_on_time() -> None:
        limiter.wait_for(on_time)
        sent_by_on_time.append(int(redis_client.get(limiter.sent_key)))

    other = threading.Thread(target=send_on_time)
    other.start()
    sleeps: list[float] = []

    def oversleep(seconds: float) -> None:  # the first wake-up comes 0.7 s after the slot
        sleeps.append(seconds)
        time.sleep(seconds + (0.7 if len(sleeps) == 1 else 0.0))

    late_limiter = HostRateLimiter(get_redis(), "dhm:test:gate", 2.0, 1, sleep=oversleep)
    late_limiter.wait_for(late)
    other.join()
    sent_late = int(redis_client.get(limiter.sent_key))
    assert sent_late - sent_by_on_time[0] >= 500_000  # never closer than one interval
    assert len(sleeps) == 2 or sent_late - sent_by_on_time[0] > 500_000  # held, unless it woke later still
