"""The background worker: ``python worker.py [--burst] [--queues high default ...]``.

An RQ worker with the app built once (``create_app()``) and its context pushed, listening on the
queues in priority order (``services.queue.QUEUES``). RQ forks a work horse per job; the horse
first drops the database connections it inherited (sharing a socket between two processes
corrupts both) and runs the job in a fresh app context. SIGTERM is a warm shutdown: the current
job finishes, then the worker exits. Any number of workers may run on any number of machines.

``--no-fork`` runs every job inside the worker process instead (``AppSimpleWorker``: RQ's
SimpleWorker, with RQ's timeout death penalty still bounding each job). A process per job costs
about as much as a short poll itself, so a worker dedicated to the ``polling`` queue
(``python worker.py --queues polling --no-fork``) polls several times faster; the price is that
a job that leaks memory or corrupts process state affects the jobs after it.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
import uuid
from typing import Any

import redis
from flask import Flask
from rq import Queue
from rq.job import Job
from rq.worker import SimpleWorker, Worker

logger = logging.getLogger("dhm.worker")

# Our heartbeat is written at most this often while jobs keep coming. Short jobs (a poll takes
# tens of milliseconds) would otherwise pay Redis round trips per job for it; liveness is judged
# over WORKER_STALE_SECONDS (a minute or more), so a beat a second loses nothing. Going idle is
# always written at once, so an idle worker never shows a finished job as its current one.
BEAT_MIN_INTERVAL = 1.0


class AppWorkerMixin:
    """What every DHgate Monitor worker adds to RQ's: app context per job, fork safety, heartbeat."""

    app: Flask
    connection: redis.Redis
    name: str
    worker_ttl: int
    _state: str
    _dhm_current_job: str | None = None
    _dhm_last_beat: float = float("-inf")
    _dhm_published_job: str | None = None
    _dhm_last_rq_beat: float = float("-inf")
    _dhm_last_suspension_check: float = float("-inf")

    def perform_job(self, job: Job, queue: Queue) -> bool:
        """Each job gets its own app context (fresh ``g`` and DB session) and leaves none behind."""
        from extensions import db

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

        RQ beats before every dequeue; on its own round trip that is at most once a second
        here (its worker key lives for minutes). Beats that ride on a pipeline RQ is sending
        anyway always go through.
        """
        now = time.monotonic()
        if pipeline is not None or now - self._dhm_last_rq_beat >= BEAT_MIN_INTERVAL:
            if pipeline is None:
                self._dhm_last_rq_beat = now
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
        # Going idle is written at once: the last beat must not name a job that has finished.
        self._beat(force=self._dhm_current_job is None and self._dhm_published_job is not None)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's SimpleWorker marks itself idle after every job and again before it waits for
        the next; the same state twice in a row is written once."""
        if pipeline is None and state == getattr(self, "_state", None):
            return
        super().set_state(state, pipeline)  # type: ignore[misc]

    def check_for_suspension(self, burst: bool) -> None:
        """RQ asks Redis whether ``rq suspend`` was run before every job; once a second is
        soon enough, and saves a round trip per short job."""
        now = time.monotonic()
        if now - self._dhm_last_suspension_check < BEAT_MIN_INTERVAL:
            return
        self._dhm_last_suspension_check = now
        super().check_for_suspension(burst)  # type: ignore[misc]

    def teardown(self) -> None:
        super().teardown()  # type: ignore[misc]
        if not getattr(self, "is_horse", False):
            from services.worker_heartbeat import forget

            try:
                forget(self.connection, self.app.config["REDIS_KEY_PREFIX"], self.name)
            except redis.RedisError:
                logger.warning("could not remove the heartbeat of %s", self.name, exc_info=True)

    def _beat(self, *, force: bool = False) -> None:
        """Write our heartbeat, unless one was written less than ``BEAT_MIN_INTERVAL`` ago."""
        from services.worker_heartbeat import beat

        now = time.monotonic()
        if not force and now - self._dhm_last_beat < BEAT_MIN_INTERVAL:
            return
        self._dhm_last_beat = now
        self._dhm_published_job = self._dhm_current_job
        info = {
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "queues": [q.name for q in self.queues],  # type: ignore[attr-defined]
            "state": str(getattr(self, "_state", "")),
            "current_job": self._dhm_current_job,
        }
        ttl = max(int(self.app.config["WORKER_STALE_SECONDS"]) * 2, self.worker_ttl + 60)
        try:
            beat(self.connection, self.app.config["REDIS_KEY_PREFIX"], self.name, info, ttl)
        except redis.RedisError:
            logger.warning("worker heartbeat failed", exc_info=True)


class AppWorker(AppWorkerMixin, Worker):
    """The production worker: one forked work horse per job."""

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """In the freshly forked horse: drop inherited DB connections before touching the DB."""
        from extensions import db

        with self.app.app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)  # close=False: the parent's sockets stay the parent's
        super().main_work_horse(job, queue)


class AppSimpleWorker(AppWorkerMixin, SimpleWorker):
    """Runs jobs in its own process (no fork): for tests and for platforms without ``fork``."""


def worker_name() -> str:
    """Readable and unique across machines: host, pid and a random suffix."""
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def build_worker(
    app: Flask,
    queues: list[str] | tuple[str, ...] | None = None,
    *,
    worker_class: type[AppWorkerMixin] = AppWorker,
    name: str | None = None,
) -> Worker:
    """A worker bound to ``app``'s Redis, listening on ``queues`` (all, by priority, by default)."""
    from services.queue import QUEUES

    names = list(queues or QUEUES)
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue {unknown[0]!r}; use one of {', '.join(QUEUES)}")
    ordered = [q for q in QUEUES if q in names]  # priority order, whatever order they were given in
    connection = redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=5, health_check_interval=30)
    cls = type(worker_class.__name__, (worker_class,), {"app": app})
    return cls(  # type: ignore[call-arg,no-any-return]
        [Queue(q, connection=connection) for q in ordered],
        connection=connection,
        name=name or worker_name(),
        worker_ttl=int(app.config["WORKER_TTL_SECONDS"]),
    )


def preload() -> None:
    """Import every job module and build what fetches need once, before RQ forks work horses.

    Each forked horse inherits these instead of rebuilding them (~170 ms per job otherwise).
    """
    from services.dhgate.fetcher import warm_up
    from services.queue import discover_jobs

    discover_jobs()
    warm_up()


def parse_args(argv: list[str]) -> argparse.Namespace:
    from services.queue import QUEUES

    parser = argparse.ArgumentParser(prog="worker.py", description="Run a DHgate Monitor background worker.")
    parser.add_argument("--burst", action="store_true", help="run the jobs that are waiting, then exit")
    parser.add_argument(
        "--queues", nargs="+", choices=QUEUES, default=list(QUEUES), metavar="QUEUE",
        help=f"queues to listen on (default: all, in priority order: {' '.join(QUEUES)})",
    )
    parser.add_argument("--name", help="worker name (default: host.pid.random)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--no-fork", action="store_true",
                        help="run jobs inside the worker process instead of a forked process per job")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from app import create_app
    from config import ConfigError

    try:
        app = create_app()
    except ConfigError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    with app.app_context():
        try:
            preload()  # sets up the DHgate breaker in Redis: the first thing that needs Redis
            worker_class = AppSimpleWorker if args.no_fork else AppWorker
            worker = build_worker(app, args.queues, worker_class=worker_class, name=args.name)
            worker.work(
                burst=args.burst,
                with_scheduler=bool(app.config["WORKER_RQ_SCHEDULER"]),
                logging_level=args.log_level,
            )
        except redis.ConnectionError as exc:
            print(f"worker: cannot reach Redis ({type(exc).__name__})", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
