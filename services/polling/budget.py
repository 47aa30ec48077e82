"""The request budget as the scheduler's currency: how many monitors a tick may claim, and how far
demand is beyond what DHgate allows.

DHgate allows ``DHGATE_REQUESTS_PER_SECOND`` to one host, shared by every worker
(``services.dhgate.ratelimit`` enforces it exactly, slot by slot). Claiming more polls than
that budget can carry would only make them wait in the rate limiter until their time budget
runs out and they fail; claiming fewer would leave requests unused. So each tick claims what
fills the budget until the next tick, plus half a tick more to keep the pipe full, minus the
polls still claimed from earlier ticks. What does not fit stays due, and the claim order
(``services.polling.schedule``: round-robin across owners, most overdue first) decides who
goes next.

When demand exceeds the budget for good (the monitors' intervals ask for more requests a
minute than the budget allows), ``polling_pressure`` says by how much and how far behind
polling is, the Platform page shows it, and the admins hear about it once per incident.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from extensions import db, get_redis
from models import Monitor, Notification, PollRun, User
from services.notifications.alerts import TITLE_LIMIT, clip, locale_of
from services.polling.sql import insert_if_absent
from services.schedule_plan import schedule_plan

logger = logging.getLogger(__name__)

OVERLOAD_KIND = "poll_overload"
PIPE_FULL = 1.5  # ticks' worth of requests claimed ahead: the rate limiter never runs dry
DEFAULT_PAGES = 2.0  # pages per poll before any poll has run (a product is 1, a store 1-5)
RECENT_RUNS = 200  # the pages-per-poll estimate follows the latest polls


@dataclass(frozen=True)
class Budget:
    """The per-host request budget and the tick it is spent over."""

    requests_per_second: float
    tick_seconds: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Budget:
        """Each egress (each proxy of ``DHGATE_PROXIES``, or the direct route) has a budget."""
        return cls(float(config["DHGATE_REQUESTS_PER_SECOND"]) * egress_count(config), poll_tick_seconds(config))

    @property
    def per_minute(self) -> float:
        return self.requests_per_second * 60


def egress_count(config: Mapping[str, Any]) -> int:
    """How many ways out to DHgate there are, each with a budget of its own."""
    return max(1, len(config.get("DHGATE_PROXIES") or ()))


def poll_tick_seconds(config: Mapping[str, Any]) -> int:
    """How often ``poll_due_monitors`` runs (its schedule; 60 s when it is a cron or off)."""
    for entry in schedule_plan(config):
        if entry.job.name == "poll_due_monitors" and entry.kind == "every":
            return max(1, int(entry.value))
    return 60


def pages_per_poll() -> float:
    """Pages the latest polls fetched on average (``DEFAULT_PAGES`` before any ran)."""
    latest = select(PollRun.pages).where(PollRun.pages > 0).order_by(PollRun.id.desc()).limit(RECENT_RUNS).subquery()
    average = db.session.scalar(select(func.avg(latest.c.pages)))
    return float(average) if average else DEFAULT_PAGES


def claim_limit(now: datetime, config: Mapping[str, Any]) -> int:
    """How many due monitors this tick may claim: what the budget carries until the next tick
    (plus ``PIPE_FULL``), minus the polls still in flight, never more than ``POLL_BATCH_SIZE``."""
    budget = Budget.from_config(config)
    affordable = math.ceil(budget.requests_per_second * budget.tick_seconds * PIPE_FULL / pages_per_poll())
    in_flight = db.session.scalar(
        select(func.count()).select_from(Monitor).where(Monitor.claimed_until > now)
    ) or 0
    return max(0, min(int(config["POLL_BATCH_SIZE"]), affordable - in_flight))


def poll_concurrency(config: Mapping[str, Any]) -> int:
    """Targets one batch polls at a time: ``POLL_CONCURRENCY``, but no more than keeps about
    four seconds of the budget's requests in flight. More would only queue in the rate limiter
    and eat into every poll's time budget while it waits."""
    useful = max(2, math.ceil(Budget.from_config(config).requests_per_second * 4))
    return max(1, min(int(config["POLL_CONCURRENCY"]), useful))


@dataclass(frozen=True)
class Pressure:
    """Demand for requests against the budget, and how far behind polling is."""

    demand_per_minute: float  # requests a minute the active monitors' intervals ask for
    budget_per_minute: float
    due: int  # monitors due and waiting (not claimed)
    behind_seconds: float  # how long the most overdue of them has been due

    @property
    def ratio(self) -> float:
        return self.demand_per_minute / self.budget_per_minute if self.budget_per_minute else math.inf

    @property
    def over_budget(self) -> bool:
        return self.demand_per_minute > self.budget_per_minute

    @property
    def excess_percent(self) -> float:
        """How much more than the budget is asked for, in percent (0 when within it)."""
        return max(0.0, (self.ratio - 1) * 100)


def polling_pressure(now: datetime, config: Mapping[str, Any]) -> Pressure:
    """Measure demand against the budget: three aggregate queries."""
    per_minute = db.session.scalar(
        select(func.sum(60.0 / Monitor.poll_interval)).where(Monitor.active.is_(True), Monitor.poll_interval > 0)
    ) or 0.0
    waiting = select(func.count(), func.min(Monitor.next_poll_at)).where(
        Monitor.active.is_(True), Monitor.next_poll_at <= now,
        (Monitor.claimed_until.is_(None)) | (Monitor.claimed_until < now),
    )
    due, oldest = db.session.execute(waiting).one()
    behind = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return Pressure(float(per_minute) * pages_per_poll(), Budget.from_config(config).per_minute, int(due or 0), behind)


def current_pressure(config: Mapping[str, Any]) -> Pressure | None:
    """``polling_pressure`` for a page: ``None`` when the database cannot say (the page shows
    the rest)."""
    try:
        return polling_pressure(datetime.now(UTC), config)
    except SQLAlchemyError:
        db.session.rollback()
        logger.warning("polling pressure unavailable", exc_info=True)
        return None


def note_pressure(now: datetime, config: Mapping[str, Any]) -> Pressure:
    """Measure the pressure and tell the admins once when demand goes over the budget.

    An incident starts when demand first exceeds the budget (its start is kept in Redis) and
    ends when demand fits again; each incident notifies every active admin once."""
    pressure = polling_pressure(now, config)
    key = f"{config['REDIS_KEY_PREFIX']}poll:overload_since"
    connection = get_redis()
    if not pressure.over_budget:
        connection.delete(key)
        return pressure
    stamp = int(now.timestamp())
    if connection.set(key, stamp, nx=True):
        notify_admins_overloaded(pressure, now)
    return pressure


def notify_admins_overloaded(pressure: Pressure, since: datetime) -> int:
    """One notification per active admin for the overload incident that started at ``since``."""
    admins = db.session.scalars(select(User).where(User.role == "admin", User.is_active.is_(True))).all()
    key = f"{OVERLOAD_KIND}:{int(since.timestamp())}"
    rows: list[dict[str, Any]] = []
    for admin in admins:
        with force_locale(locale_of(admin)):
            title = _("Monitors ask for %(percent)d %% more DHgate requests than the budget allows",
                      percent=round(pressure.excess_percent))
            body = _(
                "The monitors' check intervals need about %(demand)d requests a minute; the budget "
                "(DHGATE_REQUESTS_PER_SECOND) allows %(budget)d. Checks now wait their turn, fairly "
                "across members, and run later than their interval says: the most overdue has "
                "waited %(minutes)d minutes. Raise the budget, or lengthen check intervals.",
                demand=round(pressure.demand_per_minute), budget=round(pressure.budget_per_minute),
                minutes=round(pressure.behind_seconds / 60),
            )
        rows.append({
            "user_id": admin.id, "kind": OVERLOAD_KIND, "severity": "warning", "title": clip(title, TITLE_LIMIT),
            "body": body, "link": "/dashboard/platform", "dedupe_key": key, "created_at": since,
        })
    written = insert_if_absent(db.session, Notification, rows, ["user_id", "dedupe_key"])
    db.session.commit()
    return written

