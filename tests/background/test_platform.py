"""Platform snapshots, retention, the admin dashboard and the jobs CLI."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import func, select

from extensions import db, get_redis
from models import PlatformMetric, SecurityEvent
from models.metrics import HealthCheck, RequestMetric, TrafficHour
from services import histograms
from services.dashboard_cache import invalidate_dashboard
from services.metrics import Recorder
from services.metrics_flush import flush_metrics
from services.platform import collect_dashboard_metrics, dashboard_metrics, take_snapshot, uptime_percent
from services.queue import discover_jobs, job_exists
from services.retention import prune
from tests.conftest import AuthActions


def _recorder(app: Flask) -> tuple[Recorder, list[float]]:
    import redis

    clock = [datetime.now(UTC).timestamp()]
    recorder = Recorder(
        lambda: redis.Redis.from_url(app.config["REDIS_URL"]), "dhm:", push_seconds=3600, push_samples=10**9,
        buffer_ttl=86400, clock=lambda: clock[0],
    )
    return recorder, clock


def _record_at(recorder: Recorder, clock: list[float], moment: datetime, samples: list[tuple[str, str, float]]) -> None:
    clock[0] = moment.timestamp()
    for endpoint, status, ms in samples:
        recorder.record("http", endpoint, status, ms)
    recorder.push()


def _health_run(at: datetime, *, database_ok: bool) -> None:
    db.session.add_all([
        HealthCheck(name="database", status="ok" if database_ok else "failing", critical=True, response_ms=1.0, checked_at=at),
        HealthCheck(name="redis", status="ok", critical=True, response_ms=1.0, checked_at=at),
        HealthCheck(name="dhgate", status="failing", critical=False, response_ms=1.0, checked_at=at),  # not ours
    ])
    db.session.commit()


# -- snapshots ------------------------------------------------------------------------------

def test_a_snapshot_is_made_of_measured_figures(app: Flask, alice, admin) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    for minutes_ago, ok in ((50, True), (40, False), (30, True), (20, True)):
        _health_run(now - timedelta(minutes=minutes_ago), database_ok=ok)
    _health_run(now - timedelta(hours=30), database_ok=False)  # outside the 24 h window
    recorder, clock = _recorder(app)
    _record_at(recorder, clock, now - timedelta(minutes=2), [("/a", "2xx", 10.0)] * 7 + [("/a", "5xx", 80.0)] * 3)
    _record_at(recorder, clock, now - timedelta(minutes=1), [("static", "2xx", 1.0)] * 50)  # left out of latency
    flush_metrics()

    snapshot = take_snapshot(now)
    assert snapshot.uptime_percent == pytest.approx(75.0)
    assert snapshot.error_rate == pytest.approx(0.3)
    assert 5.0 <= snapshot.response_time_ms <= 10.0  # p50 of seven 10 ms and three 80 ms requests
    assert snapshot.total_users == 2
    assert 0 <= snapshot.cpu_usage <= 100 and 0 < snapshot.memory_usage <= 100 and 0 < snapshot.disk_usage <= 100
    assert db.session.scalar(select(func.count()).select_from(PlatformMetric)) == 1


def test_uptime_is_unknown_without_history(app: Flask) -> None:
    assert uptime_percent(datetime.now(UTC) - timedelta(hours=24)) is None


# -- retention ------------------------------------------------------------------------------

def test_prune_rolls_old_minutes_into_exact_hours_and_is_idempotent(app: Flask) -> None:
    now = datetime.now(UTC)
    old_hour = (now - timedelta(hours=30)).replace(minute=0, second=0, microsecond=0)
    recorder, clock = _recorder(app)
    _record_at(recorder, clock, old_hour + timedelta(minutes=5), [("/a", "2xx", 3.0), ("/a", "2xx", 40.0)])
    _record_at(recorder, clock, old_hour + timedelta(minutes=35), [("/a", "2xx", 900.0), ("/a", "2xx", 12.0)])
    _record_at(recorder, clock, now - timedelta(minutes=3), [("/a", "2xx", 5.0)])
    flush_metrics()
    minute_rows = db.session.scalars(select(RequestMetric).where(
        RequestMetric.grain == "minute", RequestMetric.bucket_start < now - timedelta(hours=24)
    )).all()
    expected_histogram = histograms.merge(*(histograms.from_json(r.histogram) for r in minute_rows))
    expected_sum = sum(r.sum_ms for r in minute_rows)
    assert len(minute_rows) == 2

    first = prune(now)
    second = prune(now)
    assert first.minute_rows_rolled_up == 2 and second.minute_rows_rolled_up == 0

    db.session.expire_all()
    hour = db.session.scalar(select(RequestMetric).where(RequestMetric.grain == "hour"))
    assert hour.bucket_start == old_hour
    assert hour.count == 4 and hour.sum_ms == pytest.approx(expected_sum)
    assert histograms.from_json(hour.histogram) == expected_histogram
    assert hour.min_ms == pytest.approx(3.0) and hour.max_ms == pytest.approx(900.0)
    remaining = db.session.scalars(select(RequestMetric).where(RequestMetric.grain == "minute")).all()
    assert [r.count for r in remaining] == [1]  # the recent minute stays
    total = db.session.scalar(select(RequestMetric).where(RequestMetric.grain == "total"))
    assert total.count == 5  # running totals are never pruned


def test_prune_applies_every_retention(app: Flask, alice) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    _health_run(now - timedelta(days=31), database_ok=True)
    _health_run(now - timedelta(days=29), database_ok=True)
    db.session.add_all([
        SecurityEvent(event="login", user_id=alice.id, created_at=now - timedelta(days=91)),
        SecurityEvent(event="login", user_id=alice.id, created_at=now - timedelta(days=89)),
        PlatformMetric(timestamp=now - timedelta(days=31)),
        PlatformMetric(timestamp=now - timedelta(days=1)),
        RequestMetric(grain="hour", bucket_start=now - timedelta(days=31), kind="http", endpoint="/a", status_class="2xx", count=1),
        RequestMetric(grain="hour", bucket_start=now - timedelta(days=2), kind="http", endpoint="/a", status_class="2xx", count=1),
    ])
    db.session.commit()
    report = prune(now)
    assert (report.health_checks_deleted, report.security_events_deleted, report.platform_metrics_deleted, report.hour_rows_deleted) == (3, 1, 1, 1)
    assert db.session.scalar(select(func.count()).select_from(HealthCheck)) == 3
    assert db.session.scalar(select(func.count()).select_from(SecurityEvent).where(SecurityEvent.event == "login")) == 1
    again = prune(now)
    assert (again.health_checks_deleted, again.security_events_deleted, again.platform_metrics_deleted) == (0, 0, 0)


# -- the dashboard --------------------------------------------------------------------------

def test_the_platform_page_is_for_admins_only(client, auth: AuthActions, alice) -> None:  # noqa: ANN001
    response = client.get("/dashboard/platform")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"] and "next=" in response.headers["Location"]
    auth.login("alice")
    assert client.get("/dashboard/platform").status_code == 403


def test_the_platform_page_says_when_worker_and_scheduler_are_not_running(client, auth: AuthActions, admin) -> None:  # noqa: ANN001
    auth.login("root")
    html = client.get("/dashboard/platform").get_data(as_text=True)
    assert 'data-testid="worker-down"' in html and 'data-testid="scheduler-down"' in html
    assert "No health checks yet" in html  # empty states
    assert 'data-testid="chart-collecting"' in html and "Collecting data: nothing has been recorded yet." in html
    assert 'id="chart-latency"' not in html


def test_one_hour_of_traffic_says_since_when_data_is_collected_instead_of_a_blank_chart(client, auth: AuthActions, admin) -> None:  # noqa: ANN001
    first = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    db.session.add(TrafficHour(hour=now, requests=3, errors=0, min_ms=5.0, max_ms=9.0, histogram={"10": 3}))
    db.session.add(TrafficHour(hour=first, requests=1, errors=0, min_ms=5.0, max_ms=5.0, histogram={"5": 1}))  # outside 24 h
    db.session.commit()
    auth.login("root")
    html = client.get("/dashboard/platform").get_data(as_text=True)
    assert 'id="chart-latency"' not in html  # one point is no line
    assert "Collecting data since Mar 4, 2026" in html


def test_the_platform_page_shows_measured_figures(app: Flask, client, auth: AuthActions, admin) -> None:  # noqa: ANN001
    from services.worker_heartbeat import beat

    now = datetime.now(UTC)
    _health_run(now - timedelta(minutes=1), database_ok=True)
    recorder, clock = _recorder(app)
    _record_at(recorder, clock, now - timedelta(minutes=1), [("/monitors/<int:monitor_id>", "2xx", 20.0)] * 4)
    flush_metrics()
    db.session.add_all([
        PlatformMetric(timestamp=now - timedelta(hours=2), response_time_ms=12.0, uptime_percent=99.5),
        PlatformMetric(timestamp=now - timedelta(hours=1), response_time_ms=18.0, uptime_percent=99.5),
    ])
    db.session.commit()
    beat(get_redis(), "dhm:", "worker-a", {"hostname": "h", "pid": 7, "queues": ["high", "default"]}, ttl=60)
    Queue("polling", connection=get_redis()).enqueue("tests.background.sample_jobs.add", 1, 2)

    auth.login("root")
    html = client.get("/dashboard/platform").get_data(as_text=True)
    assert 'data-testid="worker-down"' not in html
    assert "/monitors/&lt;int:monitor_id&gt;" in html
    assert 'data-testid="kpi-uptime_24h">100.00 %' in html  # the one health run, live (not a snapshot)
    assert "worker-a" in html
    figures = collect_dashboard_metrics()
    assert figures.queues["polling"]["queued"] == 1
    assert figures.traffic_1h.requests == 4 and figures.worker_running is True


def test_dashboard_figures_are_cached_until_invalidated(app: Flask) -> None:
    first = dashboard_metrics()
    db.session.add(PlatformMetric(timestamp=datetime.now(UTC), uptime_percent=12.5))
    db.session.commit()
    assert dashboard_metrics().snapshot is None  # still the cached figures
    invalidate_dashboard()
    assert dashboard_metrics().snapshot["uptime_percent"] == 12.5
    assert first.generated_at <= dashboard_metrics().generated_at


def test_take_snapshot_refreshes_the_dashboard(app: Flask) -> None:
    assert dashboard_metrics().snapshot is None
    take_snapshot()
    assert dashboard_metrics().snapshot is not None


# -- flask jobs -----------------------------------------------------------------------------

def test_flask_jobs_list_shows_queue_timeout_retries_and_schedule(runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["jobs", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[2:]}
    prune_line = lines["jobs.maintenance.prune"]
    assert "maintenance" in prune_line and "1800 s" in prune_line and "2 (60, 300 s)" in prune_line
    assert "prune: cron 17 3 * * * (UTC)" in prune_line
    assert "flush_metrics: every 1m" in lines["jobs.maintenance.flush_metrics"]
    assert "jobs.monitoring.poll_due_monitors" in lines


def test_flask_jobs_list_shows_only_jobs_that_exist(runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["jobs", "list"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.splitlines()[2:]}
    assert listed == set(discover_jobs())
    assert all(job_exists(target) for target in listed)
    assert "not installed" not in result.output


def test_flask_jobs_run_runs_a_job_inline(app: Flask, runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["jobs", "run", "snapshot_platform_metrics"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(PlatformMetric)) == 1


def test_flask_jobs_run_enqueue_queues_it_for_a_worker(app: Flask, runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["jobs", "run", "prune", "--enqueue"])
    assert result.exit_code == 0, result.output
    queued = get_redis().lrange(Queue("maintenance", connection=get_redis()).key, 0, -1)
    assert len(queued) == 1 and queued[0].decode().startswith("prune-manual-")


def test_flask_jobs_run_refuses_unknown_names_in_one_line(runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["jobs", "run", "make_coffee"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: unknown job 'make_coffee'; scheduled jobs: poll_due_monitors, recover_polls, flush_metrics, "
        "snapshot_platform_metrics, run_health_checks, prune, rollup_hours, flush_affiliate_clicks, rollup_affiliate, "
        "deliver_notifications, send_digests"
    ]


def test_flask_metrics_flush(metrics_app: Flask, runner) -> None:  # noqa: ANN001
    metrics_app.test_client().get("/healthz")
    result = runner.invoke(args=["metrics", "flush"])
    assert result.exit_code == 0, result.output
    assert "flushed 1 buffers" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(RequestMetric.count).where(
        RequestMetric.grain == "total", RequestMetric.endpoint == "/healthz"
    )) == 1
