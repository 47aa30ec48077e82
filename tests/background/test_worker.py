"""The worker: real jobs on real Redis, failures with tracebacks, retries, heartbeat, shutdown,
and its two entry points (``python worker.py`` and ``flask worker``) taking the same options."""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from flask import Flask
from rq.job import Job, JobStatus
from rq.registry import (
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from sqlalchemy import func, select

from extensions import db, get_redis
from models.metrics import HealthCheck
from services.queue import enqueue, get_queue, queue_counts
from services.worker_runtime import AppSimpleWorker, build_worker
from tests.background.conftest import BIN, PROJECT_ROOT, Processes, process_env, wait_for
from tests.conftest import Stores

JOBS = "tests.background.sample_jobs"


def _fetch(job_id: str) -> Job:
    return Job.fetch(job_id, connection=get_redis())


def test_a_burst_worker_runs_jobs_records_failures_and_retries(app: Flask) -> None:
    ok = enqueue(f"{JOBS}.add", 2, 3)
    bad = enqueue(f"{JOBS}.explode", "tag-7")
    flaky = enqueue(f"{JOBS}.flaky", "dhm:test:flaky-attempts")
    build_worker(app, ["default"], worker_class=AppSimpleWorker).work(burst=True)

    assert _fetch(ok.id).get_status() == JobStatus.FINISHED and _fetch(ok.id).return_value() == 5

    failed = _fetch(bad.id)
    assert failed.get_status() == JobStatus.FAILED
    assert bad.id in FailedJobRegistry(queue=get_queue("default")).get_job_ids()
    traceback = failed.latest_result().exc_string
    assert "Traceback" in traceback and "ValueError: boom tag-7" in traceback

    retried = _fetch(flaky.id)
    assert retried.get_status() == JobStatus.FINISHED and retried.return_value() == 2
    assert retried.retries_left == 1  # one of its two retries used
    assert int(get_redis().get("dhm:test:flaky-attempts")) == 2


def test_a_non_forking_worker_gives_back_what_its_job_freed(app: Flask) -> None:
    """The poller runs batches in threads in its own process: ~115 MB freed between live
    blocks would otherwise stay in the process after the job."""
    from tests.background import sample_jobs

    process = psutil.Process()
    job = enqueue(f"{JOBS}.fragment_memory", 2, 20_000)
    before = process.memory_info().rss
    try:
        build_worker(app, ["default"], worker_class=AppSimpleWorker).work(burst=True)
        assert _fetch(job.id).return_value() == 2 * (20_000 // 64 + 1)
        grown = (process.memory_info().rss - before) / 2**20
    finally:
        sample_jobs.SURVIVORS.clear()
    assert grown < 40, f"{grown:.0f} MB stayed with the process after the job"


def test_jobs_get_their_declared_timeout_and_retries(app: Flask) -> None:
    queued = enqueue("jobs.maintenance.prune")
    assert queued.origin == "maintenance" and queued.timeout == 1800
    assert queued.retries_left == 2 and queued.retry_intervals == [60, 300]
    health = enqueue("jobs.maintenance.run_health_checks")
    assert health.origin == "high"


def test_the_heartbeat_is_visible_while_the_worker_runs_and_gone_after(app: Flask) -> None:
    from services.worker_heartbeat import list_workers

    job = enqueue(f"{JOBS}.live_worker_names")
    worker = build_worker(app, ["default"], worker_class=AppSimpleWorker, name="tester.1")
    worker.work(burst=True)
    assert _fetch(job.id).return_value() == ["tester.1"]
    assert list_workers() == []  # a clean stop removes its heartbeat at once


def test_short_jobs_do_not_pay_a_heartbeat_each_and_idle_is_written_at_once(
    app: Flask, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Back-to-back jobs share a beat a second; the worker's last beat before it waits for
    work always says it runs nothing (never a finished job as its current one)."""
    import services.worker_heartbeat as heartbeat
    from services.worker_heartbeat import list_workers

    beats: list[dict] = []
    real_beat = heartbeat.beat

    def counting_beat(connection, prefix, name, info, ttl) -> None:  # noqa: ANN001
        beats.append(dict(info))
        real_beat(connection, prefix, name, info, ttl)

    monkeypatch.setattr(heartbeat, "beat", counting_beat)
    seen_before_stop: list[list] = []

    class Probe(AppSimpleWorker):
        def teardown(self) -> None:
            seen_before_stop.append(list_workers())
            super().teardown()

    jobs = [enqueue(f"{JOBS}.add", n, 1) for n in range(40)]
    build_worker(app, ["default"], worker_class=Probe, name="tester.2").work(burst=True)
    assert all(_fetch(job.id).get_status() == JobStatus.FINISHED for job in jobs)
    assert 1 <= len(beats) < len(jobs) // 2  # not one (or three) per job
    (workers,) = seen_before_stop
    assert [worker.name for worker in workers] == ["tester.2"]
    assert workers[0].current_job is None and beats[-1]["current_job"] is None


def test_a_suspended_worker_runs_nothing_until_resumed(app: Flask) -> None:
    """``rq suspend`` is still honoured although the worker asks at most once a second."""
    from rq.suspension import resume, suspend

    job = enqueue(f"{JOBS}.add", 1, 1)
    suspend(get_redis())
    build_worker(app, ["default"], worker_class=AppSimpleWorker).work(burst=True)
    assert _fetch(job.id).get_status() == JobStatus.QUEUED
    resume(get_redis())
    build_worker(app, ["default"], worker_class=AppSimpleWorker).work(burst=True)
    assert _fetch(job.id).get_status() == JobStatus.FINISHED


def test_a_repeated_state_is_written_once(app: Flask) -> None:
    """The saving relies on RQ keeping the worker's state in ``_state``: if RQ moves it, the
    same state is written again and this fails."""
    worker = build_worker(app, ["default"], worker_class=AppSimpleWorker, name="tester.state")
    worker.set_state("busy")
    get_redis().hdel(worker.key, "state")
    worker.set_state("busy")
    assert get_redis().hget(worker.key, "state") is None  # not written a second time
    worker.set_state("idle")
    assert get_redis().hget(worker.key, "state") == b"idle"


def test_queue_counts_read_the_keys_rq_writes(app: Flask) -> None:
    """``queue_counts`` reads RQ's registries by their key names in one round trip; it must agree
    with RQ's own counts, so a change in RQ's key names or scores fails here."""
    enqueue(f"{JOBS}.add", 1, 1)
    enqueue(f"{JOBS}.explode", "counted")
    build_worker(app, ["default"], worker_class=AppSimpleWorker).work(burst=True)
    enqueue(f"{JOBS}.add", 2, 2)
    enqueue(f"{JOBS}.add", 3, 3)
    enqueue(f"{JOBS}.add", 4, 4, delay_seconds=3600)
    queue = get_queue("default")
    rq_counts = {
        "queued": queue.count,
        "started": StartedJobRegistry(queue=queue).count,
        "scheduled": ScheduledJobRegistry(queue=queue).count,
        "failed": FailedJobRegistry(queue=queue).count,
        "finished": FinishedJobRegistry(queue=queue).count,
    }
    assert rq_counts == {"queued": 2, "started": 0, "scheduled": 1, "failed": 1, "finished": 1}
    assert queue_counts()["default"] == rq_counts


def test_unknown_queue_names_are_refused(app: Flask) -> None:
    with pytest.raises(ValueError, match="unknown queue 'nope'"):
        build_worker(app, ["nope"])


def test_job_modules_build_no_app_at_import() -> None:
    import ast

    for path in (PROJECT_ROOT / "jobs").glob("*.py"):
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "create_app"]
        assert not calls, f"{path.name} calls create_app"


# -- the real process -----------------------------------------------------------------------

ENTRY_POINTS = {"worker.py": [str(BIN / "python"), "worker.py"], "flask worker": [str(BIN / "flask"), "worker"]}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_both_entry_points_run_the_same_worker_with_the_same_options(app: Flask, stores: Stores, entry: str) -> None:
    """Queues, --burst, --no-fork and --name mean the same in both, and both preload the
    fetcher before the first job."""
    facts = enqueue(f"{JOBS}.worker_facts")
    elsewhere = enqueue("jobs.maintenance.prune")  # the maintenance queue: not listened to
    command = [*ENTRY_POINTS[entry], "--burst", "--no-fork", "--queues", "default,high", "--name", "tester.entry"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=process_env(stores),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-2000:]
    done = _fetch(facts.id)
    assert done.get_status() == JobStatus.FINISHED and done.worker_name == "tester.entry"
    assert done.return_value() == {"pid": process.pid, "fetcher_preloaded": True}  # no fork: the worker's own pid
    assert _fetch(elsewhere.id).get_status() == JobStatus.QUEUED


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_both_entry_points_refuse_an_unknown_queue_in_one_line(stores: Stores, entry: str) -> None:
    result = subprocess.run([*ENTRY_POINTS[entry], "--burst", "--queues", "nope"], cwd=PROJECT_ROOT,
                            env=process_env(stores), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown queue 'nope'; use one of high, default, polling, maintenance" in result.stderr
    assert "Traceback" not in result.stderr

@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:9/0"}, "worker: cannot reach Redis (ConnectionError)"),
        ({"DHGATE_BASE_URL": "ftp://www.dhgate.com"}, "worker: DHGATE_BASE_URL must be an http(s) URL"),
    ],
)
def test_worker_py_start_problems_are_one_line(stores: Stores, extra: dict[str, str], line: str) -> None:
    result = subprocess.run(
        [str(BIN / "python"), "worker.py", "--burst"], cwd=PROJECT_ROOT, env=process_env(stores, **extra),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(line)
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_worker_py_burst_runs_real_jobs_in_forked_horses(app: Flask, stores: Stores) -> None:
    health = enqueue("jobs.maintenance.run_health_checks")
    db_job = enqueue(f"{JOBS}.database_roundtrip")
    bad = enqueue(f"{JOBS}.explode", "in-a-process")
    flaky = enqueue(f"{JOBS}.flaky", "dhm:test:flaky-process")
    process = subprocess.Popen([str(BIN / "python"), "worker.py", "--burst"], cwd=PROJECT_ROOT,
                               env=process_env(stores), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-2000:]

    assert _fetch(health.id).get_status() == JobStatus.FINISHED
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(HealthCheck)) == 5  # one row per check

    horse_pid, value = _fetch(db_job.id).return_value()
    assert value == 42 and horse_pid != process.pid  # a forked work horse, not the worker itself

    assert "ValueError: boom in-a-process" in _fetch(bad.id).latest_result().exc_string
    assert bad.id in FailedJobRegistry(queue=get_queue("default")).get_job_ids()
    assert _fetch(flaky.id).get_status() == JobStatus.FINISHED


@pytest.mark.slow
def test_sigterm_lets_the_current_job_finish(app: Flask, stores: Stores, processes: Processes, tmp_path: Path) -> None:
    job = enqueue(f"{JOBS}.slow", "dhm:test:slow-done", "dhm:test:slow-started", 2.0)
    worker = processes.start([str(BIN / "python"), "worker.py", "--queues", "default"], process_env(stores), tmp_path / "worker.log")
    wait_for(lambda: get_redis().get("dhm:test:slow-started"), timeout=60, what="the job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    assert get_redis().get("dhm:test:slow-done") == b"done"
    assert _fetch(job.id).get_status() == JobStatus.FINISHED
