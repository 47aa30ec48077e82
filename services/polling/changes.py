"""Change detection: compare a successful snapshot with what the monitor knew, record events.

Three steps, each safe to repeat:

1. ``plan_changes`` reads the database and the snapshot and decides, without writing anything
   but missing ``products`` rows, which events happened and what every row should look like
   afterwards (the planning functions live in ``services.polling.plan``, shared with the fast
   path). Event keys come from the monitor's own state (``change_seq``), never from the poll
   run, so planning twice from the same state yields the same keys.
2. ``write_events`` inserts the events and their notifications if absent (unique keys).
3. ``apply_plan`` writes the new state: links, products, price history, the baseline.

A crash between 2 and 3 leaves events without the state that explains them; the re-run plans
the very same events again (the state did not move), finds them present and only applies the
state. A crash anywhere else rolls back with the transaction.

Rules (see the monitoring docs for the reasoning):

* The first successful poll is the **baseline**: products, links and one price point each, no
  events, except ``target_price`` of a *product* monitor (the member asked "tell me when this
  costs at most X": if it already does, that is the answer they want). A store or search
  baseline only marks products already at the target, so they are not announced later either.
* Later, a product new *to this monitor* gives ``new_product`` and, when its title contains
  one of the member's keywords (global or the monitor's, case-insensitive), ``keyword_match``.
* Prices are compared per monitor with the **reference price**: the price when the monitor
  first saw the product, moved to the new price whenever a price event fires. Slow creep (3 %,
  then 3 % more) therefore still reports once it passes the threshold.
* Stock (``back_in_stock``/``out_of_stock``) only when the page shows stock and the monitor has
  stock alerts on; ``delisted`` from a product page (``istate`` false, 404/410, not-found page);
  ``missing`` after the product was absent from ``MISSING_POLLS_THRESHOLD`` consecutive
  *complete* successful polls of a store or search monitor. A product seen again is simply back.
* Price points are per product (shared): written when its price or stock changes, and at most
  one more a day when nothing changes.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from extensions import db
from models import Keyword, Monitor, MonitorProduct, PricePoint, Product, ProductEvent
from services.dhgate.types import ParsedProduct
from services.polling.notify import notify_owner
from services.polling.plan import (
    FIELD_LIMITS,
    Plan,
    PlannedEvent,
    RunId,
    cents,
    plan_missing,
    plan_price_points,
    plan_seen,
)
from services.polling.snapshot import Snapshot
from services.polling.sql import CHUNK, insert_if_absent, insert_returning_ids, touch_last_seen

# ---------------------------------------------------------------------------------- planning


def plan_changes(monitor: Monitor, snapshot: Snapshot, *, now: datetime, base_url: str, missing_threshold: int) -> Plan:
    """Decide the events and the new state for a successful snapshot (see module docs)."""
    plan = Plan(monitor.id, baseline=monitor.baseline_at is None)
    plan.products = ensure_products(snapshot.products, now=now, base_url=base_url)
    links = {link.product_id: link for link in db.session.scalars(
        select(MonitorProduct).where(MonitorProduct.monitor_id == monitor.id))}
    plan.links = {link.id: link for link in links.values()}
    terms = [] if plan.baseline else keyword_terms(monitor)
    by_code = {product.item_code: product for product in plan.products.values()}
    for parsed in snapshot.products:
        product = by_code[parsed.item_code]
        plan_seen(plan, monitor, product, parsed, links.get(product.id), terms, now)
    plan_price_points(plan, snapshot.products, by_code, now)
    if snapshot.gone and monitor.kind == "product":
        _plan_product_gone(plan, monitor, links, now)
    elif snapshot.complete and not plan.baseline:
        seen_ids = {by_code[parsed.item_code].id for parsed in snapshot.products}
        plan_missing(plan, monitor, links, seen_ids, now, missing_threshold)
    return plan


def ensure_products(parsed: list[ParsedProduct], *, now: datetime, base_url: str) -> dict[int, Product]:
    """``products`` rows for every parsed item code (created if absent), by id.

    Existing rows are looked up first and only the missing ones inserted: on an ordinary poll
    every product exists already, and a multi-row insert is costly to build for nothing.
    """
    if not parsed:
        return {}
    found = _products_by_code([item.item_code for item in parsed])
    missing = [item for item in parsed if item.item_code not in found]
    if missing:
        rows = [new_product_row(item, now, base_url) for item in sorted(missing, key=lambda p: p.item_code)]
        insert_if_absent(db.session, Product, rows, ["item_code"])
        found.update(_products_by_code([item.item_code for item in missing]))
    return {product.id: product for product in found.values()}


def _products_by_code(codes: list[str]) -> dict[str, Product]:
    found: dict[str, Product] = {}
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start:start + CHUNK]
        for product in db.session.scalars(select(Product).where(Product.item_code.in_(chunk))):
            found[product.item_code] = product
    return found


def keyword_terms(monitor: Monitor) -> list[str]:
    """The member's active global keywords plus the monitor's own, case-folded, unique."""
    query = select(Keyword.term).where(
        Keyword.user_id == monitor.user_id,
        Keyword.active.is_(True),
        or_(Keyword.monitor_id.is_(None), Keyword.monitor_id == monitor.id),
    )
    return normalized_terms(db.session.scalars(query))


def normalized_terms(terms: Iterable[str | None]) -> list[str]:
    """Keyword terms as titles are matched against: case-folded, whitespace-normalised, unique."""
    return sorted({" ".join(term.split()).casefold() for term in terms if term and term.strip()})


def _plan_product_gone(plan: Plan, monitor: Monitor, links: dict[int, MonitorProduct], now: datetime) -> None:
    """A product monitor's item answered 404/410 or the not-found page: delisted, once."""
    product = db.session.scalar(select(Product).where(Product.item_code == monitor.dhgate_id))
    if product is None:
        return  # never seen: there is nothing to compare with
    plan.products[product.id] = product
    link = links.get(product.id)
    plan.product_updates[product.id] = {"status": "delisted"}
    if link is None or link.gone_at is not None:
        return
    key = f"{monitor.id}:{product.id}:delisted:{link.change_seq}"
    plan.events.append(PlannedEvent(product.id, "delisted", key, old_value=link.reference_price,
                                    details={"currency": link.reference_currency, "gone": True}))
    plan.link_updates[link.id] = {"gone_at": now, "change_seq": link.change_seq + 1}


def new_product_row(item: ParsedProduct, now: datetime, base_url: str) -> dict[str, Any]:
    price = cents(item.price_min)
    return {
        "item_code": item.item_code,
        "title": (item.title or f"Product {item.item_code}")[: FIELD_LIMITS["title"]],
        "url": absolute_product_url(base_url, item.url)[: FIELD_LIMITS["url"]],
        "image_url": (item.image_url or None) and item.image_url[: FIELD_LIMITS["image_url"]],
        "store_id": item.store_id,
        "currency": (item.currency or None) and item.currency[:3],
        "status": "listed",
        "first_seen_at": now,
        "last_seen_at": now,
        "first_price_min": price,
    }


def absolute_product_url(base_url: str, path: str) -> str:
    """A product link on the configured DHgate host (the sandbox's own in tests and demos)."""
    if path.startswith(("http://", "https://")):
        return path
    return base_url.rstrip("/") + (path if path.startswith("/") else "/" + path)


# ---------------------------------------------------------------------------------- writing


def record_full_diff(
    monitor: Monitor, snapshot: Snapshot, run_id: RunId, *, now: datetime, base_url: str, missing_threshold: int,
) -> Plan:
    """Diff every product of a successful snapshot as ORM objects and write events and state
    (not committed). The per-card path (``services.polling.cards``) must end in exactly the same
    events and rows; it hands the rare "product page gone" poll to this one. ``run_id`` is
    called only when there are events (they refer to the run)."""
    plan = plan_changes(monitor, snapshot, now=now, base_url=base_url, missing_threshold=missing_threshold)
    write_events(plan, monitor, run_id(plan) if plan.events else None, now)
    apply_plan(plan, monitor, now)
    return plan


def write_events(plan: Plan, monitor: Monitor, run_id: int | None, now: datetime) -> list[ProductEvent]:
    """Insert the planned events (if absent) and one alert about the new ones; returns the events."""
    if not plan.events:
        return []
    rows = [{
        "monitor_id": plan.monitor_id, "product_id": event.product_id, "poll_run_id": run_id, "kind": event.kind,
        "dedupe_key": event.dedupe_key[:200], "old_value": event.old_value, "new_value": event.new_value,
        "details": event.details, "created_at": now,
    } for event in plan.events]
    new_ids = set(insert_returning_ids(db.session, ProductEvent, rows, ["dedupe_key"]))
    keys = [row["dedupe_key"] for row in rows]
    events = list(db.session.scalars(select(ProductEvent).where(ProductEvent.dedupe_key.in_(keys))))
    # Only the events this call recorded are announced: the others were announced by whoever
    # recorded them, in the same transaction as their alert.
    alert_id = notify_owner(monitor, [e for e in events if e.id in new_ids], plan.products)
    if alert_id is not None:
        plan.alert_ids.append(alert_id)
    return events


def apply_plan(plan: Plan, monitor: Monitor, now: datetime) -> None:
    """Write the planned state: links, products, price points and the baseline.

    Every seen row gets its new ``last_seen_at`` from one UPDATE per table; only rows with a
    real change (price, stock, status, counters) are then updated one by one.
    """
    if plan.new_links:
        insert_if_absent(db.session, MonitorProduct, plan.new_links, ["monitor_id", "product_id"])
    # Shared product rows are locked in one order (by id, all at once) before any of them is
    # changed one by one: two polls of overlapping stores on PostgreSQL then wait for each
    # other instead of deadlocking.
    touch_last_seen(Product, sorted(pid for pid, values in plan.product_updates.items() if "last_seen_at" in values), now)
    touch_last_seen(MonitorProduct, sorted(lid for lid, values in plan.link_updates.items() if "last_seen_at" in values), now)
    for product_id in sorted(plan.product_updates):
        product = plan.products.get(product_id) or db.session.get(Product, product_id)
        if product is not None:
            _set_changed(product, plan.product_updates[product_id])
    for link_id in sorted(plan.link_updates):
        link = plan.links.get(link_id) or db.session.get(MonitorProduct, link_id)
        if link is not None:
            values = plan.link_updates[link_id]
            # The per-card path plans this link again next time (its state moved without it).
            _set_changed(link, {**values, "card_hash": None, **({"present": True} if "last_seen_at" in values else {})})
    if plan.price_points:
        db.session.execute(PricePoint.__table__.insert(), plan.price_points)
    if plan.baseline:
        monitor.baseline_at = now


def _set_changed(row: MonitorProduct | Product, values: dict[str, Any]) -> None:
    """Set the values that differ, besides ``last_seen_at`` (written in bulk by ``_touch``), so
    that rows without a real change cost no UPDATE of their own."""
    for name, value in values.items():
        if name != "last_seen_at" and getattr(row, name) != value:
            setattr(row, name, value)


