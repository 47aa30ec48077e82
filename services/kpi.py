"""The admin dashboard's KPI cards: each figure measured live, with the window it covers.

Every card is one small query on an index (or a Redis/psutil read), never a scan of history:
users and monitors are counted live (not read from a snapshot, which could lag five minutes),
polls, events and deliveries through their time indexes, traffic from the last five minutes'
minute rows. CPU is the one figure taken from the 5-minute snapshot: sampling it here would make the
page wait half a second.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psutil
from flask import current_app
from sqlalchemy import case, exists, func, or_, select

from extensions import db
from models import AdminSession, Delivery, Monitor, PlatformMetric, PollRun, ProductEvent, User
from services.platform import Traffic, traffic, uptime_percent

logger = logging.getLogger(__name__)

TRAFFIC_WINDOW = timedelta(minutes=5)  # percentiles read every row's histogram: keep it short
ACTIVE_USER_WINDOW = timedelta(days=7)


@dataclass
class UserFigures:
    total: int = 0
    active_7d: int = 0  # logged in or used a session in the last 7 days
    new_this_week: int = 0  # created since Monday 00:00 UTC


@dataclass
class PollingLag:
    """How far behind schedule polling is: the oldest due, unclaimed, active monitor."""

    overdue: int = 0
    oldest_due_at: datetime | None = None

    def seconds(self, now: datetime) -> float:
        return max((now - self.oldest_due_at).total_seconds(), 0.0) if self.oldest_due_at else 0.0


@dataclass
class Kpis:
    """Every card of the dashboard, as measured at ``measured_at``."""

    measured_at: datetime
    uptime_24h: float | None = None
    uptime_30d: float | None = None
    traffic: Traffic | None = None
    users: UserFigures = field(default_factory=UserFigures)
    active_monitors: int = 0
    polls_24h: dict[str, int] = field(default_factory=dict)  # outcome -> polls
    lag: PollingLag = field(default_factory=PollingLag)
    events_today: int = 0
    delivered_today: int = 0
    failed_today: int = 0
    cpu: float | None = None
    cpu_at: datetime | None = None  # the snapshot the CPU figure comes from
    memory: float | None = None
    disk: float | None = None

    @property
    def polls_24h_total(self) -> int:
        return sum(self.polls_24h.values())

    @property
    def lag_seconds(self) -> float:
        return self.lag.seconds(self.measured_at)


def start_of_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def start_of_week(now: datetime) -> datetime:
    """Monday 00:00 UTC of ``now``'s ISO week."""
    return start_of_day(now) - timedelta(days=now.astimezone(UTC).weekday())


def user_figures(now: datetime) -> UserFigures:
    since = now - ACTIVE_USER_WINDOW
    seen_recently = exists().where(AdminSession.user_id == User.id, AdminSession.last_seen_at >= since)
    total, active, new = db.session.execute(select(
        func.count(),
        func.coalesce(func.sum(case((or_(User.last_login_at >= since, seen_recently), 1), else_=0)), 0),
        func.coalesce(func.sum(case((User.created_at >= start_of_week(now), 1), else_=0)), 0),
    ).select_from(User)).one()
    return UserFigures(total=int(total), active_7d=int(active), new_this_week=int(new))


def polls_by_outcome(since: datetime) -> dict[str, int]:
    """Finished polls since ``since`` per outcome (a poll still running has no outcome yet)."""
    rows = db.session.execute(
        select(PollRun.outcome, func.count()).where(PollRun.started_at >= since, PollRun.outcome.is_not(None))
        .group_by(PollRun.outcome)
    ).all()
    return {str(outcome): int(count) for outcome, count in sorted(rows, key=lambda r: (-r[1], r[0]))}


def polling_lag(now: datetime) -> PollingLag:
    """Monitors due before ``now`` that no poll has claimed: what the scheduler is behind on."""
    overdue, oldest = db.session.execute(
        select(func.count(), func.min(Monitor.next_poll_at)).where(
            Monitor.active.is_(True), Monitor.next_poll_at <= now,
            or_(Monitor.claimed_until.is_(None), Monitor.claimed_until < now),
        )
    ).one()
    return PollingLag(overdue=int(overdue), oldest_due_at=oldest)


def events_since(since: datetime) -> int:
    return int(db.session.scalar(select(func.count()).select_from(ProductEvent).where(ProductEvent.created_at >= since)) or 0)


def deliveries_today(now: datetime) -> tuple[int, int]:
    """(sent today, given up on among today's deliveries): the ``deliveries`` table's own count."""
    midnight = start_of_day(now)
    sent = db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.sent_at >= midnight, Delivery.status == "sent")
    )
    failed = db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.created_at >= midnight, Delivery.status == "failed")
    )
    return int(sent or 0), int(failed or 0)


def _machine(kpis: Kpis) -> None:
    latest = db.session.execute(
        select(PlatformMetric.cpu_usage, PlatformMetric.timestamp).order_by(PlatformMetric.timestamp.desc()).limit(1)
    ).first()
    if latest is not None:
        kpis.cpu, kpis.cpu_at = latest
    kpis.memory = float(psutil.virtual_memory().percent)
    kpis.disk = float(psutil.disk_usage(current_app.instance_path).percent)


def measure_kpis(now: datetime | None = None) -> Kpis:
    """Every card, measured now."""
    now = now or datetime.now(UTC)
    kpis = Kpis(measured_at=now)
    kpis.uptime_24h = uptime_percent(now - timedelta(hours=24), now)
    kpis.uptime_30d = uptime_percent(now - timedelta(days=30), now)
    kpis.traffic = traffic(TRAFFIC_WINDOW, now)
    kpis.users = user_figures(now)
    kpis.active_monitors = int(db.session.scalar(
        select(func.count()).select_from(Monitor).where(Monitor.active.is_(True))) or 0)
    kpis.polls_24h = polls_by_outcome(now - timedelta(hours=24))
    kpis.lag = polling_lag(now)
    kpis.events_today = events_since(start_of_day(now))
    kpis.delivered_today, kpis.failed_today = deliveries_today(now)
    _machine(kpis)
    return kpis
