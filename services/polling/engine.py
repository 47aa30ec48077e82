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

What a poll costs its database is kept to the minimum (``docs/scaling.md``, "What a poll costs
in the database"): the monitor is read once, as a plain row, before the fetch; after it the
schedule is one Core ``UPDATE`` of the columns the poll moves and the run one ``INSERT`` with its
final values (written just before the events when there are any: they refer to it).
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Row, Update, bindparam, case, insert, inspect, select, update

from extensions import db
from models import Monitor, PollRun
from services.dhgate.fetcher import get_fetcher
from services.dhgate.types import PollOutcome
from services.dhgate.urls import store_target
from services.monitors.rules import name_from_dhgate
from services.notifications.delivery import request_delivery
from services.polling.cards import record_cards
from services.polling.notify import notify_admins_blocked
from services.polling.plan import Plan
from services.polling.schedule import backoff_seconds
from services.polling.snapshot import Snapshot, take_snapshot

__all__ = [
    "MonitorNotFound",
    "PollSettings",
    "PollStart",
    "poll_monitor",
    "read_monitor",
    "read_monitor_outside_transaction",
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
    monitor = read_monitor_outside_transaction(monitor_id)  # the poll's only read of the monitor
    if monitor is None:
        raise MonitorNotFound(monitor_id)
    started = PollStart.now()
    try:
        snapshot = take_monitor_snapshot(monitor.kind, monitor.dhgate_id, settings,
                                         deadline=started.clock + settings.budget_seconds)
    except Exception as exc:
        _record_crash(monitor_id, started.at, exc, started.clock, settings)
        raise
    return _record(monitor, snapshot, started, settings)


@dataclass(frozen=True)
class PollStart:
    """When a poll started, on the wall clock (its run's ``started_at``) and the monotonic one
    (its duration and time budget)."""

    at: datetime
    clock: float

    @classmethod
    def now(cls) -> PollStart:
        return cls(datetime.now(UTC), time.monotonic())


def read_monitor(monitor_id: int) -> Row[Any] | None:
    """Everything a poll needs of its monitor, as one plain row with the model's attribute
    names (None: no such monitor). One Core statement, no ORM object: the poll writes its
    monitor back with one UPDATE of the columns it moves."""
    return db.session.connection().execute(_MONITOR_READ, {"monitor_id": monitor_id}).first()


def read_monitor_outside_transaction(monitor_id: int) -> Row[Any] | None:
    """``read_monitor`` on a connection of its own in autocommit mode, for the read before a
    fetch: no transaction is opened, so none stays open while pages are fetched, and none has
    to be begun and committed around one SELECT (two round trips fewer on PostgreSQL)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(_MONITOR_READ, {"monitor_id": monitor_id}).first()


_MONITOR_COLUMNS = ("id", "user_id", "kind", "dhgate_id", "name", "poll_interval", "consecutive_failures",
                    "blocked_since", "baseline_at", "last_success_at", "price_drop_pct", "price_rise_pct",
                    "target_price", "stock_alerts", "alert_kinds")
_MONITORS = Monitor.__table__
_MONITOR_READ = select(*(_MONITORS.c[name] for name in _MONITOR_COLUMNS)).where(
    _MONITORS.c.id == bindparam("monitor_id"))
_RUN_COLUMNS = ("monitor_id", "started_at", "finished_at", "outcome", "http_status", "pages", "products_seen",
                "products_new", "products_changed", "duration_ms", "error")
_RUNS = PollRun.__table__
_RUN_INSERT = insert(_RUNS).returning(_RUNS.c.id)


def record_poll(monitor_id: int, snapshot: Snapshot, started: PollStart, settings: PollSettings) -> PollRun:
    """Write what ``snapshot`` says about one monitor, its run and its next poll, in one
    transaction, and return the run. Several monitors watching the same page are each recorded
    from the same snapshot (``services.polling.batch``): each is diffed against its own state,
    so each gets its own events."""
    monitor = read_monitor(monitor_id)
    if monitor is None:
        db.session.rollback()
        raise MonitorNotFound(monitor_id)  # deleted while its pages were being fetched
    return _record(monitor, snapshot, started, settings)


def _record(monitor: Row[Any], snapshot: Snapshot, started: PollStart, settings: PollSettings) -> PollRun:
    """``record_poll`` from the monitor's row: the product changes (if the poll succeeded), the
    monitor's schedule (one UPDATE) and the run (one INSERT, with its final values: when the
    poll has events it is written just before them, which refer to it), then one commit."""
    run = PollRun(monitor_id=monitor.id, started_at=started.at)  # never added to the session
    try:
        now = datetime.now(UTC)
        plan: Plan | None = None
        if snapshot.succeeded:
            plan = record_cards(monitor, snapshot, lambda planned: _insert_run(run, snapshot, planned, started.clock),
                                now=now, base_url=settings.base_url, missing_threshold=settings.missing_threshold)
        if not _update_monitor(monitor, _schedule(monitor, snapshot, plan, now, settings)):
            raise MonitorNotFound(monitor.id)  # deleted while its pages were being fetched
        _insert_run(run, snapshot, plan, started.clock)
        db.session.commit()
        inspect(run).info["fast_path"] = plan is not None and plan.fast_path
        if plan is not None and plan.alert_ids:
            request_delivery(plan.alert_ids)  # after the commit: the job must find the rows
        return run
    except MonitorNotFound:
        db.session.rollback()
        raise
    except Exception as exc:
        db.session.rollback()
        if not _record_crash(monitor.id, started.at, exc, started.clock, settings):
            raise MonitorNotFound(monitor.id) from exc  # deleted meanwhile: its rows are gone
        raise


def took_fast_path(run: PollRun) -> bool:
    """Whether this poll (in this process) wrote nothing but cosmetic counters."""
    return bool(inspect(run).info.get("fast_path", False))


def take_monitor_snapshot(kind: str, dhgate_id: str, settings: PollSettings, *, deadline: float) -> Snapshot:
    """Fetch and parse a monitor's pages. No database access: the network part of a poll must
    not keep a transaction open."""
    return take_snapshot(kind, dhgate_id, get_fetcher(), max_pages=settings.max_pages, deadline=deadline)


def record_snapshot(monitor: Monitor, snapshot: Snapshot, run: PollRun, *, now: datetime, settings: PollSettings) -> Plan:
    """Diff a successful snapshot against an ORM monitor's state and write events and state
    (not committed), card by card (``services.polling.cards``), with ``run`` joining the session
    when the events need its id; the monitor's own new values are set on it."""
    def run_id(_plan: Plan) -> int:
        db.session.add(run)
        db.session.flush()
        return run.id

    plan = record_cards(monitor, snapshot, run_id, now=now, base_url=settings.base_url,
                        missing_threshold=settings.missing_threshold)
    for name, value in plan.monitor_values.items():
        setattr(monitor, name, value)
    inspect(run).info["fast_path"] = plan.fast_path
    return plan


def _insert_run(run: PollRun, snapshot: Snapshot, plan: Plan | None, started_clock: float) -> int:
    """Close the run with its final values and INSERT it, once; returns its id."""
    if run.id is not None:
        return run.id
    run.finished_at = datetime.now(UTC)
    run.duration_ms = int((time.monotonic() - started_clock) * 1000)
    run.outcome = snapshot.outcome.value
    run.http_status = snapshot.http_status
    run.pages = snapshot.pages
    run.error = snapshot.error
    run.products_seen, run.products_new, run.products_changed = (
        (plan.seen, plan.new, plan.changed) if plan is not None else (0, 0, 0))
    values = {name: getattr(run, name) for name in _RUN_COLUMNS}
    run.id = db.session.connection().execute(_RUN_INSERT, values).scalar_one()
    return run.id


def _schedule(
    monitor: Row[Any], snapshot: Snapshot, plan: Plan | None, now: datetime, settings: PollSettings,
) -> dict[str, Any]:
    """The monitor's new values after this poll: its status, its next poll from the outcome,
    and what a successful poll moved (``plan.monitor_values``)."""
    values: dict[str, Any] = {"last_polled_at": now, "last_status": snapshot.outcome.value,
                              "claimed_until": None}  # this poll is over (the job also releases it on failure)
    if snapshot.succeeded:
        values.update(consecutive_failures=0, blocked_since=None,
                      last_error=_clip(snapshot.error) if snapshot.gone else None,
                      next_poll_at=now + timedelta(seconds=monitor.poll_interval))
        if plan is not None:
            values.update(plan.monitor_values)
        name = _adopted_store_name(monitor, snapshot)
        if name is not None:
            values["name"] = name
    elif snapshot.outcome is PollOutcome.CIRCUIT_OPEN:
        # Not this monitor's fault: try again once the breaker lets a trial through.
        values.update(last_error=_clip(snapshot.error),
                      next_poll_at=now + timedelta(seconds=max(30.0, settings.breaker_reset)))
    else:
        values.update(_failure_values(monitor.consecutive_failures, monitor.poll_interval, now, snapshot.error,
                                      settings))
        if snapshot.outcome is PollOutcome.BLOCKED and monitor.blocked_since is None:
            values["blocked_since"] = now
            notify_admins_blocked(monitor, now, snapshot.error)  # type: ignore[arg-type]
    return values


def _update_monitor(monitor: Row[Any], values: dict[str, Any]) -> bool:
    """One UPDATE of the columns this poll moves; False when the monitor is gone. A new name is
    written only while the monitor still has its default name (the member may rename it while
    its pages are fetched)."""
    parameters = {**values, "monitor_id": monitor.id}
    if "name" in values:
        parameters["default_name"] = store_target(monitor.dhgate_id).name
    result = db.session.connection().execute(_monitor_update(tuple(values)), parameters)
    return bool(result.rowcount)


@functools.cache
def _monitor_update(names: tuple[str, ...]) -> Update:
    """The schedule's UPDATE for one set of columns, built once per process."""
    table = _MONITORS
    columns: dict[str, Any] = {name: bindparam(name) for name in names}
    if "name" in columns:
        columns["name"] = case((table.c.name == bindparam("default_name"), bindparam("name")), else_=table.c.name)
    return update(table).where(table.c.id == bindparam("monitor_id")).values(columns)


def _adopted_store_name(monitor: Row[Any], snapshot: Snapshot) -> str | None:
    """A store monitor created without a name is called "Store 29173963" until DHgate tells us
    the store's name; the first successful poll that shows it renames the monitor. A name the
    member chose (anything but the default) is never touched."""
    if monitor.kind != "store" or not snapshot.store_name:
        return None
    if monitor.name != store_target(monitor.dhgate_id).name:
        return None
    name = name_from_dhgate(snapshot.store_name)
    return name if name is not None and name != monitor.name else None


def _failure_values(
    failures: int | None, interval: int, now: datetime, error: str | None, settings: PollSettings,
) -> dict[str, Any]:
    count = (failures or 0) + 1
    delay = backoff_seconds(count, interval, settings.backoff_cap)
    return {"consecutive_failures": count, "last_error": _clip(error), "next_poll_at": now + timedelta(seconds=delay)}


def record_crash(monitor_id: int, started: PollStart, exc: Exception, settings: PollSettings) -> None:
    """Record a poll that failed on our side before anything was written (run ``error``,
    monitor backed off, claim released)."""
    _record_crash(monitor_id, started.at, exc, started.clock, settings)


def _record_crash(
    monitor_id: int, started_at: datetime, exc: Exception, started_clock: float, settings: PollSettings,
) -> bool:
    """Keep a trace of a poll that failed on our side, and back the monitor off (rare: through
    the ORM). Returns False when the monitor no longer exists."""
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
            for name, value in _failure_values(monitor.consecutive_failures, monitor.poll_interval, now, message,
                                               settings).items():
                setattr(monitor, name, value)
        db.session.commit()
        return monitor is not None
    except Exception:  # the original exception matters more than this bookkeeping
        db.session.rollback()
        logger.exception("could not record the failed poll of monitor %s", monitor_id)
        return True


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"
