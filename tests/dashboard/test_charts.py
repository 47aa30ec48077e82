"""The admin charts: the hourly traffic rollup, the 24 h / 7 d / 30 d window switch (a query
parameter, no JavaScript), per-point tooltips, "collecting data since …" and a fixed number of
SQL statements whatever the volume."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from blueprints.dashboard.charts_view import chart_views
from extensions import db
from jobs.maintenance import rollup_hours
from models import HealthCheck, RequestMetric, TrafficHour, User
from services import histograms
from services.ops_charts import WINDOWS, build_charts, window_of
from services.traffic_rollup import hour_of, rollup_range, rollup_recent
from tests.factories import make_monitor
from tests.monitoring.conftest import add_poll_run, browser_for
from tests.sql_count import statements


def _metric(grain: str, at: datetime, endpoint: str, status: str, samples: list[float]) -> None:
    buckets = [0] * histograms.BUCKET_COUNT
    for value in samples:
        buckets[histograms.bucket_index(value)] += 1
    db.session.add(RequestMetric(
        grain=grain, bucket_start=at, kind="http", endpoint=endpoint, status_class=status, count=len(samples),
        sum_ms=sum(samples), min_ms=min(samples), max_ms=max(samples), histogram=histograms.to_json(buckets),
    ))
    db.session.commit()




def test_an_hour_is_its_minute_rows_plus_its_hour_row_and_recomputing_replaces_it(app: Flask) -> None:
    hour = hour_of(datetime.now(UTC)) - timedelta(hours=1)
    _metric("minute", hour + timedelta(minutes=5), "/a", "2xx", [10.0] * 6)
    _metric("minute", hour + timedelta(minutes=59), "/b", "5xx", [200.0] * 2)
    _metric("hour", hour, "/a", "2xx", [20.0] * 2)  # minutes retention already rolled up
    _metric("minute", hour + timedelta(minutes=7), "static", "2xx", [1.0] * 50)  # left out
    _metric("minute", hour + timedelta(hours=1), "/a", "2xx", [10.0])  # the next hour
    assert rollup_range(hour, hour + timedelta(hours=2)) == 2
    row = db.session.get(TrafficHour, hour)
    assert row is not None and (row.requests, row.errors, row.min_ms, row.max_ms) == (10, 2, 10.0, 200.0)
    assert sum(histograms.from_json(row.histogram)) == 10
    rollup_range(hour, hour + timedelta(hours=2))  # again: replaced, not added
    assert db.session.get(TrafficHour, hour).requests == 10
    _metric("minute", hour + timedelta(minutes=30), "/c", "2xx", [30.0] * 5)
    assert rollup_hours()["traffic_hours"] >= 1  # the scheduled job recomputes the recent hours
    db.session.expire_all()
    assert db.session.get(TrafficHour, hour).requests == 15
    assert db.session.scalar(select(func.count()).select_from(TrafficHour)) == 2


def test_the_window_switch_is_a_query_parameter(app: Flask, admin: User) -> None:
    now = datetime.now(UTC)
    for hours_ago, requests in ((0, 4), (1, 6), (30, 8)):
        hour = hour_of(now) - timedelta(hours=hours_ago)
        db.session.add(TrafficHour(hour=hour, requests=requests, errors=1, min_ms=5.0, max_ms=90.0,
                                   histogram={"10": requests - 1, "100": 1}))
    db.session.commit()
    client = browser_for(app, "root")
    day = client.get("/dashboard/platform").get_data(as_text=True)
    assert re.search(r'href="/dashboard/platform\?window=24h" aria-current="page"', day)
    bars = re.findall(r'<rect class="bar [^"]*"[^>]*><title>([^<]+)</title>', _figure(day, "requests"))
    assert len(bars) == 24 and sum(int(re.search(r"(\d+) requests", b).group(1)) for b in bars) == 10
    assert len(re.findall(r"<circle[^>]*><title>[^<]*p95", _figure(day, "latency"))) == 2
    month = client.get("/dashboard/platform?window=30d").get_data(as_text=True)
    assert re.search(r'href="/dashboard/platform\?window=30d" aria-current="page"', month)
    bars = re.findall(r"<title>([^<]+ requests)</title>", _figure(month, "requests"))
    assert len(bars) == 30 and sum(int(re.search(r"(\d+) requests", b).group(1)) for b in bars) == 18
    odd = client.get("/dashboard/platform?window=1y")
    assert odd.status_code == 200 and 'window=24h" aria-current="page"' in odd.get_data(as_text=True)


def _figure(html: str, key: str) -> str:
    start = html.index(f'data-chart="{key}"')
    return html[start:html.index("</figure>", start)]


def test_too_little_data_says_since_when_never_a_blank_box(app: Flask, admin: User) -> None:
    first = datetime(2026, 2, 1, 9, tzinfo=UTC)
    db.session.add(TrafficHour(hour=first, requests=1, errors=0, min_ms=5.0, max_ms=5.0, histogram={"5": 1}))
    db.session.commit()
    html = browser_for(app, "root").get("/dashboard/platform").get_data(as_text=True)
    latency = _figure(html, "latency")
    assert "<svg" not in latency and "Collecting data since Feb 1, 2026" in latency
    for key in ("latency", "errors", "requests", "polls", "events", "uptime"):
        figure = _figure(html, key)
        assert "<svg" in figure or "Collecting data" in figure, key


def test_charts_have_accessible_titles_and_a_tooltip_per_point(app: Flask, alice: User) -> None:
    # Half past an hour gone by: the checks 2 h and 2 h 1 min earlier share one hour bucket
    # whatever the minute the test runs at.
    now = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=30, second=0, microsecond=0)
    shop = make_monitor(alice)
    for hours_ago, outcome in ((1, "ok"), (2, "ok"), (2, "blocked"), (3, "ok")):
        add_poll_run(shop, outcome, started_at=now - timedelta(hours=hours_ago))
    for hours_ago in (1, 2):
        db.session.add(HealthCheck(name="redis", status="ok", critical=True, checked_at=now - timedelta(hours=hours_ago)))
    db.session.add(HealthCheck(name="redis", status="failing", critical=True, checked_at=now - timedelta(hours=2, minutes=1)))
    db.session.commit()
    charts = build_charts(WINDOWS["24h"], now)
    assert sum(charts.polls["ok"]) == 3 and sum(charts.polls["blocked"]) == 1
    assert sorted(v for v in charts.uptime["redis"] if v is not None) == [50.0, 100.0]
    with app.test_request_context():
        views = {view.key: view for view in chart_views(charts)}
    polls = str(views["polls"].svg)
    assert 'role="img"' in polls and '<title id="chart-polls-title">Polls by outcome</title>' in polls
    assert len(re.findall(r"<circle[^>]*><title>[^<]*Up to date, \d+ polls</title>", polls)) == 24
    assert "<title>" in str(views["uptime"].svg) and "redis up 50.00 %" in str(views["uptime"].svg)


def test_charts_cost_the_same_statements_at_any_volume(app: Flask, alice: User) -> None:
    shop = make_monitor(alice)
    now = datetime.now(UTC)
    window = window_of("30d")
    with statements() as few:
        build_charts(window, now)
    for day in range(30):
        add_poll_run(shop, "ok", started_at=now - timedelta(days=day))
        db.session.add(TrafficHour(hour=hour_of(now) - timedelta(days=day), requests=3, errors=0, histogram={"10": 3}))
    db.session.commit()
    with statements() as many:
        charts = build_charts(window, now)
    assert len(few) == len(many) == 9
    assert sum(charts.polls["ok"]) == 30 and sum(b.requests for b in charts.traffic) == 90


def test_the_rollup_catches_up_after_a_pause_and_forgets_hours_past_retention(app: Flask) -> None:
    now = datetime.now(UTC)
    current = hour_of(now)
    db.session.add(TrafficHour(hour=current - timedelta(hours=10), requests=1, errors=0, histogram={"10": 1}))
    db.session.add(TrafficHour(hour=current - timedelta(days=40), requests=1, errors=0, histogram={"10": 1}))
    db.session.commit()
    _metric("minute", current - timedelta(hours=7, minutes=-3), "/a", "2xx", [10.0] * 4)  # missed while paused
    rollup_recent(now, keep_days=30)
    hours = {row.hour: row.requests for row in db.session.scalars(select(TrafficHour))}
    assert hours.get(current - timedelta(hours=7)) == 4
    assert current - timedelta(days=40) not in hours
