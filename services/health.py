"""Health checks: what is working, recorded over time, with admins told about changes.

Checks: ``database`` and ``redis`` are *critical* (without them nothing works); ``worker``,
``scheduler`` and ``dhgate`` are not (a DHgate outage is not our outage, and a stopped worker
leaves the web fully usable). Each check runs in its own daemon thread with a timeout, so one
hanging dependency cannot block the others or the process exit.

The overall state has three levels, decided in one place (``overall_state``) so the Platform
banner, ``/readyz`` and ``flask health`` always agree: *down* when a critical check fails,
*degraded* when only a non-critical one does (the site works but, say, nothing is being polled),
*healthy* otherwise.

Error texts are cleaned of URLs with credentials and of configured secrets before they are
stored or shown; probes (``/readyz``) never see error texts at all.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from extensions import db, get_redis
from models.metrics import HealthCheck
from services.dashboard_cache import invalidate_dashboard
from services.notifications.admin_alerts import alert_admins
from services.scheduler import scheduler_status
from services.worker_heartbeat import list_workers

logger = logging.getLogger(__name__)

OK = "ok"
FAILING = "failing"
PLATFORM_LINK = "/dashboard/platform"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # ok / failing
    critical: bool
    response_ms: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass(frozen=True)
class Check:
    name: str
    critical: bool
    probe: Callable[[], None]  # raises on failure; runs inside an app context


# -- the probes ------------------------------------------------------------------------------

def check_database() -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


def check_redis() -> None:
    connection = get_redis()
    key = f"{current_app.config['REDIS_KEY_PREFIX']}health:probe:{uuid.uuid4().hex}"
    connection.set(key, b"1", ex=30)
    if connection.get(key) != b"1":
        raise RuntimeError("Redis returned a different value than was written")
    connection.delete(key)


class CheckFailed(RuntimeError):
    """A probe's own verdict (as opposed to an exception from a dependency)."""


def check_worker() -> None:
    workers = list_workers()
    if not any(w.alive for w in workers):
        if workers:
            raise CheckFailed(f"no worker heartbeat for {int(time.time() - workers[0].last_heartbeat.timestamp())} s")
        raise CheckFailed("no worker is running")


def check_scheduler() -> None:
    status = scheduler_status()
    if not status.running:
        raise CheckFailed("no scheduler holds the lock" if status.active is None else "scheduler heartbeat is stale")


def check_dhgate() -> None:
    url = current_app.config["DHGATE_BASE_URL"]
    timeout = float(current_app.config["HEALTH_CHECK_TIMEOUT_SECONDS"])
    with httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": "DHgateMonitor-health/1"}) as client:
        response = client.head(url)
        if response.status_code == 405:
            response = client.get(url)
    if response.status_code >= 500:
        raise CheckFailed(f"HTTP {response.status_code}")


CHECKS: tuple[Check, ...] = (
    Check("database", True, check_database),
    Check("redis", True, check_redis),
    Check("worker", False, check_worker),
    Check("scheduler", False, check_scheduler),
    Check("dhgate", False, check_dhgate),
)
CRITICAL = tuple(c.name for c in CHECKS if c.critical)


# -- running them ----------------------------------------------------------------------------

def run_checks(names: Iterable[str] | None = None, *, app: Flask | None = None, timeout: float | None = None) -> list[CheckResult]:
    """Run the named checks (all by default) in parallel daemon threads, each with a timeout."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    wanted = set(names) if names is not None else None
    checks = [c for c in CHECKS if wanted is None or c.name in wanted]
    limit = float(timeout if timeout is not None else app.config["HEALTH_CHECK_TIMEOUT_SECONDS"])
    results: dict[str, CheckResult] = {}
    threads = []
    for check in checks:
        thread = threading.Thread(target=_run_one, args=(app, check, results), name=f"health-{check.name}", daemon=True)
        thread.start()
        threads.append((check, thread))
    deadline = time.monotonic() + limit
    for _check, thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    ordered = []
    for check in checks:
        result = results.get(check.name)
        if result is None:  # still running: it stays in its daemon thread, we move on
            result = CheckResult(check.name, FAILING, check.critical, round(limit * 1000, 1), f"timed out after {limit:g} s")
        ordered.append(result)
    return ordered


def _run_one(app: Flask, check: Check, results: dict[str, CheckResult]) -> None:
    started = time.perf_counter()
    with app.app_context():
        try:
            check.probe()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a result
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            results[check.name] = CheckResult(check.name, FAILING, check.critical, elapsed, describe_error(exc, app))
        else:
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            results[check.name] = CheckResult(check.name, OK, check.critical, elapsed, None)
        finally:
            if check.name == "database":
                db.session.remove()


def overall_ok(results: Iterable[CheckResult]) -> bool:
    """Serving unless a *critical* check fails (``degraded`` still serves)."""
    return all(r.ok for r in results if r.critical)


# -- the overall state -----------------------------------------------------------------------

HEALTHY = "healthy"
DEGRADED = "degraded"
DOWN = "down"


class CheckOutcome(Protocol):
    """What ``overall_state`` needs of a result: a live ``CheckResult`` or a stored ``LatestCheck``."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def critical(self) -> bool: ...


@dataclass(frozen=True)
class OverallState:
    """The platform's state and the checks that made it so (critical failures first)."""

    state: str  # healthy / degraded / down
    failing: tuple[str, ...] = ()

    @property
    def serving(self) -> bool:
        return self.state != DOWN

    def reasons(self) -> list[str]:
        """What each failing check means for the people using the platform, in their language."""
        return [check_consequence(name) for name in self.failing]


def overall_state(results: Iterable[CheckOutcome]) -> OverallState:
    """The one decision of the platform's state: down when a critical check fails, degraded
    when only non-critical ones do, healthy otherwise."""
    results = list(results)
    critical = tuple(r.name for r in results if r.critical and r.status != OK)
    other = tuple(r.name for r in results if not r.critical and r.status != OK)
    if critical:
        return OverallState(DOWN, critical + other)
    if other:
        return OverallState(DEGRADED, other)
    return OverallState(HEALTHY)


def check_consequence(name: str) -> str:
    """A failing check in words: what stops working, not which probe failed."""
    texts = {
        "database": _("Database unreachable: the site cannot work"),
        "redis": _("Redis unreachable: logins, queues and caches cannot work"),
        "worker": _("No worker is running: nothing will be polled until the worker runs"),
        "scheduler": _("No scheduler is running: nothing will be polled until the scheduler runs"),
        "dhgate": _("DHgate unreachable: nothing is being polled"),
    }
    return texts.get(name, _("Check failing: %(name)s", name=name))


def process_warnings() -> list[str]:
    """The admin pages' banner: what is not happening because the worker or the scheduler is
    not running. Two Redis reads; a probe that cannot answer counts as not running."""
    warnings = []
    for name, probe in (("worker", check_worker), ("scheduler", check_scheduler)):
        try:
            probe()
        except Exception:  # noqa: BLE001 - any failure means the process is not known to run
            warnings.append(check_consequence(name))
    return warnings


_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]*@")


def describe_error(exc: BaseException, app: Flask | None = None) -> str:
    """One line naming what went wrong, with no credentials in it.

    Dependency errors can quote the URL they used; user:password parts of URLs and any
    configured password or secret are replaced, and the text is cut to 300 characters.
    """
    if isinstance(exc, CheckFailed):
        message = str(exc)
    else:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        message = f"{type(exc).__name__}: {detail[0] if detail else ''}".rstrip(": ")
    message = _URL_CREDENTIALS.sub(r"\1***@", message)
    for secret in _secrets(app):
        message = message.replace(secret, "***")
    return message[:300]


def _secrets(app: Flask | None) -> list[str]:
    config = (app or current_app).config
    found = []
    for key in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL"):
        password = urlsplit(str(config.get(key) or "")).password
        if password:
            found.append(password)
    for key in ("SECRET_KEY", "METRICS_TOKEN", "ADMIN_PASSWORD"):
        value = config.get(key)
        if value and len(str(value)) >= 6:
            found.append(str(value))
    return found


# -- recording and telling admins ------------------------------------------------------------

def record_results(results: list[CheckResult], *, checked_at: datetime | None = None) -> list[tuple[CheckResult, str]]:
    """Store one run and notify admins of transitions; returns (result, transition) pairs.

    The previous state of each check is its latest stored row. A transition's notification
    carries a dedupe key naming the check and the incident: the id of the last *ok* row before
    the failure began. Every run during that incident computes the same key, so two runs racing
    on the same transition still create one notification per admin.
    """
    checked_at = checked_at or datetime.now(UTC)
    transitions: list[tuple[CheckResult, str, int]] = []
    for result in results:
        previous = db.session.scalar(
            select(HealthCheck.status).where(HealthCheck.name == result.name).order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc()).limit(1)
        )
        previous_status = previous or OK  # no history: the platform counts as healthy until shown otherwise
        if previous_status != result.status:
            anchor = db.session.scalar(
                select(func.max(HealthCheck.id)).where(HealthCheck.name == result.name, HealthCheck.status == OK)
            ) or 0
            transitions.append((result, "down" if result.status == FAILING else "up", anchor))
    db.session.add_all(
        HealthCheck(
            name=r.name, status=r.status, critical=r.critical, response_ms=r.response_ms,
            error=r.error, checked_at=checked_at,
        )
        for r in results
    )
    db.session.commit()
    for result, direction, anchor in transitions:
        notify_admins(result, direction, anchor)
    if transitions:
        invalidate_dashboard()
    return [(r, d) for r, d, _anchor in transitions]


def notify_admins(result: CheckResult, direction: str, incident: int) -> int:
    """One alert per admin for one transition, in each admin's language, through their channels
    (``services.notifications.admin_alerts``); returns how many were new (0 when another run
    already told them)."""
    severity = "info" if direction == "up" else ("critical" if result.critical else "warning")
    return alert_admins(f"health:{result.name}:{direction}:{incident}", lambda: _transition_text(result, direction),
                        kind="system", severity=severity, link=PLATFORM_LINK)


def _transition_text(result: CheckResult, direction: str) -> tuple[str, str]:
    """Title and body in the current language (the caller forces each admin's own)."""
    if direction == "down":
        return _("Health check failing: %(name)s", name=result.name), result.error or _("The check failed.")
    return _("Health check recovered: %(name)s", name=result.name), _("The check is passing again.")


def run_and_record() -> list[CheckResult]:
    """The ``run_health_checks`` job's body."""
    results = run_checks()
    try:
        record_results(results)
    except SQLAlchemyError:
        db.session.rollback()
        logger.error("could not record health checks (database unavailable?)", exc_info=True)
        raise
    return results


@dataclass
class LatestCheck:
    name: str
    status: str
    critical: bool
    response_ms: float | None
    error: str | None
    checked_at: datetime


def latest_results() -> list[LatestCheck]:
    """The most recent stored result of each check, in the order of ``CHECKS``."""
    newest = (
        select(HealthCheck.name, func.max(HealthCheck.checked_at).label("at"))
        .group_by(HealthCheck.name)
        .subquery()
    )
    rows = db.session.scalars(
        select(HealthCheck).join(newest, (HealthCheck.name == newest.c.name) & (HealthCheck.checked_at == newest.c.at))
    ).all()
    by_name = {r.name: r for r in rows}
    order = [c.name for c in CHECKS]
    return [
        LatestCheck(r.name, r.status, r.critical, r.response_ms, r.error, r.checked_at)
        for r in sorted(by_name.values(), key=lambda r: order.index(r.name) if r.name in order else len(order))
    ]


# -- /readyz: cached, critical checks only ---------------------------------------------------

class ReadinessCache:
    """The last readiness verdict of this process, reused for ``READYZ_CACHE_SECONDS``.

    Concurrent probes while a run is in progress wait for that run instead of starting their
    own, so a burst of probes costs one database and one Redis round trip. The critical checks
    run live; the non-critical ones (worker, scheduler, DHgate) are read from the last recorded
    run, so a probe never makes a request to DHgate yet reports the same state as the banner.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: tuple[float, list[CheckResult]] | None = None

    def get(self, app: Flask) -> list[CheckResult]:
        value = self._value
        if value is not None and time.monotonic() - value[0] < self.ttl:
            return value[1]
        with self._lock:
            value = self._value
            if value is not None and time.monotonic() - value[0] < self.ttl:
                return value[1]
            results: list[CheckResult] = run_checks(CRITICAL, app=app)
            if overall_ok(results):
                results += _recorded_non_critical(app)
            self._value = (time.monotonic(), results)
            return results


def _recorded_non_critical(app: Flask) -> list[CheckResult]:
    """The non-critical checks as last recorded (none when nothing was recorded yet)."""
    with app.app_context():
        try:
            latest = [c for c in latest_results() if not c.critical]
        except SQLAlchemyError:
            db.session.rollback()
            return []
        finally:
            db.session.remove()
    return [CheckResult(c.name, c.status, c.critical, c.response_ms, c.error) for c in latest]


def readiness(app: Flask) -> list[CheckResult]:
    cache = app.extensions.get("dhm_readiness")
    if cache is None:
        cache = app.extensions.setdefault("dhm_readiness", ReadinessCache(float(app.config["READYZ_CACHE_SECONDS"])))
    return cache.get(app)
