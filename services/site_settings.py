"""Switches admins flip at run time, kept in the ``site_settings`` table so they survive restarts
and hold for every process (web, worker, scheduler) at once.

Each switch has one reader and one writer here; callers never handle the raw text values.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from models.site import SiteSetting

logger = logging.getLogger(__name__)

STATUS_PAGE = "status_page_public"  # the public /status page; off by default


def _flag(key: str, default: bool = False) -> bool:
    row = db.session.get(SiteSetting, key)
    return default if row is None else row.value == "on"


def _set_flag(key: str, on: bool, by_user_id: int | None) -> None:
    row = db.session.get(SiteSetting, key)
    if row is None:
        row = SiteSetting(key=key, value="off")
        db.session.add(row)
    row.value = "on" if on else "off"
    row.updated_at = datetime.now(UTC)
    row.updated_by = by_user_id
    db.session.commit()
    logger.info("site setting %s set to %s by user %s", key, row.value, by_user_id)


def status_page_public() -> bool:
    """Whether ``/status`` is readable by anyone (off until an admin switches it on)."""
    return _flag(STATUS_PAGE)


def status_page_public_for_layout() -> bool:
    """The footer's question: a page that renders while the database is down links nowhere
    instead of failing a second time."""
    try:
        return status_page_public()
    except SQLAlchemyError:
        db.session.rollback()
        return False


def set_status_page_public(on: bool, by_user_id: int | None) -> None:
    _set_flag(STATUS_PAGE, on, by_user_id)
