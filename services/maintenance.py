"""Maintenance mode: an admin pauses all polling, and every process sees it at once.

Kept in the ``site_settings`` table (one row), so the switch survives restarts and holds for the
web, the scheduler's ticks and every worker alike. ``poll_due_monitors`` asks before claiming
anything; monitors simply stay due and are polled on the first tick after resuming.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from models.site import SiteSetting
from services.dashboard_cache import invalidate_dashboard

logger = logging.getLogger(__name__)

POLLING_PAUSED = "polling_paused"


@dataclass(frozen=True)
class PauseState:
    paused: bool
    since: datetime | None = None
    by_user_id: int | None = None


def pause_state() -> PauseState:
    row = db.session.get(SiteSetting, POLLING_PAUSED)
    if row is None or row.value != "on":
        return PauseState(False)
    return PauseState(True, row.updated_at, row.updated_by)


def polling_paused() -> bool:
    """Whether polling is paused (one primary-key read)."""
    return pause_state().paused


def pause_state_for_layout() -> PauseState:
    """The banner's question: a page rendering while the database is down shows no banner
    rather than failing a second time."""
    try:
        return pause_state()
    except SQLAlchemyError:
        db.session.rollback()
        return PauseState(False)


def set_polling_paused(paused: bool, by_user_id: int | None) -> bool:
    """Pause or resume; returns whether anything changed (pausing twice keeps the first time)."""
    row = db.session.get(SiteSetting, POLLING_PAUSED)
    if row is not None and (row.value == "on") == paused:
        return False
    if row is None:
        row = SiteSetting(key=POLLING_PAUSED, value="off")
        db.session.add(row)
    row.value = "on" if paused else "off"
    row.updated_at = datetime.now(UTC)
    row.updated_by = by_user_id
    db.session.commit()
    invalidate_dashboard()  # the platform page shows the banner at once
    logger.warning("polling %s by user %s", "paused" if paused else "resumed", by_user_id)
    return True
