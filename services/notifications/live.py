"""The live badge: what ``GET /notifications/poll`` answers, as cheaply as possible.

A page polls every 30 s or so, on every open tab of every member, so the common answer is
"nothing new": one query reads the member's unread count and newest notification id (both from
indexes: ``(user_id, read_at, created_at)`` and ``(user_id, id)``), and the pair is the ETag. A
client that sends it back in ``If-None-Match`` gets a 304 with no body and nothing rendered.
Reading a notification changes the count, so the ETag changes and the badge follows.

The cursor is the newest id the client has seen; items newer than it are sent with the answer
(at most ``ITEM_LIMIT``), oldest first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from extensions import db
from models import Notification
from services.notifications.digests import DIGEST_KIND

ITEM_LIMIT = 20


@dataclass(frozen=True)
class LiveState:
    unread: int
    newest_id: int

    @property
    def etag(self) -> str:
        return f"n{self.newest_id}-u{self.unread}"


def live_state(user_id: int) -> LiveState:
    """Unread count and newest id of one member, in one statement."""
    unread = select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)).scalar_subquery()
    newest = select(func.coalesce(func.max(Notification.id), 0)).where(
        Notification.user_id == user_id).scalar_subquery()
    row = db.session.execute(select(unread, newest)).one()
    return LiveState(unread=int(row[0] or 0), newest_id=int(row[1] or 0))


def items_since(user_id: int, cursor: int, limit: int = ITEM_LIMIT) -> list[dict[str, Any]]:
    """The member's notifications newer than ``cursor`` (digests aside), oldest first."""
    rows = db.session.scalars(select(Notification).where(
        Notification.user_id == user_id, Notification.id > cursor, Notification.kind != DIGEST_KIND)
        .order_by(Notification.id.desc()).limit(limit)).all()
    return [{
        "id": n.id, "kind": n.kind, "severity": n.severity, "title": n.title,
        "created_at": n.created_at.isoformat(), "read": n.read_at is not None,
    } for n in reversed(rows)]
