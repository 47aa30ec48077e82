"""Change detection: compare a successful snapshot with what the monitor knew, record events.

Three steps, each safe to repeat:

1. ``plan_changes`` reads the database and the snapshot and decides, without writing anything
   but missing ``products`` rows, which events happened and what every row should look like
   afterwards. Event keys come from the monitor's own state (``change_seq``), never from the
   poll run, so planning twice from the same state yields the same keys.
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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, or_, select, update

from extensions import db
from models import Keyword, Monitor, MonitorProduct, PricePoint, Product, ProductEvent
from services.dhgate.types import ParsedProduct
from services.polling.notify import notify_owner
from services.polling.snapshot import Snapshot
from services.polling.sql import insert_if_absent

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
PRICE_POINT_EVERY = timedelta(days=1)
CHANGE_KINDS = frozenset({
    "price_drop", "price_rise", "target_price", "back_in_stock", "out_of_stock", "delisted", "missing",
})
_PRODUCT_FIELDS = (
    "url", "image_url", "store_id", "price_min", "price_max", "original_price_min", "currency", "unit",
    "min_order", "sold", "rating", "rating_count", "in_stock",
)
_LIMITS = {"title": 500, "url": 2000, "image_url": 2000, "store_id": 32, "currency": 3, "unit": 32}


@dataclass
class PlannedEvent:
    product_id: int
    kind: str
    dedupe_key: str
    old_value: Decimal | None = None
    new_value: Decimal | None = None
    details: dict[str, Any] | None = None


@dataclass
class Plan:
    """Everything a poll will write, decided before anything is written."""

    monitor_id: int
    baseline: bool
    events: list[PlannedEvent] = field(default_factory=list)
    new_links: list[dict[str, Any]] = field(default_factory=list)  # rows for monitor_products
    link_updates: dict[int, dict[str, Any]] = field(default_factory=dict)  # link id -> new values
    product_updates: dict[int, dict[str, Any]] = field(default_factory=dict)  # product id -> new values
    price_points: list[dict[str, Any]] = field(default_factory=list)
    products: dict[int, Product] = field(default_factory=dict)
    links: dict[int, MonitorProduct] = field(default_factory=dict)  # the monitor's links, by id
    seen: int = 0
    new: int = 0

    @property
    def changed(self) -> int:
        """Products with a change event (price, stock, delisted, missing) in this poll."""
        return len({event.product_id for event in self.events if event.kind in CHANGE_KINDS})


@dataclass
class _LinkState:
    """What the monitor last reported about one product (a fresh link has nothing)."""

    reference_price: Decimal | None = None
    reference_currency: str | None = None
    last_in_stock: bool | None = None
    target_reached: bool = False
    change_seq: int = 0
    gone_at: datetime | None = None

    @classmethod
    def of(cls, link: MonitorProduct | None) -> _LinkState:
        if link is None:
            return cls()
        return cls(link.reference_price, link.reference_currency, link.last_in_stock, link.target_reached,
                   link.change_seq, link.gone_at)


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
        _plan_seen(plan, monitor, product, parsed, links.get(product.id), terms, now)
    _plan_price_points(plan, snapshot.products, by_code, now)
    if snapshot.gone and monitor.kind == "product":
        _plan_product_gone(plan, monitor, links, now)
    elif snapshot.complete and not plan.baseline:
        seen_ids = {by_code[parsed.item_code].id for parsed in snapshot.products}
        _plan_missing(plan, monitor, links, seen_ids, now, missing_threshold)
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
        rows = [_new_product_row(item, now, base_url) for item in sorted(missing, key=lambda p: p.item_code)]
        insert_if_absent(db.session, Product, rows, ["item_code"])
        found.update(_products_by_code([item.item_code for item in missing]))
    return {product.id: product for product in found.values()}


def _products_by_code(codes: list[str]) -> dict[str, Product]:
    found: dict[str, Product] = {}
    for start in range(0, len(codes), 400):
        chunk = codes[start:start + 400]
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
    terms = {" ".join(term.split()).casefold() for term in db.session.scalars(query) if term and term.strip()}
    return sorted(terms)


def matching_terms(title: str, terms: Iterable[str]) -> list[str]:
    """Terms contained in ``title`` (case-insensitive, whitespace-normalised)."""
    folded = " ".join(title.split()).casefold()
    return [term for term in terms if term in folded]


def _plan_seen(
    plan: Plan, monitor: Monitor, product: Product, parsed: ParsedProduct, link: MonitorProduct | None,
    terms: list[str], now: datetime,
) -> None:
    state = _LinkState.of(link)
    price = _money(parsed.price_min)
    currency = parsed.currency or product.currency
    seq = state.change_seq
    values: dict[str, Any] = {"last_seen_at": now, "missing_polls": 0}
    events: list[PlannedEvent] = []

    def key(kind: str, *parts: object) -> str:
        return ":".join([str(monitor.id), str(product.id), kind, *(str(part) for part in parts)])

    plan.seen += 1
    fresh = link is None
    if fresh:
        plan.new += 1
    if fresh or plan.baseline:
        values.update(reference_price=price, reference_currency=currency, last_in_stock=parsed.in_stock)
        if fresh and not plan.baseline:
            title = parsed.title or product.title
            details = {"title": title[:200], "currency": currency}
            events.append(PlannedEvent(product.id, "new_product", key("new_product"), new_value=price, details=details))
            found = matching_terms(title, terms)
            if found:
                events.append(PlannedEvent(product.id, "keyword_match", key("keyword_match"), new_value=price,
                                           details={**details, "terms": found}))
    else:
        seq = _plan_price_move(events, values, monitor, product.id, state, price, currency, seq, key)
        if parsed.in_stock is not None and not parsed.delisted:  # a delisted page shows "sold out" too
            if state.last_in_stock is not None and parsed.in_stock != state.last_in_stock and monitor.stock_alerts:
                kind = "back_in_stock" if parsed.in_stock else "out_of_stock"
                events.append(PlannedEvent(product.id, kind, key(kind, seq), new_value=price,
                                           details={"currency": currency}))
                seq += 1
            values["last_in_stock"] = parsed.in_stock
    # At the baseline only a product monitor announces a target already met: for a store or a
    # search it would announce every cheap product of the listing at once.
    announce_target = not plan.baseline or monitor.kind == "product"
    seq = _plan_target(events, values, monitor, product.id, state, price, currency, seq, key, announce_target)
    if parsed.delisted:
        if state.gone_at is None:
            if not plan.baseline:
                events.append(PlannedEvent(product.id, "delisted", key("delisted", seq),
                                           old_value=price or product.price_min, details={"currency": currency}))
                seq += 1
            values["gone_at"] = now
    elif state.gone_at is not None:
        values["gone_at"] = None  # seen again: back, without an event (it was reported once)
    values["change_seq"] = seq
    plan.events.extend(events)
    if fresh:
        plan.new_links.append({"monitor_id": monitor.id, "product_id": product.id, "first_seen_at": now,
                               "target_reached": False, **values})
    else:
        plan.link_updates[link.id] = values  # type: ignore[union-attr]
    plan.product_updates[product.id] = _product_values(product, parsed, now)


def _plan_price_move(
    events: list[PlannedEvent], values: dict[str, Any], monitor: Monitor, product_id: int, state: _LinkState,
    price: Decimal | None, currency: str | None, seq: int, key: Callable[..., str],
) -> int:
    """price_drop / price_rise against the reference price, thresholds in percent."""
    reference = state.reference_price
    if price is None:
        return seq
    comparable = (
        reference is not None and reference > 0
        and (state.reference_currency is None or currency is None or state.reference_currency == currency)
    )
    if not comparable:
        values.update(reference_price=price, reference_currency=currency)
        return seq
    assert reference is not None
    if price == reference:
        return seq
    change = (price - reference) * HUNDRED / reference
    drop_pct = Decimal(monitor.price_drop_pct if monitor.price_drop_pct is not None else 5)
    rise_pct = Decimal(monitor.price_rise_pct if monitor.price_rise_pct is not None else 5)
    kind = None
    if change < 0 and -change >= drop_pct:
        kind = "price_drop"
    elif change > 0 and change >= rise_pct:
        kind = "price_rise"
    if kind is None:
        return seq  # below the threshold: the reference stays, so creeping changes add up
    percent = abs(change).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    events.append(PlannedEvent(product_id, kind, key(kind, seq, price), old_value=reference,
                               new_value=price, details={"currency": currency, "percent": str(percent)}))
    values.update(reference_price=price, reference_currency=currency)
    return seq + 1


def _plan_target(
    events: list[PlannedEvent], values: dict[str, Any], monitor: Monitor, product_id: int, state: _LinkState,
    price: Decimal | None, currency: str | None, seq: int, key: Callable[..., str], announce: bool,
) -> int:
    """target_price once each time the price comes down to the target (again); without
    ``announce`` the target is only marked as reached."""
    target = monitor.target_price
    if target is None or price is None:
        return seq
    if price <= target:
        if not state.target_reached:
            values["target_reached"] = True
            if not announce:
                return seq
            events.append(PlannedEvent(product_id, "target_price", key("target_price", seq, target),
                                       old_value=target, new_value=price,
                                       details={"currency": currency, "target": str(target)}))
            return seq + 1
    elif state.target_reached:
        values["target_reached"] = False
    return seq


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


def _plan_missing(
    plan: Plan, monitor: Monitor, links: dict[int, MonitorProduct], seen_ids: set[int], now: datetime, threshold: int,
) -> None:
    """Count a complete poll against every known product it did not show."""
    for product_id, link in links.items():
        if product_id in seen_ids or link.gone_at is not None:
            continue
        missing = link.missing_polls + 1
        values: dict[str, Any] = {"missing_polls": missing}
        if missing >= threshold:
            key = f"{monitor.id}:{product_id}:missing:{link.change_seq}"
            plan.events.append(PlannedEvent(product_id, "missing", key, old_value=link.reference_price,
                                            details={"currency": link.reference_currency, "polls": missing}))
            values.update(gone_at=now, change_seq=link.change_seq + 1)
            product = db.session.get(Product, product_id)
            if product is not None:
                plan.products[product_id] = product
                if product.status == "listed":
                    plan.product_updates.setdefault(product_id, {})["status"] = "missing"
        plan.link_updates[link.id] = values


def _plan_price_points(
    plan: Plan, parsed: list[ParsedProduct], by_code: dict[str, Product], now: datetime,
    latest: dict[int, datetime] | None = None,
) -> None:
    """A price point per product whose price or stock changed, or whose last one is a day old.

    ``latest`` (product id -> time of its latest point) is read here unless the caller already
    has it."""
    if latest is None:
        latest = _latest_price_points([by_code[item.item_code].id for item in parsed])
    for item in parsed:
        product = by_code[item.item_code]
        new_min = _money(item.price_min)
        new_max = _money(item.price_max)
        changed = (
            (new_min is not None and new_min != product.price_min)
            or (new_max is not None and new_max != product.price_max)
            or (item.in_stock is not None and item.in_stock != product.in_stock)
        )
        last = latest.get(product.id)
        if changed or last is None or now - last >= PRICE_POINT_EVERY:
            plan.price_points.append({
                "product_id": product.id,
                "price_min": new_min if new_min is not None else product.price_min,
                "price_max": new_max if new_max is not None else product.price_max,
                "currency": item.currency or product.currency,
                "in_stock": item.in_stock if item.in_stock is not None else product.in_stock,
                "recorded_at": now,
            })


def _latest_price_points(product_ids: list[int]) -> dict[int, datetime]:
    """Product id -> time of its latest price point (products without any are absent)."""
    latest: dict[int, datetime] = {}
    for start in range(0, len(product_ids), 400):
        chunk = product_ids[start:start + 400]
        query = (select(PricePoint.product_id, func.max(PricePoint.recorded_at))
                 .where(PricePoint.product_id.in_(chunk)).group_by(PricePoint.product_id))
        for product_id, recorded_at in db.session.execute(query):
            latest[product_id] = _aware(recorded_at)
    return latest


def _product_values(product: Product, parsed: ParsedProduct, now: datetime) -> dict[str, Any]:
    """New values of the shared product row: what the page shows, never erasing what it hides."""
    values: dict[str, Any] = {"last_seen_at": now, "status": "delisted" if parsed.delisted else "listed"}
    if parsed.title:
        values["title"] = parsed.title[: _LIMITS["title"]]
    shown = {
        "url": parsed.url, "image_url": parsed.image_url, "store_id": parsed.store_id,
        "price_min": _money(parsed.price_min), "price_max": _money(parsed.price_max),
        "original_price_min": _money(parsed.original_price_min), "currency": parsed.currency,
        "unit": parsed.unit, "min_order": parsed.min_order, "sold": parsed.sold,
        "rating": _rating(parsed.rating), "rating_count": parsed.rating_count, "in_stock": parsed.in_stock,
    }
    for name in _PRODUCT_FIELDS:
        value = shown[name]
        if value is None:
            continue
        if name in _LIMITS and isinstance(value, str):
            value = value[: _LIMITS[name]]
        values[name] = value
    values.pop("url", None)  # the canonical URL is set when the row is created
    return values


def _new_product_row(item: ParsedProduct, now: datetime, base_url: str) -> dict[str, Any]:
    price = _money(item.price_min)
    return {
        "item_code": item.item_code,
        "title": (item.title or f"Product {item.item_code}")[: _LIMITS["title"]],
        "url": absolute_product_url(base_url, item.url)[: _LIMITS["url"]],
        "image_url": (item.image_url or None) and item.image_url[: _LIMITS["image_url"]],
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


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _rating(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    return min(Decimal(value), Decimal(5)).quantize(CENT, rounding=ROUND_HALF_UP)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------- writing


def write_events(plan: Plan, monitor: Monitor, run_id: int | None, now: datetime) -> list[ProductEvent]:
    """Insert the planned events (if absent) and a notification for each; returns the events."""
    if not plan.events:
        return []
    rows = [{
        "monitor_id": plan.monitor_id, "product_id": event.product_id, "poll_run_id": run_id, "kind": event.kind,
        "dedupe_key": event.dedupe_key[:200], "old_value": event.old_value, "new_value": event.new_value,
        "details": event.details, "created_at": now,
    } for event in plan.events]
    insert_if_absent(db.session, ProductEvent, rows, ["dedupe_key"])
    keys = [row["dedupe_key"] for row in rows]
    events = list(db.session.scalars(select(ProductEvent).where(ProductEvent.dedupe_key.in_(keys))))
    notify_owner(monitor, events, plan.products)
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
    _touch(Product, sorted(pid for pid, values in plan.product_updates.items() if "last_seen_at" in values), now)
    _touch(MonitorProduct, sorted(lid for lid, values in plan.link_updates.items() if "last_seen_at" in values), now)
    for product_id in sorted(plan.product_updates):
        product = plan.products.get(product_id) or db.session.get(Product, product_id)
        if product is not None:
            _set_changed(product, plan.product_updates[product_id])
    for link_id in sorted(plan.link_updates):
        link = plan.links.get(link_id) or db.session.get(MonitorProduct, link_id)
        if link is not None:
            _set_changed(link, plan.link_updates[link_id])
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


def _touch(model: type[MonitorProduct] | type[Product], ids: list[int], now: datetime) -> None:
    """``last_seen_at = now`` for many rows in one statement per chunk."""
    for start in range(0, len(ids), 400):
        chunk = ids[start:start + 400]
        db.session.execute(
            update(model).where(model.id.in_(chunk)).values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
