"""Scheduler control and the DHgate panel: "run now" queues a scheduled job that a real worker
runs, pausing polling stops the real poll-scheduling job and shows a banner on every admin page,
and the DHgate panel reads the breaker and rate limiter's shared Redis state."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from extensions import db
from jobs.monitoring import poll_due_monitors
from models import Monitor, PlatformMetric, SecurityEvent, User
from services.dhgate.breaker import Admission
from services.dhgate.fetcher import get_fetcher
from services.dhgate_panel import dhgate_panel
from services.maintenance import polling_paused
from services.queue import get_queue
from services.worker_runtime import AppSimpleWorker, build_worker
from tests.conftest import csrf_token_from
from tests.factories import make_monitor
from tests.monitoring.conftest import add_poll_run, browser_for


def _post(client: FlaskClient, path: str, data: dict[str, str] | None = None) -> object:
    token = csrf_token_from(client.get("/admin/scheduler").get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token})


def test_run_now_queues_the_scheduled_job_and_a_worker_runs_it(app: Flask, admin: User) -> None:
    client = browser_for(app, "root")
    page = client.get("/admin/scheduler").get_data(as_text=True)
    assert 'data-job="snapshot_platform_metrics"' in page and "Run snapshot_platform_metrics now" in page
    response = _post(client, "/admin/scheduler/snapshot_platform_metrics/run")
    assert response.status_code == 302
    queued = get_queue("maintenance").get_job_ids()
    assert len(queued) == 1 and queued[0].startswith("snapshot_platform_metrics-manual-")
    build_worker(app, ["maintenance"], worker_class=AppSimpleWorker).work(burst=True)
    assert db.session.scalar(select(func.count()).select_from(PlatformMetric)) == 1
    assert db.session.scalar(select(func.count()).select_from(SecurityEvent).where(SecurityEvent.event == "admin_action")) >= 1


def test_run_now_refuses_unknown_jobs_members_and_missing_csrf(app: Flask, admin: User, alice: User) -> None:
    client = browser_for(app, "root")
    response = _post(client, "/admin/scheduler/make_coffee/run")
    assert response.status_code == 302
    assert "There is no scheduled job by that name." in client.get("/admin/scheduler").get_data(as_text=True)
    assert client.post("/admin/scheduler/prune/run").status_code == 400  # no CSRF token
    member = browser_for(app, "alice")
    assert member.get("/admin/scheduler").status_code == 403
    assert member.post("/admin/scheduler/prune/run", data={"csrf_token": "x"}).status_code in (400, 403)
    assert get_queue("maintenance").get_job_ids() == []


def test_pausing_polling_stops_the_poll_job_and_shows_a_banner_everywhere(app: Flask, admin: User, alice: User) -> None:
    monitor = make_monitor(alice, next_poll_at=datetime.now(UTC) - timedelta(minutes=1))
    client = browser_for(app, "root")
    assert _post(client, "/admin/polling", {"paused": "on"}).status_code == 302
    assert polling_paused()
    for page in ("/admin/scheduler", "/admin/users", "/admin/jobs", "/dashboard/platform"):
        assert 'data-testid="polling-paused-banner"' in client.get(page).get_data(as_text=True), page
    assert poll_due_monitors() == 0
    db.session.expire_all()
    assert db.session.get(Monitor, monitor.id).claimed_until is None  # nothing claimed, still due
    assert get_queue("polling").count == 0
    assert _post(client, "/admin/polling", {"paused": "off"}).status_code == 302
    assert not polling_paused()
    assert 'data-testid="polling-paused-banner"' not in client.get("/admin/users").get_data(as_text=True)
    assert poll_due_monitors() == 1  # the first tick after resuming polls it


def test_the_polling_switch_rejects_bad_input_with_a_message(app: Flask, admin: User) -> None:
    client = browser_for(app, "root")
    assert _post(client, "/admin/polling", {"paused": "maybe"}).status_code == 302
    assert "Choose whether polling is paused." in client.get("/admin/scheduler").get_data(as_text=True)
    assert not polling_paused()


def test_the_dhgate_panel_reads_the_shared_breaker_and_budget(app: Flask, alice: User, admin: User) -> None:
    app.config.update(DHGATE_REQUESTS_PER_SECOND=0.01, DHGATE_RATE_BURST=4, DHGATE_BREAKER_FAILURES=3)
    fetcher = get_fetcher(app)
    assert dhgate_panel().hosts[0].state == "closed" and dhgate_panel().hosts[0].budget_used == 0.0
    for _ in range(2):
        assert fetcher.limiter.reserve(max_wait=1000).granted
    for _ in range(3):
        fetcher.breaker.record(Admission(), success=False)
    shop = make_monitor(alice, name="Shop")
    for outcome in ("ok", "blocked", "blocked", "timeout"):
        add_poll_run(shop, outcome)
    panel = dhgate_panel()
    host = panel.hosts[0]
    assert host.host == "127.0.0.1:9" and host.state == "open" and host.failures == 3
    assert 0.49 <= host.budget_used <= 0.5  # two of four burst slots (100 s apart) reserved
    assert [p.outcome for p in panel.polls] == ["timeout", "blocked", "blocked", "ok"]
    html = browser_for(app, "root").get("/dashboard/platform").get_data(as_text=True)
    assert 'data-host="127.0.0.1:9"' in html and ">open<" in html
    assert "50.0 %" in html  # blocked rate: 2 of 4 polls
