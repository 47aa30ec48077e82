"""Changing what members watch: creating monitors from whatever a member pastes, editing,
pausing, deleting, "check now", member-wide keywords and the outbound links to DHgate.

Routes, the CLI and tests all come through here, so the rules live in one place: the DHgate host
allow-list, one monitor per thing watched per member, and the settings rules of
``services.monitors.rules`` (tier-bounded intervals, keyword and price-rule limits). Callers
pass monitors they looked up through ``services.monitors.queries.get_monitor`` (scoped to the
viewer); nothing is written when a rule refuses the input.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import current_app
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import AffiliateClick, Keyword, Monitor, MonitorProduct, Notification, PollRun, Product, ProductEvent, User
from services.accounts import find_user
from services.affiliate_links import tracked_path
from services.dhgate.types import InvalidDHgateInput, MonitorTarget
from services.dhgate.urls import normalise_input, search_target
from services.labels import kind_label
from services.monitors.queries import global_keywords
from services.monitors.rules import (
    MAX_GLOBAL_KEYWORDS,
    CleanSettings,
    DuplicateMonitorError,
    MonitorError,
    MonitorSettings,
    clean_settings,
    parse_keywords,
)
from services.polling.schedule import POLL_JOB, POLL_QUEUE, claim, poll_job_id, release
from services.queue import enqueue

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- create / change


def allowed_hosts() -> tuple[str, ...]:
    return tuple(current_app.config["DHGATE_ALLOWED_HOSTS"])


def understand(text: str) -> MonitorTarget:
    """What a pasted link or keywords mean; ``InvalidDHgateInput`` (message safe to show) if
    it is nothing we can watch or points outside the allowed DHgate hosts."""
    return normalise_input(text, allowed_hosts(), current_app.config["DHGATE_BASE_URL"])


def is_typed_search(text: str, target: MonitorTarget) -> bool:
    """Whether ``target`` is a search made from typed words rather than from a pasted link.

    Anything that is not a link becomes a search, so a mistyped link or a store number would
    silently become a search for those characters; callers ask (web) or say (CLI) first. A
    pasted search link reads differently from its own keywords, so it is not "typed".
    """
    if target.kind != "search":
        return False
    try:
        return search_target(text) == target
    except InvalidDHgateInput:
        return False


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
    clean = clean_settings(owner, settings, target.name)
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


def _apply_rules(monitor: Monitor, clean: CleanSettings) -> None:
    monitor.price_drop_pct = clean.price_drop_pct
    monitor.price_rise_pct = clean.price_rise_pct
    monitor.target_price = clean.target_price
    monitor.stock_alerts = clean.stock_alerts


def update_monitor(monitor: Monitor, settings: MonitorSettings) -> Monitor:
    """Change a monitor's name, interval, keywords and alert rules (bounded by the owner's tier).

    A shorter interval takes effect at once: the next check is pulled in rather than waiting
    out the old, longer interval. The interval the monitor already has is kept even when it is
    shorter than the owner's plan allows today: saving other settings must not change it.
    """
    owner = db.session.get(User, monitor.user_id)
    assert owner is not None
    clean = clean_settings(owner, settings, monitor.name, current_interval=monitor.poll_interval)
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
    monitor_id = monitor.id
    event_ids = select(ProductEvent.id).where(ProductEvent.monitor_id == monitor_id)
    db.session.execute(
        update(Notification).where(Notification.product_event_id.in_(event_ids)).values(product_event_id=None)
    )
    db.session.execute(update(AffiliateClick).where(AffiliateClick.monitor_id == monitor_id).values(monitor_id=None))
    for model in (ProductEvent, MonitorProduct, PollRun, Keyword):
        db.session.execute(delete(model).where(model.monitor_id == monitor_id))
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


def request_poll_now(monitor: Monitor) -> PollRequest:
    """Make a monitor due now, claim it, and put its poll on the ``polling`` queue.

    The claim is the scheduler's own conditional update, so a click and a scheduler tick cannot
    both start a poll: whoever loses the claim knows a poll is already on its way. When Redis
    cannot be reached the claim is released and the monitor stays due, so the scheduler picks it
    up as soon as the queue is back; the caller tells the person which of these happened. The
    job id is the scheduler's own (``poll_job_id``): while a poll is queued or running, another
    request for it is a no-op, not a second fetch.
    """
    if not monitor.active:
        raise MonitorError(_("This monitor is paused. Resume it to check it again."))
    monitor_id = monitor.id
    now = datetime.now(UTC)
    db.session.execute(
        update(Monitor).where(Monitor.id == monitor_id).values(next_poll_at=now)
        .execution_options(synchronize_session=False)
    )
    lease = int(current_app.config["POLL_CLAIM_LEASE_SECONDS"])
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


# --------------------------------------------------------------------------- links to DHgate


def product_link(product: Product, monitor: Monitor, source: str = "page") -> str:
    """Where "view on DHgate" goes for a product seen by ``monitor``: the tracked affiliate
    redirect in the monitor owner's name (the single place that decides outbound product links)."""
    return tracked_path(monitor.user_id, product.id, monitor.id, source)


def monitor_link(monitor: Monitor, source: str = "page") -> str:
    """The watched store/search/product page on DHgate, through the tracked redirect."""
    return tracked_path(monitor.user_id, None, monitor.id, source)

# --------------------------------------------------------------------------- member-wide keywords


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
    result = cast("CursorResult[Any]", db.session.execute(
        delete(Keyword).where(Keyword.id == keyword_id, Keyword.user_id == user.id, Keyword.monitor_id.is_(None))
    ))
    db.session.commit()
    return bool(result.rowcount)


def find_owner(login: str) -> User | None:
    """The user named by e-mail or username (for the CLI)."""
    return find_user(login)
