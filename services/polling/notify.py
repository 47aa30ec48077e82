"""What a poll tells people: one grouped alert per monitor per poll, and blocked polls to admins.

Texts are written in the recipient's language (their ``locale``), because the notification is
what people read in their inbox, e-mail or chat. The alert itself (grouping, wording, dedupe) is
``services.notifications.alerts``; here a poll hands over the events it was the first to record,
and the alert's deliveries (one per active channel of the owner) are queued in the same
transaction. They are sent after the poll commits (``services.notifications.delivery``).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from extensions import db
from models import Monitor, Notification, Product, ProductEvent, User
from services.notifications.alerts import TITLE_LIMIT, clip, create_monitor_alert, locale_of, monitor_link
from services.notifications.delivery import queue_deliveries
from services.polling.sql import insert_if_absent

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


def notify_admins_blocked(monitor: Monitor, since: datetime, error: str | None) -> int:
    """Tell every active admin that DHgate blocks this monitor's polls: once per incident (the
    incident starts at ``since``; the key repeats for as long as it lasts)."""
    admins = db.session.scalars(select(User).where(User.role == "admin", User.is_active.is_(True))).all()
    key = f"{BLOCKED_KIND}:{monitor.id}:{int(since.timestamp() * 1_000_000)}"
    rows: list[dict[str, Any]] = []
    for admin in admins:
        with force_locale(locale_of(admin)):
            title = _("DHgate is blocking checks of “%(name)s”", name=monitor.name)
            body = _(
                "Since %(since)s DHgate answers the checks of monitor “%(name)s” (#%(id)s) with a "
                "block page (%(error)s). Nothing about its products was changed; the monitor now "
                "waits longer between checks and you will hear again only after a new block.",
                since=since.strftime("%Y-%m-%d %H:%M UTC"), name=monitor.name, id=monitor.id,
                error=error or _("access denied"),
            )
        rows.append({
            "user_id": admin.id, "kind": BLOCKED_KIND, "severity": "warning", "title": clip(title, TITLE_LIMIT),
            "body": body, "link": monitor_link(monitor.id), "dedupe_key": key, "created_at": since,
        })
    return insert_if_absent(db.session, Notification, rows, ["user_id", "dedupe_key"])
