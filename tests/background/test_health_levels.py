"""The platform's three health levels (healthy, degraded, down) decided from real check results,
the same on the Platform page, ``/readyz`` and ``flask health``; per-check history and uptime."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from extensions import db, get_redis
from models.metrics import HealthCheck
from services.health import DEGRADED, DOWN, HEALTHY, overall_state, record_results, run_and_record, run_checks
from services.health_history import check_uptime, daily_uptime, incidents, recent_beats
from services.scheduler import SchedulerRunner, scheduler_status
from services.worker_heartbeat import beat
from tests.background.conftest import wait_for
from tests.background.test_health import FakeDHgate, dhgate  # noqa: F401  (the fixture)
from tests.conftest import PASSWORD, AuthActions, Stores, _empty_stores, make_app
from tests.factories import make_user


@pytest.fixture
def scheduler(app: Flask) -> Iterator[SchedulerRunner]:
    """A real scheduler, active in a thread of this process until the test ends."""
    runner = SchedulerRunner(app)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: scheduler_status().running, 15, "the scheduler to become active")
        yield runner
    finally:
        runner.stop()
        thread.join(timeout=15)


def _worker_alive() -> None:
    beat(get_redis(), "dhm:", "worker-1", {"hostname": "here", "pid": 1, "queues": ["default"]}, ttl=60)


def _platform_state(client: FlaskClient) -> str:
    html = client.get("/dashboard/platform").get_data(as_text=True)
    marker = 'data-testid="health-state" data-state="'
    assert marker in html, "the platform page shows no health state"
    return html.split(marker, 1)[1].split('"', 1)[0]


def _cli_state(runner: FlaskCliRunner) -> tuple[str, int, str]:
    result = runner.invoke(args=["health"])
    line = next(line for line in result.output.splitlines() if line.startswith("state: "))
    return line.removeprefix("state: "), result.exit_code, result.output


# -- one decision ---------------------------------------------------------------------------

def test_the_three_levels_from_real_checks(app: Flask, stores: Stores, dhgate: FakeDHgate, scheduler: SchedulerRunner) -> None:  # noqa: F811
    _worker_alive()
    assert overall_state(run_checks()).state == HEALTHY

    dhgate.status = 503
    degraded = overall_state(run_checks())
    assert degraded.state == DEGRADED and degraded.failing == ("dhgate",)
    assert degraded.reasons() == ["DHgate unreachable: nothing is being polled"]

    broken = make_app(stores, REDIS_URL="redis://127.0.0.1:1/0", DHGATE_BASE_URL=dhgate.url)
    with broken.app_context():
        down = overall_state(run_checks())
    assert down.state == DOWN and down.failing[0] == "redis"  # critical failures come first


def test_a_stopped_worker_degrades_and_says_nothing_will_be_polled(app: Flask, dhgate: FakeDHgate) -> None:  # noqa: F811
    state = overall_state(run_checks())
    assert state.state == DEGRADED and set(state.failing) == {"worker", "scheduler"}
    assert "No worker is running: nothing will be polled until the worker runs" in state.reasons()


def test_banner_readyz_and_cli_agree_when_healthy(
    app: Flask, client: FlaskClient, auth: AuthActions, admin, runner: FlaskCliRunner, dhgate: FakeDHgate, scheduler: SchedulerRunner,  # noqa: ANN001, F811
) -> None:
    _worker_alive()
    run_and_record()
    auth.login("root")
    assert _platform_state(client) == HEALTHY
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json()["state"] == HEALTHY
    assert _cli_state(runner)[:2] == (HEALTHY, 0)


def test_banner_readyz_and_cli_agree_when_dhgate_is_unreachable(
    app: Flask, client: FlaskClient, auth: AuthActions, admin, runner: FlaskCliRunner, dhgate: FakeDHgate, scheduler: SchedulerRunner,  # noqa: ANN001, F811
) -> None:
    _worker_alive()
    dhgate.status = 503
    run_and_record()
    auth.login("root")
    html = client.get("/dashboard/platform").get_data(as_text=True)
    assert _platform_state(client) == DEGRADED
    assert "DHgate unreachable: nothing is being polled" in html
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 200  # degraded still serves
    assert body["state"] == DEGRADED and body["failing"] == ["dhgate"]
    assert "error" not in response.get_data(as_text=True)
    state, code, output = _cli_state(runner)
    assert (state, code) == (DEGRADED, 0)
    assert "DHgate unreachable: nothing is being polled" in output


def test_banner_readyz_and_cli_agree_when_down(stores: Stores, _schema: None) -> None:
    """No app context around the test: ``flask health`` must build the broken app itself."""
    broken = make_app(stores, REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["state"] == DOWN
    state, code, output = _cli_state(broken.test_cli_runner())
    assert (state, code) == (DOWN, 1)
    assert "Redis unreachable" in output and "Traceback" not in output
    with broken.app_context():
        results = run_checks()

    working = make_app(stores)  # the web process that reads what the broken one recorded
    try:
        with working.app_context():
            record_results(results)
            make_user("root", password=PASSWORD, role="admin")
        client = working.test_client()
        AuthActions(client).login("root")
        assert _platform_state(client) == DOWN
    finally:
        _empty_stores(working)  # no ``app`` fixture here to do it


# -- history ----------------------------------------------------------------------------------

def _rows(name: str, statuses: list[tuple[timedelta, str]], now: datetime, error: str | None = "HTTP 503") -> None:
    db.session.add_all(
        HealthCheck(name=name, status=status, critical=False, response_ms=5.0,
                    error=None if status == "ok" else error, checked_at=now - ago)
        for ago, status in statuses
    )
    db.session.commit()


def test_uptime_per_check_over_24_hours_and_30_days(app: Flask) -> None:
    now = datetime.now(UTC)
    _rows("dhgate", [
        (timedelta(hours=1), "ok"), (timedelta(hours=2), "ok"), (timedelta(hours=3), "ok"), (timedelta(hours=4), "failing"),
        (timedelta(days=3), "failing"), (timedelta(days=4), "failing"), (timedelta(days=5), "failing"), (timedelta(days=6), "failing"),
        (timedelta(days=40), "failing"),  # outside both windows
    ], now)
    assert check_uptime("dhgate", now - timedelta(hours=24), now) == 75.0
    assert check_uptime("dhgate", now - timedelta(days=30), now) == 37.5
    assert check_uptime("worker", now - timedelta(days=30), now) is None  # never checked: unknown, not 0 %


def test_the_platform_page_draws_each_checks_recent_results(app: Flask, client: FlaskClient, auth: AuthActions, admin) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    _rows("dhgate", [(timedelta(minutes=3), "ok"), (timedelta(minutes=2), "failing"), (timedelta(minutes=1), "ok")], now)
    beats = recent_beats("dhgate")
    assert [b.status for b in beats] == ["ok", "failing", "ok"]  # oldest first
    auth.login("root")
    html = client.get("/dashboard/platform").get_data(as_text=True)
    row = html.split('data-check="dhgate"', 1)[1].split("</tr>", 1)[0]
    assert row.count("<rect") == 3
    assert 'aria-label="dhgate: last 3 results, 1 failing"' in row
    assert ": Failing (HTTP 503)</title>" in row
    assert "66.67 %" in row  # uptime 24 h


def test_daily_uptime_and_incidents_come_from_transitions(app: Flask) -> None:
    now = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    _rows("dhgate", [
        (timedelta(days=1, hours=3), "ok"), (timedelta(days=1, hours=2), "failing"), (timedelta(days=1, hours=1), "failing"),
        (timedelta(days=1), "ok"), (timedelta(hours=2), "ok"), (timedelta(hours=1), "failing"),
    ], now)
    days = daily_uptime("dhgate", days=3, now=now)
    assert [(d.day.isoformat(), d.uptime, d.runs) for d in days] == [
        ("2026-06-08", None, 0), ("2026-06-09", 50.0, 4), ("2026-06-10", 50.0, 2),
    ]
    found = incidents(days=3, now=now)
    assert [(i.name, i.started_at, i.ended_at) for i in found] == [
        ("dhgate", now - timedelta(hours=1), None),  # still failing
        ("dhgate", now - timedelta(days=1, hours=2), now - timedelta(days=1)),
    ]
