""""Check now": the monitor becomes due and its poll lands on the real ``polling`` RQ queue once."""
from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import redis
from flask import Flask
from rq import Queue

import jobs.monitoring
from extensions import REDIS_EXTENSION_KEY, db, get_redis
from models import Monitor
from services.monitors import commands
from services.polling import schedule
from tests.monitoring.conftest import browser_for, post_form


def polling_queue() -> Queue:
    return Queue("polling", connection=get_redis())


def fresh(monitor_id: int) -> Monitor:
    db.session.expire_all()
    return db.session.get(Monitor, monitor_id)


def make(alice) -> Monitor:  # noqa: ANN001
    monitor = commands.create_monitor(alice, "https://www.dhgate.com/store/21880856")
    monitor.next_poll_at = datetime.now(UTC) + timedelta(hours=6)  # not due by itself
    db.session.commit()
    return monitor


def test_poll_now_enqueues_one_job_with_a_deterministic_id(app: Flask, alice) -> None:  # noqa: ANN001
    monitor = make(alice)
    client = browser_for(app, "alice")
    before = datetime.now(UTC)
    response = post_form(client, f"/monitors/{monitor.id}/poll", token_from=f"/monitors/{monitor.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/monitors/{monitor.id}")
    job_id = jobs.monitoring.poll_job_id(monitor.id)
    assert job_id == jobs.monitoring.poll_job_id(monitor.id) and str(monitor.id) in job_id  # deterministic, per monitor
    queue = polling_queue()
    assert queue.job_ids == [job_id]
    job = queue.fetch_job(job_id)
    assert job.func_name == "jobs.monitoring.poll_monitor" and job.kwargs == {"monitor_id": monitor.id}
    row = fresh(monitor.id)
    assert before <= row.next_poll_at <= datetime.now(UTC)
    assert row.claimed_until is not None and row.claimed_until > datetime.now(UTC)  # the scheduler keeps off
    assert "Checking “Store 21880856” now." in client.get(f"/monitors/{monitor.id}").get_data(as_text=True)

    again = post_form(client, f"/monitors/{monitor.id}/poll", token_from=f"/monitors/{monitor.id}")
    assert again.status_code == 302
    assert polling_queue().job_ids == [job_id]  # still one job
    assert "is already on its way" in client.get(f"/monitors/{monitor.id}").get_data(as_text=True)


def test_job_id_is_the_schedulers(app: Flask) -> None:
    """"Check now" and the scheduler's tick must use one id, or the dedupe would not hold: both
    take it from the polling schedule, and it differs per monitor."""
    assert jobs.monitoring.poll_job_id is schedule.poll_job_id
    assert jobs.monitoring.POLL_QUEUE == schedule.POLL_QUEUE == "polling"
    assert schedule.poll_job_id(42) != schedule.poll_job_id(43)


def test_pending_job_without_claim_is_not_doubled(app: Flask, alice) -> None:  # noqa: ANN001
    """A job already queued under the id (e.g. its claim lease ran out) is not enqueued twice."""
    monitor = make(alice)
    assert commands.request_poll_now(monitor) is commands.PollRequest.QUEUED
    Monitor.query.filter_by(id=monitor.id).update({"claimed_until": None})
    db.session.commit()
    assert commands.request_poll_now(fresh(monitor.id)) is commands.PollRequest.ALREADY_QUEUED
    assert polling_queue().count == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_down_is_a_message_not_a_500(app: Flask, alice) -> None:  # noqa: ANN001
    monitor = make(alice)
    client = browser_for(app, "alice")
    token_page = client.get(f"/monitors/{monitor.id}").get_data(as_text=True)
    working = app.extensions[REDIS_EXTENSION_KEY]
    app.extensions[REDIS_EXTENSION_KEY] = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    try:
        from tests.conftest import csrf_token_from

        response = client.post(f"/monitors/{monitor.id}/poll", data={"csrf_token": csrf_token_from(token_page)})
        assert response.status_code == 302
        page = client.get(f"/monitors/{monitor.id}").get_data(as_text=True)
    finally:
        app.extensions[REDIS_EXTENSION_KEY] = working
    assert "The job queue cannot be reached right now." in page
    row = fresh(monitor.id)
    assert row.next_poll_at <= datetime.now(UTC)  # due: the scheduler takes it when Redis is back
    assert row.claimed_until is None  # and nothing holds it
    assert polling_queue().count == 0


def test_paused_monitor_is_not_polled(app: Flask, alice) -> None:  # noqa: ANN001
    monitor = make(alice)
    commands.set_active(monitor, False)
    client = browser_for(app, "alice")
    post_form(client, f"/monitors/{monitor.id}/poll", token_from=f"/monitors/{monitor.id}")
    assert "This monitor is paused." in client.get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert polling_queue().count == 0
