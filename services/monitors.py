"""Monitors: creating them from whatever a member pastes, changing, pausing and deleting them,
and every query the monitoring pages and the API make.

Routes, the CLI and tests all come through here, so the rules live in one place: the DHgate host
allow-list, one monitor per thing watched per member, the subscription tier's shortest poll
interval, keyword and price-rule limits. Every query takes the *viewer* and is scoped to what
that person may see (their own monitors; admins see everyone's), so a forgotten filter in a view
cannot leak another member's data.
"""
from __future__ import annotations

import enum
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from redis.exceptions import RedisError
from sqlalchemy import Float, Select, cast, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager
from sqlalchemy.sql.elements import ColumnElement

from extensions import db
from models import Keyword, Monitor, MonitorProduct, PollRun, PricePoint, Product, ProductEvent, User
from models.users import TIERS
from services.dhgate.types import InvalidDHgateInput, MonitorTarget, PriceTier
from services.dhgate.urls import normalise_input

logger = logging.getLogger(__name__)

POLL_JOB = "jobs.monitoring.poll_monitor"
POLL_QUEUE = "polling"
MAX_INTERVAL = 7 * 86400
MIN_INTERVAL_FLOOR = 60
MAX_NAME_LENGTH = 200
MAX_KEYWORD_LENGTH = 100
MAX_KEYWORDS_PER_MONITOR = 50
MAX_GLOBAL_KEYWORDS = 100
NEW_PRODUCT_DAYS = 7
PROBLEM_STATUSES = ("blocked", "gone", "http_error", "timeout", "parse_error", "circuit_open", "error")
STATUS_FILTERS = ("ok", "problem", "waiting", "paused")
PRODUCT_SORTS = ("first_seen", "title", "price", "change", "sold")
PRODUCT_STATUS_FILTERS = ("listed", "missing", "delisted")
DEFAULT_PRICE_DROP_PCT = Decimal("5")
DEFAULT_PRICE_RISE_PCT = Decimal("5")


# --------------------------------------------------------------------------- errors


class MonitorError(ValueError):
    """A request about a monitor that cannot be done; the message is safe to show.

    ``field`` names the form field the message belongs to (None: the form as a whole).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class DuplicateMonitorError(MonitorError):
    """The member already watches this store, search or product."""

    def __init__(self, message: str, existing: Monitor) -> None:
        super().__init__(message, field="target")
        self.existing = existing


# --------------------------------------------------------------------------- words for people


def kind_label(kind: str) -> str:
    labels = {"store": _("Store"), "search": _("Search"), "product": _("Product")}
    return labels.get(kind, kind)


def status_label(monitor: Monitor) -> str:
    """The last poll's outcome in words a person understands (paused wins: nothing will run)."""
    if not monitor.active:
        return _("Paused")
    return outcome_label(monitor.last_status)


def outcome_label(outcome: str | None) -> str:
    labels = {
        None: _("Waiting for first check"),
        "ok": _("Up to date"),
        "blocked": _("DHgate blocked our request — we'll retry later"),
        "gone": _("This page no longer exists on DHgate"),
        "http_error": _("DHgate answered with an error — we'll retry later"),
        "timeout": _("DHgate did not answer in time — we'll retry later"),
        "parse_error": _("DHgate's page changed and we could not read it"),
        "circuit_open": _("DHgate is having trouble — checks are paused for a moment"),
        "error": _("Something went wrong on our side — we'll retry later"),
    }
    return labels.get(outcome, outcome or "")


def status_tone(monitor: Monitor) -> str:
    """CSS tone of the status badge: ok / warn / bad / muted (the text carries the meaning)."""
    if not monitor.active or monitor.last_status is None:
        return "muted"
    return outcome_tone(monitor.last_status)


def outcome_tone(outcome: str | None) -> str:
    if outcome == "ok":
        return "ok"
    if outcome in ("gone", "parse_error", "error"):
        return "bad"
    if outcome is None:
        return "muted"
    return "warn"


def product_status(link: MonitorProduct) -> str:
    """listed / missing / delisted for one product as this monitor sees it."""
    status = link.product.status
    if status == "delisted":
        return "delisted"
    if status == "missing" or link.gone_at is not None:
        return "missing"
    return "listed"


def product_status_label(status: str) -> str:
    labels = {"listed": _("Listed"), "missing": _("Missing"), "delisted": _("Delisted")}
    return labels.get(status, status)


# --------------------------------------------------------------------------- poll intervals


def tier_minimums() -> dict[str, int]:
    """Shortest poll interval (seconds) per subscription tier, from the configuration."""
    config = current_app.config
    return {
        "free": int(config["MONITOR_MIN_INTERVAL_FREE"]),
        "pro": int(config["MONITOR_MIN_INTERVAL_PRO"]),
        "business": int(config["MONITOR_MIN_INTERVAL_BUSINESS"]),
    }


def effective_tier(user: User) -> str:
    """The tier whose limits apply: admins run the platform and get the business limits;
    an unknown tier name gets the free limits (the safe side)."""
    if user.is_admin:
        return "business"
    return user.subscription_tier if user.subscription_tier in TIERS else "free"


def minimum_interval(user: User) -> int:
    """The shortest poll interval ``user``'s monitors may use, in seconds."""
    return tier_minimums()[effective_tier(user)]


def tier_for_interval(seconds: int) -> str:
    """The cheapest tier that allows polling every ``seconds``."""
    minimums = tier_minimums()
    for tier in TIERS:
        if minimums[tier] <= seconds:
            return tier
    return TIERS[-1]


def tier_label(tier: str) -> str:
    labels = {"free": _("Free"), "pro": _("Pro"), "business": _("Business")}
    return labels.get(tier, tier)


@dataclass(frozen=True)
class IntervalOption:
    """One poll interval of the form's select; ``allowed`` is False above the member's tier."""

    seconds: int
    allowed: bool
    tier: str  # cheapest tier that allows it


def interval_options(user: User) -> list[IntervalOption]:
    """The configured intervals, each marked allowed or not for ``user``."""
    minimum = minimum_interval(user)
    choices = sorted(set(current_app.config["MONITOR_INTERVAL_CHOICES"]) | {minimum})
    return [IntervalOption(s, s >= minimum, tier_for_interval(s)) for s in choices]


def default_interval(user: User) -> int:
    """A new monitor polls as often as the member's plan allows."""
    return minimum_interval(user)


def check_interval(owner: User, seconds: Any) -> int:
    """``seconds`` when ``owner``'s tier allows it, else ``MonitorError`` on ``poll_interval``."""
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        raise MonitorError(_("Choose how often to check."), field="poll_interval") from None
    if value < MIN_INTERVAL_FLOOR or value > MAX_INTERVAL:
        raise MonitorError(
            _("Choose an interval between 1 minute and 7 days."), field="poll_interval"
        )
    minimum = minimum_interval(owner)
    if value < minimum:
        raise MonitorError(
            _(
                "The %(tier)s plan checks at most every %(interval)s. Choose a longer interval or upgrade.",
                tier=tier_label(effective_tier(owner)),
                interval=format_interval(minimum),
            ),
            field="poll_interval",
        )
    return value


def format_interval(seconds: int) -> str:
    """'15 minutes', '6 hours', '1 day' in the current language."""
    from flask_babel import format_timedelta

    return format_timedelta(timedelta(seconds=seconds), threshold=1.0)


def parse_interval(text: str) -> int:
    """An interval typed on the command line: ``900``, ``15m``, ``6h`` or ``1d`` -> seconds."""
    raw = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    multiplier = 1
    if raw and raw[-1] in units:
        multiplier = units[raw[-1]]
        raw = raw[:-1]
    if not raw.isdigit():
        raise MonitorError(_("Write the interval as seconds or like 15m, 6h, 1d."), field="poll_interval")
    return int(raw) * multiplier


# --------------------------------------------------------------------------- settings


@dataclass
class MonitorSettings:
    """What a member can set on a monitor. ``None`` name/interval mean "use the default"."""

    name: str | None = None
    poll_interval: int | None = None
    keywords: Sequence[str] = ()
    price_drop_pct: Decimal | None = DEFAULT_PRICE_DROP_PCT
    price_rise_pct: Decimal | None = DEFAULT_PRICE_RISE_PCT
    target_price: Decimal | None = None
    stock_alerts: bool = True


@dataclass
class _CleanSettings:
    name: str
    poll_interval: int
    keywords: list[str]
    price_drop_pct: Decimal
    price_rise_pct: Decimal
    target_price: Decimal | None
    stock_alerts: bool


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


def _clean_name(name: str | None, default: str) -> str:
    cleaned = " ".join(unicodedata.normalize("NFKC", name or "").split())
    if not cleaned:
        return default[:MAX_NAME_LENGTH]
    if _has_control_characters(cleaned):
        raise MonitorError(_("The name contains invisible control characters."), field="name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise MonitorError(
            _("The name can be at most %(n)s characters long.", n=MAX_NAME_LENGTH), field="name"
        )
    return cleaned


def _clean_percent(value: Decimal | None, default: Decimal, field_name: str, maximum: int) -> Decimal:
    if value is None:
        return default
    try:
        value = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise MonitorError(_("Enter a percentage, like 5 or 12.5."), field=field_name) from None
    if not value.is_finite() or value <= 0 or value > maximum:
        raise MonitorError(
            _("Enter a percentage above 0 and at most %(max)s.", max=maximum), field=field_name
        )
    return value.quantize(Decimal("0.01"))


def _clean_target_price(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    try:
        value = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise MonitorError(_("Enter a price, like 12.50."), field="target_price") from None
    if not value.is_finite() or value <= 0 or value >= Decimal("1000000000"):
        raise MonitorError(_("Enter a price above 0."), field="target_price")
    return value.quantize(Decimal("0.01"))


def parse_keywords(text: str | Iterable[str] | None, *, limit: int = MAX_KEYWORDS_PER_MONITOR) -> list[str]:
    """Comma- or line-separated keywords: trimmed, single-spaced, de-duplicated ignoring case.

    Matching on titles is case-insensitive, so "LED" and "led" are the same keyword.
    """
    if text is None:
        return []
    pieces: Iterable[str]
    if isinstance(text, str):
        pieces = text.replace("\n", ",").split(",")
    else:
        pieces = text
    seen: set[str] = set()
    terms: list[str] = []
    for piece in pieces:
        term = " ".join(unicodedata.normalize("NFKC", piece).split())
        if not term:
            continue
        if _has_control_characters(term):
            raise MonitorError(_("A keyword contains invisible control characters."), field="keywords")
        if len(term) > MAX_KEYWORD_LENGTH:
            raise MonitorError(
                _("Keywords can be at most %(n)s characters long.", n=MAX_KEYWORD_LENGTH), field="keywords"
            )
        if term.casefold() in seen:
            continue
        seen.add(term.casefold())
        terms.append(term)
    if len(terms) > limit:
        raise MonitorError(_("Use at most %(n)s keywords.", n=limit), field="keywords")
    return terms


def _clean_settings(owner: User, settings: MonitorSettings, default_name: str) -> _CleanSettings:
    interval = settings.poll_interval if settings.poll_interval is not None else default_interval(owner)
    return _CleanSettings(
        name=_clean_name(settings.name, default_name),
        poll_interval=check_interval(owner, interval),
        keywords=parse_keywords(list(settings.keywords)),
        price_drop_pct=_clean_percent(settings.price_drop_pct, DEFAULT_PRICE_DROP_PCT, "price_drop_pct", 100),
        price_rise_pct=_clean_percent(settings.price_rise_pct, DEFAULT_PRICE_RISE_PCT, "price_rise_pct", 1000),
        target_price=_clean_target_price(settings.target_price),
        stock_alerts=bool(settings.stock_alerts),
    )


# --------------------------------------------------------------------------- create / change


def allowed_hosts() -> tuple[str, ...]:
    return tuple(current_app.config["DHGATE_ALLOWED_HOSTS"])


def understand(text: str) -> MonitorTarget:
    """What a pasted link or keywords mean; ``InvalidDHgateInput`` (message safe to show) if
    it is nothing we can watch or points outside the allowed DHgate hosts."""
    return normalise_input(text, allowed_hosts(), current_app.config["DHGATE_BASE_URL"])


def find_duplicate(owner_id: int, kind: str, dhgate_id: str, *, exclude_id: int | None = None) -> Monitor | None:
    query = select(Monitor).where(
        Monitor.user_id == owner_id, Monitor.kind == kind, Monitor.dhgate_id == dhgate_id
    )
    if exclude_id is not None:
        query = query.where(Monitor.id != exclude_id)
    return db.session.scalar(query)


def _duplicate_error(existing: Monitor) -> DuplicateMonitorError:
    return DuplicateMonitorError(
        _("You already watch this %(kind)s: “%(name)s”.", kind=kind_label(existing.kind).lower(), name=existing.name),
        existing,
    )


def create_monitor(owner: User, target: MonitorTarget | str, settings: MonitorSettings | None = None) -> Monitor:
    """Start watching ``target`` for ``owner``; it is checked within the scheduler's next minute.

    Raises ``MonitorError`` (with ``field``) for bad input and ``DuplicateMonitorError`` when
    the member already watches the same store/search/product. Nothing is written on error.
    """
    if isinstance(target, str):
        try:
            target = understand(target)
        except InvalidDHgateInput as exc:
            raise MonitorError(str(exc), field="target") from None
    settings = settings or MonitorSettings()
    existing = find_duplicate(owner.id, target.kind, target.dhgate_id)
    if existing is not None:
        raise _duplicate_error(existing)
    clean = _clean_settings(owner, settings, target.name)
    monitor = Monitor(
        user_id=owner.id,
        kind=target.kind,
        dhgate_id=target.dhgate_id,
        url=target.url,
        name=clean.name,
        poll_interval=clean.poll_interval,
        next_poll_at=datetime.now(UTC),
        active=True,
    )
    _apply_rules(monitor, clean)
    monitor.keywords = [Keyword(user_id=owner.id, term=term) for term in clean.keywords]
    db.session.add(monitor)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a second submit won the race: report it like the check above
        existing = find_duplicate(owner.id, target.kind, target.dhgate_id)
        if existing is None:
            raise
        raise _duplicate_error(existing) from None
    return monitor


def _apply_rules(monitor: Monitor, clean: _CleanSettings) -> None:
    monitor.price_drop_pct = clean.price_drop_pct
    monitor.price_rise_pct = clean.price_rise_pct
    monitor.target_price = clean.target_price
    monitor.stock_alerts = clean.stock_alerts


def update_monitor(monitor: Monitor, settings: MonitorSettings) -> Monitor:
    """Change a monitor's name, interval, keywords and alert rules (bounded by the owner's tier).

    A shorter interval takes effect at once: the next check is pulled in rather than waiting
    out the old, longer interval.
    """
    owner = db.session.get(User, monitor.user_id)
    assert owner is not None
    clean = _clean_settings(owner, settings, monitor.name)
    monitor.name = clean.name
    if clean.poll_interval != monitor.poll_interval:
        monitor.poll_interval = clean.poll_interval
        soonest = (monitor.last_polled_at or datetime.now(UTC)) + timedelta(seconds=clean.poll_interval)
        if monitor.next_poll_at is None or monitor.next_poll_at > soonest:
            monitor.next_poll_at = soonest
    _apply_rules(monitor, clean)
    _replace_keywords(monitor, clean.keywords)
    db.session.commit()
    return monitor


def _replace_keywords(monitor: Monitor, terms: Sequence[str]) -> None:
    """Keep keywords that stay (ids and created_at survive), drop the rest, add the new ones.

    Done as a diff rather than delete-all/insert-all so the unique (user, monitor, term) key is
    never hit by a delete and an insert of the same term in one flush.
    """
    wanted = {term.casefold(): term for term in terms}
    for keyword in list(monitor.keywords):
        folded = keyword.term.casefold()
        if folded in wanted:
            keyword.term = wanted.pop(folded)
        else:
            monitor.keywords.remove(keyword)
    for term in wanted.values():
        monitor.keywords.append(Keyword(user_id=monitor.user_id, term=term))


def set_active(monitor: Monitor, active: bool) -> bool:
    """Pause or resume; True when something changed. Resuming checks again right away."""
    if monitor.active == active:
        return False
    monitor.active = active
    if active:
        monitor.next_poll_at = datetime.now(UTC)
        monitor.consecutive_failures = 0
    db.session.commit()
    return True


def delete_monitor(monitor: Monitor) -> None:
    """Delete a monitor and everything recorded for it (products stay: others may share them).

    The foreign keys cascade on PostgreSQL; SQLite does not enforce them, so the dependent rows
    are removed (or unlinked) here explicitly, in the same transaction, on every database.
    """
    from models import AffiliateClick, Notification

    monitor_id = monitor.id
    event_ids = select(ProductEvent.id).where(ProductEvent.monitor_id == monitor_id)
    db.session.execute(
        update(Notification).where(Notification.product_event_id.in_(event_ids)).values(product_event_id=None)
    )
    db.session.execute(update(AffiliateClick).where(AffiliateClick.monitor_id == monitor_id).values(monitor_id=None))
    for model in (ProductEvent, MonitorProduct, PollRun, Keyword):
        db.session.execute(delete(model).where(model.monitor_id == monitor_id))  # type: ignore[attr-defined]
    db.session.execute(delete(Monitor).where(Monitor.id == monitor_id))
    db.session.commit()
    if monitor in db.session:
        db.session.expunge(monitor)  # the row is gone: keep the stale object out of the session


# --------------------------------------------------------------------------- poll now


class PollRequest(enum.Enum):
    """What "check now" achieved."""

    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"
    QUEUE_UNAVAILABLE = "queue_unavailable"  # Redis is down: the scheduler will pick it up


def poll_job_id(monitor_id: int) -> str:
    """The deterministic RQ job id of a monitor's poll, the very one the scheduler uses: while
    a poll is queued or running, another request for it is a no-op, not a second fetch."""
    from jobs.monitoring import poll_job_id as scheduler_job_id  # loaded by enqueue() anyway

    return scheduler_job_id(monitor_id)


def request_poll_now(monitor: Monitor) -> PollRequest:
    """Make a monitor due now, claim it, and put its poll on the ``polling`` queue.

    The claim is the scheduler's own conditional update, so a click and a scheduler tick cannot
    both start a poll: whoever loses the claim knows a poll is already on its way. When Redis
    cannot be reached the claim is released and the monitor stays due, so the scheduler picks it
    up as soon as the queue is back; the caller tells the person which of these happened.
    """
    from services.polling.schedule import claim, release
    from services.queue import enqueue

    if not monitor.active:
        raise MonitorError(_("This monitor is paused. Resume it to check it again."))
    monitor_id = monitor.id
    now = datetime.now(UTC)
    db.session.execute(
        update(Monitor).where(Monitor.id == monitor_id).values(next_poll_at=now)
        .execution_options(synchronize_session=False)
    )
    lease = int(current_app.config.get("POLL_CLAIM_LEASE_SECONDS", 900))
    if not claim(monitor_id, now, lease):
        db.session.rollback()  # a poll holds the claim: leave its schedule alone
        return PollRequest.ALREADY_QUEUED
    db.session.commit()
    try:
        job = enqueue(POLL_JOB, job_id=poll_job_id(monitor_id), queue=POLL_QUEUE, monitor_id=monitor_id)
    except (RedisError, OSError):
        logger.warning("could not enqueue a poll of monitor %s", monitor_id, exc_info=True)
        release(monitor_id)
        return PollRequest.QUEUE_UNAVAILABLE
    return PollRequest.QUEUED if job is not None else PollRequest.ALREADY_QUEUED


# --------------------------------------------------------------------------- scoped queries


def scoped_monitors(viewer: User, *, everyone: bool = False) -> Select[tuple[Monitor]]:
    """Monitors ``viewer`` may see: their own; every member's for an admin who asks for it."""
    query = select(Monitor)
    if not (viewer.is_admin and everyone):
        query = query.where(Monitor.user_id == viewer.id)
    return query


def get_monitor(viewer: User, monitor_id: int) -> Monitor | None:
    """The monitor when ``viewer`` owns it or is an admin; None otherwise (callers answer 404,
    so a member cannot even learn that another member's monitor exists)."""
    monitor = db.session.get(Monitor, monitor_id)
    if monitor is None:
        return None
    if monitor.user_id != viewer.id and not viewer.is_admin:
        return None
    return monitor


@dataclass
class MonitorRow:
    """One line of the monitors list with its counts."""

    monitor: Monitor
    product_count: int = 0
    new_this_week: int = 0
    events_this_week: int = 0
    owner_name: str | None = None


def list_monitors(
    viewer: User, *, kind: str | None = None, status: str | None = None, everyone: bool = False
) -> list[MonitorRow]:
    """The monitors list with product/new/event counts, in three grouped queries (not 3 × N)."""
    query = scoped_monitors(viewer, everyone=everyone)
    if kind:
        query = query.where(Monitor.kind == kind)
    query = _status_filter(query, status)
    return _rows(query, with_owners=everyone and viewer.is_admin)


def operator_monitor_rows(owner_id: int | None = None) -> list[MonitorRow]:
    """Every monitor (or one user's), with owner names: for operators on the command line."""
    query = select(Monitor)
    if owner_id is not None:
        query = query.where(Monitor.user_id == owner_id)
    return _rows(query, with_owners=True)


def _rows(query: Select[tuple[Monitor]], *, with_owners: bool) -> list[MonitorRow]:
    monitors = list(db.session.scalars(query.order_by(func.lower(Monitor.name), Monitor.id)))
    if not monitors:
        return []
    ids = [m.id for m in monitors]
    week_ago = datetime.now(UTC) - timedelta(days=NEW_PRODUCT_DAYS)
    products = _counts(select(MonitorProduct.monitor_id, func.count()).where(MonitorProduct.monitor_id.in_(ids)))
    new = _counts(
        select(MonitorProduct.monitor_id, func.count()).where(
            MonitorProduct.monitor_id.in_(ids), MonitorProduct.first_seen_at >= week_ago
        )
    )
    events = _counts(
        select(ProductEvent.monitor_id, func.count()).where(
            ProductEvent.monitor_id.in_(ids), ProductEvent.created_at >= week_ago
        )
    )
    owners: dict[int, str] = {}
    if with_owners:
        owner_ids = {m.user_id for m in monitors}
        owners = {
            user_id: username
            for user_id, username in db.session.execute(select(User.id, User.username).where(User.id.in_(owner_ids)))
        }
    return [
        MonitorRow(m, products.get(m.id, 0), new.get(m.id, 0), events.get(m.id, 0), owners.get(m.user_id))
        for m in monitors
    ]


def _status_filter(query: Select[tuple[Monitor]], status: str | None) -> Select[tuple[Monitor]]:
    if status == "paused":
        return query.where(Monitor.active.is_(False))
    if status == "ok":
        return query.where(Monitor.active.is_(True), Monitor.last_status == "ok")
    if status == "problem":
        return query.where(Monitor.active.is_(True), Monitor.last_status.in_(PROBLEM_STATUSES))
    if status == "waiting":
        return query.where(Monitor.active.is_(True), Monitor.last_status.is_(None))
    return query


def _counts(query: Select[Any]) -> dict[int, int]:
    first_column = query.selected_columns[0]
    return {row[0]: row[1] for row in db.session.execute(query.group_by(first_column))}


def product_count(monitor: Monitor) -> int:
    return db.session.scalar(
        select(func.count()).select_from(MonitorProduct).where(MonitorProduct.monitor_id == monitor.id)
    ) or 0


@dataclass
class MonitorSummary:
    """The figures at the top of a monitor's page."""

    product_count: int
    new_this_week: int
    events_this_week: int
    missing: int
    keywords: list[str] = field(default_factory=list)
    global_keywords: list[str] = field(default_factory=list)


def monitor_summary(monitor: Monitor) -> MonitorSummary:
    week_ago = datetime.now(UTC) - timedelta(days=NEW_PRODUCT_DAYS)
    counts = db.session.execute(
        select(
            func.count(MonitorProduct.id),
            func.count(MonitorProduct.id).filter(MonitorProduct.first_seen_at >= week_ago),
            func.count(MonitorProduct.id).filter(MonitorProduct.gone_at.is_not(None)),
        ).where(MonitorProduct.monitor_id == monitor.id)
    ).one()
    events = db.session.scalar(
        select(func.count(ProductEvent.id)).where(
            ProductEvent.monitor_id == monitor.id, ProductEvent.created_at >= week_ago
        )
    ) or 0
    return MonitorSummary(
        product_count=counts[0],
        new_this_week=counts[1],
        events_this_week=events,
        missing=counts[2],
        keywords=[k.term for k in sorted(monitor.keywords, key=lambda k: k.term.casefold())],
        global_keywords=[k.term for k in global_keywords(monitor.user_id)],
    )


def recent_poll_runs(monitor: Monitor, limit: int = 10) -> list[PollRun]:
    return list(
        db.session.scalars(
            select(PollRun).where(PollRun.monitor_id == monitor.id).order_by(PollRun.started_at.desc(), PollRun.id.desc()).limit(limit)
        )
    )


def recent_events(monitor: Monitor, *, product_id: int | None = None, limit: int = 20) -> list[ProductEvent]:
    """A monitor's latest events (optionally of one product), newest first, products loaded."""
    query = (
        select(ProductEvent)
        .join(ProductEvent.product)
        .options(contains_eager(ProductEvent.product))
        .where(ProductEvent.monitor_id == monitor.id)
    )
    if product_id is not None:
        query = query.where(ProductEvent.product_id == product_id)
    return list(db.session.scalars(query.order_by(ProductEvent.created_at.desc(), ProductEvent.id.desc()).limit(limit)))


def _change_ratio() -> ColumnElement[Any]:
    """(price now − price first seen) / price first seen, as a float for ordering only
    (SQLite would otherwise divide two whole-number prices as integers)."""
    first = cast(Product.first_price_min, Float)
    return (cast(Product.price_min, Float) - first) / func.nullif(first, 0)


def _sort_columns(sort: str) -> ColumnElement[Any]:
    columns: dict[str, ColumnElement[Any]] = {
        "first_seen": MonitorProduct.first_seen_at,
        "title": func.lower(Product.title),
        "price": Product.price_min,
        "change": _change_ratio(),
        "sold": Product.sold,
    }
    return columns.get(sort, MonitorProduct.first_seen_at)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def monitor_products(
    monitor: Monitor,
    *,
    search: str = "",
    status: str | None = None,
    sort: str = "first_seen",
    direction: str = "desc",
    page: int = 1,
    per_page: int = 25,
) -> Pagination:
    """One page of the products a monitor has seen (``MonitorProduct`` rows, product loaded).

    Searches title and item code; sorts by title, price, change since first seen, first seen or
    sold count, unknown values last whichever the direction.
    """
    query = (
        select(MonitorProduct)
        .join(MonitorProduct.product)
        .options(contains_eager(MonitorProduct.product))
        .where(MonitorProduct.monitor_id == monitor.id)
    )
    search = " ".join(search.split())[:200]
    if search:
        pattern = _like_pattern(search)
        query = query.where(
            or_(Product.title.ilike(pattern, escape="\\"), Product.item_code.ilike(pattern, escape="\\"))
        )
    if status == "delisted":
        query = query.where(Product.status == "delisted")
    elif status == "missing":
        query = query.where(
            Product.status != "delisted", or_(Product.status == "missing", MonitorProduct.gone_at.is_not(None))
        )
    elif status == "listed":
        query = query.where(Product.status == "listed", MonitorProduct.gone_at.is_(None))
    column = _sort_columns(sort)
    ordered = column.asc() if direction == "asc" else column.desc()
    query = query.order_by(ordered.nulls_last(), MonitorProduct.id.desc())
    return db.paginate(query, page=page, per_page=per_page, max_per_page=100, error_out=False)


def get_monitor_product(monitor: Monitor, product_id: int) -> MonitorProduct | None:
    """The product as seen by this monitor; None when this monitor never saw it."""
    return db.session.scalar(
        select(MonitorProduct)
        .join(MonitorProduct.product)
        .options(contains_eager(MonitorProduct.product))
        .where(MonitorProduct.monitor_id == monitor.id, MonitorProduct.product_id == product_id)
    )


def price_history(product_id: int, limit: int = 500) -> list[PricePoint]:
    """The latest ``limit`` price points of a product, oldest first (ready to chart)."""
    rows = list(
        db.session.scalars(
            select(PricePoint)
            .where(PricePoint.product_id == product_id)
            .order_by(PricePoint.recorded_at.desc(), PricePoint.id.desc())
            .limit(limit)
        )
    )
    rows.reverse()
    return rows


def price_change_pct(product: Product) -> Decimal | None:
    """Change of the lowest price since the product was first seen, in percent (one decimal)."""
    first, now = product.first_price_min, product.price_min
    if first is None or now is None or first == 0:
        return None
    return ((Decimal(now) - Decimal(first)) / Decimal(first) * 100).quantize(Decimal("0.1"))


def price_tiers(product: Product) -> list[PriceTier]:
    """The product's wholesale quantity tiers, when they were stored with it.

    The page data carries tiers (``ParsedProduct.tiers``); products keep them in a ``tiers``
    JSON list (``[{"min_qty": 1, "max_qty": 9, "price": "2.50"}, …]``) once that is persisted.
    Until then, and for malformed entries, this is simply empty: tiers are shown "if known".
    """
    raw = getattr(product, "tiers", None)
    if not isinstance(raw, list):
        return []
    tiers: list[PriceTier] = []
    for entry in raw:
        try:
            max_qty = entry.get("max_qty")
            tiers.append(PriceTier(int(entry["min_qty"]), int(max_qty) if max_qty else None, Decimal(str(entry["price"]))))
        except (AttributeError, KeyError, TypeError, ValueError, InvalidOperation):
            continue
    return sorted(tiers, key=lambda tier: tier.min_qty)


def is_new(link: MonitorProduct, now: datetime | None = None) -> bool:
    """First seen by this monitor within the last week."""
    now = now or datetime.now(UTC)
    return link.first_seen_at >= now - timedelta(days=NEW_PRODUCT_DAYS)


def dhgate_url(url: str | None) -> str:
    """An absolute http(s) URL on DHgate: relative paths are joined to DHGATE_BASE_URL, and
    anything that is not http(s) (``javascript:`` from a garbled page) falls back to the base."""
    from urllib.parse import urljoin, urlsplit

    base = current_app.config["DHGATE_BASE_URL"].rstrip("/") + "/"
    url = (url or "").strip()
    if not url:
        return base
    if url.startswith("//"):
        url = "https:" + url
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return url
    if scheme:
        return base
    return urljoin(base, url.lstrip("/"))


def product_link(product: Product, monitor: Monitor | None = None) -> str:
    """Where "view on DHgate" goes for a product seen by ``monitor``.

    The single place that decides the outbound product link, so routing it through the
    affiliate redirect later is a one-line change here.
    """
    return dhgate_url(product.url)


def monitor_link(monitor: Monitor) -> str:
    """The watched store/search/product page on DHgate."""
    return dhgate_url(monitor.url)


def monitor_status(monitor: Monitor) -> dict[str, Any]:
    """The monitor's state for the JSON status endpoint (machine fields and display text)."""
    return {
        "id": monitor.id,
        "active": monitor.active,
        "status": monitor.last_status,
        "status_label": status_label(monitor),
        "status_tone": status_tone(monitor),
        "last_polled_at": _iso(monitor.last_polled_at),
        "next_poll_at": _iso(monitor.next_poll_at) if monitor.active else None,
        "consecutive_failures": monitor.consecutive_failures,
        "product_count": product_count(monitor),
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


# --------------------------------------------------------------------------- member-wide keywords


def global_keywords(user_id: int) -> list[Keyword]:
    """A member's keywords that apply to all their monitors, alphabetically."""
    return list(
        db.session.scalars(
            select(Keyword).where(Keyword.user_id == user_id, Keyword.monitor_id.is_(None)).order_by(func.lower(Keyword.term))
        )
    )


def add_global_keywords(user: User, text: str) -> list[Keyword]:
    """Add one or more (comma-separated) member-wide keywords; existing ones are skipped.

    Returns the keywords actually added; ``MonitorError`` for bad input or too many keywords.
    """
    terms = parse_keywords(text, limit=MAX_GLOBAL_KEYWORDS)
    if not terms:
        raise MonitorError(_("Type a keyword."), field="term")
    existing = global_keywords(user.id)
    known = {k.term.casefold() for k in existing}
    fresh = [term for term in terms if term.casefold() not in known]
    if len(existing) + len(fresh) > MAX_GLOBAL_KEYWORDS:
        raise MonitorError(_("Use at most %(n)s keywords.", n=MAX_GLOBAL_KEYWORDS), field="term")
    added = [Keyword(user_id=user.id, monitor_id=None, term=term) for term in fresh]
    db.session.add_all(added)
    db.session.commit()
    return added


def remove_global_keyword(user: User, keyword_id: int) -> bool:
    """Remove one of the member's own global keywords; False when there is no such keyword."""
    result = db.session.execute(
        delete(Keyword).where(Keyword.id == keyword_id, Keyword.user_id == user.id, Keyword.monitor_id.is_(None))
    )
    db.session.commit()
    return bool(result.rowcount)


def find_owner(login: str) -> User | None:
    """The user named by e-mail or username (for the CLI)."""
    from services.accounts import find_user

    return find_user(login)
