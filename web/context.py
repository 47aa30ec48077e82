"""Helpers every template can call."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import Flask
from flask_babel import format_currency, format_date, format_datetime, format_timedelta

from services.inbox import unread_count_for_layout


def when(value: datetime | None, format: str = "medium") -> str:
    """A UTC timestamp shown in the viewer's time zone and language; '—' when missing."""
    return format_datetime(value, format) if value else "—"


def ago(value: datetime | None) -> str:
    """'3 minutes ago' style relative time in the viewer's language."""
    if value is None:
        return "—"
    from datetime import UTC

    return format_timedelta(value - datetime.now(UTC), add_direction=True)


def format_money(value: Decimal | None, currency: str | None = "USD") -> str:
    """Money in the viewer's language (``US$12.50`` / ``US$ 12,50``); '—' when unknown."""
    if value is None:
        return "—"
    return format_currency(value, currency or "USD")


def format_day(value: date | None) -> str:
    return format_date(value, "medium") if value else "—"


def event_label(kind: str) -> str:
    """A product event kind in words a person understands, in their language."""
    from flask_babel import gettext as _

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
    }
    return labels.get(kind, kind)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["unread_notification_count"] = unread_count_for_layout
    app.jinja_env.globals["event_label"] = event_label
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["format_money"] = format_money
    app.jinja_env.filters["format_day"] = format_day
