"""The admin dashboard's KPI cards: each number checked against rows the test wrote, on the page
and in the live JSON (with its ETag), admins only."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import AdminSession, Delivery, HealthCheck, Monitor, Notification, PlatformMetric, RequestMetric, User
from services.dashboard_cache import invalidate_dashboard
from services.kpi import measure_kpis, start_of_week
from services.ops_dashboard import live_figures
from tests.conftest import PASSWORD
from tests.factories import make_monitor, make_user
from tests.monitoring.conftest import add_event, add_poll_run, add_product, browser_for


def _card(html: str, key: str) -> str:
    match = re.search(rf'data-testid="kpi-{key}">([^<]*)<', html)
    assert match, f"no card {key}"
    return match.group(1).strip()


def _deliveries(user: User, now: datetime) -> None:
    note = Notification(user_id=user.id, kind="price_drop", title="t", body="")
    db.session.add(note)
    db.session.flush()
    rows = [
        ("sent", now, now),
        ("sent", now, now),
        ("sent", now - timedelta(days=2), now - timedelta(days=2)),  # not today
        ("failed", now, None),
        ("failed", now - timedelta(days=2), None),  # not today
        ("pending", now, None),
    ]
    for index, (status, created, sent) in enumerate(rows):
        db.session.add(Delivery(notification_id=note.id, channel="email", target=f"t{index}@example.com",
                                status=status, created_at=created, sent_at=sent))
    db.session.commit()


@pytest.fixture
def busy_platform(app: Flask, admin: User, alice: User) -> dict[str, object]:
    """Users, monitors, polls, events, deliveries and health checks with known counts."""
    now = datetime.now(UTC)
    week_start = start_of_week(now)
    # Users: root + alice (created now), an old active one, an old idle one, one seen via a session.
    old = make_user("old_active", created_at=week_start - timedelta(days=30), last_login_at=now - timedelta(days=2))
    make_user("old_idle", created_at=week_start - timedelta(days=30), last_login_at=now - timedelta(days=20))
    seen = make_user("session_only", created_at=week_start - timedelta(days=30))
    db.session.add(AdminSession(token="a" * 64, user_id=seen.id, expires_at=now + timedelta(days=1),
                                last_seen_at=now - timedelta(hours=1)))
    alice.last_login_at = now
    db.session.commit()
    shop = make_monitor(alice, name="Shop")
    make_monitor(alice, dhgate_id="2", name="Paused", active=False)
    late = make_monitor(old, dhgate_id="3", name="Late", next_poll_at=now - timedelta(minutes=7))
    make_monitor(old, dhgate_id="4", name="Claimed", next_poll_at=now - timedelta(minutes=30),
                 claimed_until=now + timedelta(minutes=5))
    for outcome in ("ok", "ok", "ok", "blocked"):
        add_poll_run(shop, outcome)
    add_poll_run(late, "timeout")
    add_poll_run(shop, "ok", started_at=now - timedelta(hours=30))  # outside 24 h
    lamp = add_product(shop, "1", "Lamp", "9.95")
    add_event(shop, lamp, "new_product")
    add_event(shop, lamp, "price_drop", old="12", new="9.95")
    add_event(shop, lamp, "price_rise", at=now - timedelta(days=2))  # not today
    _deliveries(alice, now)
    for minutes, status in ((10, "ok"), (5, "failing"), (1, "ok"), (0, "ok")):
        db.session.add(HealthCheck(name="database", status=status, critical=True, checked_at=now - timedelta(minutes=minutes)))
    db.session.add(PlatformMetric(timestamp=now - timedelta(minutes=2), cpu_usage=42.5))
    db.session.commit()
    return {"now": now}


def test_each_card_counts_what_the_test_created(app: Flask, busy_platform: dict[str, object]) -> None:
    kpis = measure_kpis()
    # root and alice were created now; alice, old_active and session_only were active this week
    assert (kpis.users.total, kpis.users.active_7d, kpis.users.new_this_week) == (5, 3, 2)
    assert kpis.active_monitors == 3
    assert kpis.polls_24h == {"ok": 3, "blocked": 1, "timeout": 1}
    assert kpis.lag.overdue == 1 and 7 * 60 - 5 <= kpis.lag_seconds <= 7 * 60 + 60  # "Late"; "Claimed" is claimed
    assert kpis.events_today == 2
    assert (kpis.delivered_today, kpis.failed_today) == (2, 1)
    assert kpis.uptime_24h == 75.0 and kpis.uptime_30d == 75.0
    assert kpis.cpu == 42.5 and kpis.memory is not None and kpis.disk is not None


def test_the_page_shows_the_cards_with_their_windows(app: Flask, busy_platform: dict[str, object]) -> None:
    html = browser_for(app, "root").get("/dashboard/platform").get_data(as_text=True)
    assert _card(html, "users_total") == "5" and _card(html, "users_active_7d") == "4"  # root just logged in
    assert _card(html, "users_new_week") == "2" and _card(html, "events_today") == "2"
    assert _card(html, "delivered_today") == "2"
    assert _card(html, "active_monitors") == "3"
    assert _card(html, "polls_24h") == "5"
    assert re.search(r'data-outcome="blocked">[^<]*: <span data-outcome-count>1<', html)
    assert _card(html, "uptime_24h") == "75.00 %" and _card(html, "cpu") == "42.5 %"
    assert _card(html, "failed_today") == "1"
    assert _card(html, "polling_lag_seconds") in ("7 min", "8 min")
    for window in ("last 24 hours", "last 30 days", "last 5 minutes", "this week (since Monday, UTC)", "today (UTC)"):
        assert window in html
    assert 'data-testid="blocked-rate"' in html and "20.0 %" in html  # 1 blocked of 5 polls


def test_users_are_counted_live_not_from_a_snapshot(app: Flask, admin: User) -> None:
    db.session.add(PlatformMetric(timestamp=datetime.now(UTC), total_users=99))
    db.session.commit()
    assert measure_kpis().users.total == 1
    make_user("newcomer")
    assert measure_kpis().users.total == 2


def test_live_json_is_for_admins_and_answers_304_to_its_etag(app: Flask, busy_platform: dict[str, object]) -> None:
    anonymous: FlaskClient = app.test_client()
    assert anonymous.get("/dashboard/platform/live.json", headers={"Accept": "application/json"}).status_code == 401
    assert anonymous.get("/dashboard/platform/live.json").status_code == 302  # a browser: the login page
    member = browser_for(app, "alice").get("/dashboard/platform/live.json")
    assert member.status_code == 403 and member.json == {"error": "the platform figures are for admins only"}
    client = browser_for(app, "root")
    first = client.get("/dashboard/platform/live.json")
    assert first.status_code == 200
    assert first.json["kpis"]["users_total"] == 5 and first.json["kpis"]["polls_24h_by_outcome"]["blocked"] == 1
    etag = first.headers["ETag"]
    again = client.get("/dashboard/platform/live.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    stale = client.get("/dashboard/platform/live.json", headers={"If-None-Match": '"not-it"'})
    assert stale.status_code == 200


def test_live_figures_are_cached_and_the_page_and_json_agree(app: Flask, busy_platform: dict[str, object]) -> None:
    client = browser_for(app, "root")
    page = client.get("/dashboard/platform").get_data(as_text=True)
    make_user("late_arrival")  # within the cache's 30 s the figures stay as measured
    payload = client.get("/dashboard/platform/live.json").json
    assert payload["kpis"]["users_total"] == 5 == int(_card(page, "users_total"))
    assert f'data-etag="{live_figures().etag}"' in page
    assert live_figures(use_cache=False).kpis.users.total == 6


def test_inactive_monitors_and_claimed_ones_do_not_count_as_lag(app: Flask, alice: User) -> None:
    now = datetime.now(UTC)
    make_monitor(alice, next_poll_at=now + timedelta(minutes=5))
    assert measure_kpis().lag.overdue == 0 and measure_kpis().lag_seconds == 0.0
    db.session.execute(db.update(Monitor).values(next_poll_at=now - timedelta(seconds=90)))
    db.session.commit()
    assert measure_kpis().lag.overdue == 1


def test_each_admin_browser_gets_its_own_kept_page_until_the_figures_change(app: Flask, admin: User) -> None:
    make_user("root2", role="admin", password=PASSWORD)
    first, second = browser_for(app, "root"), browser_for(app, "root2")
    page = first.get("/dashboard/platform").get_data(as_text=True)
    make_user("newcomer")
    assert first.get("/dashboard/platform").get_data(as_text=True) == page  # kept: the same bytes
    other = second.get("/dashboard/platform").get_data(as_text=True)
    tokens = {re.search(r'name="csrf_token" value="([^"]+)"', html).group(1) for html in (page, other)}
    assert len(tokens) == 2  # no admin is ever served another's form tokens
    assert '<summary>root2</summary>' in other and '<summary>root2</summary>' not in page
    invalidate_dashboard()  # a snapshot or a health transition
    assert _card(first.get("/dashboard/platform").get_data(as_text=True), "users_total") == "3"


def test_traffic_cards_read_the_last_five_minutes_of_request_metrics(app: Flask, admin: User) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    def metric(at: datetime, endpoint: str, status: str, count: int, ms: float) -> None:
        db.session.add(RequestMetric(
            grain="minute", bucket_start=at, kind="http", endpoint=endpoint, status_class=status, count=count,
            sum_ms=count * ms, min_ms=ms, max_ms=ms, histogram={"25": count}))

    metric(now - timedelta(minutes=2), "/monitors/", "2xx", 8, 20.0)
    metric(now - timedelta(minutes=1), "/monitors/<int:monitor_id>", "5xx", 2, 20.0)
    metric(now - timedelta(minutes=1), "static", "2xx", 500, 1.0)  # static files are left out
    metric(now - timedelta(minutes=30), "/monitors/", "5xx", 40, 900.0)  # outside the window
    db.session.commit()
    kpis = measure_kpis()
    assert kpis.traffic is not None
    assert (kpis.traffic.requests, kpis.traffic.errors) == (10, 2)
    assert kpis.traffic.per_minute == 2.0 and kpis.traffic.error_rate == 0.2
    assert kpis.traffic.p50_ms == 20.0 and kpis.traffic.p95_ms == 20.0
    html = browser_for(app, "root").get("/dashboard/platform").get_data(as_text=True)
    assert _card(html, "p50_ms") == "20 ms" and _card(html, "p95_ms") == "20 ms"
    assert _card(html, "error_rate") == "20.00 %" and _card(html, "requests_per_minute") == "2.0"
    assert 0.0 <= kpis.memory <= 100.0 and 0.0 <= kpis.disk <= 100.0
