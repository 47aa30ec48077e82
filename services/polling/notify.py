"""What a poll tells people: one grouped alert per monitor per poll, and blocked polls to admins.

Texts are written in the recipient's language (their ``locale``), because the notification is
what people read in their inbox, e-mail or chat. The alert itself (grouping, wording, dedupe) is
``services.notifications.alerts``; here a poll hands over the events it was the first to record,
and the alert's deliveries (one per active channel of the owner) are queued in the same
transaction. They are sent after the poll commits (``services.notifications.delivery``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import insert, literal, select

from extensions import db
from models import (
    Delivery,
    Monitor,
    Notification,
    NotificationChannel,
    NotificationPreference,
    Product,
    ProductEvent,
    User,
)
from models.base import UTCDateTime
from services.notifications.admin_alerts import alert_admins
from services.notifications.alerts import alert_row, create_monitor_alert, monitor_link
from services.notifications.delivery import queue_deliveries
from services.notifications.live import note_changed
from services.notifications.rules import DeliveryTiming, monitor_kinds, notifiable, timing_for
from services.polling.sql import insert_returning_ids

BLOCKED_KIND = "poll_blocked"


def notify_owner(monitor: Monitor, events: Sequence[ProductEvent], products: dict[int, Product]) -> int | None:
    """One alert for the monitor's owner about ``events`` (those this poll recorded first),
    with its deliveries queued; returns the alert's id (``None``: nothing new to say)."""
    owner = db.session.get(User, monitor.user_id)
    if owner is None or not events:
        return None
    notification = create_monitor_alert(monitor, owner, events, products)
    if notification is None:
        return None
    queue_deliveries(notification)
    return notification.id


def announce(
    monitor: Monitor, events: Sequence[ProductEvent], products: Mapping[int, Any], *, owner_channels: int | None,
    owner: Any = None, preference: Any = None,
) -> int | None:
    """The per-card path's alert: the same message as ``notify_owner`` in few statements.

    ``events`` are the ones this poll inserted first, so their alert (keyed by the first of them)
    cannot exist yet; it is inserted if absent all the same. The owner (``id``, ``locale``,
    ``timezone``) and their notification preferences (``frequency``, quiet hours,
    ``alert_kinds``; None: the defaults) normally come with the poll's one read of its rows
    (``services.polling.fastpath``); without an ``owner`` they are read here in one statement.
    The events are filtered by the alert rules, and the deliveries are copied from the owner's
    active channels by one ``INSERT … SELECT``, timed like ``queue_deliveries`` times them (now,
    after quiet hours, or held for a digest). ``owner_channels`` 0 (from the poll's read) skips
    the copy."""
    if not events:
        return None
    if owner is None:
        found = _read_owner(monitor.user_id)
        if found is None:
            return None
        owner, preference = found
    events = notifiable(events, monitor_kinds(monitor, preference))
    if not events:
        return None
    row = alert_row(monitor, owner, events, products)
    inserted = insert_returning_ids(db.session, Notification, [row], ["user_id", "dedupe_key"])
    if not inserted:
        return None
    note_changed(db.session, monitor.user_id)  # the live badge's version (a Core insert: no ORM event)
    if owner_channels != 0:
        timing = timing_for(owner, preference, row["event_kinds"].split(), row["created_at"])
        _copy_deliveries(inserted[0], monitor.user_id, row["created_at"], timing)
    return inserted[0]


def _read_owner(user_id: int) -> tuple[User, NotificationPreference | None] | None:
    """The owner and their preferences in one statement (None: no such user), for a poll whose
    read of its rows found none (a monitor with no link yet)."""
    found = db.session.execute(
        select(User, NotificationPreference)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(User.id == user_id)
    ).first()
    return None if found is None else (found[0], found[1])


def _copy_deliveries(notification_id: int, user_id: int, now: datetime, timing: DeliveryTiming) -> None:
    """A delivery per active channel of the owner, in one statement (as
    ``services.notifications.delivery.queue_deliveries`` would add them one by one)."""
    channels = (
        select(literal(notification_id), NotificationChannel.kind, NotificationChannel.target,
               literal(timing.status), literal(0), literal(now, UTCDateTime()),
               literal(timing.not_before, UTCDateTime()), NotificationChannel.id)
        .where(NotificationChannel.user_id == user_id, NotificationChannel.paused_reason.is_(None))
        .order_by(NotificationChannel.id)
    )
    db.session.execute(insert(Delivery).from_select(
        ["notification_id", "channel", "target", "status", "attempts", "created_at", "next_attempt_at",
         "channel_id"], channels))


def notify_admins_blocked(monitor: Monitor, since: datetime, error: str | None) -> int:
    """Tell every active admin, through their channels, that DHgate blocks this monitor's polls:
    once per incident (the incident starts at ``since``; the key repeats for as long as it
    lasts). Written in the poll's transaction."""
    key = f"{BLOCKED_KIND}:{monitor.id}:{int(since.timestamp() * 1_000_000)}"

    def words() -> tuple[str, str]:
        title = _("DHgate is blocking checks of “%(name)s”", name=monitor.name)
        body = _(
            "Since %(since)s DHgate answers the checks of monitor “%(name)s” (#%(id)s) with a "
            "block page (%(error)s). Nothing about its products was changed; the monitor now "
            "waits longer between checks and you will hear again only after a new block.",
            since=since.strftime("%Y-%m-%d %H:%M UTC"), name=monitor.name, id=monitor.id,
            error=error or _("access denied"),
        )
        return title, body

    return alert_admins(key, words, kind=BLOCKED_KIND, link=monitor_link(monitor.id), created_at=since, commit=False)
