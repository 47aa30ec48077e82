"""Health checks, probes, /metrics access and transition notifications."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from sqlalchemy import select

from extensions import db
from models import Notification
from services.health import OK, run_and_record, run_checks
from tests.conftest import PASSWORD, AuthActions, Stores, make_app


class FakeDHgate:
    """A real HTTP server on 127.0.0.1 whose answer the test sets (status, or a hang)."""

    def __init__(self) -> None:
        self.status = 200
        self.hang_seconds = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                if outer.hang_seconds:
                    time.sleep(outer.hang_seconds)
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = _answer  # noqa: N815
            do_GET = _answer  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dhgate(app: Flask) -> Iterator[FakeDHgate]:
    server = FakeDHgate()
    app.config["DHGATE_BASE_URL"] = server.url
    try:
        yield server
    finally:
        server.close()


# -- probes ---------------------------------------------------------------------------------

def test_healthz_is_ok_without_touching_anything(stores: Stores) -> None:
    broken = make_app(stores, REDIS_URL="redis://127.0.0.1:1/0", SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent-dir/x/db.sqlite")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_200_when_database_and_redis_work(client) -> None:  # noqa: ANN001
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis"}  # critical checks only
    assert all(check["status"] == OK for check in body["checks"].values())


def test_readyz_is_503_when_redis_is_unreachable(stores: Stores, _schema: None) -> None:
    broken = make_app(stores, REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["redis"]["status"] == "failing"
    assert body["checks"]["database"]["status"] == "ok"
    assert "error" not in json.dumps(body)


def test_readyz_is_503_when_the_database_is_unreachable(stores: Stores) -> None:
    broken = make_app(stores, SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent-dir/x/db.sqlite")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["status"] == "failing"
    assert response.get_json()["checks"]["redis"]["status"] == "ok"


def test_no_secret_reaches_probes_or_stored_errors(stores: Stores) -> None:
    url = "postgresql+psycopg://monitor:s3cret-passw0rd@127.0.0.1:1/dhm"
    broken = make_app(stores, SQLALCHEMY_DATABASE_URI=url, REDIS_URL="redis://:r3dis-passw0rd@127.0.0.1:1/0")
    body = broken.test_client().get("/readyz").get_data(as_text=True)
    assert "s3cret" not in body and "r3dis" not in body and "127.0.0.1:1" not in body
    with broken.app_context():
        results = {r.name: r for r in run_checks(["database", "redis"])}
    assert results["database"].status == results["redis"].status == "failing"
    for result in results.values():
        assert result.error and "s3cret" not in result.error and "r3dis" not in result.error


def test_readyz_answers_from_its_cache_for_a_few_seconds(stores: Stores, _schema: None) -> None:
    app = make_app(stores, READYZ_CACHE_SECONDS=60)
    client = app.test_client()
    first = client.get("/readyz").get_json()
    second = client.get("/readyz").get_json()
    assert first == second  # same response times: the second probe ran no checks


def test_a_hanging_check_cannot_block_the_others(app: Flask, dhgate: FakeDHgate) -> None:
    dhgate.hang_seconds = 3
    results = {r.name: r for r in run_checks(["database", "redis", "dhgate"], timeout=0.3)}
    assert results["dhgate"].status == "failing" and "timed out" in results["dhgate"].error
    assert results["database"].status == results["redis"].status == OK


def test_dhgate_being_down_is_not_our_outage(app: Flask, dhgate: FakeDHgate) -> None:
    dhgate.status = 503
    from services.health import overall_ok

    results = run_checks()
    by_name = {r.name: r for r in results}
    assert by_name["dhgate"].status == "failing" and not by_name["dhgate"].critical
    assert overall_ok(results)


def test_worker_check_follows_the_heartbeat(app: Flask) -> None:
    from extensions import get_redis
    from services.worker_heartbeat import beat

    assert run_checks(["worker"])[0].status == "failing"
    beat(get_redis(), "dhm:", "w1", {"hostname": "here", "pid": 1, "queues": ["default"]}, ttl=60)
    assert run_checks(["worker"])[0].status == OK


# -- transitions ----------------------------------------------------------------------------

def _dhgate_notifications() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(Notification).where(Notification.dedupe_key.like("health:dhgate:%")).order_by(Notification.id)
    ))


def test_a_transition_notifies_each_admin_once(app: Flask, dhgate: FakeDHgate, admin, alice) -> None:  # noqa: ANN001
    from tests.factories import make_user

    second_admin = make_user("ops", password=PASSWORD, role="admin")
    run_and_record()
    assert _dhgate_notifications() == []  # healthy from the start: nothing to say

    dhgate.status = 503
    run_and_record()
    run_and_record()  # still failing: no more notifications
    down = _dhgate_notifications()
    assert sorted(n.user_id for n in down) == sorted([admin.id, second_admin.id])
    assert all(n.severity == "warning" and "dhgate" in n.title for n in down)
    assert alice.id not in {n.user_id for n in down}

    dhgate.status = 200
    run_and_record()
    run_and_record()
    notes = _dhgate_notifications()
    assert len(notes) == 4 and sum("recovered" in n.title for n in notes) == 2

    dhgate.status = 500
    run_and_record()
    assert len(_dhgate_notifications()) == 6  # a new incident is told again


def test_runs_racing_on_one_transition_notify_once(app: Flask, dhgate: FakeDHgate, admin) -> None:  # noqa: ANN001
    run_and_record()
    dhgate.status = 503
    barrier = threading.Barrier(3)
    errors = []

    def run() -> None:
        with app.app_context():
            barrier.wait()
            try:
                run_and_record()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(_dhgate_notifications()) == 1


# -- /metrics -------------------------------------------------------------------------------

def test_metrics_are_refused_to_anonymous_and_members(client, auth: AuthActions, alice) -> None:  # noqa: ANN001
    assert client.get("/metrics").status_code == 401
    auth.login("alice")
    assert client.get("/metrics").status_code == 401


def test_metrics_are_served_to_admins(metrics_app: Flask, admin) -> None:  # noqa: ANN001
    from services.metrics import push_now
    from services.metrics_flush import flush_metrics

    client = metrics_app.test_client()
    AuthActions(client).login("root")
    client.get("/healthz")
    push_now(metrics_app)
    flush_metrics()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'dhm_http_requests_total{endpoint="/healthz",status="2xx"} 1.0' in text
    assert 'dhm_http_request_duration_seconds_bucket{endpoint="/healthz",le="+Inf",status="2xx"} 1.0' in text
    assert 'dhm_queue_jobs{queue="default",state="queued"} 0.0' in text
    assert 'dhm_scrape_source_up{source="request_metrics"} 1.0' in text


def test_metrics_accept_the_configured_bearer_token(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = "scrape-token-0123456789abcdef"
    client = app.test_client()
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789abcdef"})
    assert scraped.status_code == 200 and "# TYPE dhm_" in scraped.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789abcdef"}).status_code == 401
    assert client.get("/metrics").status_code == 401


def test_health_checks_show_in_metrics(app: Flask, dhgate: FakeDHgate) -> None:
    app.config["METRICS_TOKEN"] = "scrape-token-0123456789abcdef"
    dhgate.status = 503
    run_and_record()
    text = app.test_client().get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789abcdef"}).get_data(as_text=True)
    assert 'dhm_health_check_up{check="database",critical="true"} 1.0' in text
    assert 'dhm_health_check_up{check="dhgate",critical="false"} 0.0' in text


# -- flask health ---------------------------------------------------------------------------

def test_flask_health_prints_a_table_and_passes_when_critical_checks_pass(runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["health"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["check", "status", "critical", "time", "error"]
    assert any(line.split()[:3] == ["database", "ok", "yes"] for line in lines)
    assert any(line.split()[:3] == ["worker", "failing", "no"] for line in lines)


def test_flask_health_fails_when_a_critical_check_fails(stores: Stores) -> None:
    broken = make_app(stores, REDIS_URL="redis://127.0.0.1:1/0")
    result = broken.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 1
    assert "critical check failing: redis" in result.output
    assert "Traceback" not in result.output
