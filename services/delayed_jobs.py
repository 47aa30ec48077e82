"""Delayed jobs and retries reach their queues on time, whichever worker died.

A job enqueued with a delay (every poll is: ``POLL_SPREAD_SECONDS``) or waiting for a retry sits
in RQ's ``ScheduledJobRegistry`` until someone moves it onto its queue. RQ leaves that to a
scheduler that a worker forks, behind a per-queue lock that lives 61 s and that the next worker
only tries to take at its maintenance interval (ten minutes): after a ``kill -9`` of the worker,
nothing delayed ran for up to ten minutes.

Here the active scheduler process does it (``SchedulerRunner``, every
``SCHEDULER_RELEASE_SECONDS``), through RQ's own public scheduler API (``RQScheduler``:
``acquire_locks``, ``enqueue_scheduled_jobs``, ``release_locks``), so jobs are moved exactly as
RQ moves them and RQ's lock still keeps two movers apart. Every copy of our scheduler takes
RQ's lock under the *same* name (``releaser_name``), so a standby that takes over the leader
lock simply refreshes RQ's lock instead of waiting a minute for the dead copy's to expire;
between our copies the leader lock is what keeps them apart. A worker that still runs RQ's
scheduler (``WORKER_RQ_SCHEDULER``) holds the lock under its own name: then that worker moves
the jobs, and ours takes over within about a minute of its death.
"""
from __future__ import annotations

import logging

import redis
from rq.scheduler import RQScheduler

from services.queue import QUEUES

logger = logging.getLogger(__name__)


def releaser_name(key_prefix: str) -> str:
    """The name every copy of the scheduler holds RQ's scheduler locks under."""
    return f"{key_prefix}scheduler"


class DelayedJobReleaser:
    """Moves due delayed jobs and retries of every queue onto the queue (one call per tick)."""

    def __init__(self, connection: redis.Redis, key_prefix: str) -> None:
        self._rq = RQScheduler(list(QUEUES), connection=connection, name=releaser_name(key_prefix))
        self._held: frozenset[str] = frozenset()

    def release_due(self) -> int:
        """Take (or refresh) RQ's scheduler locks, then move what is due on the queues we hold;
        the number of queues held. A lock held by another name (a worker running RQ's
        scheduler) is left alone: that worker moves that queue's jobs."""
        held = frozenset(self._rq.acquire_locks())
        if held != self._held:
            missing = sorted(set(QUEUES) - held)
            if missing:
                logger.info("delayed jobs of %s are released by another RQ scheduler", ", ".join(missing))
            self._held = held
        if held:
            self._rq.enqueue_scheduled_jobs()
        return len(held)

    def stop(self) -> None:
        """Hand RQ's locks back at once (a clean stop; a crash lets them expire)."""
        try:
            self._rq.release_locks()
        except redis.RedisError:
            logger.warning("could not release RQ's scheduler locks; they expire by themselves", exc_info=True)
        self._held = frozenset()
