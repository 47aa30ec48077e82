"""The admin's operations tools: failed jobs (listed with error and traceback, secrets masked,
retry one / all, delete) run by a real worker, the public status page switch, and the banner
on every admin page while the worker or the scheduler is not running."""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from extensions import db, get_redis
from models import User
from models.metrics import HealthCheck
from services.failed_jobs import mask_secrets
from services.queue import enqueue, get_queue
from services.site_settings import status_page_public
from services.worker_heartbeat import beat
from services.worker_runtime import AppSimpleWorker, build_worker
from tests.admin.conftest import post
from tests.conftest import Stores, csrf_token_from, make_app

JOBS = "tests.background.sample_jobs"
SECRET_URL = "https://hook-user:hunter2-secret@hooks.example.com/notify?token=tok-secret-42&x=1"


def _work(app: Flask) -> None:
    """A real worker in burst mode: runs what is queued, then returns."""
    build_worker(app, ["default"], worker_class=AppSimpleWorker).work(burst=True)


def _failed_ids() -> list[str]:
    return FailedJobRegistry(queue=get_queue("default")).get_job_ids()


def _fail_one(app: Flask, counter: str) -> Job:
    job = enqueue(f"{JOBS}.fails_once", counter, webhook_url=SECRET_URL, api_token="tok-plain-secret")
    assert job is not None
    _work(app)
    assert _failed_ids() == [job.id]
    return job


# -- failed jobs ----------------------------------------------------------------------------

def test_a_failed_job_is_listed_with_its_error_and_traceback_and_no_secrets(app: Flask, admin_client: FlaskClient) -> None:
    job = _fail_one(app, "dhm:test:once-a")
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert f'data-job-id="{job.id}"' in html
    assert "RuntimeError: attempt 1 fails" in html and "Traceback (most recent call last)" in html
    assert f"{JOBS}.fails_once" in html and "dhm:test:once-a" in html
    assert "hunter2" not in html and "tok-secret-42" not in html and "tok-plain-secret" not in html
    assert "hooks.example.com" in html  # the URL stays readable, only its secrets are masked


def test_a_failed_job_retried_from_the_page_runs_again(app: Flask, admin_client: FlaskClient) -> None:
    job = _fail_one(app, "dhm:test:once-b")
    response = post(admin_client, f"/admin/jobs/{job.id}/retry", token_from="/admin/jobs")
    assert response.status_code == 302
    assert _failed_ids() == []
    assert Job.fetch(job.id, connection=get_redis()).get_status() == JobStatus.QUEUED
    _work(app)
    again = Job.fetch(job.id, connection=get_redis())
    assert again.get_status() == JobStatus.FINISHED and again.return_value() == 2
    assert "No failed jobs" in admin_client.get("/admin/jobs").get_data(as_text=True)


def test_retry_all_and_delete(app: Flask, admin_client: FlaskClient) -> None:
    first = enqueue(f"{JOBS}.explode", "one")
    second = enqueue(f"{JOBS}.explode", "two")
    third = enqueue(f"{JOBS}.explode", "three")
    _work(app)
    assert set(_failed_ids()) == {first.id, second.id, third.id}

    post(admin_client, f"/admin/jobs/{first.id}/delete", token_from="/admin/jobs")
    assert set(_failed_ids()) == {second.id, third.id}
    assert Job.fetch_many([first.id], connection=get_redis()) == [None]  # its data is gone too

    post(admin_client, "/admin/jobs/retry-all", token_from="/admin/jobs")
    assert _failed_ids() == []
    assert get_queue("default").count == 2
    _work(app)  # they fail again: back on the list
    assert set(_failed_ids()) == {second.id, third.id}


def test_retrying_an_unknown_job_says_so(app: Flask, admin_client: FlaskClient) -> None:
    response = post(admin_client, "/admin/jobs/no-such-job/retry", token_from="/admin/jobs")
    assert response.status_code == 302
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert "No failed job with that id" in html
    assert post(admin_client, "/admin/jobs/" + "x" * 200 + "/delete", token_from="/admin/jobs").status_code == 404


def test_queue_actions_need_the_csrf_token(app: Flask, admin_client: FlaskClient) -> None:
    job = _fail_one(app, "dhm:test:once-c")
    assert admin_client.post(f"/admin/jobs/{job.id}/retry").status_code == 400
    assert admin_client.post("/admin/jobs/retry-all").status_code == 400
    assert _failed_ids() == [job.id]


def test_members_cannot_retry_jobs(app: Flask, alice: User, browser: Callable[..., FlaskClient]) -> None:
    job = _fail_one(app, "dhm:test:once-d")
    client = browser("alice")
    token = csrf_token_from(client.get("/auth/sessions").get_data(as_text=True))
    assert client.post(f"/admin/jobs/{job.id}/retry", data={"csrf_token": token}).status_code == 403
    assert client.post("/admin/jobs/retry-all", data={"csrf_token": token}).status_code == 403
    assert _failed_ids() == [job.id]


def test_mask_secrets_walks_arguments() -> None:
    masked = mask_secrets({"password": "pw", "nested": [{"api_key": "k"}, "postgresql://u:p4ss@db/x"], "id": 7})
    assert masked == {"password": "***", "nested": [{"api_key": "***"}, "postgresql://***@db/x"], "id": 7}
    assert mask_secrets("https://x.example/?a=1&access_token=abc") == "https://x.example/?a=1&access_token=***"


# -- the banner on admin pages --------------------------------------------------------------

def test_admin_pages_say_when_nothing_will_be_polled(app: Flask, admin_client: FlaskClient) -> None:
    for path in ("/admin/users", "/admin/jobs", "/admin/status-page", "/admin/security-log"):
        html = admin_client.get(path).get_data(as_text=True)
        assert 'data-testid="ops-banner"' in html, path
        assert "nothing will be polled until the worker runs" in html
        assert "nothing will be polled until the scheduler runs" in html
    beat(get_redis(), "dhm:", "worker-1", {"hostname": "here", "pid": 1, "queues": ["default"]}, ttl=60)
    html = admin_client.get("/admin/users").get_data(as_text=True)
    assert "until the worker runs" not in html and "until the scheduler runs" in html


# -- the status page switch -----------------------------------------------------------------

def test_the_status_page_is_off_by_default(client: FlaskClient) -> None:
    assert client.get("/status").status_code == 404
    assert 'href="/status"' not in client.get("/auth/login").get_data(as_text=True)


def test_an_admin_makes_the_status_page_public_and_it_survives_a_restart(
    app: Flask, stores: Stores, admin_client: FlaskClient, client: FlaskClient,
) -> None:
    response = post(admin_client, "/admin/status-page", {"public": "on"})
    assert response.status_code == 302
    assert "The status page is public now." in admin_client.get("/admin/status-page").get_data(as_text=True)

    restarted = make_app(stores).test_client()  # a new process: the switch is in the database
    page = restarted.get("/status")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Status" in html and "Connection to DHgate" in html and "Background checks" in html
    assert 'href="/status"' in restarted.get("/auth/login").get_data(as_text=True)  # the footer

    post(admin_client, "/admin/status-page", {"public": "off"})
    assert client.get("/status").status_code == 404


def test_the_status_page_switch_is_for_admins_with_a_token(app: Flask, alice: User, admin_client: FlaskClient, browser: Callable[..., FlaskClient]) -> None:
    member = browser("alice")
    token = csrf_token_from(member.get("/auth/sessions").get_data(as_text=True))
    assert member.post("/admin/status-page", data={"csrf_token": token, "public": "on"}).status_code == 403
    assert admin_client.post("/admin/status-page", data={"public": "on"}).status_code == 400  # no token
    response = post(admin_client, "/admin/status-page", {"public": "maybe"})
    assert response.status_code == 302 and "Choose whether" in admin_client.get("/admin/status-page").get_data(as_text=True)
    db.session.expire_all()
    assert status_page_public() is False


def test_the_public_status_page_shows_states_bars_and_incidents_without_error_texts(
    app: Flask, admin_client: FlaskClient, client: FlaskClient,
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    for minutes, status in ((30, "ok"), (20, "failing"), (10, "failing")):
        for name, critical in (("database", True), ("redis", True)):
            db.session.add(HealthCheck(name=name, status="ok", critical=critical, response_ms=1.0, checked_at=now - timedelta(minutes=minutes)))
        db.session.add(HealthCheck(name="dhgate", status=status, critical=False, response_ms=9.0,
                                   error="ConnectError: internal-host.lan:8443 refused" if status != "ok" else None,
                                   checked_at=now - timedelta(minutes=minutes)))
    db.session.commit()
    post(admin_client, "/admin/status-page", {"public": "on"})

    html = client.get("/status").get_data(as_text=True)
    assert 'data-state="degraded"' in html and "DHgate unreachable: nothing is being polled" in html
    dhgate = html.split('data-component="dhgate"', 1)[1].split("</li>", 1)[0]
    assert "Not working" in dhgate and dhgate.count("<rect") == 90
    assert "33.33 % up</title>" in dhgate
    assert 'data-testid="incidents"' in html and "ongoing" in html
    assert "internal-host" not in html and "8443" not in html  # no error texts in public


def test_the_cached_status_page_speaks_each_readers_language(app: Flask, admin_client: FlaskClient, client: FlaskClient) -> None:
    post(admin_client, "/admin/status-page", {"public": "on"})
    assert "Connection to DHgate" in client.get("/status").get_data(as_text=True)  # fills the cache
    in_dutch = app.test_client().get("/status", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "Verbinding met DHgate" in in_dutch and "Connection to DHgate" not in in_dutch
