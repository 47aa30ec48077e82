"""A missing worker or scheduler reaches the admins, told by the other process and delivered by
it at once (the usual delivery job would wait for the very worker that is missing). Real parts:
a scheduler runner in a thread, worker heartbeats in Redis, an RQ worker's own maintenance, and
the loopback SMTP server."""
from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import select

from extensions import db, get_redis
from models import Notification, User
from services.notifications import channels as channel_service
from services.notifications.process_watch import watch_scheduler, watch_workers
from services.scheduler import SchedulerRunner, scheduler_status
from services.worker_heartbeat import beat
from services.worker_runtime import AppSimpleWorker, build_worker
from tests.background.conftest import wait_for
from tests.notifications.conftest import Inbox


def titles(user: User) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification.title).where(Notification.user_id == user.id).order_by(
        Notification.id)))


def test_a_missing_worker_is_mailed_at_once_and_its_return_too(
    napp: Flask, admin: User, smtp: tuple[Inbox, int]
) -> None:
    channel_service.add_email_channel(admin)
    assert watch_workers() == 1
    assert watch_workers() == 0  # the same incident
    assert titles(admin) == ["No worker is running"]
    [(recipients, mail)] = smtp[0].messages  # sent by the watching process, no worker needed
    assert recipients == [admin.email] and mail["Subject"] == "No worker is running"

    beat(get_redis(), napp.config["REDIS_KEY_PREFIX"], "worker-1", {"hostname": "here", "pid": 1}, ttl=60)
    assert watch_workers() == 1
    assert titles(admin) == ["No worker is running", "A worker is running again"]
    assert smtp[0].messages[1][1]["Subject"] == "A worker is running again"


def test_a_running_worker_at_the_first_look_says_nothing(napp: Flask, admin: User) -> None:
    beat(get_redis(), napp.config["REDIS_KEY_PREFIX"], "worker-1", {"hostname": "here", "pid": 1}, ttl=60)
    assert watch_workers() == 0 and titles(admin) == []


def test_the_active_scheduler_watches_the_workers(napp: Flask, admin: User) -> None:
    napp.config.update(SCHEDULER_LOCK_TTL_SECONDS=1.0, PROCESS_WATCH_SECONDS=0.2)
    looks: list[int] = []
    runner = SchedulerRunner(napp, watch=lambda: looks.append(watch_workers()))
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        wait_for(lambda: len(looks) >= 2, timeout=15, what="two looks at the workers")
    finally:
        runner.stop()
        thread.join(timeout=15)
    assert looks[0] == 1 and set(looks[1:]) == {0}
    assert titles(admin) == ["No worker is running"]


def test_workers_watch_the_scheduler_during_maintenance(napp: Flask, admin: User) -> None:
    worker = build_worker(napp, ["default"], worker_class=AppSimpleWorker)
    worker.run_maintenance_tasks()  # the first, at start-up: no look yet
    assert titles(admin) == []
    worker.run_maintenance_tasks()
    assert titles(admin) == ["The scheduler is not running"]

    napp.config["SCHEDULER_LOCK_TTL_SECONDS"] = 1.0
    runner = SchedulerRunner(napp)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        wait_for(lambda: scheduler_status().running, timeout=15, what="the scheduler to be active")
        assert watch_scheduler() == 1
    finally:
        runner.stop()
        thread.join(timeout=15)
    assert titles(admin) == ["The scheduler is not running", "The scheduler is running again"]
