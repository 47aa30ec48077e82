"""Notification rows for product events and for blocked polls.

Texts are written in the recipient's language (their ``locale``) with plain words and both
prices, because the notification is what people read in their inbox, email or chat. Delivery is
somebody else's job (the notifications area reads these rows); here they are only created, once:
each row carries a dedupe key unique per user.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from extensions import db
from models import Monitor, Notification, Product, ProductEvent, User
from services.formatting import money
from services.polling.sql import insert_if_absent

EVENT_SEVERITY = {
    "new_product": "info",
    "keyword_match": "info",
    "price_drop": "info",
    "price_rise": "info",
    "target_price": "info",
    "back_in_stock": "info",
    "out_of_stock": "warning",
    "delisted": "warning",
    "missing": "warning",
}
BLOCKED_KIND = "poll_blocked"
TITLE_LIMIT = 200


def product_link(monitor_id: int, product_id: int) -> str:
    """The product's page in this product (route ``monitoring.product``)."""
    return f"/monitors/{monitor_id}/products/{product_id}"


def monitor_link(monitor_id: int) -> str:
    return f"/monitors/{monitor_id}"


def notify_owner(monitor: Monitor, events: Iterable[ProductEvent], products: dict[int, Product]) -> int:
    """One notification per event for the monitor's owner; returns how many were new."""
    owner = db.session.get(User, monitor.user_id)
    if owner is None:
        return 0
    rows: list[dict[str, Any]] = []
    with force_locale(_locale_of(owner)):
        for event in events:
            product = products[event.product_id]
            title, body = event_text(monitor, product, event)
            rows.append({
                "user_id": owner.id,
                "kind": event.kind,
                "severity": EVENT_SEVERITY.get(event.kind, "info"),
                "title": _clip(title, TITLE_LIMIT),
                "body": body,
                "link": product_link(monitor.id, product.id),
                "product_event_id": event.id,
                "dedupe_key": f"event:{event.dedupe_key}",
                "created_at": event.created_at,
            })
    return insert_if_absent(db.session, Notification, rows, ["user_id", "dedupe_key"])


def notify_admins_blocked(monitor: Monitor, since: datetime, error: str | None) -> int:
    """Tell every active admin that DHgate blocks this monitor's polls: once per incident (the
    incident starts at ``since``; the key repeats for as long as it lasts)."""
    admins = db.session.scalars(select(User).where(User.role == "admin", User.is_active.is_(True))).all()
    key = f"{BLOCKED_KIND}:{monitor.id}:{int(since.timestamp() * 1_000_000)}"
    rows: list[dict[str, Any]] = []
    for admin in admins:
        with force_locale(_locale_of(admin)):
            title = _("DHgate is blocking checks of “%(name)s”", name=monitor.name)
            body = _(
                "Since %(since)s DHgate answers the checks of monitor “%(name)s” (#%(id)s) with a "
                "block page (%(error)s). Nothing about its products was changed; the monitor now "
                "waits longer between checks and you will hear again only after a new block.",
                since=since.strftime("%Y-%m-%d %H:%M UTC"), name=monitor.name, id=monitor.id,
                error=error or _("access denied"),
            )
        rows.append({
            "user_id": admin.id, "kind": BLOCKED_KIND, "severity": "warning", "title": _clip(title, TITLE_LIMIT),
            "body": body, "link": monitor_link(monitor.id), "dedupe_key": key, "created_at": since,
        })
    return insert_if_absent(db.session, Notification, rows, ["user_id", "dedupe_key"])


def event_text(monitor: Monitor, product: Product, event: ProductEvent) -> tuple[str, str]:
    """(title, body) of an event in the current locale."""
    details = event.details or {}
    currency = details.get("currency") or product.currency
    name = _clip(product.title or product.item_code, 120)
    args = {
        "product": name,
        "monitor": monitor.name,
        "old": _money(event.old_value, currency),
        "new": _money(event.new_value, currency),
        "percent": details.get("percent", ""),
        "target": _money(_decimal(details.get("target")), currency),
        "terms": ", ".join(details.get("terms", [])),
    }
    kind = event.kind
    if kind == "new_product":
        return (_("New listing: %(product)s", **args),
                _("“%(product)s” is new in %(monitor)s, at %(new)s.", **args))
    if kind == "keyword_match":
        return (_("Keyword match (%(terms)s): %(product)s", **args),
                _("A new listing in %(monitor)s matches your keywords %(terms)s: “%(product)s” at %(new)s.", **args))
    if kind == "price_drop":
        return (_("Price drop: %(product)s", **args),
                _("“%(product)s” went down from %(old)s to %(new)s (−%(percent)s%%) in %(monitor)s.", **args))
    if kind == "price_rise":
        return (_("Price rise: %(product)s", **args),
                _("“%(product)s” went up from %(old)s to %(new)s (+%(percent)s%%) in %(monitor)s.", **args))
    if kind == "target_price":
        return (_("Target price reached: %(product)s", **args),
                _("“%(product)s” now costs %(new)s, at or below your target of %(target)s (%(monitor)s).", **args))
    if kind == "back_in_stock":
        return (_("Back in stock: %(product)s", **args),
                _("“%(product)s” can be ordered again (%(monitor)s).", **args))
    if kind == "out_of_stock":
        return (_("Out of stock: %(product)s", **args),
                _("“%(product)s” is sold out (%(monitor)s).", **args))
    if kind == "delisted":
        return (_("Delisted: %(product)s", **args),
                _("“%(product)s” was taken off DHgate (%(monitor)s). Last price: %(old)s.", **args))
    if kind == "missing":
        return (_("No longer in %(monitor)s: %(product)s", **args),
                _("“%(product)s” has not been in %(monitor)s for several checks in a row. Last price: %(old)s.",
                  **args))
    return kind, name


def _money(amount: Decimal | None, currency: str | None) -> str:
    """A price inside a sentence: "unknown" reads better there than a dash."""
    return _("unknown") if amount is None else money(amount, currency)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _locale_of(user: User) -> str:
    languages = current_app.config.get("LANGUAGES", ("en",))
    if user.locale is not None and user.locale in languages:
        return user.locale
    return str(current_app.config.get("BABEL_DEFAULT_LOCALE", "en"))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
