"""The monitoring jobs: claiming due monitors, the poll job, and a poll through a real RQ worker."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from extensions import db, get_redis
from jobs import monitoring as monitoring_jobs
from models import Monitor, MonitorProduct, PollRun
from sandbox import SandboxServer
from services.polling.schedule import POLL_JOB, POLL_QUEUE, poll_job_id
from services.queue import enqueue
from tests.conftest import Stores, make_app
from tests.factories import make_monitor
from tests.polling.conftest import FAST_POLLING

ROOT = Path(__file__).resolve().parents[2]


def _due_monitors(user, sandbox: SandboxServer, count: int) -> list[int]:  # noqa: ANN001
    stores = sandbox.catalog.store_ids()
    ids = []
    for number in range(count):
        monitor = make_monitor(user, kind="store", dhgate_id=stores[number % len(stores)] if number < len(stores)
                               else str(90_000_000 + number), poll_interval=3600,
                               next_poll_at=datetime.now(UTC) - timedelta(minutes=1))
        ids.append(monitor.id)
    return ids


def test_due_monitors_are_claimed_once_under_two_concurrent_schedulers(
    papp: Flask, stores: Stores, sandbox: SandboxServer, alice,  # noqa: ANN001
) -> None:
    papp.config["POLL_SPREAD_SECONDS"] = 0
    due = set(_due_monitors(alice, sandbox, 40))
    make_monitor(alice, kind="store", dhgate_id="1", next_poll_at=datetime.now(UTC) + timedelta(hours=1))
    make_monitor(alice, kind="store", dhgate_id="2", active=False)
    held = make_monitor(alice, kind="store", dhgate_id="3", claimed_until=datetime.now(UTC) + timedelta(minutes=5))
    # held by a poll that is on its way (a claim with no job behind it would be recovered)
    enqueue(POLL_JOB, job_id=poll_job_id(held.id), queue=POLL_QUEUE, delay_seconds=300,
            monitor_id=held.id)
    schedulers = [make_app(stores, **FAST_POLLING, DHGATE_BASE_URL=sandbox.base_url, POLL_SPREAD_SECONDS=0)
                  for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def tick(app: Flask) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results.append(monitoring_jobs.poll_due_monitors())
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=tick, args=(app,)) for app in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sum(results) == 40
    queued = Queue("polling", connection=get_redis()).jobs
    assert {job.func_name for job in queued} == {"jobs.monitoring.poll_batch"}
    assert sorted(i for job in queued for i in job.kwargs["monitor_ids"]) == sorted(due)  # each once
    claimed = db.session.scalars(select(Monitor.id).where(Monitor.claimed_until.is_not(None))).all()
    assert set(claimed) == due | {db.session.scalar(select(Monitor.id).where(Monitor.dhgate_id == "3"))}
    assert monitoring_jobs.poll_due_monitors() == 0  # a third tick finds nothing left to claim


def test_polls_are_spread_over_the_minute(papp: Flask, sandbox: SandboxServer, alice) -> None:  # noqa: ANN001
    papp.config.update(POLL_SPREAD_SECONDS=55, POLL_JOB_SIZE=2)
    ids = _due_monitors(alice, sandbox, 12)
    assert monitoring_jobs.poll_due_monitors() == 12
    registry = ScheduledJobRegistry("polling", connection=get_redis())
    scheduled = registry.get_job_ids()
    immediate = Queue("polling", connection=get_redis()).job_ids
    assert len(immediate) == 1 and len(scheduled) == 5  # six batches of two, the first at once
    batches = [Job.fetch(job_id, connection=get_redis()).kwargs["monitor_ids"] for job_id in scheduled + immediate]
    assert sorted(i for batch in batches for i in batch) == sorted(ids)
    times = {registry.get_scheduled_time(job_id) for job_id in scheduled}
    assert len(times) == 5  # evenly apart, not all in the same second


def test_poll_job_releases_the_claim(papp: Flask, store_monitor: Monitor) -> None:
    store_monitor.claimed_until = datetime.now(UTC) + timedelta(minutes=10)
    db.session.commit()
    summary = monitoring_jobs.poll_monitor(store_monitor.id)
    assert summary == {"monitor_id": store_monitor.id, "outcome": "ok", "seen": 30, "new": 30, "changed": 0,
                       "fast_path": False}
    assert db.session.get(Monitor, store_monitor.id).claimed_until is None


def test_poll_job_skips_a_deleted_monitor(papp: Flask) -> None:
    assert monitoring_jobs.poll_monitor(987654) is None


def test_unexpected_errors_are_recorded_then_raised(papp: Flask, alice) -> None:  # noqa: ANN001
    broken = make_monitor(alice, kind="bogus", dhgate_id="42",
                          claimed_until=datetime.now(UTC) + timedelta(minutes=10))
    with pytest.raises(ValueError, match="unknown monitor kind"):
        monitoring_jobs.poll_monitor(broken.id)
    db.session.expire_all()
    run = db.session.scalar(select(PollRun).where(PollRun.monitor_id == broken.id))
    assert run.outcome == "error" and "unknown monitor kind" in run.error and run.finished_at is not None
    monitor = db.session.get(Monitor, broken.id)
    assert (monitor.consecutive_failures, monitor.last_status, monitor.claimed_until) == (1, "error", None)
    assert monitor.next_poll_at > datetime.now(UTC) + timedelta(hours=1)


@pytest.mark.slow
def test_poll_through_a_real_worker_process(
    papp: Flask, stores: Stores, sandbox: SandboxServer, store_monitor: Monitor, store_id: str,
) -> None:
    papp.config["POLL_SPREAD_SECONDS"] = 0
    store_monitor.next_poll_at = None
    db.session.commit()
    assert monitoring_jobs.poll_due_monitors() == 1
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": stores.database_url,
        "REDIS_URL": stores.redis_url,
        "INSTANCE_PATH": stores.instance_path,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DHGATE_BASE_URL": sandbox.base_url,
        "DHGATE_REQUESTS_PER_SECOND": "1000",
        "DHGATE_RATE_BURST": "100",
        "DHGATE_RETRY_WAIT_SECONDS": "0.01",
    }
    done = subprocess.run([sys.executable, "worker.py", "--burst", "--queues", "polling"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    db.session.expire_all()
    run = db.session.scalar(select(PollRun).where(PollRun.monitor_id == store_monitor.id))
    assert run is not None, done.stderr[-2000:]
    assert (run.outcome, run.pages, run.products_seen) == ("ok", 2, 30)
    assert db.session.scalar(select(func.count()).select_from(MonitorProduct)) == 30
    monitor = db.session.get(Monitor, store_monitor.id)
    assert monitor.claimed_until is None and monitor.baseline_at is not None
    assert sandbox.request_count("store") == 2  # over real HTTP, from the worker


def test_concurrent_polls_of_overlapping_monitors(
    papp: Flask, stores: Stores, sandbox: SandboxServer, store_id: str, alice, bob,  # noqa: ANN001
) -> None:
    """Two members watch the same store and their polls run at the same moment: both finish
    (no deadlock on the shared product rows) and both hear of every change."""
    from services.polling import engine as polling

    monitors = [make_monitor(alice, kind="store", dhgate_id=store_id).id,
                make_monitor(bob, kind="store", dhgate_id=store_id).id]
    for monitor_id in monitors:
        polling.poll_monitor(monitor_id)
    pollers = [make_app(stores, **FAST_POLLING, DHGATE_BASE_URL=sandbox.base_url) for _ in monitors]
    products = sandbox.catalog.products(store_id)

    def poll_one(app: Flask, monitor_id: int, barrier: threading.Barrier, outcomes: list[str],
                 errors: list[BaseException]) -> None:
        """Each round hands its own barrier and lists, so a straggler from an earlier round can
        never report into a later one."""
        with app.app_context():
            try:
                barrier.wait()
                outcomes.append(polling.poll_monitor(monitor_id).outcome)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    for round_number in range(3):
        for product in products[round_number * 5:(round_number + 1) * 5]:
            sandbox.catalog.set_price(product.item_code, product.price_min * 2)
        sandbox.catalog.add_product(store_id, title=f"Round {round_number} novelty")
        barrier = threading.Barrier(len(monitors))
        outcomes: list[str] = []
        errors: list[BaseException] = []
        threads = [threading.Thread(target=poll_one, args=(poller, monitor_id, barrier, outcomes, errors))
                   for poller, monitor_id in zip(pollers, monitors, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        assert outcomes == ["ok", "ok"]
    from models import ProductEvent

    kinds = [sorted(db.session.scalars(select(ProductEvent.kind).where(ProductEvent.monitor_id == m)))
             for m in monitors]
    assert kinds[0] == kinds[1] == sorted(["new_product"] * 3 + ["price_rise"] * 15)
