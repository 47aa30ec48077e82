"""Crash safety: a killed worker, a Redis that lost its data or was killed, and a flapping process
lose nothing and stall nothing. Real processes, real Redis, the sandbox marketplace for DHgate."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import func, select

from extensions import db, get_redis
from jobs import monitoring as monitoring_jobs
from models import Monitor, MonitorProduct, PollRun, ProductEvent
from sandbox import SandboxServer
from services.embedded_redis import ensure_embedded_redis, is_running, socket_path_for, stop_embedded_redis
from services.polling.batch import job_ids_for
from services.polling.recovery import RECOVERY_GRACE_SECONDS, recover_claims
from services.polling.schedule import due_monitor_ids, poll_job_id
from services.queue import enqueue
from services.supervisor_status import ProcessStatus, read_status, write_status
from tests.background.conftest import BIN, PROJECT_ROOT, process_env, wait_for
from tests.conftest import AuthActions, Stores
from tests.factories import make_monitor
from tests.polling.conftest import FAST_POLLING

JOBS = "tests.background.sample_jobs"
LEASE = 900


@pytest.fixture
def papp(app: Flask, sandbox: SandboxServer) -> Flask:
    app.config.update(FAST_POLLING, DHGATE_BASE_URL=sandbox.base_url)
    return app


def _next_tick_time() -> datetime:
    """When the next tick judges the claims made now: at least the recovery grace later."""
    return datetime.now(UTC) + timedelta(seconds=RECOVERY_GRACE_SECONDS + 1)


# -- the embedded Redis persists -------------------------------------------------------------

def test_the_embedded_redis_snapshots_and_keeps_an_append_only_file(tmp_path: Path) -> None:
    url = ensure_embedded_redis(tmp_path)
    client = redis.Redis.from_url(url)
    try:
        assert client.config_get("save") == {"save": "60 1"}  # not '' (snapshots off)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        client.close()
        stop_embedded_redis(tmp_path)


@pytest.mark.slow
def test_a_killed_embedded_redis_comes_back_with_its_queued_jobs(tmp_path: Path) -> None:
    client = redis.Redis.from_url(ensure_embedded_redis(tmp_path))
    try:
        job = Queue("default", connection=client).enqueue(f"{JOBS}.add", 1, 2)
        client.set("dhm:test:rate-limit", "3")
        pid = int((tmp_path / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)  # no graceful shutdown, no final snapshot
        wait_for(lambda: not is_running(socket_path_for(tmp_path)), timeout=10, what="redis-server to die")
        client.close()
        client = redis.Redis.from_url(ensure_embedded_redis(tmp_path))
        assert Queue("default", connection=client).job_ids == [job.id]
        assert Job.fetch(job.id, connection=client).get_status() == JobStatus.QUEUED
        assert client.get("dhm:test:rate-limit") == b"3"
    finally:
        client.close()
        stop_embedded_redis(tmp_path)


# -- claims with no poll behind them ---------------------------------------------------------

def _due(user, sandbox: SandboxServer, count: int) -> list[int]:  # noqa: ANN001
    stores = sandbox.catalog.store_ids()
    return [make_monitor(user, kind="store", dhgate_id=stores[n % len(stores)], poll_interval=3600,
                         next_poll_at=datetime.now(UTC) - timedelta(minutes=1)).id for n in range(count)]


def test_a_redis_that_lost_everything_costs_one_tick(papp: Flask, sandbox: SandboxServer, alice) -> None:  # noqa: ANN001
    papp.config["POLL_SPREAD_SECONDS"] = 30  # delayed polls, as in production
    ids = _due(alice, sandbox, 3)
    assert monitoring_jobs.poll_due_monitors() == 3
    get_redis().flushall()  # the delayed jobs are gone; the claims in the database are not
    assert due_monitor_ids(datetime.now(UTC), 10) == []
    assert recover_claims(datetime.now(UTC), lease_seconds=LEASE, limit=100) == []  # too young to judge

    recovered = recover_claims(_next_tick_time(), lease_seconds=LEASE, limit=100)
    assert sorted((r.monitor_id, r.reason) for r in recovered) == [(i, "lost") for i in sorted(ids)]
    assert sorted(Queue("polling", connection=get_redis()).job_ids) == sorted(poll_job_id(i) for i in ids)
    assert recover_claims(_next_tick_time(), lease_seconds=LEASE, limit=100) == []  # now they have jobs

    for monitor_id in ids:  # the recovered polls run and release their claims
        monitoring_jobs.poll_monitor(monitor_id)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Monitor).where(Monitor.claimed_until.is_not(None))) == 0


def test_the_recover_polls_job_puts_lost_polls_back_between_minute_ticks(
    papp: Flask, sandbox: SandboxServer, alice,  # noqa: ANN001
) -> None:
    """The 15-second ``recover_polls`` job recovers what the minute tick would, sooner."""
    papp.config["POLL_SPREAD_SECONDS"] = 30
    ids = _due(alice, sandbox, 2)
    assert monitoring_jobs.poll_due_monitors() == 2
    get_redis().flushall()
    assert monitoring_jobs.recover_polls() == 0  # claims this young are not judged yet
    for monitor in db.session.scalars(select(Monitor).where(Monitor.id.in_(ids))):  # 16 s pass
        monitor.claimed_until -= timedelta(seconds=RECOVERY_GRACE_SECONDS + 1)
    db.session.commit()
    assert monitoring_jobs.recover_polls() == 2
    assert sorted(Queue("polling", connection=get_redis()).job_ids) == sorted(poll_job_id(i) for i in ids)
    assert monitoring_jobs.recover_polls() == 0  # their polls are queued now


def test_a_claim_whose_job_ended_is_polled_again_and_waiting_ones_are_left_alone(
    papp: Flask, sandbox: SandboxServer, alice,  # noqa: ANN001
) -> None:
    papp.config.update(POLL_SPREAD_SECONDS=0, POLL_JOB_SIZE=1)
    ended, waiting = _due(alice, sandbox, 2)
    assert monitoring_jobs.poll_due_monitors() == 2
    ended_job, waiting_job = job_ids_for([ended, waiting])
    assert ended_job != waiting_job  # two batches: two stores, one per job
    Job.fetch(ended_job, connection=get_redis()).set_status(JobStatus.FAILED)  # a horse killed under it
    recovered = recover_claims(_next_tick_time(), lease_seconds=LEASE, limit=100)
    assert [(r.monitor_id, r.reason) for r in recovered] == [(ended, "ended")]
    assert job_ids_for([ended]) == [poll_job_id(ended)]  # now polled by a job of its own
    assert Job.fetch(poll_job_id(ended), connection=get_redis()).get_status() == JobStatus.QUEUED
    assert Job.fetch(waiting_job, connection=get_redis()).get_status() == JobStatus.QUEUED


# -- real processes: kill -9 of the worker ---------------------------------------------------

def _worker(env: dict[str, str], log: Path, *queues: str, no_fork: bool = False) -> subprocess.Popen[bytes]:
    command = [str(BIN / "python"), "worker.py", "--queues", ",".join(queues)] + (["--no-fork"] if no_fork else [])
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """``kill -9`` of the worker and of whatever it forked (its work horse)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _crash_env(stores: Stores, sandbox: SandboxServer, **extra: str) -> dict[str, str]:
    return process_env(stores, DHGATE_BASE_URL=sandbox.base_url, DHGATE_REQUESTS_PER_SECOND="1000",
                       DHGATE_RATE_BURST="100", DHGATE_RETRY_WAIT_SECONDS="0.01", WORKER_STALE_SECONDS="6",
                       DHGATE_TIMEOUT_SECONDS="60", **extra)


@pytest.mark.slow
def test_kill_9_of_the_worker_during_a_poll_polls_it_again_without_duplicates(
    papp: Flask, stores: Stores, sandbox: SandboxServer, alice, tmp_path: Path,  # noqa: ANN001
) -> None:
    papp.config["POLL_SPREAD_SECONDS"] = 0
    (monitor_id,) = _due(alice, sandbox, 1)
    sandbox.faults.fail_next(1, "slow", delay=45)  # the first page hangs: the worker dies mid-poll
    assert monitoring_jobs.poll_due_monitors() == 1
    env = _crash_env(stores, sandbox)
    workers = [_worker(env, tmp_path / "worker.log", "polling")]
    try:
        wait_for(lambda: sandbox.request_count("store") >= 1, timeout=60, what="the poll to fetch its first page")
        (batch_job,) = job_ids_for([monitor_id])
        assert Job.fetch(batch_job, connection=get_redis()).get_status() == JobStatus.STARTED
        _kill_group(workers[0])
        workers.append(_worker(env, tmp_path / "worker.log", "polling"))  # what the supervisor does

        recovered = recover_claims(_next_tick_time(), lease_seconds=LEASE, limit=100)  # the next tick
        assert [(r.monitor_id, r.reason) for r in recovered] == [(monitor_id, "abandoned")]

        def polled() -> bool:
            db.session.expire_all()
            return db.session.get(Monitor, monitor_id).last_polled_at is not None
        wait_for(polled, timeout=60, what="the monitor to be polled again", interval=0.2)
    finally:
        for worker in workers:
            _kill_group(worker)
    runs = db.session.scalars(select(PollRun).where(PollRun.monitor_id == monitor_id)).all()
    assert [(run.outcome, run.products_new) for run in runs] == [("ok", 30)]
    linked = db.session.scalar(select(func.count()).select_from(MonitorProduct)
                               .where(MonitorProduct.monitor_id == monitor_id))
    assert linked == 30  # every product once
    doubled = db.session.execute(
        select(ProductEvent.product_id, ProductEvent.kind).where(ProductEvent.monitor_id == monitor_id)
        .group_by(ProductEvent.product_id, ProductEvent.kind).having(func.count() > 1)
    ).all()
    assert doubled == []
    assert db.session.get(Monitor, monitor_id).claimed_until is None


def _polled(monitor_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(Monitor, monitor_id).last_polled_at is not None


@pytest.mark.slow
def test_kill_9_of_a_polling_worker_mid_batch_polls_only_the_unfinished_monitors_again(
    papp: Flask, stores: Stores, sandbox: SandboxServer, alice, tmp_path: Path,  # noqa: ANN001
) -> None:
    """A batch of four in a non-forking worker (as ``make run`` polls): three finish, one hangs
    on a slow page, the worker dies. The hung monitor is polled again; the three are not."""
    papp.config.update(POLL_SPREAD_SECONDS=0, POLL_JOB_SIZE=10)
    ids = _due(alice, sandbox, 4)
    slow_store = sandbox.catalog.store_ids()[0]
    hung = db.session.scalar(select(Monitor.id).where(Monitor.dhgate_id == slow_store))
    sandbox.faults.fail_next(1, "slow", store=slow_store, delay=45)
    assert monitoring_jobs.poll_due_monitors() == 4
    (batch_job,) = set(job_ids_for(ids))  # one batch carries all four
    env = _crash_env(stores, sandbox)
    worker_args = ("polling",)
    workers = [_worker(env, tmp_path / "worker.log", *worker_args, no_fork=True)]
    try:
        finished = [i for i in ids if i != hung]
        wait_for(lambda: all(_polled(i) for i in finished), timeout=60, what="three polls to finish")
        assert not _polled(hung)
        assert Job.fetch(batch_job, connection=get_redis()).get_status() == JobStatus.STARTED
        _kill_group(workers[0])
        workers.append(_worker(env, tmp_path / "worker.log", *worker_args, no_fork=True))

        recovered = recover_claims(_next_tick_time(), lease_seconds=LEASE, limit=100)
        assert [(r.monitor_id, r.reason) for r in recovered] == [(hung, "abandoned")]
        wait_for(lambda: _polled(hung), timeout=60, what="the hung monitor to be polled again", interval=0.2)
    finally:
        for worker in workers:
            _kill_group(worker)
    runs = db.session.execute(select(PollRun.monitor_id, PollRun.outcome)).all()
    assert sorted(runs) == sorted((i, "ok") for i in ids)  # each polled once to the end
    assert Job.fetch(batch_job, connection=get_redis()).get_status() == JobStatus.FAILED
    assert db.session.scalar(select(func.count()).select_from(Monitor).where(Monitor.claimed_until.is_not(None))) == 0


@pytest.mark.slow
def test_delayed_jobs_and_retries_run_on_time_after_the_worker_is_killed(
    app: Flask, stores: Stores, tmp_path: Path,
) -> None:
    off = {f"SCHEDULE_{name}": "off" for name in
           ("POLL_DUE_MONITORS", "FLUSH_METRICS", "SNAPSHOT_PLATFORM_METRICS", "RUN_HEALTH_CHECKS", "PRUNE")}
    env = process_env(stores, SCHEDULER_LOCK_TTL_SECONDS="2", WORKER_STALE_SECONDS="6", **off)
    with (tmp_path / "scheduler.log").open("ab") as out:
        scheduler = subprocess.Popen([str(BIN / "flask"), "scheduler", "run"], cwd=PROJECT_ROOT, env=env,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    workers = [_worker(env, tmp_path / "worker.log", "default")]
    try:
        retried = enqueue(f"{JOBS}.flaky_later", "dhm:test:later")
        wait_for(lambda: get_redis().get("dhm:test:later") == b"1", timeout=60, what="the first attempt")
        delayed = enqueue(f"{JOBS}.add", 2, 2, delay_seconds=6)
        due = time.monotonic() + 6  # the retry is due about as soon
        _kill_group(workers[0])  # RQ's scheduler lock would outlive this worker by a minute
        workers.append(_worker(env, tmp_path / "worker.log", "default"))

        def done(job: Job) -> bool:
            return Job.fetch(job.id, connection=get_redis()).get_status() == JobStatus.FINISHED
        wait_for(lambda: done(retried) and done(delayed), timeout=30, what="both jobs to run")
        assert time.monotonic() - due < 15, "ran, but not on time"
    finally:
        for worker in workers:
            _kill_group(worker)
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=30)
    assert Job.fetch(retried.id, connection=get_redis()).return_value() == 2
    assert Job.fetch(delayed.id, connection=get_redis()).return_value() == 4


# -- the supervisor --------------------------------------------------------------------------

def test_the_platform_page_says_which_process_keeps_stopping(app: Flask, client, auth: AuthActions, admin) -> None:  # noqa: ANN001
    write_status(app.instance_path, [
        ProcessStatus(name="web", state="running", pid=1),
        ProcessStatus(name="worker", state="restarting", crashes=3, restarts=7, last_exit=-9),
    ])
    try:
        auth.login("root")
        html = client.get("/dashboard/platform").get_data(as_text=True)
    finally:
        os.unlink(Path(app.instance_path) / "supervisor.json")
    assert 'data-testid="processes-failing"' in html and "Processes are stopping: worker" in html
    assert 'data-testid="processes-table"' in html and "restarting" in html


def test_a_stale_supervisor_status_is_ignored(tmp_path: Path) -> None:
    write_status(tmp_path, [ProcessStatus(name="worker", state="running")])
    assert read_status(tmp_path) is not None
    assert read_status(tmp_path, now=time.time() + 3600) is None


def test_the_supervisor_backs_off_and_forgets_crashes_after_a_quiet_run() -> None:
    from scripts.run_all import Child

    child = Child("worker", ["true"])
    child.started_at = time.monotonic()
    delays = [child.exited(backoff_max=8, quiet_seconds=120) for _ in range(5)]
    assert delays == [1, 2, 4, 8, 8] and child.crashes == 5
    child.started_at = time.monotonic() - 121  # it then ran quietly for longer than the quiet period
    assert child.exited(backoff_max=8, quiet_seconds=120) == 1 and child.crashes == 1


@pytest.mark.slow
def test_the_supervisor_survives_ten_worker_crashes_and_keeps_serving(tmp_path: Path) -> None:
    import httpx

    from tests.background.test_run_all import _free_port, _supervised, _wait_until_serving, assert_clean_parent

    instance = tmp_path / "instance"
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "APP_ENV")}
    env.update(APP_ENV="development", INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    upgrade = subprocess.run([str(BIN / "flask"), "--app", "app:create_app", "db", "upgrade"],
                             cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "python"), "scripts/run_all.py", "--port", str(port), "--web-workers", "1",
         "--backoff-max", "1", "--quiet-seconds", "600"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )

    def worker() -> ProcessStatus | None:
        status = read_status(instance)
        found = [p for p in status.processes if p.name == "worker"] if status else []
        return found[0] if found and found[0].state == "running" and found[0].pid else None

    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/healthz", process)
        for crash in range(10):
            running = wait_for(worker, timeout=30, what=f"the worker to run again (crash {crash})")
            assert isinstance(running, ProcessStatus)
            os.killpg(running.pid, signal.SIGKILL)
            wait_for(lambda pid=running.pid: (w := worker()) is not None and w.pid != pid, timeout=30,
                     what=f"the worker to be restarted after crash {crash + 1}")
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        final = worker()
        assert final is not None and final.restarts == 10 and final.crashes == 10  # none forgotten: not quiet yet
        assert process.poll() is None  # the supervisor never gave up
        assert_clean_parent(process.pid, _supervised(instance))  # each restart forked from a clean parent
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        stop_embedded_redis(instance)
    assert output.count("run: worker was killed by SIGKILL") == 10
    assert "10 exits in a row" in output and "shutting down" not in output
    assert read_status(instance) is None  # a clean stop removes the status file
