"""Grouped alerts: what one poll of one monitor tells its owner, as one message.

A poll that sees three new listings and five price drops used to write eight notifications; the
owner wants one ("longlight508: 3 new, 5 price drops") that lists the eight events. Product
events stay one row each (product pages show them); the alert only refers to them by id.

An alert covers exactly the events its poll was the first to record: events and alert are
written in one transaction, so an event that already exists was already announced. Its dedupe
key names the monitor and the first of those events, so writing the same diff twice, a re-run
poll, or a racing worker never creates an alert twice. Texts are written in the owner's
language; every channel renders its message from the same parts (``alert_items``).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext, ngettext
from flask_babel import gettext as _
from sqlalchemy import select

from extensions import db
from models import Monitor, Notification, Product, ProductEvent, User
from services.affiliate_links import tracked_path
from services.formatting import money
from services.notifications.rules import monitor_kinds, notifiable, preference_of
from services.notifications.wording import Wording

logger = logging.getLogger(__name__)

LinkPath = Callable[[int, int | None, int | None, str], str]  # member, product, monitor, source → /go path

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
KIND_ORDER = tuple(EVENT_SEVERITY)  # the order counts and events are listed in
ALERT_KIND = "monitor_alert"  # a notification that groups several events of one poll
TITLE_LIMIT = 200


def product_link(monitor_id: int, product_id: int) -> str:
    """The product's page in this product (route ``monitoring.product``)."""
    return f"/monitors/{monitor_id}/products/{product_id}"


def monitor_link(monitor_id: int) -> str:
    return f"/monitors/{monitor_id}"


def create_monitor_alert(
    monitor: Monitor, owner: User, events: Sequence[ProductEvent], products: dict[int, Product],
) -> Notification | None:
    """One notification for the owner about ``events`` (the ones this poll recorded first),
    added to the session (not committed); ``None`` when there is nothing to say or the alert
    exists already. Only the kinds that notify for this monitor are listed
    (``services.notifications.rules``). A single event reads as itself ("Price drop: …") and
    links to its product."""
    events = notifiable(events, monitor_kinds(monitor, preference_of(owner.id)))
    if not events:
        return None
    events = sorted(events, key=lambda e: (KIND_ORDER.index(e.kind) if e.kind in KIND_ORDER else 99, e.id))
    key = alert_key(monitor.id, events)
    exists = db.session.scalar(select(Notification.id).where(
        Notification.user_id == owner.id, Notification.dedupe_key == key))
    if exists is not None:
        return None
    notification = Notification(**alert_row(monitor, owner, events, products))
    db.session.add(notification)
    db.session.flush()
    return notification


def alert_row(monitor: Monitor, owner: Any, events: Sequence[ProductEvent], products: Mapping[int, Any]) -> dict[str, Any]:
    """The grouped alert's columns for ``events`` (already filtered by the alert rules), worded
    in the owner's language (``owner``: anything with ``id`` and ``locale``). Shared by
    ``create_monitor_alert`` and the poll's bulk path, so both say exactly the same."""
    events = sorted(events, key=lambda e: (KIND_ORDER.index(e.kind) if e.kind in KIND_ORDER else 99, e.id))
    counts = Counter(e.kind for e in events)
    with force_locale(locale_of(owner)):
        if len(events) == 1:
            event = events[0]
            title, body = event_text(monitor, products[event.product_id], event)
            kind, link, event_id = event.kind, product_link(monitor.id, event.product_id), event.id
        else:
            title = summary_title(monitor.name, counts)
            body = "\n".join(event_text(monitor, products[e.product_id], e)[1] for e in events)
            kind, link, event_id = ALERT_KIND, monitor_link(monitor.id), None
    severity = "warning" if any(EVENT_SEVERITY.get(k) == "warning" for k in counts) else "info"
    return {
        "user_id": owner.id, "kind": kind, "severity": severity, "title": clip(title, TITLE_LIMIT), "body": body,
        "link": link, "product_event_id": event_id, "dedupe_key": alert_key(monitor.id, events),
        "created_at": events[0].created_at, "monitor_id": monitor.id,
        "event_kinds": " " + " ".join(k for k in KIND_ORDER if k in counts) + " ",
        "details": {"monitor_id": monitor.id, "event_ids": [e.id for e in events],
                    "counts": {k: counts[k] for k in KIND_ORDER if k in counts}},
    }


def alert_key(monitor_id: int, events: Sequence[ProductEvent]) -> str:
    """The alert's dedupe key: its monitor and first event, so a re-run poll adds nothing."""
    return f"alert:{monitor_id}:{min(e.id for e in events)}"


def summary_title(name: str, counts: Counter[str] | dict[str, int]) -> str:
    """"longlight508: 3 new, 5 price drops, 1 back in stock" in the current locale."""
    parts = [count_phrase(kind, counts[kind]) for kind in KIND_ORDER if counts.get(kind)]
    return _("%(name)s: %(parts)s", name=name, parts=", ".join(parts))


def count_phrase(kind: str, n: int) -> str:
    """"3 new", "1 price drop", … for one kind of event."""
    phrases = {
        "new_product": ngettext("%(num)d new", "%(num)d new", n),
        "keyword_match": ngettext("%(num)d keyword match", "%(num)d keyword matches", n),
        "price_drop": ngettext("%(num)d price drop", "%(num)d price drops", n),
        "price_rise": ngettext("%(num)d price rise", "%(num)d price rises", n),
        "target_price": ngettext("%(num)d at target price", "%(num)d at target price", n),
        "back_in_stock": ngettext("%(num)d back in stock", "%(num)d back in stock", n),
        "out_of_stock": ngettext("%(num)d out of stock", "%(num)d out of stock", n),
        "delisted": ngettext("%(num)d delisted", "%(num)d delisted", n),
        "missing": ngettext("%(num)d no longer listed", "%(num)d no longer listed", n),
    }
    return phrases.get(kind, f"{n} {kind}")


@dataclass(frozen=True)
class AlertItem:
    """One event of an alert as a message shows it (plain values; templates escape them)."""

    kind: str
    headline: str  # "Price drop: <title>"
    sentence: str  # the full sentence with both prices
    product_title: str
    image_url: str | None
    old_price: str | None
    new_price: str | None
    percent: str | None
    page_path: str  # this product's page in the app
    dhgate_url: str | None


@dataclass
class AlertRows:
    """The events, products and monitors some alerts list, loaded together (three queries for
    a whole batch of messages instead of three per message)."""

    events: dict[int, ProductEvent]
    products: dict[int, Product]
    monitors: dict[int, Monitor]


def event_ids_of(notification: Notification) -> list[int]:
    """The events an alert lists, in order (a digest: those of the alerts it gathers)."""
    details = notification.details or {}
    if details.get("notification_ids"):
        return digest_event_ids(notification.user_id, details["notification_ids"])
    return list(details.get("event_ids") or ([notification.product_event_id] if notification.product_event_id else []))


def load_alert_rows(notifications: Sequence[Notification]) -> AlertRows:
    ids = {event_id for notification in notifications for event_id in event_ids_of(notification)}
    if not ids:
        return AlertRows({}, {}, {})
    events = {e.id: e for e in db.session.scalars(select(ProductEvent).where(ProductEvent.id.in_(ids)))}
    product_ids = {e.product_id for e in events.values()}
    products = {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(product_ids)))}
    monitor_ids = {e.monitor_id for e in events.values()}
    monitors = {m.id: m for m in db.session.scalars(select(Monitor).where(Monitor.id.in_(monitor_ids)))}
    return AlertRows(events, products, monitors)


def alert_items(notification: Notification, link_source: str = "email", rows: AlertRows | None = None,
                wording: Wording | None = None, link_path: LinkPath | None = None) -> list[AlertItem]:
    """The events an alert lists, in the current locale (empty for a message without events);
    ``rows`` when they were loaded for a batch already; ``wording`` and ``link_path``
    (``affiliate_links.path_maker``) when a batch looked its language and signer up once.

    ``dhgate_url`` is the owner's tracked ``/go`` link (absolute, on ``BASE_URL``) naming
    ``link_source`` (``email`` or ``chat``), so a click from a message counts like one on a page."""
    ids = event_ids_of(notification)
    if not ids:
        return []
    rows = rows or load_alert_rows([notification])
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    link_path = link_path or tracked_path
    formatted: dict[tuple[Decimal | None, str | None], str] = {}

    def price(amount: Decimal | None, currency: str | None) -> str:
        """Each price once per message (a sentence and its item show the same two)."""
        key = (amount, currency)
        if key not in formatted:
            formatted[key] = _money(amount, currency, wording)
        return formatted[key]

    items: list[AlertItem] = []
    for event_id in ids:
        event = rows.events.get(event_id)
        if event is None or event.product_id not in rows.products or event.monitor_id not in rows.monitors:
            continue  # pruned since
        product, monitor = rows.products[event.product_id], rows.monitors[event.monitor_id]
        headline, sentence = event_text(monitor, product, event, price, wording)
        details = event.details or {}
        currency = details.get("currency") or product.currency
        items.append(AlertItem(
            kind=event.kind, headline=headline, sentence=sentence,
            product_title=clip(product.title or product.item_code, 120), image_url=product.image_url,
            old_price=None if event.old_value is None else price(event.old_value, currency),
            new_price=None if event.new_value is None else price(event.new_value, currency),
            percent=details.get("percent"),
            page_path=product_link(monitor.id, product.id),
            dhgate_url=base + link_path(notification.user_id, product.id, monitor.id, link_source)
            if product.url else None,
        ))
    return items


def tracked_url(user_id: int, product_id: int, monitor_id: int, source: str) -> str:
    """The absolute tracked link to a product's DHgate page (``services.affiliate_links``)."""
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    return base + tracked_path(user_id, product_id, monitor_id, source)


def digest_event_ids(user_id: int, notification_ids: list[int]) -> list[int]:
    """The events of a digest's alerts, alert by alert (only the member's own alerts)."""
    rows = db.session.execute(select(Notification.id, Notification.details, Notification.product_event_id).where(
        Notification.user_id == user_id, Notification.id.in_(notification_ids)).order_by(Notification.id)).all()
    ids: list[int] = []
    for _id, details, product_event_id in rows:
        ids.extend((details or {}).get("event_ids") or ([product_event_id] if product_event_id else []))
    return ids


def event_text(monitor: Monitor, product: Product, event: ProductEvent,
               price: Callable[[Decimal | None, str | None], str] | None = None,
               wording: Wording | None = None) -> tuple[str, str]:
    """(title, body) of an event in the current locale, or in ``wording``'s (``price`` formats
    amounts, ``_money`` unless the caller reuses its own)."""
    price = price or (lambda amount, currency: _money(amount, currency, wording))
    _ = wording.gettext if wording is not None else gettext
    details = event.details or {}
    currency = details.get("currency") or product.currency
    name = clip(product.title or product.item_code, 120)
    args = {
        "product": name,
        "monitor": monitor.name,
        "old": price(event.old_value, currency),
        "new": price(event.new_value, currency),
        "percent": details.get("percent", ""),
        "target": price(_decimal(details.get("target")), currency),
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


def locale_of(user: User) -> str:
    """The language a member reads their messages in (the site default when theirs is unknown)."""
    languages = current_app.config.get("LANGUAGES", ("en",))
    if user.locale is not None and user.locale in languages:
        return user.locale
    return str(current_app.config.get("BABEL_DEFAULT_LOCALE", "en"))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _money(amount: Decimal | None, currency: str | None, wording: Wording | None = None) -> str:
    """A price inside a sentence: "unknown" reads better there than a dash."""
    if wording is not None:
        return wording.gettext("unknown") if amount is None else wording.money(amount, currency)
    return _("unknown") if amount is None else money(amount, currency)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None
