"""The background worker's machinery: RQ workers bound to the app, and the one way to run one.

``python worker.py`` and ``flask worker`` both end in ``run_worker``: the job modules and the
fetcher are loaded once (``preload``), then an RQ worker listens on the queues in priority order
(``services.queue.QUEUES``). RQ forks a work horse per job (``AppWorker``); the horse first drops
the database connections it inherited (sharing a socket between two processes corrupts both)
and every job runs in a fresh app context. SIGTERM is a warm shutdown: the current job finishes,
then the worker exits. Any number of workers may run on any number of machines.

``no_fork`` runs every job inside the worker process instead (``AppSimpleWorker``: RQ's
SimpleWorker, with RQ's timeout death penalty still bounding each job). A process per job costs
about as much as a short poll itself, so a worker dedicated to the ``polling`` queue polls several
times faster that way; the price is that a job that leaks memory or corrupts process state
affects the jobs after it.

A worker also beats from a thread of its own (``HeartbeatThread``, every sixth of
``WORKER_STALE_SECONDS``), whatever its jobs are doing: a poll that runs for two minutes inside
a ``no_fork`` worker must not make the worker look dead, and a worker that *is* dead must look
so soon, because the polls it held are handed to another worker once it does
(``services.polling.recovery``).

Delayed jobs and retries are moved onto their queues by the active scheduler process
(``services.delayed_jobs``), not by RQ's scheduler inside a worker: a killed worker would hold
RQ's scheduler lock for a minute and its successor would only retry it every ten. A worker runs
RQ's scheduler only with ``WORKER_RQ_SCHEDULER`` (a setup without ``flask scheduler run``).

``with_scheduler`` (``--with-scheduler``, what ``make run``'s poller uses) runs our scheduler in a
thread of a ``no_fork`` worker (``SchedulerThread``) instead of a process of its own: one
interpreter less (~75 MB at rest). It is the same ``SchedulerRunner`` as ``flask scheduler
run``, with the same Redis lock, so a standalone scheduler elsewhere is simply a standby. Only a
worker that never forks may run it: a fork taken while another thread holds a lock (logging's,
a connection pool's) leaves the child deadlocked.

A ``no_fork`` worker hands the C heap's free pages back to the system after each job
(``release_free_memory``, glibc's ``malloc_trim``): a batch polls in threads, each with an
allocator arena of its own, and what the batch freed there otherwise stays in the process at
rest (~11 MB of the poller's PSS after 100 polls, ``bench/bench_peer.py``). It costs a
millisecond or two per batch job. A forking worker has nothing to trim: its jobs run in horses.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from flask import Flask
from rq import Queue
from rq.job import Job
from rq.worker import SimpleWorker, Worker

from extensions import db, redis_client
from services import worker_heartbeat
from services.dhgate.fetcher import warm_up
from services.native_memory import release_free_memory
from services.notifications.process_watch import watch_scheduler, watch_workers
from services.queue import QUEUES, discover_jobs
from services.scheduler import SchedulerRunner

logger = logging.getLogger(__name__)

# Our heartbeat, and RQ's per-job housekeeping below, happen at most this often while jobs keep
# coming. Short jobs (a poll takes tens of milliseconds) would otherwise pay Redis round trips per
# job for them; liveness is judged over WORKER_STALE_SECONDS (a minute or more), so once a second
# loses nothing. Going idle is always written at once, so an idle worker never shows a finished
# job as its current one.
BEAT_MIN_INTERVAL = 1.0


class WorkerStartError(RuntimeError):
    """The worker could not start (bad queue name, Redis unreachable); the message says why."""


class AppWorkerMixin:
    """What every DHgate Monitor worker adds to RQ's: app context per job, fork safety, heartbeat.

    Three methods override RQ internals to save Redis round trips per short job: ``heartbeat``,
    ``set_state`` and ``check_for_suspension`` (named in ``rq_savings``). ``bench/bench_worker.py``
    runs the same no-op jobs with all of them, with none and with each one left out, in one run,
    and prints each ratio: an override stays only while its ratio shows it pays off (RQ's cost
    per no-op job roughly halves with all three). ``set_state`` reads RQ's private ``_state``;
    ``tests/background/test_worker.py`` fails when RQ stops keeping the state there.
    """

    app: Flask
    connection: redis.Redis
    name: str
    worker_ttl: int
    _state: str
    rq_savings: frozenset[str] = frozenset({"heartbeat", "state", "suspension"})
    _dhm_current_job: str | None = None
    _dhm_last_beat: float = float("-inf")
    _dhm_published_job: str | None = None
    _dhm_last_rq_beat: float = float("-inf")
    _dhm_last_suspension_check: float = float("-inf")
    _dhm_beater: HeartbeatThread | None = None

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's work loop, with our heartbeat thread running for as long as it does."""
        interval = max(float(self.app.config["WORKER_STALE_SECONDS"]) / 6.0, 1.0)
        self._dhm_beater = HeartbeatThread(self, interval)
        self._dhm_beater.start()
        try:
            return super().work(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._dhm_beater.stop()

    def perform_job(self, job: Job, queue: Queue) -> bool:
        """Each job gets its own app context (fresh ``g`` and DB session) and leaves none behind."""
        with self.app.app_context():
            try:
                return super().perform_job(job, queue)  # type: ignore[misc]
            finally:
                db.session.remove()

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._dhm_current_job = job.id
        self._beat()
        try:
            super().execute_job(job, queue)  # type: ignore[misc]
        finally:
            self._dhm_current_job = None

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's own heartbeat, plus ours that health checks and the dashboard read.

        RQ beats before every dequeue; on its own round trip that is at most once per
        ``BEAT_MIN_INTERVAL`` here (its worker key lives for minutes). Beats that ride on a
        pipeline RQ is sending anyway always go through.
        """
        now = time.monotonic()
        if (pipeline is not None or "heartbeat" not in self.rq_savings
                or now - self._dhm_last_rq_beat >= BEAT_MIN_INTERVAL):
            if pipeline is None:
                self._dhm_last_rq_beat = now
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
        # Going idle is written at once: the last beat must not name a job that has finished.
        self._beat(force=self._dhm_current_job is None and self._dhm_published_job is not None)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's SimpleWorker marks itself idle after every job and again before it waits for
        the next; the same state twice in a row is written once."""
        if "state" in self.rq_savings and pipeline is None and state == getattr(self, "_state", None):
            return
        super().set_state(state, pipeline)  # type: ignore[misc]

    def check_for_suspension(self, burst: bool) -> None:
        """RQ asks Redis whether ``rq suspend`` was run before every job; once per
        ``BEAT_MIN_INTERVAL`` is soon enough, and saves a round trip per short job."""
        now = time.monotonic()
        if "suspension" in self.rq_savings and now - self._dhm_last_suspension_check < BEAT_MIN_INTERVAL:
            return
        self._dhm_last_suspension_check = now
        super().check_for_suspension(burst)  # type: ignore[misc]

    def run_maintenance_tasks(self) -> None:
        """RQ's periodic maintenance (every ``maintenance_interval``, 10 minutes), plus a look at
        the scheduler for admin alerts (``process_watch``). Not on the first run, at start-up,
        when the scheduler may itself still be starting."""
        first = getattr(self, "last_cleaned_at", None) is None
        super().run_maintenance_tasks()  # type: ignore[misc]
        if not first:
            with self.app.app_context():
                try:
                    watch_scheduler()
                finally:
                    db.session.remove()

    def teardown(self) -> None:
        super().teardown()  # type: ignore[misc]
        if not getattr(self, "is_horse", False):
            if self._dhm_beater is not None:
                self._dhm_beater.stop()  # no beat may follow the goodbye below
            try:
                worker_heartbeat.forget(self.connection, self.app.config["REDIS_KEY_PREFIX"], self.name)
            except redis.RedisError:
                logger.warning("could not remove the heartbeat of %s", self.name, exc_info=True)

    def _beat(self, *, force: bool = False, connection: redis.Redis | None = None) -> None:
        """Write our heartbeat, unless one was written less than ``BEAT_MIN_INTERVAL`` ago."""
        now = time.monotonic()
        if not force and now - self._dhm_last_beat < BEAT_MIN_INTERVAL:
            return
        self._dhm_last_beat = now
        self._dhm_published_job = self._dhm_current_job
        info = {
            **worker_heartbeat.identity(),
            "queues": [q.name for q in self.queues],  # type: ignore[attr-defined]
            "state": str(getattr(self, "_state", "")),
            "current_job": self._dhm_current_job,
        }
        ttl = max(int(self.app.config["WORKER_STALE_SECONDS"]) * 2, self.worker_ttl + 60)
        try:
            worker_heartbeat.beat(connection or self.connection, self.app.config["REDIS_KEY_PREFIX"], self.name, info, ttl)
        except redis.RedisError:
            logger.warning("worker heartbeat failed", exc_info=True)


class HeartbeatThread(threading.Thread):
    """Beats for a worker every ``interval`` seconds, busy or idle, until stopped.

    It has a Redis connection of its own: a forked work horse inherits the worker's connection
    pool, and must never inherit it locked by this thread mid-command.
    """

    def __init__(self, worker: AppWorkerMixin, interval: float) -> None:
        super().__init__(name="dhm-worker-heartbeat", daemon=True)
        self.worker = worker
        self.interval = interval
        self.connection = redis_client(worker.app.config["REDIS_URL"], socket_connect_timeout=5, socket_timeout=5)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.worker._beat(force=True, connection=self.connection)  # logs its own Redis errors
            except Exception:  # noqa: BLE001 - a heartbeat problem must never end the beats
                logger.warning("worker heartbeat thread: beat failed", exc_info=True)

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=self.interval + 10)
        self.connection.close()


class AppWorker(AppWorkerMixin, Worker):
    """The production worker: one forked work horse per job."""

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """In the freshly forked horse: drop inherited DB connections before touching the DB."""
        with self.app.app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)  # close=False: the parent's sockets stay the parent's
        super().main_work_horse(job, queue)


class AppSimpleWorker(AppWorkerMixin, SimpleWorker):
    """Runs jobs in its own process (no fork): ``make run``'s poller, tests, platforms without
    ``fork``. What a job freed goes back to the system once it ends (``release_free_memory``)."""

    def perform_job(self, job: Job, queue: Queue) -> bool:
        try:
            return super().perform_job(job, queue)
        finally:
            release_free_memory()


class SchedulerThread(threading.Thread):
    """The scheduler (``SchedulerRunner``, watching the workers as ``flask scheduler run`` does)
    in a thread of a non-forking worker.

    A scheduler that dies of an unexpected error asks its worker to stop (SIGTERM: a warm
    shutdown, the current job finishes) and ``run_worker`` then fails, so a supervisor restarts
    both, rather than leaving a worker that looks alive with no scheduler in it.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__(name="dhm-scheduler", daemon=True)
        self.runner = SchedulerRunner(app, watch=watch_workers)
        self.failure: str | None = None

    def run(self) -> None:
        try:
            self.runner.run()
        except Exception as exc:  # noqa: BLE001 - reported, then the whole process restarts
            self.failure = f"{type(exc).__name__}: {exc}"
            logger.exception("the scheduler thread stopped; stopping the worker so both start again")
            os.kill(os.getpid(), signal.SIGTERM)

    def stop(self) -> None:
        """Stop and wait: a clean stop hands the lock over at once (``SchedulerRunner._leave``)."""
        self.runner.stop()
        if self.is_alive():
            self.join(timeout=30)


def worker_name() -> str:
    """Readable and unique across machines: host, pid and a random suffix."""
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def build_worker(
    app: Flask,
    queues: Sequence[str] | None = None,
    *,
    worker_class: type[AppWorkerMixin] = AppWorker,
    name: str | None = None,
) -> Worker:
    """A worker bound to ``app``'s Redis, listening on ``queues`` (all, by priority, by default)."""
    names = list(queues or QUEUES)
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue {unknown[0]!r}; use one of {', '.join(QUEUES)}")
    ordered = [q for q in QUEUES if q in names]  # priority order, whatever order they were given in
    connection = redis_client(app.config["REDIS_URL"], socket_connect_timeout=5, health_check_interval=30)
    cls = type(worker_class.__name__, (worker_class,), {"app": app})
    return cls(
        [Queue(q, connection=connection) for q in ordered],
        connection=connection,
        name=name or worker_name(),
        worker_ttl=int(app.config["WORKER_TTL_SECONDS"]),
    )


def preload() -> None:
    """Import every job module and build what fetches need once, before RQ forks work horses.

    Each forked horse inherits these instead of rebuilding them (~170 ms per job otherwise).
    Needs an app context: setting up the DHgate breaker is the first thing that uses Redis.
    """
    discover_jobs()
    warm_up()


def run_worker(
    app: Flask,
    queues: Sequence[str] | None = None,
    *,
    burst: bool = False,
    no_fork: bool = False,
    name: str | None = None,
    log_level: str = "INFO",
    with_scheduler: bool = False,
) -> None:
    """Preload, then work the queues until SIGTERM (or, with ``burst``, until they are empty).

    Both worker entry points call this, so they start the same worker with the same options.
    ``WorkerStartError`` carries a one-line reason when it cannot start, or when the scheduler
    thread (``with_scheduler``) stopped the worker.
    """
    unknown = [q for q in queues or () if q not in QUEUES]
    if unknown:
        raise WorkerStartError(f"unknown queue {unknown[0]!r}; use one of {', '.join(QUEUES)}")
    if with_scheduler and not no_fork:
        raise WorkerStartError("the scheduler runs only in a worker that does not fork (add --no-fork)")
    scheduler: SchedulerThread | None = None
    with app.app_context():
        try:
            preload()  # sets up the DHgate breaker in Redis: the first thing that needs Redis
            worker = build_worker(app, queues, worker_class=AppSimpleWorker if no_fork else AppWorker, name=name)
            if with_scheduler:
                scheduler = SchedulerThread(app)
                scheduler.start()
            worker.work(burst=burst, with_scheduler=bool(app.config["WORKER_RQ_SCHEDULER"]), logging_level=log_level)
        except redis.ConnectionError as exc:
            raise WorkerStartError(f"cannot reach Redis ({type(exc).__name__})") from None
        finally:
            if scheduler is not None:
                scheduler.stop()
    if scheduler is not None and scheduler.failure:
        raise WorkerStartError(f"the scheduler thread stopped ({scheduler.failure})")
