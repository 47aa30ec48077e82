"""Words people read for the platform's codes: kinds, statuses, outcomes, tiers, events.

The database stores short codes (``http_error``, ``price_drop``, ``pro``); pages, the status API
and, later, e-mails written by jobs all show the same words for them, in the reader's language.
That is why this lives in services and not in a blueprint: a job must never import web code to
say what a price drop is called.

Every function answers for codes it does not know with the code itself, so a row written by a
newer version (or an old outcome) still renders instead of failing the page.
"""
from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import gettext as _

from models import Monitor, MonitorProduct
from services.formatting import relative_time

# Outcomes after which the monitor simply tries again later: their status says when.
RETRIED_OUTCOMES = frozenset({
    "blocked", "unreachable", "http_error", "timeout", "parse_error", "circuit_open", "error",
})


def kind_label(kind: str) -> str:
    labels = {"store": _("Store"), "search": _("Search"), "product": _("Product")}
    return labels.get(kind, kind)


def tier_label(tier: str) -> str:
    """A subscription tier's name (the one spelling for the account page, the users list and
    the monitor forms' "your … plan")."""
    labels = {"free": _("Free"), "pro": _("Pro"), "business": _("Business")}
    return labels.get(tier, tier)


def outcome_label(outcome: str | None) -> str:
    """What happened in one poll, in words (the outcome codes of ``poll_runs``)."""
    labels = {
        None: _("Waiting for first check"),
        "ok": _("Up to date"),
        "blocked": _("DHgate blocked our request"),
        "gone": _("This page no longer exists on DHgate"),
        "unreachable": _("Could not reach DHgate (address not found or connection failed)"),
        "http_error": _("DHgate refused the request"),
        "timeout": _("DHgate did not answer in time"),
        "parse_error": _("DHgate's page changed and we could not read it"),
        "circuit_open": _("DHgate is having trouble — checks are paused for a moment"),
        "error": _("Something went wrong on our side"),
    }
    return labels.get(outcome, outcome or "")


def status_label(monitor: Monitor, now: datetime | None = None) -> str:
    """The monitor's state in words: paused wins (nothing will run); after a failed check, what
    happened and when the next check is, so nobody wonders whether it will be tried again."""
    if not monitor.active:
        return _("Paused")
    what = outcome_label(monitor.last_status)
    if monitor.last_status not in RETRIED_OUTCOMES:
        return what
    return _("%(what)s — next check %(when)s", what=what, when=next_check_label(monitor, now))


def next_check_label(monitor: Monitor, now: datetime | None = None) -> str:
    """"in 12 minutes", "any moment now" or "paused" (lower case: it ends a sentence)."""
    if not monitor.active:
        return _("paused")
    now = now or datetime.now(UTC)
    due = monitor.next_poll_at
    if due is None or (due if due.tzinfo else due.replace(tzinfo=UTC)) <= now:
        return _("any moment now")
    return relative_time(due, now)


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


def event_label(kind: str) -> str:
    """A product event (or system notification) kind in words."""
    labels = {
        "new_product": _("New listing"),
        "keyword_match": _("Keyword match"),
        "price_drop": _("Price drop"),
        "price_rise": _("Price rise"),
        "back_in_stock": _("Back in stock"),
        "out_of_stock": _("Out of stock"),
        "delisted": _("Delisted"),
        "missing": _("No longer in the store"),
        "target_price": _("Target price reached"),
        "poll_blocked": _("DHgate blocked our checks"),
        "system": _("Platform health"),
        "admin": _("Platform alert"),
    }
    return labels.get(kind, kind)
