"""What the admin's people pages read: finding accounts, one person's usage, and every live
session on the platform.

Usage figures are counted by the database (one grouped ``COUNT`` per table), never by loading a
person's rows, so a person with 200 monitors and 100,000 polls costs the same few statements as a
person with none. Nothing here writes; changes to accounts go through ``services.accounts``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import contains_eager

from extensions import db
from models import AdminSession, AffiliateClick, Monitor, Notification, PollRun, User

PERSON_STATES = ("active", "deactivated", "locked")
USAGE_RECENT_DAYS = 30


@dataclass(frozen=True)
class PeopleFilter:
    """The admin's filters above the people list; empty values filter nothing."""

    search: str = ""
    role: str | None = None
    tier: str | None = None
    state: str | None = None


def _like_pattern(text: str) -> str:
    """``text`` as a case-insensitive LIKE pattern matching anywhere, its wildcards taken literally."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def people_query(filters: PeopleFilter, *, now: datetime | None = None) -> Select[User]:
    """Accounts matching ``filters``, by username. "Locked" means a lockout still running;
    a locked account is also active, so it shows under both."""
    now = now or datetime.now(UTC)
    query = select(User)
    if filters.search.strip():
        pattern = _like_pattern(filters.search)
        query = query.where(
            or_(func.lower(User.email).like(pattern, escape="\\"), func.lower(User.username).like(pattern, escape="\\"))
        )
    if filters.role:
        query = query.where(User.role == filters.role)
    if filters.tier:
        query = query.where(User.subscription_tier == filters.tier)
    if filters.state == "active":
        query = query.where(User.is_active.is_(True))
    elif filters.state == "deactivated":
        query = query.where(User.is_active.is_(False))
    elif filters.state == "locked":
        query = query.where(User.locked_until.is_not(None), User.locked_until > now)
    return query.order_by(func.lower(User.username), User.id)


def monitor_counts(user_ids: list[int]) -> dict[int, int]:
    """How many monitors each of ``user_ids`` has, in one grouped statement (for a list page)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(Monitor.user_id, func.count(Monitor.id)).where(Monitor.user_id.in_(user_ids)).group_by(Monitor.user_id)
    )
    return {row[0]: row[1] for row in rows}


def count_people() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


@dataclass(frozen=True)
class Usage:
    """What one person has used: all time and within the last ``USAGE_RECENT_DAYS`` days."""

    monitors: int
    active_monitors: int
    polls: int
    polls_recent: int
    failed_polls_recent: int
    notifications: int
    notifications_recent: int
    clicks: int
    clicks_recent: int


def person_usage(user_id: int, *, now: datetime | None = None) -> Usage:
    """Four aggregate statements, one per table, whatever the volume."""
    since = (now or datetime.now(UTC)) - timedelta(days=USAGE_RECENT_DAYS)
    monitors = db.session.execute(
        select(func.count(Monitor.id), func.count(Monitor.id).filter(Monitor.active.is_(True))).where(
            Monitor.user_id == user_id
        )
    ).one()
    polls = db.session.execute(
        select(
            func.count(PollRun.id),
            func.count(PollRun.id).filter(PollRun.started_at >= since),
            func.count(PollRun.id).filter(PollRun.started_at >= since, PollRun.outcome != "ok"),
        )
        .join(Monitor, Monitor.id == PollRun.monitor_id)
        .where(Monitor.user_id == user_id)
    ).one()
    notifications = db.session.execute(
        select(func.count(Notification.id), func.count(Notification.id).filter(Notification.created_at >= since)).where(
            Notification.user_id == user_id
        )
    ).one()
    clicks = db.session.execute(
        select(
            func.count(AffiliateClick.id), func.count(AffiliateClick.id).filter(AffiliateClick.clicked_at >= since)
        ).where(AffiliateClick.user_id == user_id)
    ).one()
    return Usage(
        monitors=monitors[0],
        active_monitors=monitors[1],
        polls=polls[0],
        polls_recent=polls[1],
        failed_polls_recent=polls[2],
        notifications=notifications[0],
        notifications_recent=notifications[1],
        clicks=clicks[0],
        clicks_recent=clicks[1],
    )


def person_monitors(user_id: int, *, limit: int = 50) -> list[Monitor]:
    """The first ``limit`` of a person's monitors by name (the usage figures give the total)."""
    return list(
        db.session.scalars(
            select(Monitor).where(Monitor.user_id == user_id).order_by(func.lower(Monitor.name), Monitor.id).limit(limit)
        )
    )


def live_sessions_query(*, user_id: int | None = None, now: datetime | None = None) -> Select[AdminSession]:
    """Every session that still works (optionally one person's), most recently active first,
    with its person loaded in the same statement."""
    now = now or datetime.now(UTC)
    query = (
        select(AdminSession)
        .join(AdminSession.user)
        .options(contains_eager(AdminSession.user))
        .where(AdminSession.revoked_at.is_(None), AdminSession.expires_at > now, User.is_active.is_(True))
    )
    if user_id is not None:
        query = query.where(AdminSession.user_id == user_id)
    return query.order_by(AdminSession.last_seen_at.desc(), AdminSession.id.desc())
