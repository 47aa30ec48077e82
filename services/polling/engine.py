"""Polling a monitor: fetch -> parse -> diff -> events -> notifications, within a time budget.

``poll_monitor(monitor_id)`` is what the ``poll_monitor`` job, ``flask monitors poll`` and the
benchmarks call. It records a ``poll_runs`` row for every poll, whatever happens:

* success: product state and events are written (``services.polling.changes``), failures are
  reset and the next poll is due after the monitor's interval; a store monitor still called by
  its default name ("Store 29173963") takes the name the store page shows;
* any blocked, failed or unparsable page: NO product state changes and no product events, the
  monitor backs off (``services.polling.schedule.backoff_seconds``) and a *blocked* poll that
  starts an incident notifies the admins once;
* circuit open: nothing was fetched; the monitor simply tries again after the breaker's reset
  timeout, without counting a failure against it;
* an unexpected exception: the run is recorded as ``error`` with the monitor backed off, then the
  exception propagates (RQ records the failed job).

The network part runs outside any database transaction, so slow pages never hold locks; the
run, the product changes and the monitor's schedule are then committed together, once.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from extensions import db
from models import Monitor, PollRun
from services.dhgate.fetcher import get_fetcher
from services.dhgate.types import PollOutcome
from services.dhgate.urls import store_target
from services.monitors.rules import name_from_dhgate
from services.notifications.delivery import request_delivery
from services.polling.cards import record_cards, took_fast_path
from services.polling.notify import notify_admins_blocked
from services.polling.plan import Plan
from services.polling.schedule import backoff_seconds
from services.polling.snapshot import Snapshot, take_snapshot

__all__ = [
    "MonitorNotFound",
    "PollSettings",
    "PollStart",
    "poll_monitor",
    "record_crash",
    "record_poll",
    "record_snapshot",
    "take_monitor_snapshot",
    "took_fast_path",
]

logger = logging.getLogger(__name__)
ERROR_LIMIT = 500


class MonitorNotFound(LookupError):
    """No monitor with that id (deleted meanwhile, or a typo on the command line)."""

    def __init__(self, monitor_id: int) -> None:
        self.monitor_id = monitor_id
        super().__init__(f"no monitor with id {monitor_id}")


@dataclass(frozen=True)
class PollSettings:
    """The polling knobs, read from the app config once per poll."""

    max_pages: int
    budget_seconds: float
    backoff_cap: int
    missing_threshold: int
    breaker_reset: float
    base_url: str

    @classmethod
    def from_app(cls) -> PollSettings:
        config = current_app.config
        return cls(
            max_pages=int(config["DHGATE_MAX_PAGES"]),
            budget_seconds=float(config["POLL_BUDGET_SECONDS"]),
            backoff_cap=int(config["POLL_BACKOFF_MAX_SECONDS"]),
            missing_threshold=int(config["MISSING_POLLS_THRESHOLD"]),
            breaker_reset=float(config["DHGATE_BREAKER_RESET_SECONDS"]),
            base_url=str(config["DHGATE_BASE_URL"]).rstrip("/"),
        )


def poll_monitor(monitor_id: int) -> PollRun:
    """Poll one monitor now and return its finished ``PollRun`` (see module docs)."""
    settings = PollSettings.from_app()
    target = db.session.execute(select(Monitor.kind, Monitor.dhgate_id).where(Monitor.id == monitor_id)).first()
    if target is None:
        raise MonitorNotFound(monitor_id)
    started = PollStart.now()
    kind, dhgate_id = target
    db.session.commit()  # end the read: no transaction stays open while pages are fetched
    try:
        snapshot = take_monitor_snapshot(kind, dhgate_id, settings, deadline=started.clock + settings.budget_seconds)
    except Exception as exc:
        _record_crash(monitor_id, started.at, exc, started.clock, settings)
        raise
    return record_poll(monitor_id, snapshot, started, settings)


@dataclass(frozen=True)
class PollStart:
    """When a poll started, on the wall clock (its run's ``started_at``) and the monotonic one
    (its duration and time budget)."""

    at: datetime
    clock: float

    @classmethod
    def now(cls) -> PollStart:
        return cls(datetime.now(UTC), time.monotonic())


def record_poll(monitor_id: int, snapshot: Snapshot, started: PollStart, settings: PollSettings) -> PollRun:
    """Write what ``snapshot`` says about one monitor, its run and its next poll, in one
    transaction, and return the run. Several monitors watching the same page are each recorded
    from the same snapshot (``services.polling.batch``): each is diffed against its own state,
    so each gets its own events."""
    try:
        monitor = db.session.get(Monitor, monitor_id)
        if monitor is None:
            raise MonitorNotFound(monitor_id)  # deleted while its pages were being fetched
        # The run, the product changes and the schedule are written in one transaction. The
        # run joins the session only when its id is needed (events refer to it) or at the end:
        # an ordinary poll then writes it with a single INSERT.
        run = PollRun(monitor_id=monitor_id, started_at=started.at)
        now = datetime.now(UTC)
        plan = record_snapshot(monitor, snapshot, run, now=now, settings=settings) if snapshot.succeeded else None
        finish_poll(monitor, run, snapshot, plan, now=now, started_clock=started.clock, settings=settings)
        db.session.commit()
        if plan is not None and plan.alert_ids:
            request_delivery(plan.alert_ids)  # after the commit: the job must find the rows
        return run
    except MonitorNotFound:
        db.session.rollback()
        raise
    except Exception as exc:
        db.session.rollback()
        _record_crash(monitor_id, started.at, exc, started.clock, settings)
        raise


def take_monitor_snapshot(kind: str, dhgate_id: str, settings: PollSettings, *, deadline: float) -> Snapshot:
    """Fetch and parse a monitor's pages. No database access: the network part of a poll must
    not keep a transaction open."""
    return take_snapshot(kind, dhgate_id, get_fetcher(), max_pages=settings.max_pages, deadline=deadline)


def record_snapshot(monitor: Monitor, snapshot: Snapshot, run: PollRun, *, now: datetime, settings: PollSettings) -> Plan:
    """Diff a successful snapshot against the monitor's state and write events and state
    (not committed), card by card (``services.polling.cards``); ``took_fast_path(run)`` tells
    whether it wrote nothing but cosmetic counters."""
    return record_cards(monitor, snapshot, run, now=now, base_url=settings.base_url,
                        missing_threshold=settings.missing_threshold)


def finish_poll(
    monitor: Monitor, run: PollRun, snapshot: Snapshot, plan: Plan | None, *, now: datetime,
    started_clock: float, settings: PollSettings,
) -> None:
    """Close the run and schedule the monitor's next poll from the outcome."""
    db.session.add(run)
    run.finished_at = datetime.now(UTC)
    run.duration_ms = int((time.monotonic() - started_clock) * 1000)
    run.outcome = snapshot.outcome.value
    run.http_status = snapshot.http_status
    run.pages = snapshot.pages
    run.error = snapshot.error
    if plan is not None:
        run.products_seen, run.products_new, run.products_changed = plan.seen, plan.new, plan.changed
    monitor.last_polled_at = now
    monitor.last_status = snapshot.outcome.value
    monitor.claimed_until = None  # this poll is over (the job also releases it on any failure)
    if snapshot.succeeded:
        _schedule_success(monitor, now, snapshot)
    elif snapshot.outcome is PollOutcome.CIRCUIT_OPEN:
        # Not this monitor's fault: try again once the breaker lets a trial through.
        monitor.last_error = _clip(snapshot.error)
        monitor.next_poll_at = now + timedelta(seconds=max(30.0, settings.breaker_reset))
    else:
        _schedule_failure(monitor, now, snapshot.error, settings)
        if snapshot.outcome is PollOutcome.BLOCKED and monitor.blocked_since is None:
            monitor.blocked_since = now
            notify_admins_blocked(monitor, now, snapshot.error)


def _schedule_success(monitor: Monitor, now: datetime, snapshot: Snapshot) -> None:
    monitor.consecutive_failures = 0
    monitor.blocked_since = None
    monitor.last_error = _clip(snapshot.error) if snapshot.gone else None
    monitor.next_poll_at = now + timedelta(seconds=monitor.poll_interval)
    _adopt_store_name(monitor, snapshot)


def _adopt_store_name(monitor: Monitor, snapshot: Snapshot) -> None:
    """A store monitor created without a name is called "Store 29173963" until DHgate tells us
    the store's name; the first successful poll that shows it renames the monitor. A name the
    member chose (anything but the default) is never touched."""
    if monitor.kind != "store" or not snapshot.store_name:
        return
    if monitor.name != store_target(monitor.dhgate_id).name:
        return
    name = name_from_dhgate(snapshot.store_name)
    if name is not None:
        monitor.name = name


def _schedule_failure(monitor: Monitor, now: datetime, error: str | None, settings: PollSettings) -> None:
    monitor.consecutive_failures = (monitor.consecutive_failures or 0) + 1
    monitor.last_error = _clip(error)
    delay = backoff_seconds(monitor.consecutive_failures, monitor.poll_interval, settings.backoff_cap)
    monitor.next_poll_at = now + timedelta(seconds=delay)


def record_crash(monitor_id: int, started: PollStart, exc: Exception, settings: PollSettings) -> None:
    """Record a poll that failed on our side before anything was written (run ``error``,
    monitor backed off, claim released)."""
    _record_crash(monitor_id, started.at, exc, started.clock, settings)


def _record_crash(
    monitor_id: int, started_at: datetime, exc: Exception, started_clock: float, settings: PollSettings,
) -> None:
    """Keep a trace of a poll that failed on our side, and back the monitor off."""
    try:
        now = datetime.now(UTC)
        monitor = db.session.get(Monitor, monitor_id)
        message = _clip(f"{type(exc).__name__}: {exc}")
        if monitor is not None:
            db.session.add(PollRun(
                monitor_id=monitor_id, started_at=started_at, finished_at=now, outcome="error", error=message,
                duration_ms=int((time.monotonic() - started_clock) * 1000),
            ))
            monitor.last_polled_at = now
            monitor.last_status = "error"
            monitor.claimed_until = None
            _schedule_failure(monitor, now, message, settings)
        db.session.commit()
    except Exception:  # the original exception matters more than this bookkeeping
        db.session.rollback()
        logger.exception("could not record the failed poll of monitor %s", monitor_id)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"
