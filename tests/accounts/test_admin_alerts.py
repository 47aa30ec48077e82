"""System events reach admins through their channels, once per incident: health checks failing
and recovering, the DHgate circuit opening and closing, DHgate blocking a monitor, failed jobs
piling up, a new member. Real parts: a stopped port as a dead dependency, the sandbox, a real RQ
worker failing real jobs, and the loopback SMTP server receiving the admin's mail."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from extensions import db
from models import Delivery, Monitor, Notification, User
from sandbox import SandboxServer
from services.dhgate.fetcher import get_fetcher
from services.health import record_results, run_checks
from services.notifications import channels as channel_service
from services.notifications.admin_alerts import watch_platform
from services.notifications.sending import deliver_due
from services.polling import engine as polling
from services.queue import enqueue
from services.worker_runtime import AppSimpleWorker, build_worker
from tests.factories import make_monitor, make_user
from tests.notifications.conftest import Inbox


def admin_alerts(user: User) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id).order_by(
        Notification.id)))


def deliveries_of(note: Notification) -> list[Delivery]:
    return list(db.session.scalars(select(Delivery).where(Delivery.notification_id == note.id)))


def test_a_failing_and_recovering_check_reaches_the_admins_mailbox_once_each(
    napp: Flask, admin: User, alice: User, smtp: tuple[Inbox, int], sandbox: SandboxServer
) -> None:
    channel_service.add_email_channel(admin)
    channel_service.add_email_channel(alice)
    napp.config["DHGATE_BASE_URL"] = "http://127.0.0.1:9"  # nothing listens: the dhgate check fails
    for _ in range(2):
        record_results(run_checks(["dhgate"]))
    [down] = admin_alerts(admin)
    assert (down.kind, down.title) == ("system", "Health check failing: dhgate")
    assert [d.target for d in deliveries_of(down)] == [admin.email]
    assert deliver_due().get("sent") == 1
    [(recipients, mail)] = smtp[0].messages
    assert recipients == [admin.email] and mail["Subject"] == "Health check failing: dhgate"

    napp.config["DHGATE_BASE_URL"] = sandbox.base_url  # DHgate answers again
    for _ in range(2):
        record_results(run_checks(["dhgate"]))
    assert [n.title for n in admin_alerts(admin)] == ["Health check failing: dhgate", "Health check recovered: dhgate"]
    assert deliver_due().get("sent") == 1
    assert smtp[0].messages[1][1]["Subject"] == "Health check recovered: dhgate"
    assert admin_alerts(alice) == []  # members are not told about the platform


def test_the_circuit_opening_and_closing_is_told_once_each(napp: Flask, admin: User, sandbox: SandboxServer) -> None:
    channel_service.add_email_channel(admin)
    napp.config.update(DHGATE_BREAKER_FAILURES=1, DHGATE_BREAKER_RESET_SECONDS=600)
    store_id = sandbox.catalog.store_ids()[0]
    monitor = make_monitor(admin, kind="store", dhgate_id=store_id, poll_interval=3600)
    assert polling.poll_monitor(monitor.id).outcome == "ok"
    assert watch_platform() == 0  # closed, as it always was: nothing to say
    sandbox.set_fault("server_error", store=store_id)
    polling.poll_monitor(monitor.id)
    assert get_fetcher().breaker.state == "open"
    assert watch_platform() == 1
    assert watch_platform() == 0  # the same incident
    [opened] = admin_alerts(admin)
    assert opened.title == "DHgate circuit opened" and len(deliveries_of(opened)) == 1

    sandbox.clear_faults()
    napp.config["DHGATE_BREAKER_RESET_SECONDS"] = 0.01
    db.session.execute(Monitor.__table__.update().values(next_poll_at=None, claimed_until=None))
    db.session.commit()
    assert polling.poll_monitor(monitor.id).outcome == "ok"  # the trial succeeds and closes it
    assert get_fetcher().breaker.state == "closed"
    assert watch_platform() == 1
    assert watch_platform() == 0
    assert [n.title for n in admin_alerts(admin)] == ["DHgate circuit opened", "DHgate circuit closed"]


def test_failed_jobs_piling_up_are_told_once(napp: Flask, admin: User) -> None:
    napp.config["ADMIN_ALERT_FAILED_JOBS"] = 2
    enqueue("tests.background.sample_jobs.explode", "a")
    build_worker(napp, ["default"], worker_class=AppSimpleWorker).work(burst=True)
    assert watch_platform() == 0  # one failed job: below the threshold
    enqueue("tests.background.sample_jobs.explode", "b")
    build_worker(napp, ["default"], worker_class=AppSimpleWorker).work(burst=True)
    assert watch_platform() == 1
    assert watch_platform() == 0
    [alert] = admin_alerts(admin)
    assert alert.title == "2 background jobs failed" and alert.link == "/admin/jobs"


def test_a_blocked_monitor_reaches_each_admins_channels(napp: Flask, admin: User, sandbox: SandboxServer) -> None:
    second = make_user("ops", role="admin")
    channel_service.add_email_channel(admin)
    channel_service.add_email_channel(second)
    store_id = sandbox.catalog.store_ids()[0]
    monitor = make_monitor(admin, kind="store", dhgate_id=store_id, poll_interval=3600)
    sandbox.set_fault("blocked", store=store_id)
    for _ in range(2):
        db.session.execute(Monitor.__table__.update().values(next_poll_at=None, claimed_until=None))
        db.session.commit()
        polling.poll_monitor(monitor.id)
    for person in (admin, second):
        [alert] = admin_alerts(person)
        assert alert.kind == "poll_blocked" and [d.target for d in deliveries_of(alert)] == [person.email]
