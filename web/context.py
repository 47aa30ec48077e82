"""Helpers every template can call: the platform's words (``services.labels``) and formats
(``services.formatting``), registered once for all blueprints so a page, a notification and the
command line say the same thing the same way."""
from __future__ import annotations

from decimal import Decimal

from flask import Flask

from services import formatting, labels
from services.inbox import unread_count_for_layout
from services.site_settings import status_page_public_for_layout
from services.status_page import component_label

# Template globals: called as functions, e.g. ``money(price, currency)``.
GLOBALS = {
    "event_label": labels.event_label,
    "kind_label": labels.kind_label,
    "tier_label": labels.tier_label,
    "status_label": labels.status_label,
    "status_tone": labels.status_tone,
    "outcome_label": labels.outcome_label,
    "outcome_tone": labels.outcome_tone,
    "product_status": labels.product_status,
    "product_status_label": labels.product_status_label,
    "money": formatting.money,
    "number": formatting.number,
    "price_range": formatting.price_range,
    "interval_label": formatting.interval,
    "component_label": component_label,
}


def format_money(value: Decimal | None, currency: str | None = "USD") -> str:
    """The ``format_money`` filter: figures without a currency of their own (affiliate
    earnings) are in US dollars."""
    return formatting.money(value, currency or "USD")


def init_app(app: Flask) -> None:
    app.jinja_env.globals["unread_notification_count"] = unread_count_for_layout
    app.jinja_env.globals["status_page_public"] = status_page_public_for_layout
    app.jinja_env.globals.update(GLOBALS)
    app.jinja_env.filters["when"] = formatting.date_time
    app.jinja_env.filters["ago"] = formatting.relative_time
    app.jinja_env.filters["format_money"] = format_money
    app.jinja_env.filters["format_day"] = formatting.day
