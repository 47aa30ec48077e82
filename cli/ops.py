"""Operator commands: background jobs, the scheduler, health and metrics.

    flask jobs list                  every job: queue, timeout, retries, schedule
    flask jobs run NAME [--enqueue]  run a scheduled job now (inline) or queue it for a worker
    flask scheduler run              the scheduler process (one active, others stand by)
    flask scheduler jobs             the schedule: trigger, next run, last outcome
    flask health [--record]          run every health check, print the state; exit 1 when down
    flask metrics flush              move buffered request metrics into the database now
    flask worker [--burst] [--queues Q] [--no-fork] [--with-scheduler]
                                     a worker in this process (``python worker.py`` runs this command)

Bad input ends with one clear line and exit code 1, never a traceback. Every command that talks
to Redis starts the embedded one first when no ``REDIS_URL`` is configured (``@needs_redis``).
"""
from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
import redis
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from cli.embedded_redis import needs_redis
from services.health import DOWN, overall_state, record_results, run_checks
from services.metrics import push_now
from services.metrics_flush import flush_metrics
from services.notifications.process_watch import watch_workers
from services.queue import QUEUES, discover_jobs, enqueue, resolve
from services.schedule_plan import SCHEDULED_JOBS, schedule_plan, scheduled_job
from services.scheduler import SchedulerRunner, last_outcomes, scheduler_status
from services.worker_runtime import WorkerStartError, run_worker

jobs_cli = AppGroup("jobs", help="List and run background jobs.")
scheduler_cli = AppGroup("scheduler", help="Run or inspect the scheduler of periodic jobs.")
metrics_cli = AppGroup("metrics", help="Request metrics.")
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain aligned columns: readable in a terminal and easy to grep."""
    cells = [[str(h) for h in headers]] + [["—" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else None


# -- flask jobs ------------------------------------------------------------------------------

@jobs_cli.command("list")
def jobs_list() -> None:
    """Every job: where it runs, its timeout and retries, and its schedule."""
    plan = {entry.job.target: entry for entry in schedule_plan(current_app.config)}
    by_target = {job.target: job for job in SCHEDULED_JOBS}
    rows = []
    for target, spec in sorted(discover_jobs().items()):
        entry = plan.get(target)
        scheduled = by_target.get(target)
        if entry is not None:
            schedule = f"{entry.job.name}: {entry.describe()}"
        elif scheduled is not None:
            schedule = f"{scheduled.name}: off"
        else:
            schedule = "on demand"
        retries = f"{spec.retries} ({', '.join(str(i) for i in spec.retry_intervals[:spec.retries])} s)" if spec.retries else "0"
        rows.append((target, spec.queue, f"{spec.timeout} s", retries, schedule))
    click.echo(_table(("job", "queue", "timeout", "retries", "schedule"), rows))


@jobs_cli.command("run")
@click.argument("name")
@click.option("--enqueue", "to_queue", is_flag=True, help="Queue it for a worker instead of running it here.")
@needs_redis
def jobs_run(name: str, to_queue: bool) -> None:
    """Run the scheduled job NAME now, here (or queue it with --enqueue)."""
    job = scheduled_job(name)
    if job is None:
        raise click.ClickException(f"unknown job {name!r}; scheduled jobs: {', '.join(j.name for j in SCHEDULED_JOBS)}")
    if to_queue:
        job_id = f"{job.name}-manual-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
        enqueued = enqueue(job.target, job_id=job_id)
        if enqueued is None:
            raise click.ClickException(f"{job.name} is already queued")
        click.echo(f"queued {job.name} as {enqueued.id} on {enqueued.origin}")
        return
    result = resolve(job.target)()
    click.echo(f"{job.name}: done" + (f" ({result})" if result is not None else ""))


# -- flask scheduler -------------------------------------------------------------------------

@scheduler_cli.command("run")
@click.option("--log-level", default="INFO", type=click.Choice(LOG_LEVELS))
@needs_redis
def scheduler_run(log_level: str) -> None:
    """Run the scheduler: active while it holds the Redis lock, standby otherwise."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(log_level)))
    runner = SchedulerRunner(current_app._get_current_object(), watch=watch_workers)  # type: ignore[attr-defined]

    def request_stop(signum: int, _frame: object) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"scheduler {runner.owner}: {len(runner.plan)} jobs, lock TTL {runner.ttl:g} s", err=True)
    runner.run()


@scheduler_cli.command("jobs")
@needs_redis
def scheduler_jobs() -> None:
    """Each scheduled job: trigger, next run, and what became of its last slot."""
    plan = schedule_plan(current_app.config)
    try:
        outcomes = last_outcomes()
        status = scheduler_status()
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot reach Redis: {type(exc).__name__}") from None
    now = datetime.now(UTC)
    rows = []
    for entry in plan:
        outcome = outcomes.get(entry.job.name)
        rows.append((
            entry.job.name, entry.describe(), _when(entry.next_run(now)),
            _when(outcome.enqueued_at) if outcome else None,
            outcome.job_id if outcome else None,
            (outcome.status + (f": {outcome.error}" if outcome.error else "")) if outcome else None,
        ))
    click.echo(_table(("job", "trigger", "next run", "last enqueued", "job id", "last outcome"), rows))
    if status.running:
        click.echo(f"\nactive scheduler: {status.active} (heartbeat {_when(status.heartbeat_at)}); standbys: {len(status.standbys)}")
    else:
        click.echo("\nno scheduler is running: start one with `flask scheduler run`")


# -- flask health ----------------------------------------------------------------------------

@click.command("health")
@click.option("--record", is_flag=True, help="Also store the results and notify admins of changes.")
@with_appcontext
@needs_redis
def health_command(record: bool) -> None:
    """Run every health check, print a table and the state (healthy, degraded, down); exit 1 when down."""
    results = run_checks()
    rows = [
        (r.name, r.status, "yes" if r.critical else "no", f"{r.response_ms:.1f} ms" if r.response_ms is not None else None, r.error or "")
        for r in results
    ]
    click.echo(_table(("check", "status", "critical", "time", "error"), rows))
    if record:
        record_results(results)
    overall = overall_state(results)
    click.echo(f"\nstate: {overall.state}")
    for reason in overall.reasons():
        click.echo(f"  {reason}")
    if overall.state == DOWN:
        failing = ", ".join(r.name for r in results if r.critical and not r.ok)
        raise click.ClickException(f"critical check failing: {failing}")


# -- flask metrics ---------------------------------------------------------------------------

@metrics_cli.command("flush")
@needs_redis
def metrics_flush() -> None:
    """Move buffered request metrics from Redis into request_metrics now."""
    push_now(current_app._get_current_object())  # type: ignore[attr-defined]
    report = flush_metrics()
    click.echo(
        f"flushed {report.buffers} buffers ({report.samples} samples); "
        f"finished {report.already_committed} left by an interrupted flush"
    )


# -- flask worker ----------------------------------------------------------------------------

def _queue_names(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """``--queues high --queues default`` and ``--queues high,default`` alike; unknown names refused."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if unknown:
        raise click.BadParameter(f"unknown queue {unknown[0]!r}; use one of {', '.join(QUEUES)}")
    return names


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the jobs that are waiting, then exit.")
@click.option("--queues", "-q", multiple=True, callback=_queue_names, metavar="QUEUE[,QUEUE]",
              help=f"Queues to listen on (repeatable or comma-separated; default: all, in priority order: "
                   f"{', '.join(QUEUES)}).")
@click.option("--no-fork", is_flag=True,
              help="Run jobs inside the worker process instead of a forked process per job.")
@click.option("--with-scheduler", is_flag=True,
              help="Also run the scheduler in a thread of this worker (needs --no-fork).")
@click.option("--name", help="Worker name (default: host.pid.random).")
@click.option("--log-level", default="INFO", type=click.Choice(LOG_LEVELS))
@with_appcontext
@needs_redis
def worker_command(burst: bool, queues: list[str], no_fork: bool, with_scheduler: bool, name: str | None,
                   log_level: str) -> None:
    """Run a background worker in this process (``python worker.py`` runs this same command)."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(log_level)))
    try:
        run_worker(current_app._get_current_object(), queues or None, burst=burst, no_fork=no_fork,  # type: ignore[attr-defined]
                   name=name, log_level=log_level, with_scheduler=with_scheduler)
    except WorkerStartError as exc:
        raise click.ClickException(str(exc)) from None

