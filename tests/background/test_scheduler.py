"""The scheduler: deterministic slots, one enqueue per slot, one active copy, fast takeover."""
from __future__ import annotations

import ast
import importlib
import os
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq import Queue

import settings
from config import ConfigError, DevelopmentConfig
from extensions import get_redis
from services.queue import UnknownJobError, enqueue, job_exists
from services.schedule_plan import SCHEDULED_JOBS, ScheduledJob, schedule_plan, scheduled_job
from services.scheduler import (
    SchedulerLock,
    SchedulerRunner,
    SlotClock,
    enqueue_slot,
    history,
    last_outcomes,
    scheduler_status,
    slot_job_id,
)
from tests.background.conftest import BIN, PROJECT_ROOT, Processes, process_env, wait_for
from tests.conftest import Stores


def _queued_ids(name: str) -> list[str]:
    return [i.decode() for i in get_redis().lrange(Queue(name, connection=get_redis()).key, 0, -1)]


# -- configuration --------------------------------------------------------------------------

def test_the_schedule_comes_from_configuration() -> None:
    loaded = DevelopmentConfig.load({"SCHEDULE_PRUNE": "cron 30 4 * * *", "SCHEDULE_SNAPSHOT_PLATFORM_METRICS": "off"})
    plan = {entry.job.name: entry for entry in schedule_plan(loaded)}
    assert plan["prune"].describe() == "cron 30 4 * * * (UTC)"
    assert plan["flush_metrics"].describe() == "every 1m"
    assert plan["poll_due_monitors"].job.target == "jobs.monitoring.poll_due_monitors"
    assert set(plan) == {  # "off" is left out
        "poll_due_monitors", "recover_polls", "flush_metrics", "run_health_checks", "prune", "rollup_hours",
        "flush_affiliate_clicks", "rollup_affiliate", "deliver_notifications", "send_digests",
    }
    default = {entry.job.name: entry for entry in schedule_plan(DevelopmentConfig.load({}))}
    assert default["snapshot_platform_metrics"].describe() == "every 5m"


def test_only_jobs_that_exist_are_scheduled() -> None:
    """A job joins the schedule when it is built: every entry imports, and the configuration
    knows exactly the scheduled jobs (a setting for one that does not exist is an error)."""
    assert {job.name for job in SCHEDULED_JOBS} == set(settings.default("SCHEDULE"))
    missing = [job.target for job in SCHEDULED_JOBS if not job_exists(job.target)]
    assert missing == []
    with pytest.raises(ConfigError, match="SCHEDULE_MAKE_COFFEE names no scheduled job"):
        DevelopmentConfig.load({"SCHEDULE_MAKE_COFFEE": "cron 0 * * * *"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCHEDULE_PRUNE": "sometimes"}, "schedule of prune must be"),
        ({"SCHEDULE_PRUNE": "cron 61 * * * *"}, "bad cron expression"),
        ({"SCHEDULE_PRUNE": "every 0s"}, "must look like"),
        ({"SCHEDULE_NOPE": "every 5m"}, "SCHEDULE_NOPE names no scheduled job"),
    ],
)
def test_a_bad_schedule_is_one_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DevelopmentConfig.load(env)


def test_slots_are_the_same_whoever_computes_them() -> None:
    loaded = DevelopmentConfig.load({"SCHEDULE_FLUSH_METRICS": "every 5m"})
    entry = next(e for e in schedule_plan(loaded) if e.job.name == "flush_metrics")
    now = datetime(2026, 3, 1, 12, 7, 31, tzinfo=UTC)
    assert entry.next_run(now) == datetime(2026, 3, 1, 12, 10, tzinfo=UTC)
    assert entry.next_run(now + timedelta(seconds=90)) == datetime(2026, 3, 1, 12, 10, tzinfo=UTC)
    assert slot_job_id("flush_metrics", datetime(2026, 3, 1, 12, 10, tzinfo=UTC)) == "flush_metrics-20260301T121000Z"


# -- one enqueue per slot -------------------------------------------------------------------

def test_a_slot_is_enqueued_once_however_often_it_ticks(app: Flask) -> None:
    job = scheduled_job("flush_metrics")
    slot = datetime(2026, 3, 1, 12, 10, tzinfo=UTC)
    outcomes = []

    def tick(owner: str) -> None:
        with app.app_context():
            outcomes.append(enqueue_slot(job, slot, owner=owner))

    threads = [threading.Thread(target=tick, args=(f"copy-{i}",)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(o.status for o in outcomes) == ["duplicate"] * 4 + ["enqueued"]
    assert _queued_ids("high") == ["flush_metrics-20260301T121000Z"]
    enqueue_slot(job, slot + timedelta(minutes=1), owner="copy-0")
    assert len(_queued_ids("high")) == 2


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("jobs.not_written_yet.do_it", "unknown job 'jobs.not_written_yet.do_it': there is no module jobs.not_written_yet"),
        ("jobs.maintenance.make_coffee", "module jobs.maintenance has no function 'make_coffee'"),
        ("prune", "a job is named by its dotted path"),
    ],
)
def test_an_unknown_job_is_refused_when_it_is_enqueued(app: Flask, path: str, message: str) -> None:
    with pytest.raises(UnknownJobError, match=message):
        enqueue(path)
    assert all(_queued_ids(queue) == [] for queue in ("high", "default", "polling", "maintenance"))


def test_a_scheduled_slot_of_an_unknown_job_is_recorded_as_an_error_and_queues_nothing(app: Flask) -> None:
    future = ScheduledJob("future_job", "jobs.not_written_yet.do_it")
    with pytest.raises(UnknownJobError):
        enqueue_slot(future, datetime(2026, 3, 1, tzinfo=UTC), owner="me")
    assert _queued_ids("maintenance") == [] and _queued_ids("default") == []
    outcome = last_outcomes()["future_job"]
    assert outcome.status == "error" and "no module jobs.not_written_yet" in (outcome.error or "")


# -- the active copy's clock ----------------------------------------------------------------

@pytest.mark.parametrize("module_name", ["services.scheduler", "services.schedule_plan"])
def test_the_scheduler_uses_only_apschedulers_public_api(module_name: str) -> None:
    """Triggers only: no private names imported, no APScheduler class subclassed (overriding
    its internals is what broke on upgrades), no private attribute read on anything."""
    module = importlib.import_module(module_name)
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {alias.asname or alias.name: node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("apscheduler")
                for alias in node.names}
    assert imported and all(not name.startswith("_") for name in imported)
    bases = {base.id for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
             for base in node.bases if isinstance(base, ast.Name)}
    assert not bases & set(imported)
    private = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
               and node.attr.startswith("_") and not node.attr.startswith("__")
               and not (isinstance(node.value, ast.Name) and node.value.id == "self")}
    assert private == set()


def _clock(schedule: dict[str, str], start: datetime, grace: float = 30) -> SlotClock:
    config = DevelopmentConfig.load({f"SCHEDULE_{name.upper()}": "off" for name in settings.default("SCHEDULE")}
                                    | {f"SCHEDULE_{name.upper()}": spec for name, spec in schedule.items()})
    return SlotClock(schedule_plan(config), grace, start)


def test_the_clock_hands_out_each_slot_once_at_its_time() -> None:
    start = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    clock = _clock({"flush_metrics": "every 1m", "prune": "cron 2 12 * * *"}, start)
    assert clock.seconds_until_next(start) == 30.0
    assert clock.take_due(start + timedelta(seconds=29)) == ([], [])
    first = datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
    assert clock.take_due(first + timedelta(seconds=1)) == ([("flush_metrics", first)], [])
    assert clock.take_due(first + timedelta(seconds=2)) == ([], [])  # a second look finds nothing new
    both = datetime(2026, 3, 1, 12, 2, tzinfo=UTC)
    due, missed = clock.take_due(both)
    assert sorted(due) == [("flush_metrics", both), ("prune", both)] and missed == []
    assert clock.seconds_until_next(both) == 60.0


def test_missed_ticks_coalesce_into_the_latest_and_a_late_one_is_skipped() -> None:
    start = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    clock = _clock({"flush_metrics": "every 1m"}, start, grace=30)
    # asleep from 12:00:30 to 12:05:10: the 12:01 … 12:05 ticks become one, the 12:05 one
    assert clock.take_due(datetime(2026, 3, 1, 12, 5, 10, tzinfo=UTC)) == (
        [("flush_metrics", datetime(2026, 3, 1, 12, 5, tzinfo=UTC))], [])
    # the 12:06 tick seen 45 s late is past the grace: reported as missed, not enqueued
    assert clock.take_due(datetime(2026, 3, 1, 12, 6, 45, tzinfo=UTC)) == (
        [], [("flush_metrics", datetime(2026, 3, 1, 12, 6, tzinfo=UTC))])
    assert clock.take_due(datetime(2026, 3, 1, 12, 7, 0, tzinfo=UTC)) == (
        [("flush_metrics", datetime(2026, 3, 1, 12, 7, tzinfo=UTC))], [])


def test_flask_scheduler_jobs_lists_trigger_next_run_and_last_outcome(app: Flask, runner) -> None:  # noqa: ANN001
    enqueue_slot(scheduled_job("prune"), datetime(2026, 3, 1, 3, 17, tzinfo=UTC), owner="me")
    result = runner.invoke(args=["scheduler", "jobs"])
    assert result.exit_code == 0, result.output
    prune_line = next(line for line in result.output.splitlines() if line.startswith("prune "))
    assert "cron 17 3 * * * (UTC)" in prune_line
    assert "prune-20260301T031700Z" in prune_line and "queued" in prune_line
    flush_line = next(line for line in result.output.splitlines() if line.startswith("flush_metrics "))
    assert "every 1m" in flush_line
    assert "no scheduler is running" in result.output


# -- the lock -------------------------------------------------------------------------------

def test_the_lock_has_one_holder_and_only_the_holder_renews_or_releases_it(app: Flask) -> None:
    first = SchedulerLock(get_redis(), "dhm:scheduler:lock", "first", ttl_seconds=0.5)
    second = SchedulerLock(get_redis(), "dhm:scheduler:lock", "second", ttl_seconds=0.5)
    assert first.acquire() and not second.acquire()
    assert not second.renew() and not second.release()
    assert first.holder() == "first" and first.renew()
    wait_for(lambda: second.acquire(), timeout=5, what="the expired lock to pass to the second copy")
    assert not first.renew() and second.holder() == "second"


def test_a_runner_in_this_process_enqueues_and_steps_aside_cleanly(stores: Stores, _schema: None) -> None:
    from tests.conftest import make_app

    schedule = dict.fromkeys(settings.default("SCHEDULE"), "off") | {"flush_metrics": "every 1s"}
    app = make_app(stores, SCHEDULE=schedule, SCHEDULER_LOCK_TTL_SECONDS=1.0)
    runner = SchedulerRunner(app)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        with app.app_context():
            wait_for(lambda: len(history()) >= 2, timeout=15, what="two enqueued slots")
            assert scheduler_status().running and scheduler_status().active == runner.owner
    finally:
        runner.stop()
        thread.join(timeout=15)
    with app.app_context():
        assert not thread.is_alive()
        assert get_redis().get("dhm:scheduler:lock") is None  # handed over at once, not after the TTL
        get_redis().flushdb()


# -- two real scheduler processes -----------------------------------------------------------

def _scheduler_env(stores: Stores) -> dict[str, str]:
    env = process_env(stores, SCHEDULER_LOCK_TTL_SECONDS="2", SCHEDULER_MISFIRE_GRACE_SECONDS="5")
    for name in settings.default("SCHEDULE"):
        env[f"SCHEDULE_{name.upper()}"] = "off"
    env["SCHEDULE_FLUSH_METRICS"] = "every 1s"
    return env


@pytest.mark.slow
def test_two_schedulers_one_active_then_takeover_without_doubles(
    app: Flask, stores: Stores, processes: Processes, tmp_path: Path
) -> None:
    env = _scheduler_env(stores)
    command = [str(BIN / "flask"), "scheduler", "run"]
    first = processes.start(command, env, tmp_path / "first.log")
    second = processes.start(command, env, tmp_path / "second.log")
    pids = {first.pid: first, second.pid: second}

    def owners() -> set[str]:
        return {entry["owner"] for entry in history(200)}

    wait_for(lambda: len(history(200)) >= 4, timeout=30, what="the active scheduler to enqueue slots")
    wait_for(lambda: len(scheduler_status().standbys) == 1, timeout=10, what="the other copy to register as standby")
    assert len(owners()) == 1, "only one copy may enqueue"
    active_owner = next(iter(owners()))
    status = scheduler_status()
    assert status.running and status.active == active_owner and status.standbys != [active_owner]
    active_pid = int(active_owner.split(":")[1])
    assert active_pid in pids

    os.kill(active_pid, signal.SIGKILL)
    pids[active_pid].wait(timeout=10)
    last_slot_before = max(datetime.fromisoformat(e["slot"]) for e in history(200))

    wait_for(lambda: len(owners()) == 2, timeout=30, what="the standby to take over")
    wait_for(lambda: sum(1 for e in history(200) if e["owner"] != active_owner) >= 2, timeout=15, what="slots from the new active copy")
    entries = history(200)
    new_entries = [e for e in entries if e["owner"] != active_owner]
    assert all(datetime.fromisoformat(e["slot"]) > last_slot_before for e in new_entries)

    job_ids = [e["job_id"] for e in entries]
    assert len(job_ids) == len(set(job_ids)), "a slot was enqueued twice"
    queued = _queued_ids("high")
    assert len(queued) == len(set(queued)) and set(job_ids) <= set(queued)
    assert len(get_redis().keys("dhm:scheduler:claim:*")) == len(job_ids)

    survivor = next(p for pid, p in pids.items() if pid != active_pid)
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=20) == 0
    assert get_redis().get("dhm:scheduler:lock") is None


# -- the scheduler in a thread of the polling worker (what `make run` runs) ------------------

@pytest.mark.slow
def test_a_non_forking_worker_runs_the_scheduler_in_a_thread_and_hands_the_lock_over_on_sigterm(
    app: Flask, stores: Stores, processes: Processes, tmp_path: Path
) -> None:
    """``worker.py --no-fork --with-scheduler``: one process that polls and schedules; the
    lock, the heartbeats and the enqueued slots are those of ``flask scheduler run``, and a
    standalone scheduler started beside it only stands by."""
    from services.worker_heartbeat import list_workers

    env = _scheduler_env(stores)
    both = processes.start([str(BIN / "python"), "worker.py", "--queues", "polling", "--no-fork", "--with-scheduler"],
                           env, tmp_path / "both.log")
    wait_for(lambda: len(history(200)) >= 2, timeout=60, what="the scheduler thread to enqueue slots")
    standalone = processes.start([str(BIN / "flask"), "scheduler", "run"], env, tmp_path / "standalone.log")
    wait_for(lambda: len(scheduler_status().standbys) == 1, timeout=20, what="the standalone copy to stand by")
    status = scheduler_status()
    assert status.running and int(str(status.active).split(":")[1]) == both.pid
    assert {entry["owner"] for entry in history(200)} == {status.active}  # only the thread enqueued
    assert [w.pid for w in list_workers() if w.alive] == [both.pid]  # the same process is the poller
    assert _queued_ids("high")  # flush_metrics slots wait for a worker on their queue

    both.send_signal(signal.SIGTERM)
    assert both.wait(timeout=30) == 0
    wait_for(lambda: scheduler_status().running and int(str(scheduler_status().active).split(":")[1]) == standalone.pid,
             timeout=20, what="the standalone copy to take over at once (the lock was handed over)")
    standalone.send_signal(signal.SIGTERM)
    assert standalone.wait(timeout=20) == 0


def test_a_worker_that_forks_refuses_to_run_the_scheduler_in_one_line(stores: Stores) -> None:
    """A fork taken while the scheduler's thread holds a lock would deadlock the work horse."""
    done = subprocess.run([str(BIN / "python"), "worker.py", "--queues", "default", "--with-scheduler"],
                          cwd=PROJECT_ROOT, env=process_env(stores), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "worker: the scheduler runs only in a worker that does not fork (add --no-fork)"]
