"""Who is told what, and when: alert kinds per member and monitor, frequency and quiet hours.

**Kinds.** A member picks the event kinds that notify (their notification preferences); a
monitor may override that list. Events of other kinds are still recorded (product pages show
them) but are not announced: the grouped alert lists only notifiable events, and a poll whose
events are all silent writes no alert. The thresholds of a monitor (price drop/rise percent,
target price, stock alerts) decide which events exist at all; these rules decide which of them
notify. "No longer in the store" (``missing``) follows the ``delisted`` rule.

**When.** ``instant`` members get each alert at once, unless it falls in their quiet hours: then
its deliveries wait until the quiet hours end. ``hourly`` and ``daily`` members get a digest
(``services.notifications.digests``); their deliveries are held until it goes out. Alerts about
a **target price reached** or a product **back in stock** are urgent: the chance to buy may be
gone by morning, so they skip quiet hours and digests and go out at once. Every hour is in the
member's own time zone (``users.timezone``, an IANA name checked with ``zoneinfo``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from extensions import db
from models import Monitor, NotificationPreference, ProductEvent, User

ALERT_KINDS: tuple[str, ...] = (
    "new_product", "keyword_match", "price_drop", "price_rise", "target_price", "back_in_stock", "out_of_stock",
    "delisted",
)
URGENT_KINDS = frozenset({"target_price", "back_in_stock"})
RULE_OF_KIND = {"missing": "delisted"}  # an event kind that follows another kind's rule
FREQUENCIES = ("instant", "hourly", "daily")


def preference_of(user_id: int) -> NotificationPreference | None:
    return db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == user_id))


def member_kinds(preference: NotificationPreference | None) -> frozenset[str]:
    """The kinds a member is told about by default (every kind until they choose)."""
    if preference is None or preference.alert_kinds is None:
        return frozenset(ALERT_KINDS)
    return frozenset(kind for kind in preference.alert_kinds if kind in ALERT_KINDS)


def monitor_kinds(monitor: Monitor, preference: NotificationPreference | None) -> frozenset[str]:
    """The kinds that notify for ``monitor``: its own choice, else its owner's default."""
    if monitor.alert_kinds is not None:
        return frozenset(kind for kind in monitor.alert_kinds if kind in ALERT_KINDS)
    return member_kinds(preference)


def notifiable(events: Sequence[ProductEvent], kinds: Iterable[str]) -> list[ProductEvent]:
    """The events an alert announces, given the kinds that notify."""
    allowed = frozenset(kinds)
    return [event for event in events if RULE_OF_KIND.get(event.kind, event.kind) in allowed]


def clean_kinds(kinds: Iterable[str]) -> list[str]:
    """A stored list of kinds: known ones only, in the canonical order."""
    chosen = set(kinds)
    return [kind for kind in ALERT_KINDS if kind in chosen]


# --------------------------------------------------------------------------------- time zones


def zone_of(user: User) -> ZoneInfo:
    """The member's time zone (UTC when the stored name is unknown to this machine)."""
    try:
        return ZoneInfo(user.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def in_quiet_hours(preference: NotificationPreference | None, zone: ZoneInfo, now: datetime) -> bool:
    """Whether ``now`` is inside the member's quiet hours (``start`` ≤ hour < ``end``, local;
    a start after the end crosses midnight, e.g. 22 → 7)."""
    start, end = _quiet(preference)
    if start is None or end is None or start == end:
        return False
    hour = now.astimezone(zone).hour
    return start <= hour < end if start < end else (hour >= start or hour < end)


def quiet_hours_end(preference: NotificationPreference | None, zone: ZoneInfo, now: datetime) -> datetime:
    """The UTC instant the current quiet hours end (``now`` when not in quiet hours)."""
    if not in_quiet_hours(preference, zone, now):
        return now
    _start, end = _quiet(preference)
    assert end is not None
    local = now.astimezone(zone)
    day = local.date() if local.hour < end else local.date() + timedelta(days=1)
    return local_instant(day.year, day.month, day.day, end, zone)


def local_instant(year: int, month: int, day: int, hour: int, zone: ZoneInfo) -> datetime:
    """``hour``:00 local on that day as UTC. A wall time skipped by a DST change resolves to the
    instant the gap ends (fold 0 reads it with the offset before the change: 02:00 on
    Amsterdam's spring-forward day is 01:00 UTC, when the clocks jump to 03:00); a repeated one
    resolves to its first occurrence."""
    return datetime(year, month, day, hour, tzinfo=zone).astimezone(UTC)


def _quiet(preference: NotificationPreference | None) -> tuple[int | None, int | None]:
    if preference is None:
        return None, None
    return preference.quiet_hours_start, preference.quiet_hours_end


# ------------------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class DeliveryTiming:
    """How a new alert's deliveries start: ``pending`` (due at ``not_before``; None = now) or
    ``held`` for the member's digest."""

    status: str
    not_before: datetime | None = None


def timing_for(user: User, preference: NotificationPreference | None, kinds: Iterable[str],
               now: datetime) -> DeliveryTiming:
    """When an alert with events of ``kinds`` goes out (see the module docstring)."""
    if URGENT_KINDS.intersection(kinds):
        return DeliveryTiming("pending")
    frequency = preference.frequency if preference is not None else "instant"
    if frequency in ("hourly", "daily"):
        return DeliveryTiming("held")
    zone = zone_of(user)
    if in_quiet_hours(preference, zone, now):
        return DeliveryTiming("pending", quiet_hours_end(preference, zone, now))
    return DeliveryTiming("pending")
