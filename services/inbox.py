"""Reading a user's notifications (the inbox side; creating them lives with their causes)."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

from flask import g
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from models import Notification

logger = logging.getLogger(__name__)


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
    ) or 0


def unread_count_for_layout() -> int:
    """The navigation badge: once per request, and 0 rather than a broken page if the DB is down."""
    if not current_user.is_authenticated:
        return 0
    if "unread_count" not in g:
        try:
            g.unread_count = unread_count(current_user.id)
        except SQLAlchemyError:
            logger.warning("could not count unread notifications", exc_info=True)
            db.session.rollback()
            g.unread_count = 0
    return g.unread_count


def list_notifications(user_id: int, *, unread_only: bool = False, page: int = 1, per_page: int = 25) -> Pagination:
    """A user's notifications, newest first (always scoped to that user)."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def mark_read(user_id: int, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) unread notification of the user read; returns how many."""
    query = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    result = cast("CursorResult[Any]", db.session.execute(query.values(read_at=datetime.now(UTC))))
    db.session.commit()
    return int(result.rowcount or 0)


def get_notification(user_id: int, notification_id: int) -> Notification | None:
    return db.session.scalar(
        select(Notification).where(Notification.id == notification_id, Notification.user_id == user_id)
    )
