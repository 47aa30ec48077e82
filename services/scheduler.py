"""The scheduler: one active process that only enqueues periodic jobs, hot standbys behind it.

``flask scheduler run`` starts a ``SchedulerRunner``. It takes a Redis lock (``SET NX PX``) and,
while it holds it, runs an APScheduler ``BlockingScheduler`` whose ticks enqueue jobs by dotted
path; a thread renews the lock every third of its TTL and stops the scheduler the moment the
lock is lost. A second copy finds the lock taken, waits as a standby and takes over within about
one TTL after the active copy dies.

Every tick names its *slot* (the trigger's scheduled time, deterministic because interval
triggers are anchored at a fixed epoch and cron triggers are in UTC). A slot is enqueued only by
whoever wins ``SET NX`` on its claim key, with the job id ``<name>-<slot>``: a duplicate tick, a
restart or a takeover can never run a job twice for the same slot.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    SchedulerEvent,
)
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app

from config import parse_schedule
from extensions import get_redis

logger = logging.getLogger(__name__)

# Interval slots count from this instant, so every process computes the same slot times.
INTERVAL_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
HISTORY_LENGTH = 200

RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class ScheduledJob:
    """A periodic job: its schedule name (config key), target and fallback queue.

    ``optional`` jobs belong to areas that may not be installed: they are scheduled only when
    their module imports. The others are enqueued by path even before their module exists (RQ
    imports the function when a worker runs it).
    """

    name: str
    target: str
    fallback_queue: str = "default"
    optional: bool = False


SCHEDULED_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("poll_due_monitors", "jobs.monitoring.poll_due_monitors", "high"),
    ScheduledJob("flush_metrics", "jobs.maintenance.flush_metrics", "high"),
    ScheduledJob("snapshot_platform_metrics", "jobs.maintenance.snapshot_platform_metrics", "maintenance"),
    ScheduledJob("run_health_checks", "jobs.maintenance.run_health_checks", "high"),
    ScheduledJob("prune", "jobs.maintenance.prune", "maintenance"),
    ScheduledJob("send_digests", "jobs.notifications.send_digests", "default", optional=True),
    ScheduledJob("rollup_affiliate", "jobs.affiliate.rollup_affiliate", "maintenance", optional=True),
)


def scheduled_job(name: str) -> ScheduledJob | None:
    return next((job for job in SCHEDULED_JOBS if job.name == name), None)


@dataclass(frozen=True)
class PlanEntry:
    """A scheduled job with the trigger the configuration gives it."""

    job: ScheduledJob
    kind: str  # every / cron
    value: Any  # seconds / crontab expression

    def trigger(self) -> BaseTrigger:
        if self.kind == "every":
            return IntervalTrigger(seconds=int(self.value), start_date=INTERVAL_ANCHOR, timezone=UTC)
        return CronTrigger.from_crontab(str(self.value), timezone=UTC)

    def describe(self) -> str:
        if self.kind == "every":
            seconds = int(self.value)
            for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
                if seconds % size == 0:
                    return f"every {seconds // size}{unit}"
            return f"every {seconds}s"
        return f"cron {self.value} (UTC)"

    def next_run(self, now: datetime | None = None) -> datetime | None:
        return self.trigger().get_next_fire_time(None, now or datetime.now(UTC))


def schedule_plan(config: Mapping[str, Any]) -> list[PlanEntry]:
    """The jobs this configuration schedules ("off" ones and missing optional areas left out)."""
    from services.queue import job_exists

    schedule: Mapping[str, str] = config["SCHEDULE"]
    plan = []
    for job in SCHEDULED_JOBS:
        spec = schedule.get(job.name, "off")
        kind, value = parse_schedule(job.name, spec)
        if kind == "off":
            continue
        if job.optional and not job_exists(job.target):
            continue
        plan.append(PlanEntry(job, kind, value))
    return plan


# -- Redis keys ------------------------------------------------------------------------------

def _key(suffix: str) -> str:
    return f"{current_app.config['REDIS_KEY_PREFIX']}scheduler:{suffix}"


def lock_key() -> str:
    return _key("lock")


def slot_job_id(name: str, slot: datetime) -> str:
    """``flush_metrics-20260301T120500Z``: the RQ job id of one slot (RQ allows [A-Za-z0-9_-])."""
    return f"{name}-{slot.astimezone(UTC):%Y%m%dT%H%M%SZ}"


# -- enqueueing one slot ---------------------------------------------------------------------

@dataclass(frozen=True)
class SlotOutcome:
    status: str  # enqueued / duplicate / error
    job_id: str
    error: str | None = None


def enqueue_slot(job: ScheduledJob, slot: datetime, *, owner: str) -> SlotOutcome:
    """Enqueue ``job`` for ``slot`` unless someone already did (atomic claim, then enqueue)."""
    from services.queue import enqueue, find_spec

    connection = get_redis()
    slot = slot.astimezone(UTC).replace(microsecond=0)
    job_id = slot_job_id(job.name, slot)
    claim_ttl = int(current_app.config["SCHEDULER_CLAIM_TTL_SECONDS"])
    if not connection.set(_key(f"claim:{job_id}"), owner, nx=True, ex=claim_ttl):
        logger.info("slot %s was already enqueued; skipping", job_id)
        return SlotOutcome("duplicate", job_id)
    queue = None if find_spec(job.target) is not None else job.fallback_queue
    try:
        enqueue(job.target, job_id=job_id, queue=queue)
    except Exception as exc:  # noqa: BLE001 - recorded as the job's last outcome, then re-raised
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
        _record(job.name, slot, job_id, owner, error)
        raise
    _record(job.name, slot, job_id, owner, None)
    return SlotOutcome("enqueued", job_id)


def _record(name: str, slot: datetime, job_id: str, owner: str, error: str | None) -> None:
    entry = {
        "name": name,
        "slot": slot.isoformat(),
        "job_id": job_id,
        "owner": owner,
        "enqueued_at": datetime.now(UTC).isoformat(),
        "error": error,
    }
    data = json.dumps(entry)
    connection = get_redis()
    with connection.pipeline(transaction=False) as pipe:
        pipe.hset(_key("last"), name, data)
        pipe.lpush(_key("history"), data)
        pipe.ltrim(_key("history"), 0, HISTORY_LENGTH - 1)
        pipe.execute()


@dataclass
class LastOutcome:
    """What became of a job's most recent slot: when it was enqueued, and RQ's verdict."""

    slot: datetime
    job_id: str
    enqueued_at: datetime
    owner: str
    error: str | None
    status: str  # queued / started / finished / failed / scheduled / expired / error


def last_outcomes() -> dict[str, LastOutcome]:
    from rq.job import Job

    connection = get_redis()
    raw = connection.hgetall(_key("last"))
    entries = {k.decode(): json.loads(v) for k, v in raw.items()}
    ids = [e["job_id"] for e in entries.values()]
    fetched = dict(zip(ids, Job.fetch_many(ids, connection=connection), strict=True)) if ids else {}
    outcomes = {}
    for name, entry in entries.items():
        rq_job = fetched.get(entry["job_id"])
        if entry.get("error"):
            status = "error"
        elif rq_job is None:
            status = "expired"
        else:
            status = str(rq_job.get_status(refresh=False).value)
        outcomes[name] = LastOutcome(
            slot=datetime.fromisoformat(entry["slot"]),
            job_id=entry["job_id"],
            enqueued_at=datetime.fromisoformat(entry["enqueued_at"]),
            owner=entry["owner"],
            error=entry.get("error"),
            status=status,
        )
    return outcomes


def history(limit: int = 50) -> list[dict[str, Any]]:
    """The most recent enqueues by any scheduler copy, newest first."""
    return [json.loads(item) for item in get_redis().lrange(_key("history"), 0, limit - 1)]


# -- the lock --------------------------------------------------------------------------------

class SchedulerLock:
    """``SET NX PX`` lock with owner-checked renew and release (Lua), so a copy that lost the
    lock can never extend or delete its successor's."""

    def __init__(self, connection: redis.Redis, key: str, owner: str, ttl_seconds: float) -> None:
        self.connection = connection
        self.key = key
        self.owner = owner
        self.ttl_ms = max(int(ttl_seconds * 1000), 100)
        self._renew = connection.register_script(RENEW_SCRIPT)
        self._release = connection.register_script(RELEASE_SCRIPT)

    def acquire(self) -> bool:
        if self.connection.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            return True
        return self.renew()

    def renew(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self.owner]))

    def holder(self) -> str | None:
        value = self.connection.get(self.key)
        return value.decode() if value is not None else None


@dataclass
class SchedulerStatus:
    """What health checks and the dashboard know about the scheduler."""

    active: str | None  # owner id of the copy holding the lock
    heartbeat_at: datetime | None  # its last renewal
    lock_expires_in: float | None  # seconds
    standbys: list[str]
    running: bool  # a copy holds the lock and renewed it recently


def scheduler_status() -> SchedulerStatus:
    connection = get_redis()
    ttl_seconds = float(current_app.config["SCHEDULER_LOCK_TTL_SECONDS"])
    now = time.time()
    with connection.pipeline(transaction=False) as pipe:
        pipe.get(lock_key())
        pipe.pttl(lock_key())
        pipe.get(_key("heartbeat"))
        pipe.zrangebyscore(_key("standbys"), now - 3 * ttl_seconds, "+inf")
        holder, pttl, beat, standbys = pipe.execute()
    heartbeat = json.loads(beat) if beat else None
    heartbeat_at = datetime.fromtimestamp(heartbeat["at"], UTC) if heartbeat else None
    active = holder.decode() if holder else None
    fresh = heartbeat is not None and heartbeat.get("owner") == active and now - heartbeat["at"] <= 2 * ttl_seconds
    return SchedulerStatus(
        active=active,
        heartbeat_at=heartbeat_at,
        lock_expires_in=(pttl / 1000.0) if pttl and pttl > 0 else None,
        standbys=[s.decode() for s in standbys if s.decode() != active],
        running=active is not None and fresh,
    )


# -- the process -----------------------------------------------------------------------------

class SlotExecutor(BaseExecutor):
    """Runs a tick inline in the scheduler loop and hands it the tick's scheduled time.

    APScheduler's own executors call the job without its run time; the slot id needs it.
    Ticks only enqueue (one or two Redis round trips), so running them inline is cheap.
    """

    def __init__(self, fire: Callable[[str, datetime], None]) -> None:
        super().__init__()
        self._fire = fire

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        events = []
        for run_time in run_times:
            late = datetime.now(UTC) - run_time
            if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
                logger.warning("skipping %s of %s: %s late", job.id, run_time.isoformat(), late)
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
                continue
            try:
                self._fire(job.id, run_time)
            except Exception as exc:  # noqa: BLE001 - a failed tick must not stop the scheduler
                logger.exception("enqueueing %s for %s failed", job.id, run_time.isoformat())
                events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, job._jobstore_alias, run_time, exception=exc))
            else:
                events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time))
        self._run_job_success(job.id, events)


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SchedulerRunner:
    """One ``flask scheduler run`` process: standby until it holds the lock, then active."""

    def __init__(self, app: Flask, *, owner: str | None = None) -> None:
        self.app = app
        self.owner = owner or new_owner_id()
        with app.app_context():
            self.connection = get_redis()
            self.plan = schedule_plan(app.config)
            self.lock = SchedulerLock(self.connection, lock_key(), self.owner, app.config["SCHEDULER_LOCK_TTL_SECONDS"])
            self._heartbeat_key = _key("heartbeat")
            self._standbys_key = _key("standbys")
        self.ttl = float(app.config["SCHEDULER_LOCK_TTL_SECONDS"])
        self.renew_every = max(self.ttl / 3.0, 0.1)
        self.standby_poll = max(self.ttl / 4.0, 0.1)
        self.misfire_grace = int(app.config["SCHEDULER_MISFIRE_GRACE_SECONDS"])
        self._stop = threading.Event()
        self._by_name = {entry.job.name: entry for entry in self.plan}
        self.active = False

    def stop(self) -> None:
        """Ask the runner to stop (safe from a signal handler: it only sets an event)."""
        self._stop.set()

    def run(self) -> None:
        """Block until ``stop()``: wait as standby, run while active, step down on lock loss."""
        logger.info("scheduler %s starting with %d jobs", self.owner, len(self.plan))
        try:
            while not self._stop.is_set():
                if self._try_acquire():
                    logger.info("scheduler %s is now active", self.owner)
                    self._run_active()
                    logger.info("scheduler %s is no longer active", self.owner)
                else:
                    self._standby_beat()
                    self._stop.wait(self.standby_poll)
        finally:
            self._leave()

    def _try_acquire(self) -> bool:
        try:
            return self.lock.acquire()
        except redis.RedisError as exc:
            logger.warning("scheduler cannot reach Redis (%s); retrying", type(exc).__name__)
            return False

    def _run_active(self) -> None:
        scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": SlotExecutor(self._fire)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.misfire_grace},
        )
        for entry in self.plan:
            scheduler.add_job(_never_called, trigger=entry.trigger(), id=entry.job.name, name=entry.job.name)

        def on_started(event: SchedulerEvent) -> None:
            threading.Thread(target=self._keep_lock, args=(scheduler,), name="scheduler-lock", daemon=True).start()

        scheduler.add_listener(on_started, EVENT_SCHEDULER_STARTED)
        self.active = True
        self._active_beat()
        try:
            scheduler.start()  # blocks until the lock keeper shuts it down
        finally:
            self.active = False
            if scheduler.state != STATE_STOPPED:
                scheduler.shutdown(wait=False)

    def _keep_lock(self, scheduler: BlockingScheduler) -> None:
        """Renew the lock every third of its TTL; stop the scheduler on loss or on ``stop()``."""
        last_confirmed = time.monotonic()
        while not self._stop.wait(self.renew_every):
            try:
                if self.lock.renew():
                    last_confirmed = time.monotonic()
                    self._active_beat()
                    continue
                logger.warning("scheduler %s lost its lock; stepping down", self.owner)
                break
            except redis.RedisError:
                if time.monotonic() - last_confirmed >= self.ttl:
                    logger.warning("scheduler %s could not renew its lock within its TTL; stepping down", self.owner)
                    break
        try:
            scheduler.shutdown(wait=False)
        except Exception:  # noqa: BLE001 - already stopped
            pass

    def _fire(self, name: str, run_time: datetime) -> None:
        entry = self._by_name[name]
        with self.app.app_context():
            if self.lock.holder() != self.owner:
                logger.warning("scheduler %s no longer holds the lock; not enqueueing %s", self.owner, name)
                return
            outcome = enqueue_slot(entry.job, run_time, owner=self.owner)
            logger.info("%s %s", outcome.status, outcome.job_id)

    def _active_beat(self) -> None:
        data = json.dumps({"owner": self.owner, "at": time.time(), "pid": os.getpid(), "host": socket.gethostname()})
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                pipe.set(self._heartbeat_key, data, px=int(self.ttl * 3000))
                pipe.zrem(self._standbys_key, self.owner)
                pipe.execute()
        except redis.RedisError:
            logger.warning("scheduler heartbeat failed", exc_info=True)

    def _standby_beat(self) -> None:
        now = time.time()
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                pipe.zadd(self._standbys_key, {self.owner: now})
                pipe.zremrangebyscore(self._standbys_key, "-inf", now - 10 * self.ttl)
                pipe.execute()
        except redis.RedisError as exc:
            logger.warning("scheduler standby heartbeat failed (%s)", type(exc).__name__)

    def _leave(self) -> None:
        """A clean stop hands the lock over at once instead of after its TTL."""
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                pipe.zrem(self._standbys_key, self.owner)
                pipe.execute()
            if self.lock.release():
                self.connection.delete(self._heartbeat_key)
        except redis.RedisError:
            logger.warning("scheduler could not release its lock; it expires by itself", exc_info=True)
        logger.info("scheduler %s stopped", self.owner)


def _never_called() -> None:  # pragma: no cover - SlotExecutor calls SchedulerRunner._fire instead
    raise RuntimeError("scheduled ticks run through SlotExecutor")
