"""Numbers, money, times and intervals as people read them, in their language and time zone.

One module, because the same price appears on a page, in a notification written by a job and on
the command line, and it must read the same everywhere. Inside an app context the current
language and time zone come from Flask-Babel (a request's viewer, or ``force_locale`` in a job
writing to a user); outside any app context (a script, a unit test) the functions still answer,
in English and UTC, instead of failing.

Unknown values (``None``) render as an em dash, so a template never has to test for them.
"""
from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import flask_babel
from babel import core as babel_core
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.dates import format_skeleton
from flask import has_app_context

UNKNOWN = "—"
FALLBACK_LOCALE = "en"
PLAIN_AMOUNT = "#,##0.00"
PLAIN_NUMBER = "#,##0.##"
# Largest first; an interval is written as its exact parts ("1 hour 30 minutes"), never rounded.
_INTERVAL_UNITS = (86400, 3600, 60, 1)


def money(amount: Decimal | float | int | None, currency: str | None = None,
          locale: babel_core.Locale | None = None) -> str:
    """An amount with its currency in the reader's language (``$12.50``, ``US$ 12,50``).

    Without a currency the amount is shown plainly with two decimals; an odd currency code
    (not ISO 4217) is shown as is in front of the amount rather than failing the page.
    ``locale`` names the language when the caller already knows it (a batch of e-mails),
    instead of asking Flask-Babel on every amount.
    """
    if amount is None:
        return UNKNOWN
    if currency and not _is_currency(currency):
        return f"{currency} {Decimal(amount):.2f}"
    if currency:
        try:
            if locale is not None:
                return babel_numbers.format_currency(amount, currency, locale=locale)
            if has_app_context():
                return str(flask_babel.format_currency(amount, currency))
            return babel_numbers.format_currency(amount, currency, locale=FALLBACK_LOCALE)
        except (ValueError, LookupError):
            return f"{currency} {Decimal(amount):.2f}"
    return _decimal(amount, PLAIN_AMOUNT)


@functools.lru_cache(maxsize=512)
def _is_currency(code: str) -> bool:
    """``babel.numbers.is_currency``, which builds the set of every ISO 4217 code on each call:
    a third of the cost of formatting a price. The codes are fixed while the process runs."""
    return babel_numbers.is_currency(code)


def price_range(low: Decimal | None, high: Decimal | None, currency: str | None = None) -> str:
    """"$1.20" or "$1.20 – $3.40": one price when both ends are equal or the top is unknown."""
    if low is None:
        return UNKNOWN
    if high is None or high == low:
        return money(low, currency)
    return f"{money(low, currency)} – {money(high, currency)}"


def number(value: Decimal | float | int | None) -> str:
    """A count or percentage without needless zeros (``5``, ``12.5``, ``1,234``)."""
    if value is None:
        return UNKNOWN
    return _decimal(value, PLAIN_NUMBER)


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    """"3 minutes ago" or "in 5 minutes", relative to ``now`` (default: the current time)."""
    if value is None:
        return UNKNOWN
    delta = _aware(value) - (now or datetime.now(UTC))
    if has_app_context():
        return str(flask_babel.format_timedelta(delta, add_direction=True))
    return babel_dates.format_timedelta(delta, add_direction=True, locale=FALLBACK_LOCALE)


def date_time(value: datetime | None, format: str = "medium") -> str:  # noqa: A002 - Babel's name
    """A UTC timestamp in the reader's time zone and language."""
    if value is None:
        return UNKNOWN
    if has_app_context():
        return str(flask_babel.format_datetime(_aware(value), format))
    return babel_dates.format_datetime(_aware(value), format, tzinfo=UTC, locale=FALLBACK_LOCALE)


def day(value: date | None, format: str = "medium") -> str:  # noqa: A002 - Babel's name
    """A date (or the date of a timestamp) in the reader's language."""
    if value is None:
        return UNKNOWN
    if has_app_context():
        return str(flask_babel.format_date(value, format))
    if isinstance(value, datetime):
        value = _aware(value).astimezone(UTC)
    return babel_dates.format_date(value, format, locale=FALLBACK_LOCALE)


def interval(seconds: int) -> str:
    """A poll interval exactly: "15 minutes", "6 hours", "1 day", "1 hour 30 minutes".

    Never rounded: a monitor checked every 20 seconds must not read "1 minute", or someone
    editing it would believe that is what it does.
    """
    seconds = int(seconds)
    if seconds <= 0:
        return _unit(0, 1)
    parts: list[str] = []
    remaining = seconds
    for size in _INTERVAL_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(_unit(count, size))
    return " ".join(parts)


def _unit(count: int, size: int) -> str:
    """``count`` whole units of ``size`` seconds; the threshold keeps Babel on that unit (it
    would otherwise say "1 week" for 10 days)."""
    delta = timedelta(seconds=count * size)
    threshold = max(count, 1)
    if has_app_context():
        return str(flask_babel.format_timedelta(delta, threshold=threshold))
    return babel_dates.format_timedelta(delta, threshold=threshold, locale=FALLBACK_LOCALE)


def _decimal(value: Decimal | float | int, pattern: str) -> str:
    if has_app_context():
        return str(flask_babel.format_decimal(value, format=pattern))
    return babel_numbers.format_decimal(value, format=pattern, locale=FALLBACK_LOCALE)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def chart_axis_label(value: datetime, scale: str) -> str:
    """Chart axis text in the reader's zone and language, as fine as the chart's span needs:
    "2:05 PM", "Jan 1, 2:05 PM" or "Jan 1, 2026" (Dutch: "14:05", "1 jan, 14:05", "1 jan 2026").
    ``scale`` is ``services.charts.AxisScale``: "time", "day_time" or "date"."""
    if scale == "date":
        return day(value)
    if not has_app_context():
        moment = _aware(value).astimezone(UTC)
        time_text = babel_dates.format_time(moment, "short", locale=FALLBACK_LOCALE)
        if scale == "time":
            return time_text
        return f"{format_skeleton('MMMd', moment, locale=FALLBACK_LOCALE)}, {time_text}"
    time_text = flask_babel.format_time(value, "short")
    if scale == "time":
        return time_text
    locale = flask_babel.get_locale()
    day_text = format_skeleton("MMMd", flask_babel.to_user_timezone(value), locale=locale)
    return str(locale.datetime_formats["short"]).replace("{1}", day_text).replace("{0}", time_text)


# A cell starting with one of these is a formula to a spreadsheet ("CSV injection"): people
# control user agents, usernames and DHgate titles, so such cells are prefixed with a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """``value`` as a CSV cell no spreadsheet runs as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value
