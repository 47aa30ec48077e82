"""Saving a member's notification preferences and a monitor's own alert kinds.

Reading them, and what they mean for an alert, is ``services.notifications.rules``. Every value
is checked here (not only on the form) so the CLI and the API cannot store a wrong one.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _

from extensions import db
from models import Monitor, NotificationPreference, User
from services.notifications.rules import ALERT_KINDS, FREQUENCIES, clean_kinds, preference_of, valid_timezone

logger = logging.getLogger(__name__)


class PreferenceError(ValueError):
    """A preference that cannot be saved; ``field`` names the form field, the message is for the member."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Preferences:
    frequency: str
    digest_hour: int
    quiet_hours_start: int | None
    quiet_hours_end: int | None
    timezone: str
    alert_kinds: list[str]


def current_preferences(user: User) -> Preferences:
    """What the member has chosen, with the defaults filled in."""
    pref = preference_of(user.id)
    return Preferences(
        frequency=pref.frequency if pref else "instant",
        digest_hour=pref.digest_hour if pref else 8,
        quiet_hours_start=pref.quiet_hours_start if pref else None,
        quiet_hours_end=pref.quiet_hours_end if pref else None,
        timezone=user.timezone or "UTC",
        alert_kinds=list(ALERT_KINDS) if pref is None or pref.alert_kinds is None else clean_kinds(pref.alert_kinds),
    )


def save_preferences(user: User, chosen: Preferences) -> NotificationPreference:
    """Check and store ``chosen`` (committed); ``PreferenceError`` names the first wrong value."""
    if chosen.frequency not in FREQUENCIES:
        raise PreferenceError("frequency", _("Choose how often you want to hear from us."))
    for name, hour in (("digest_hour", chosen.digest_hour), ("quiet_hours_start", chosen.quiet_hours_start),
                       ("quiet_hours_end", chosen.quiet_hours_end)):
        if hour is not None and not 0 <= hour <= 23:
            raise PreferenceError(name, _("Choose an hour from 0 to 23."))
    if (chosen.quiet_hours_start is None) != (chosen.quiet_hours_end is None):
        raise PreferenceError("quiet_hours_end", _("Quiet hours need both a start and an end."))
    if chosen.quiet_hours_start is not None and chosen.quiet_hours_start == chosen.quiet_hours_end:
        raise PreferenceError("quiet_hours_end", _("Quiet hours must end at another hour than they start."))
    timezone = chosen.timezone.strip()
    if not valid_timezone(timezone):
        raise PreferenceError("timezone", _("Unknown time zone. Use a name like Europe/Amsterdam or America/New_York."))
    if set(chosen.alert_kinds) - set(ALERT_KINDS):
        raise PreferenceError("alert_kinds", _("Unknown kind of alert."))
    pref = preference_of(user.id) or NotificationPreference(user_id=user.id)
    pref.frequency = chosen.frequency
    pref.digest_hour = chosen.digest_hour
    pref.quiet_hours_start, pref.quiet_hours_end = chosen.quiet_hours_start, chosen.quiet_hours_end
    pref.alert_kinds = clean_kinds(chosen.alert_kinds)
    user.timezone = timezone
    db.session.add(pref)
    db.session.commit()
    logger.info("user %s saved notification preferences (%s)", user.id, pref.frequency)
    return pref


def set_monitor_kinds(monitor: Monitor, kinds: Iterable[str] | None) -> None:
    """A monitor's own alert kinds (committed); ``None`` follows the owner's preferences."""
    chosen = None if kinds is None else list(kinds)
    if chosen is not None and set(chosen) - set(ALERT_KINDS):
        raise PreferenceError("alert_kinds", _("Unknown kind of alert."))
    monitor.alert_kinds = None if chosen is None else clean_kinds(chosen)
    db.session.commit()
