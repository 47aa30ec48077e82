"""Admin alerts when the worker or the scheduler goes missing, raised by the *other* process.

The health-check job cannot report these: it is enqueued by the scheduler and run by a worker,
so with either gone it does not run at all. So the active scheduler looks at the workers'
heartbeats (``watch_workers``, every ``PROCESS_WATCH_SECONDS``), and every worker looks at the
scheduler's during RQ's periodic maintenance (``watch_scheduler``). Each keeps the state last
reported in Redis (``state_changed``: an atomic ``GETSET``, so of several watchers only one sees
a change) and alerts once when a process goes missing and once when it is back.

The alerts are delivered **from the watching process**, right away (``deliver_notification``):
the usual delivery job would wait for a worker, and a missing worker is the news.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from services.notifications.admin_alerts import Words, state_changed, write_admin_alerts
from services.notifications.sending import deliver_notification
from services.scheduler import scheduler_status
from services.worker_heartbeat import list_workers

logger = logging.getLogger(__name__)


def _watch(name: str, running: bool, missing_words: Words, back_words: Words) -> int:
    """Alert on a change of ``name`` between running and missing; returns the alerts written.
    A first look that finds it running says nothing (nothing was missing)."""
    previous = state_changed(f"process:{name}", "running" if running else "missing")
    if previous is None or (previous == "" and running):
        return 0
    incident = int(datetime.now(UTC).timestamp())
    direction = "back" if running else "missing"
    ids = write_admin_alerts(f"process:{name}:{direction}:{incident}", back_words if running else missing_words,
                             kind="system", severity="info" if running else "critical")
    db.session.commit()
    for notification_id in ids:
        deliver_notification(notification_id)
    return len(ids)


def watch_workers() -> int:
    """The active scheduler's look at the workers."""
    return _guarded("worker", lambda: _watch(
        "worker", any(worker.alive for worker in list_workers()),
        lambda: (_("No worker is running"),
                 _("No worker has sent a heartbeat recently: monitors are not checked and nothing is sent. "
                   "Start a worker (make run restarts it by itself).")),
        lambda: (_("A worker is running again"), _("Checks and deliveries resume."))))


def watch_scheduler() -> int:
    """A worker's look at the scheduler."""
    return _guarded("scheduler", lambda: _watch(
        "scheduler", scheduler_status().running,
        lambda: (_("The scheduler is not running"),
                 _("No scheduler holds its lock: nothing periodic is enqueued (polls, deliveries, health checks). "
                   "Start `flask scheduler run` (make run restarts it by itself).")),
        lambda: (_("The scheduler is running again"), _("Periodic jobs are enqueued again."))))


def _guarded(name: str, look: Callable[[], int]) -> int:
    """A failed look is logged, never raised: it runs inside the scheduler's and workers' loops."""
    try:
        return look()
    except (RedisError, SQLAlchemyError):
        db.session.rollback()
        logger.warning("could not watch the %s for admin alerts", name, exc_info=True)
        return 0
