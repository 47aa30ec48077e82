"""Alerts to admins about the platform, through their channels like any member alert.

Every system event becomes one ``Notification`` per active admin (kind ``admin`` or the caller's
own) with a ``Delivery`` for each of that admin's active channels, so the sending machinery
(claim, retries, pausing) delivers them like everything else.

**Once per incident.** The dedupe key names the incident (a check and the last *ok* row before it
failed, a circuit and the moment it opened…); ``notifications`` is unique per admin and key, and
the rows are written with ``INSERT … ON CONFLICT DO NOTHING … RETURNING``, so two runs racing
over the same transition write each admin one row, and only the run that wrote a row queues its
deliveries.

The periodic watch (``watch_platform``, called by the health-check job) looks at what health
checks do not store: the DHgate circuit breaker and the number of failed jobs. For each it keeps
the state last reported in Redis and alerts on a change (``GETSET`` is atomic, so only one of two
racing runs sees the change). Worker, scheduler and dependency outages are health checks and
reach admins through ``services.health``; DHgate blocking a monitor through the poll.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import select

from extensions import db, get_redis
from models import Notification, User
from services.dhgate.fetcher import get_fetcher
from services.failed_jobs import failed_jobs
from services.notifications.alerts import TITLE_LIMIT, clip, locale_of
from services.notifications.delivery import queue_deliveries, request_delivery
from services.polling.sql import insert_returning_ids

logger = logging.getLogger(__name__)

ADMIN_KIND = "admin"
PLATFORM_LINK = "/dashboard/platform"
WATCH_PREFIX = "admin-alerts:"

Words = Callable[[], tuple[str, str]]  # (title, body), called in each admin's language


def active_admins() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)))


def write_admin_alerts(dedupe_key: str, words: Words, *, kind: str = ADMIN_KIND, severity: str = "warning",
                       link: str | None = PLATFORM_LINK, created_at: datetime | None = None) -> list[int]:
    """One alert per active admin for the incident ``dedupe_key``, each with a pending delivery
    per active channel, in the caller's transaction; the ids of the alerts this call wrote."""
    admins = active_admins()
    if not admins:
        return []
    now = created_at or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for admin in admins:
        with force_locale(locale_of(admin)):
            title, body = words()
        rows.append({"user_id": admin.id, "kind": kind, "severity": severity, "title": clip(title, TITLE_LIMIT),
                     "body": body, "link": link, "dedupe_key": dedupe_key[:200], "created_at": now})
    new_ids = insert_returning_ids(db.session, Notification, rows, ["user_id", "dedupe_key"])
    for notification_id in new_ids:
        notification = db.session.get(Notification, notification_id)
        if notification is not None:
            queue_deliveries(notification)
    if new_ids:
        logger.info("admin alert %s written for %s admin(s)", dedupe_key, len(new_ids))
    return new_ids


def alert_admins(dedupe_key: str, words: Words, *, kind: str = ADMIN_KIND, severity: str = "warning",
                 link: str | None = PLATFORM_LINK, created_at: datetime | None = None, commit: bool = True) -> int:
    """``write_admin_alerts``; returns how many were new (0 when the incident was told already).
    With ``commit`` the rows are committed and their delivery jobs enqueued; without, they join
    the caller's transaction and the every-minute delivery sweep sends them once it commits."""
    new_ids = write_admin_alerts(dedupe_key, words, kind=kind, severity=severity, link=link, created_at=created_at)
    if not commit:
        return len(new_ids)
    db.session.commit()
    request_delivery(new_ids)
    return len(new_ids)


# --- events other parts report ---------------------------------------------------------------------

def alert_new_member(user: User) -> int:
    """A member joined through public signup (told once per account)."""
    def words() -> tuple[str, str]:
        return (_("New member: %(name)s", name=user.username),
                _("%(name)s (%(email)s) signed up and confirmed their address.", name=user.username, email=user.email))
    return alert_admins(f"signup:{user.id}", words, severity="info", link="/admin/users")


# --- the periodic watch ----------------------------------------------------------------------------

def state_changed(name: str, state: str) -> str | None:
    """The state last reported for ``name`` if it differs from ``state`` (and remember
    ``state``); None when nothing changed. The first look reports nothing unless it is bad."""
    previous = get_redis().getset(current_app.config["REDIS_KEY_PREFIX"] + WATCH_PREFIX + name, state)
    if isinstance(previous, bytes):
        previous = previous.decode()
    if previous == state:
        return None
    return previous or ""


def watch_circuit(state: str) -> int:
    """Alert on the DHgate circuit opening (``state`` open) and on it closing again."""
    reported = "open" if state == "open" else ("closed" if state == "closed" else None)
    if reported is None:  # half-open: a trial is under way; wait for its outcome
        return 0
    previous = state_changed("circuit", reported)
    if previous is None or (previous == "" and reported == "closed"):
        return 0
    incident = int(datetime.now(UTC).timestamp())
    if reported == "open":
        return alert_admins(f"circuit:open:{incident}", lambda: (
            _("DHgate circuit opened"),
            _("Fetching from DHgate failed repeatedly, so checks are paused for a while. You will be told when "
              "it closes again.")))
    return alert_admins(f"circuit:closed:{incident}", lambda: (
        _("DHgate circuit closed"), _("Fetching from DHgate works again; checks resume.")), severity="info")


def watch_failed_jobs(count: int) -> int:
    """Alert once when failed jobs reach ``ADMIN_ALERT_FAILED_JOBS``; again only after the count
    dropped below it (someone retried or cleared them) and rose again."""
    threshold = int(current_app.config["ADMIN_ALERT_FAILED_JOBS"])
    piling = count >= threshold
    previous = state_changed("failed-jobs", "piling" if piling else "ok")
    if previous is None or not piling:
        return 0
    incident = int(datetime.now(UTC).timestamp())
    return alert_admins(f"failed-jobs:{incident}", lambda: (
        _("%(n)s background jobs failed", n=count),
        _("Failed jobs are piling up (%(n)s, the alert threshold is %(t)s). Look at them on the jobs page.",
          n=count, t=threshold)), link="/admin/jobs")


def watch_platform() -> int:
    """One look at the circuit and the failed jobs; returns the alerts written. A Redis error is
    logged: the next run looks again."""
    try:
        return watch_circuit(get_fetcher().breaker.state) + watch_failed_jobs(failed_jobs(limit=1).total)
    except RedisError:
        logger.warning("could not watch the circuit and failed jobs for admin alerts", exc_info=True)
        return 0
