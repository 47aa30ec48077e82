"""The in-app center: a member's alerts filtered by kind, monitor and read state.

Grouped alerts carry their event kinds (``notifications.event_kinds``, " price_drop new_product ")
so "price drops" finds both "Price drop: …" and "longlight508: 3 new, 5 price drops" with one
portable ``LIKE``. Digests are records of what was mailed, not alerts: the center leaves them
out (their alerts are listed themselves). Every query is scoped to the member.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import or_, select

from extensions import db
from models import Monitor, Notification
from services.notifications.digests import DIGEST_KIND
from services.notifications.rules import ALERT_KINDS, RULE_OF_KIND

SYSTEM = "system"  # the kind filter for messages that are not about products
FILTER_KINDS = (*ALERT_KINDS, SYSTEM)


@dataclass(frozen=True)
class CenterFilter:
    kind: str | None = None
    monitor_id: int | None = None
    unread_only: bool = False

    def args(self) -> dict[str, str]:
        """The filter as query-string arguments (for pager and mark-read links)."""
        out: dict[str, str] = {}
        if self.kind:
            out["kind"] = self.kind
        if self.monitor_id:
            out["monitor"] = str(self.monitor_id)
        if self.unread_only:
            out["show"] = "unread"
        return out


def list_alerts(user_id: int, chosen: CenterFilter, page: int = 1, per_page: int = 25) -> Pagination:
    """The member's notifications matching ``chosen``, newest first."""
    query = select(Notification).where(Notification.user_id == user_id, Notification.kind != DIGEST_KIND)
    if chosen.unread_only:
        query = query.where(Notification.read_at.is_(None))
    if chosen.monitor_id is not None:
        query = query.where(Notification.monitor_id == chosen.monitor_id)
    if chosen.kind == SYSTEM:
        query = query.where(Notification.event_kinds.is_(None))
    elif chosen.kind in ALERT_KINDS:
        kinds = [chosen.kind, *(k for k, rule in RULE_OF_KIND.items() if rule == chosen.kind)]
        query = query.where(or_(*(Notification.event_kinds.like(f"% {k} %") for k in kinds)))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def monitor_choices(user_id: int) -> list[tuple[int, str]]:
    """The member's monitors, for the monitor filter."""
    return [(row.id, row.name) for row in db.session.execute(
        select(Monitor.id, Monitor.name).where(Monitor.user_id == user_id).order_by(Monitor.name, Monitor.id))]
