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

from flask_babel import gettext as _

from extensions import db
from models import Monitor, Product, ProductEvent, User
from services.notifications.admin_alerts import alert_admins
from services.notifications.alerts import create_monitor_alert, monitor_link
from services.notifications.delivery import queue_deliveries

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
