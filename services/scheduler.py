"""The scheduler: one active process that only enqueues periodic jobs, hot standbys behind it.

``flask scheduler run`` starts a ``SchedulerRunner``. It takes a Redis lock (``SET NX PX``) and,
while it holds it, runs a small loop of its own: sleep until the next slot of any job or the
next lock renewal (every third of the TTL), whichever comes first; enqueue what is due by dotted
path; renew; step down the moment the lock is lost. APScheduler provides the triggers only
(``get_next_fire_time``, its public API): the loop needs each tick's scheduled time for the slot
id, which APScheduler's executors do not pass on. A second copy finds the lock taken, waits as a
standby and takes over within about one TTL after the active copy dies.

The active copy also moves delayed jobs and retries onto their queues when they fall due, every
``SCHEDULER_RELEASE_SECONDS`` (``services.delayed_jobs``): no worker's death can hold them up.

A tick later than ``SCHEDULER_MISFIRE_GRACE_SECONDS`` is skipped, and ticks missed while the
process could not run coalesce into the latest one (as APScheduler's ``coalesce=True`` does).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from apscheduler.triggers.base import BaseTrigger
from flask import Flask, current_app
from rq.job import Job

from extensions import get_redis
from services.delayed_jobs import DelayedJobReleaser
from services.queue import enqueue
from services.schedule_plan import PlanEntry, ScheduledJob, schedule_plan

logger = logging.getLogger(__name__)

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


# -- Redis keys ------------------------------------------------------------------------------

def _key(suffix: str) -> str:
    return f"{current_app.config['REDIS_KEY_PREFIX']}scheduler:{suffix}"


def lock_key() -> str:
    return _key("lock")


def _text(value: bytes | str) -> str:
    """A Redis reply as text (the app's client answers bytes; a decoding client, str)."""
    return value.decode() if isinstance(value, bytes) else value


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
    connection = get_redis()
    slot = slot.astimezone(UTC).replace(microsecond=0)
    job_id = slot_job_id(job.name, slot)
    claim_ttl = int(current_app.config["SCHEDULER_CLAIM_TTL_SECONDS"])
    if not connection.set(_key(f"claim:{job_id}"), owner, nx=True, ex=claim_ttl):
        logger.info("slot %s was already enqueued; skipping", job_id)
        return SlotOutcome("duplicate", job_id)
    try:
        enqueue(job.target, job_id=job_id)
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
    connection = get_redis()
    raw = connection.hgetall(_key("last"))
    entries = {_text(k): json.loads(v) for k, v in raw.items()}
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
        return _text(value) if value is not None else None


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

@dataclass
class SlotClock:
    """When each planned job fires next, from its trigger's public ``get_next_fire_time``.

    ``take_due`` hands out the slots that have come, one per job: ticks missed while the process
    was busy or asleep coalesce into the latest, and a slot later than ``misfire_grace`` seconds
    is reported as missed instead of enqueued.
    """

    plan: list[PlanEntry]
    misfire_grace: float
    start: datetime
    _next: dict[str, datetime | None] = field(default_factory=dict, init=False)
    _triggers: dict[str, BaseTrigger] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for entry in self.plan:
            trigger = entry.trigger()
            self._triggers[entry.job.name] = trigger
            self._next[entry.job.name] = trigger.get_next_fire_time(None, self.start)

    def take_due(self, now: datetime) -> tuple[list[tuple[str, datetime]], list[tuple[str, datetime]]]:
        """(due, missed): the slots that have come by ``now``, each job's latest only."""
        due: list[tuple[str, datetime]] = []
        missed: list[tuple[str, datetime]] = []
        for name, when in self._next.items():
            if when is None or when > now:
                continue
            trigger = self._triggers[name]
            latest = when
            following = trigger.get_next_fire_time(latest, now)
            while following is not None and following <= now:
                latest, following = following, trigger.get_next_fire_time(following, now)
            self._next[name] = following
            if (now - latest).total_seconds() > self.misfire_grace:
                missed.append((name, latest))
            else:
                due.append((name, latest))
        return due, missed

    def seconds_until_next(self, now: datetime) -> float:
        """How long until the next slot of any job (a minute when nothing is planned)."""
        upcoming = [when for when in self._next.values() if when is not None]
        if not upcoming:
            return 60.0
        return max((min(upcoming) - now).total_seconds(), 0.0)


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SchedulerRunner:
    """One ``flask scheduler run`` process: standby until it holds the lock, then active."""

    def __init__(self, app: Flask, *, owner: str | None = None, watch: Callable[[], object] | None = None) -> None:
        self.app = app
        self.owner = owner or new_owner_id()
        # Called in an app context every ``PROCESS_WATCH_SECONDS`` while active: the command
        # passes the look at the workers (admin alerts); this module knows nothing of alerts.
        self.watch = watch
        self.watch_every = float(app.config["PROCESS_WATCH_SECONDS"])
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
        self.release_every = float(app.config["SCHEDULER_RELEASE_SECONDS"])
        self.releaser = DelayedJobReleaser(self.connection, app.config["REDIS_KEY_PREFIX"])
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
        """Enqueue due slots and renew the lock until the lock is lost or ``stop()`` is called.

        One thread does both: a tick is one or two Redis round trips, so it never delays a
        renewal by more than a fraction of the TTL.
        """
        self.active = True
        self._active_beat()
        clock = SlotClock(self.plan, self.misfire_grace, datetime.now(UTC))
        next_renewal = time.monotonic() + self.renew_every
        last_confirmed = next_release = time.monotonic()
        next_watch = time.monotonic() + self.watch_every  # not at once: workers may be starting too
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_release:
                    self._release_delayed()
                    next_release = time.monotonic() + self.release_every
                if self.watch is not None and time.monotonic() >= next_watch:
                    self._watch_safely()
                    next_watch = time.monotonic() + self.watch_every
                due, missed = clock.take_due(datetime.now(UTC))
                for name, slot in missed:
                    logger.warning("skipping %s of %s: more than %d s late", name, slot.isoformat(), self.misfire_grace)
                for name, slot in due:
                    self._fire_safely(name, slot)
                if time.monotonic() >= next_renewal:
                    renewed = self._renew(last_confirmed)
                    if renewed is None:
                        return  # lost the lock: step down
                    last_confirmed = renewed
                    next_renewal = time.monotonic() + self.renew_every
                until_slot = clock.seconds_until_next(datetime.now(UTC))
                until_renewal = next_renewal - time.monotonic()
                until_release = next_release - time.monotonic()
                until_watch = next_watch - time.monotonic() if self.watch is not None else until_release
                self._stop.wait(max(min(until_slot, until_renewal, until_release, until_watch), 0.0))
        finally:
            self.active = False
            self.releaser.stop()

    def _watch_safely(self) -> None:
        try:
            with self.app.app_context():
                if self.watch is not None:
                    self.watch()
        except Exception:  # noqa: BLE001 - a failed look must not stop the scheduler
            logger.warning("the scheduler's watch failed", exc_info=True)

    def _release_delayed(self) -> None:
        try:
            self.releaser.release_due()
        except Exception:  # noqa: BLE001 - Redis away or a bad job: the next round tries again
            logger.warning("releasing due delayed jobs failed", exc_info=True)

    def _renew(self, last_confirmed: float) -> float | None:
        """Renew the lock: the new confirmation time, or ``None`` when this copy must step down
        (another copy holds the lock, or Redis could not confirm it for a whole TTL)."""
        try:
            if self.lock.renew():
                self._active_beat()
                return time.monotonic()
            logger.warning("scheduler %s lost its lock; stepping down", self.owner)
            return None
        except redis.RedisError:
            if time.monotonic() - last_confirmed >= self.ttl:
                logger.warning("scheduler %s could not renew its lock within its TTL; stepping down", self.owner)
                return None
            return last_confirmed

    def _fire_safely(self, name: str, slot: datetime) -> None:
        try:
            self._fire(name, slot)
        except Exception:  # noqa: BLE001 - a failed tick must not stop the scheduler
            logger.exception("enqueueing %s for %s failed", name, slot.isoformat())

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

