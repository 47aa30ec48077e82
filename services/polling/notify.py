"""What a poll tells people: one grouped alert per monitor per poll, and blocked polls to admins.

Texts are written in the recipient's language (their ``locale``), because the notification is
what people read in their inbox, e-mail or chat. The alert itself (grouping, wording, dedupe) is
``services.notifications.alerts``; here a poll hands over the events it was the first to record,
and the alert's deliveries (one per active channel of the owner) are queued in the same
transaction. They are sent after the poll commits (``services.notifications.delivery``).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import insert, literal, select

from extensions import db
from models import Delivery, Monitor, Notification, NotificationChannel, Product, ProductEvent, User
from models.base import UTCDateTime
from services.notifications.admin_alerts import alert_admins
from services.notifications.alerts import (
    ALERT_KIND,
    EVENT_SEVERITY,
    KIND_ORDER,
    TITLE_LIMIT,
    clip,
    create_monitor_alert,
    event_text,
    locale_of,
    monitor_link,
    product_link,
    summary_title,
)
from services.notifications.delivery import queue_deliveries
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
    monitor: Monitor, events: Sequence[ProductEvent], products: Mapping[int, Any], *,
    owner_locale: str | None, owner_channels: int | None,
) -> int | None:
    """The per-card path's alert: the same message as ``notify_owner`` in at most two statements.

    ``events`` are the ones this poll inserted first, so their alert (keyed by the first of them)
    cannot exist yet; it is inserted if absent all the same, and its deliveries are copied from
    the owner's active channels by one ``INSERT … SELECT``. The owner's language and channel
    count come with the poll's read (``owner_channels`` None: not read, so the owner is loaded)."""
    if not events:
        return None
    if owner_channels is None:
        user = db.session.get(User, monitor.user_id)
        if user is None:
            return None
        owner_locale = user.locale
    owner = SimpleNamespace(id=monitor.user_id, locale=owner_locale)
    row = _alert_row(monitor, owner, events, products)
    inserted = insert_returning_ids(db.session, Notification, [row], ["user_id", "dedupe_key"])
    if not inserted:
        return None
    if owner_channels != 0:
        _copy_deliveries(inserted[0], monitor.user_id, row["created_at"])
    return inserted[0]


def _alert_row(monitor: Monitor, owner: Any, events: Sequence[ProductEvent], products: Mapping[int, Any]) -> dict[str, Any]:
    """The grouped alert as ``services.notifications.alerts.create_monitor_alert`` words it."""
    events = sorted(events, key=lambda e: (KIND_ORDER.index(e.kind) if e.kind in KIND_ORDER else 99, e.id))
    counts = Counter(e.kind for e in events)
    with force_locale(locale_of(owner)):
        if len(events) == 1:
            event = events[0]
            title, body = event_text(monitor, products[event.product_id], event)
            kind, link, event_id = event.kind, product_link(monitor.id, event.product_id), event.id
        else:
            title = summary_title(monitor.name, counts)
            body = "\n".join(event_text(monitor, products[e.product_id], e)[1] for e in events)
            kind, link, event_id = ALERT_KIND, monitor_link(monitor.id), None
    severity = "warning" if any(EVENT_SEVERITY.get(k) == "warning" for k in counts) else "info"
    return {
        "user_id": owner.id, "kind": kind, "severity": severity, "title": clip(title, TITLE_LIMIT), "body": body,
        "link": link, "product_event_id": event_id, "dedupe_key": f"alert:{monitor.id}:{min(e.id for e in events)}",
        "created_at": events[0].created_at,
        "details": {"monitor_id": monitor.id, "event_ids": [e.id for e in events],
                    "counts": {k: counts[k] for k in KIND_ORDER if k in counts}},
    }


def _copy_deliveries(notification_id: int, user_id: int, now: datetime) -> None:
    """A pending delivery per active channel of the owner, in one statement (as
    ``services.notifications.delivery.queue_deliveries`` would add them one by one)."""
    channels = (
        select(literal(notification_id), NotificationChannel.kind, NotificationChannel.target,
               literal("pending"), literal(0), literal(now, UTCDateTime()), NotificationChannel.id)
        .where(NotificationChannel.user_id == user_id, NotificationChannel.paused_reason.is_(None))
        .order_by(NotificationChannel.id)
    )
    db.session.execute(insert(Delivery).from_select(
        ["notification_id", "channel", "target", "status", "attempts", "created_at", "channel_id"], channels))


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
