"""The rules a monitor's settings obey, wherever they come from (web form, CLI, tests).

Subscription tiers bound how often a monitor may be checked; names, keywords and price rules are
cleaned and bounded here, once. Everything raises ``MonitorError`` with a message that is safe
to show and the form field it belongs to, so the web form and ``flask monitors add`` refuse the
same input with the same words. Nothing here reads or writes the database.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from models import Monitor, User
from models.users import TIERS
from services.formatting import interval as format_interval
from services.labels import tier_label

MAX_INTERVAL = 7 * 86400
MIN_INTERVAL_FLOOR = 60
MAX_NAME_LENGTH = 200
MAX_KEYWORD_LENGTH = 100
MAX_KEYWORDS_PER_MONITOR = 50
MAX_GLOBAL_KEYWORDS = 100
DEFAULT_PRICE_DROP_PCT = Decimal("5")
DEFAULT_PRICE_RISE_PCT = Decimal("5")
INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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


@dataclass(frozen=True)
class IntervalOption:
    """One poll interval of the form's select; ``allowed`` is False above the member's tier."""

    seconds: int
    allowed: bool
    tier: str  # cheapest tier that allows it


def interval_options(user: User, current: int | None = None) -> list[IntervalOption]:
    """The configured intervals, each marked allowed or not for ``user``.

    ``current`` (the interval a monitor already has) is always offered and allowed, even when
    it is no standard choice or shorter than the plan allows today (a demo monitor checked
    every 20 s, a plan downgraded since): the edit form must show what the monitor does, and
    saving it unchanged must keep it.
    """
    minimum = minimum_interval(user)
    choices = set(current_app.config["MONITOR_INTERVAL_CHOICES"]) | {minimum}
    if current is not None:
        choices.add(current)
    return [
        IntervalOption(s, s >= minimum or s == current, tier_for_interval(s)) for s in sorted(choices)
    ]


def default_interval(user: User) -> int:
    """A new monitor polls as often as the member's plan allows."""
    return minimum_interval(user)


def parse_interval(value: str | int) -> int:
    """An interval as typed (``900``, ``15m``, ``6h``, ``1d``, ``20s``) or sent by the form's
    select (``"900"``) -> seconds. The web form and the CLI both read intervals with this, so
    they accept the same values; whether the owner's plan allows it is ``check_interval``'s job.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raw = "".join(str(value).split()).lower()
    multiplier = 1
    if raw and raw[-1] in INTERVAL_UNITS:
        multiplier = INTERVAL_UNITS[raw[-1]]
        raw = raw[:-1]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise MonitorError(_("Write the interval as seconds or like 15m, 6h, 1d."), field="poll_interval")
    return int(raw) * multiplier


def check_interval(owner: User, seconds: Any, *, current: int | None = None) -> int:
    """``seconds`` when ``owner``'s tier allows it, else ``MonitorError`` on ``poll_interval``.

    Keeping the interval a monitor already has (``current``) is always allowed: saving an
    unchanged form must not change what the monitor does.
    """
    if seconds is None or seconds == "":
        raise MonitorError(_("Choose how often to check."), field="poll_interval")
    value = parse_interval(seconds)
    if current is not None and value == current:
        return value
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
class CleanSettings:
    """``MonitorSettings`` after every rule: what is written to the monitor."""

    name: str
    poll_interval: int
    keywords: list[str]
    price_drop_pct: Decimal
    price_rise_pct: Decimal
    target_price: Decimal | None
    stock_alerts: bool


def clean_settings(
    owner: User, settings: MonitorSettings, default_name: str, *, current_interval: int | None = None
) -> CleanSettings:
    """Every setting checked against the rules and ``owner``'s tier; ``MonitorError`` if one
    is refused. ``current_interval`` is the interval an existing monitor keeps if unchanged."""
    interval = settings.poll_interval if settings.poll_interval is not None else default_interval(owner)
    return CleanSettings(
        name=clean_name(settings.name, default_name),
        poll_interval=check_interval(owner, interval, current=current_interval),
        keywords=parse_keywords(list(settings.keywords)),
        price_drop_pct=_clean_percent(settings.price_drop_pct, DEFAULT_PRICE_DROP_PCT, "price_drop_pct", 100),
        price_rise_pct=_clean_percent(settings.price_rise_pct, DEFAULT_PRICE_RISE_PCT, "price_rise_pct", 1000),
        target_price=_clean_target_price(settings.target_price),
        stock_alerts=bool(settings.stock_alerts),
    )


def clean_name(name: str | None, default: str) -> str:
    """A display name: NFKC, single-spaced, bounded; ``default`` when empty."""
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


def name_from_dhgate(text: str | None) -> str | None:
    """A name DHgate shows (a store's name) made fit to be a monitor's name, or None when
    nothing usable is left. Never raises: a page's odd characters are dropped, not refused."""
    if not text:
        return None
    visible = "".join(char for char in unicodedata.normalize("NFKC", text)
                      if unicodedata.category(char) not in ("Cc", "Cf"))
    cleaned = " ".join(visible.split())[:MAX_NAME_LENGTH].strip()
    return cleaned or None


def parse_keywords(text: str | Iterable[str] | None, *, limit: int = MAX_KEYWORDS_PER_MONITOR) -> list[str]:
    """Comma- or line-separated keywords: trimmed, single-spaced, de-duplicated ignoring case.

    Matching on titles is case-insensitive, so "LED" and "led" are the same keyword.
    """
    if text is None:
        return []
    pieces: Iterable[str] = text.replace("\n", ",").split(",") if isinstance(text, str) else text
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


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


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
