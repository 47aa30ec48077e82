"""Per-card change detection: how a successful poll is recorded, in a handful of statements.

A poll reads the monitor's state once (``services.polling.fastpath.monitor_rows``: links,
products, latest price points, the owner's language and channels, as plain rows) and then looks
at each card on its own:

* a card whose fingerprint (``card_fingerprint``: price, stock, availability, alert rules)
  equals the one its link was last planned from, on a link that is settled (seen last time, not
  counting towards "missing", delisted exactly when the card says so), cannot produce an event
  or change its link: its diff is skipped. Only the shared product row is compared, so moving
  sold counters, ratings and reviews (and a row another monitor changed) are still written;
* every other card goes through the very same planning functions as the full diff
  (``services.polling.plan.plan_seen``), and so do the missing-product counters.

Writes are one statement per table and kind (``services.polling.sql``): new products (all
their values at once, so no follow-up update), new links, one ``executemany`` UPDATE of the
products whose row differs (cosmetic counters included), one of the links whose state moved,
the price points, then the events and their alert. Nothing is written per seen row: a link
seen by the poll is ``present`` and was last seen at ``Monitor.last_success_at``; its own
``last_seen_at`` is written only when a poll stops seeing it.

The full diff (``services.polling.changes.record_full_diff``) stays the reference: the
property test in ``tests/polling`` checks that both end in the same events and rows on random
evolutions of a catalog. It still records a product monitor whose page is gone.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from extensions import db
from models import Monitor, PricePoint, Product, ProductEvent
from services.dhgate.types import ParsedProduct
from services.polling.changes import keyword_terms, new_product_row, normalized_terms, record_full_diff
from services.polling.fastpath import (
    COSMETIC_FIELDS,
    MonitorRows,
    alert_rules,
    card_fingerprint,
    content_fingerprint,
    differs,
    monitor_rows,
    product_row,
    product_rows,
    rules_key,
)
from services.polling.notify import announce
from services.polling.plan import (
    PRICE_POINT_EVERY,
    Plan,
    RunId,
    cents,
    plan_missing,
    plan_price_points,
    plan_seen,
    price_point,
    product_values,
    shows_stored,
)
from services.polling.snapshot import Snapshot
from services.polling.sql import insert_returning_rows, update_rows, write_links

__all__ = ["record_cards"]

# A link's state as the per-card path writes it: always all of it, so every changed link goes
# out in the same UPDATE (the links belong to this monitor: nobody else writes them).
LINK_STATE = ("missing_polls", "gone_at", "reference_price", "reference_currency", "last_in_stock",
              "target_reached", "change_seq", "present", "card_hash")
# The product columns a poll may change, written together for the same reason.
PRODUCT_STATE = ("title", "image_url", "store_id", "price_min", "price_max", "original_price_min", "currency",
                 "unit", "min_order", "sold", "rating", "rating_count", "in_stock", "status")
_NOT_CHANGES = frozenset({"last_seen_at"}) | COSMETIC_FIELDS
_LINK_COLUMNS = ("monitor_id", "product_id", "first_seen_at", "last_seen_at", *LINK_STATE)
_NEW_LINK_DEFAULTS: dict[str, Any] = {
    "missing_polls": 0, "gone_at": None, "reference_price": None, "reference_currency": None,
    "last_in_stock": None, "target_reached": False, "change_seq": 0,
}


def record_cards(
    monitor: Any, snapshot: Snapshot, run_id: RunId, *, now: datetime, base_url: str, missing_threshold: int,
) -> Plan:
    """Record a successful snapshot for ``monitor`` (not committed) and return its plan.

    ``monitor`` is a ``Monitor`` or a plain row with its attribute names (the engine's read); it
    is only read: what the poll changes on it is left in ``plan.monitor_values`` for the poll's
    bookkeeping. ``run_id`` is called only when there are events to write.
    ``snapshot`` is only read, so one snapshot may be recorded for several monitors."""
    rules = rules_key(alert_rules(monitor, missing_threshold))
    if snapshot.gone:
        # Rare (a product page that is gone): the ORM reference path, on the ORM monitor.
        model = monitor if isinstance(monitor, Monitor) else db.session.get(Monitor, monitor.id)
        if model is None:
            raise LookupError(f"no monitor with id {monitor.id}")  # deleted meanwhile
        plan = record_full_diff(model, snapshot, run_id, now=now, base_url=base_url,
                                missing_threshold=missing_threshold)
        _unsee_links(plan, monitor, now)
        if plan.baseline:
            plan.monitor_values["baseline_at"] = now
        _finish(plan, content_fingerprint(rules, snapshot, []), now, fast=False)
        return plan
    rows = monitor_rows(monitor, now)
    plan = Plan(monitor.id, baseline=monitor.baseline_at is None)
    fresh = [parsed for parsed in snapshot.products if parsed.item_code not in rows.products]
    if fresh:
        _add_products(rows, fresh, now, base_url)
    terms: list[str] = []
    if fresh and not plan.baseline:
        terms = keyword_terms(monitor) if rows.owner_terms is None else normalized_terms(rows.owner_terms)
    hashes, cards = _plan_cards(plan, monitor, snapshot, rows, rules, terms, now)
    by_id = rows.product_by_id()
    if snapshot.complete and not plan.baseline:
        plan_missing(plan, monitor, rows.links, set(hashes), now, missing_threshold,
                     product_of=by_id.get)
    plan.products = by_id  # plain rows: what the alert texts read
    product_writes = _product_writes(plan, by_id, now)
    link_writes = _link_writes(plan, rows, hashes, monitor.last_success_at, now)
    fast = not (plan.events or plan.new_links or plan.price_points or link_writes
                or any(differs(plan.product_updates[pid], by_id[pid], _NOT_CHANGES) for pid in product_writes))
    _write(plan, product_writes, link_writes, hashes)
    if plan.baseline:
        plan.monitor_values["baseline_at"] = now
    _finish(plan, content_fingerprint(rules, snapshot, cards), now, fast=fast)
    if plan.events:
        _write_events(plan, monitor, run_id(plan), rows, now)
    return plan


# ---------------------------------------------------------------------------------- planning


def _settled(link: Any, parsed: ParsedProduct, card: str) -> bool:
    """Whether planning this card again would change nothing about its link (module docs)."""
    return (link.card_hash == card and link.present and link.missing_polls == 0
            and (link.gone_at is not None) == parsed.delisted)


def _plan_cards(
    plan: Plan, monitor: Any, snapshot: Snapshot, rows: MonitorRows, rules: str, terms: list[str], now: datetime,
) -> tuple[dict[int, str | None], list[str]]:
    """Plan every card; a settled card only against its product row, and a quiet one (settled,
    its product row as the card shows it) only for its daily price point. Returns (product id
    -> the fingerprint to store on its link (None: the link's own is still right), every card's
    fingerprint)."""
    hashes: dict[int, str | None] = {}
    cards: list[str] = []
    busy: list[ParsedProduct] = []  # cards whose price point needs the full comparison
    for parsed in snapshot.products:
        product = rows.products[parsed.item_code]
        link = rows.links.get(product.id)
        price = cents(parsed.price_min)  # what product_values would plan for price_min
        card = card_fingerprint(rules, price, parsed.currency or product.currency, parsed)
        cards.append(card)
        settled = link is not None and _settled(link, parsed, card)
        if settled and shows_stored(product, parsed):  # the usual card: nothing to plan but its point
            plan.seen += 1
            hashes[product.id] = None
            last = rows.latest_points.get(product.id)
            if last is None or now - last >= PRICE_POINT_EVERY:  # its row is as shown: only the day counts
                point = price_point(parsed, product, now, rows.latest_points, price, cents(parsed.price_max))
                if point is not None:
                    plan.price_points.append(point)
            continue
        values = product_values(product, parsed, now)
        if settled:
            plan.seen += 1
            hashes[product.id] = None
            if differs(values, product):
                plan.product_updates[product.id] = values
                busy.append(parsed)
                continue
            point = price_point(parsed, product, now, rows.latest_points, values.get("price_min"),
                                values.get("price_max"))
            if point is not None:
                plan.price_points.append(point)
            continue
        plan_seen(plan, monitor, product, parsed, link, terms, now)
        hashes[product.id] = card
        busy.append(parsed)
    plan_price_points(plan, busy, rows.products, now, latest=rows.latest_points)
    return hashes, cards


def _add_products(rows: MonitorRows, fresh: list[ParsedProduct], now: datetime, base_url: str) -> None:
    """Product rows for cards new to the monitor: created with every value the card shows
    (one INSERT), or read when another monitor created them (one SELECT, only then)."""
    new_rows = []
    for parsed in sorted(fresh, key=lambda item: item.item_code):
        row = {**new_product_row(parsed, now, base_url), **product_values(None, parsed, now)}  # type: ignore[arg-type]
        new_rows.append({name: row.get(name) for name in _NEW_PRODUCT_COLUMNS})
    created = insert_returning_rows(db.session, Product, new_rows, ["item_code"], ["id", "item_code"])
    ids = {row["item_code"]: row["id"] for row in created}
    for row in new_rows:
        if row["item_code"] in ids:
            rows.products[row["item_code"]] = product_row({**row, "id": ids[row["item_code"]]})
    existing, latest = product_rows([str(row["item_code"]) for row in new_rows if row["item_code"] not in ids], now)
    rows.add_products(existing)
    rows.latest_points.update(latest)


_NEW_PRODUCT_COLUMNS = ("item_code", "url", "first_seen_at", "last_seen_at", "first_price_min", *PRODUCT_STATE)


# ---------------------------------------------------------------------------------- writing


def _product_writes(plan: Plan, by_id: dict[int, Any], now: datetime) -> dict[int, dict[str, Any]]:
    """Product id -> its whole new state, for the rows whose stored values differ."""
    writes: dict[int, dict[str, Any]] = {}
    for product_id, values in plan.product_updates.items():
        row = by_id[product_id]
        if differs(values, row):
            state = {name: getattr(row, name) for name in PRODUCT_STATE}
            state.update((name, value) for name, value in values.items() if name in state)
            writes[product_id] = {**state, "last_seen_at": now}
    return writes


def _link_writes(
    plan: Plan, rows: MonitorRows, hashes: dict[int, str | None], last_success: datetime | None, now: datetime,
) -> list[dict[str, Any]]:
    """The new state of every existing link whose state moved, as ``write_links`` rows; a link
    this poll no longer sees carries the time it was last seen (the last successful poll)."""
    writes: list[dict[str, Any]] = []
    for product_id, link in rows.links.items():
        values = plan.link_updates.get(link.id)
        if values is None and link.present and hashes.get(product_id, "") is None:
            continue  # a settled card: nothing about its link can have moved
        values = values or {}
        state = {name: getattr(link, name) for name in LINK_STATE}
        state.update((name, value) for name, value in values.items() if name in state)
        state["present"] = product_id in hashes
        if hashes.get(product_id) is not None:
            state["card_hash"] = hashes[product_id]
        if all(state[name] == getattr(link, name) for name in LINK_STATE):
            continue
        # first_seen_at is never written over, last_seen_at only when the link stops being present.
        writes.append({"monitor_id": plan.monitor_id, "product_id": product_id, "first_seen_at": now,
                       "last_seen_at": last_success or now, **state})
    return writes


def _write(plan: Plan, products: dict[int, dict[str, Any]], links: list[dict[str, Any]],
           hashes: dict[int, str | None]) -> None:
    """Products first, in id order (two polls of overlapping stores lock shared rows in the same
    order), then the links (new and moved in one statement) and price points."""
    update_rows(db.session, Product.__table__, products)
    new_links = [{**_NEW_LINK_DEFAULTS, **row, "present": True, "card_hash": hashes[row["product_id"]]}
                 for row in plan.new_links]
    write_links(db.session, [*links, *({name: row.get(name) for name in _LINK_COLUMNS} for row in new_links)],
                LINK_STATE)
    if plan.price_points:
        db.session.execute(PricePoint.__table__.insert(), plan.price_points)


def _write_events(plan: Plan, monitor: Any, run_id: int, rows: MonitorRows, now: datetime) -> None:
    """Insert the planned events if absent and announce the ones this poll recorded first."""
    event_rows = [{
        "monitor_id": plan.monitor_id, "product_id": event.product_id, "poll_run_id": run_id, "kind": event.kind,
        "dedupe_key": event.dedupe_key[:200], "old_value": event.old_value, "new_value": event.new_value,
        "details": event.details, "created_at": now,
    } for event in plan.events]
    inserted = insert_returning_rows(db.session, ProductEvent, event_rows, ["dedupe_key"], ["id", "dedupe_key"])
    ids = {row["dedupe_key"]: row["id"] for row in inserted}
    # Plain objects for the alert's texts, never added to the session.
    events = [ProductEvent(id=ids[row["dedupe_key"]], **row) for row in event_rows if row["dedupe_key"] in ids]
    alert_id = announce(monitor, events, plan.products, owner_channels=rows.owner_channels, owner=rows.owner,
                        preference=rows.preference)
    if alert_id is not None and rows.owner_channels != 0:  # no channel, nothing to deliver: no job
        plan.alert_ids.append(alert_id)


def _unsee_links(plan: Plan, monitor: Any, now: datetime) -> None:
    """A product page that is gone shows nothing: its link is no longer seen."""
    for link in plan.links.values():
        if link.present:
            link.present = False
            link.last_seen_at = monitor.last_success_at or link.last_seen_at


def _finish(plan: Plan, fingerprint: str, now: datetime, *, fast: bool) -> None:
    plan.monitor_values.update(content_hash=fingerprint, last_success_at=now)
    plan.fast_path = fast

