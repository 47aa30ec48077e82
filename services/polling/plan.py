"""Planning a poll's changes: from what the monitor knew and what DHgate shows now, decide the
events and every row's new values, without writing anything.

Both ways of recording a successful poll use these functions: the full diff
(``services.polling.changes``, on ORM objects) and the change-free fast path
(``services.polling.fastpath``, on plain rows with the same attribute names). Keeping them in a
module of their own lets a poll walk forward (fetch -> parse -> plan -> write -> notify) with
neither writer borrowing the other's internals. The rules themselves are described in
``services.polling.changes``.

Event keys come from the monitor's own state (``change_seq``), never from the poll run, so
planning twice from the same state yields the same keys.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select

from extensions import db
from models import Monitor, MonitorProduct, PricePoint, Product
from services.dhgate.types import ParsedProduct
from services.polling.sql import CHUNK

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
PRICE_POINT_EVERY = timedelta(days=1)
CHANGE_KINDS = frozenset({
    "price_drop", "price_rise", "target_price", "back_in_stock", "out_of_stock", "delisted", "missing",
})
FIELD_LIMITS = {"title": 500, "url": 2000, "image_url": 2000, "store_id": 32, "currency": 3, "unit": 32}


@dataclass
class PlannedEvent:
    """One event a poll will record (inserted only if its ``dedupe_key`` is new)."""

    product_id: int
    kind: str
    dedupe_key: str
    old_value: Decimal | None = None
    new_value: Decimal | None = None
    details: dict[str, Any] | None = None


RunId = Callable[["Plan"], int]
"""Writes the poll's run (once, with its final values, taken from the finished plan) and returns
its id: the events refer to it. Called only by a poll that records events, after everything
but the events is planned; a quiet poll writes its run once, at the end."""


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
    alert_ids: list[int] = field(default_factory=list)  # alerts written; delivered after the commit
    # The monitor's own columns a successful poll moves (fingerprint, last success, baseline),
    # written by the poll's bookkeeping together with its schedule, in one UPDATE.
    monitor_values: dict[str, Any] = field(default_factory=dict)
    fast_path: bool = False  # nothing but cosmetic counters written

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


def matching_terms(title: str, terms: Iterable[str]) -> list[str]:
    """Terms contained in ``title`` (case-insensitive, whitespace-normalised)."""
    folded = " ".join(title.split()).casefold()
    return [term for term in terms if term in folded]


def plan_seen(
    plan: Plan, monitor: Monitor, product: Product, parsed: ParsedProduct, link: MonitorProduct | None,
    terms: list[str], now: datetime,
) -> None:
    """Plan one product the poll saw: a fresh link (and ``new_product``/``keyword_match`` after
    the baseline), price and stock events against the link's state, target price, delisting,
    and the new values of the link and the shared product row."""
    state = _LinkState.of(link)
    price = cents(parsed.price_min)
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
    plan.product_updates[product.id] = product_values(product, parsed, now)


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


def plan_missing(
    plan: Plan, monitor: Monitor, links: dict[int, MonitorProduct], seen_ids: set[int], now: datetime, threshold: int,
    product_of: Callable[[int], Any] | None = None,
) -> None:
    """Count a complete poll against every known product it did not show (``product_of`` finds
    a product row by id; by default the ORM object)."""
    for product_id, link in sorted(links.items()):  # by product id: the same event order on every database
        if product_id in seen_ids or link.gone_at is not None:
            continue
        missing = link.missing_polls + 1
        values: dict[str, Any] = {"missing_polls": missing}
        if missing >= threshold:
            key = f"{monitor.id}:{product_id}:missing:{link.change_seq}"
            plan.events.append(PlannedEvent(product_id, "missing", key, old_value=link.reference_price,
                                            details={"currency": link.reference_currency, "polls": missing}))
            values.update(gone_at=now, change_seq=link.change_seq + 1)
            product = product_of(product_id) if product_of is not None else db.session.get(Product, product_id)
            if product is not None:
                plan.products[product_id] = product
                if product.status == "listed":
                    plan.product_updates.setdefault(product_id, {})["status"] = "missing"
        plan.link_updates[link.id] = values


def plan_price_points(
    plan: Plan, parsed: list[ParsedProduct], by_code: dict[str, Product], now: datetime,
    latest: dict[int, datetime] | None = None,
) -> None:
    """A price point per product whose price or stock changed, or whose last one is a day old.

    ``latest`` (product id -> time of its latest point) is read here unless the caller already
    has it."""
    if latest is None:
        latest = latest_price_points([by_code[item.item_code].id for item in parsed])
    for item in parsed:
        point = price_point(item, by_code[item.item_code], now, latest, cents(item.price_min), cents(item.price_max))
        if point is not None:
            plan.price_points.append(point)


def price_point(
    item: ParsedProduct, product: Product, now: datetime, latest: dict[int, datetime],
    new_min: Decimal | None, new_max: Decimal | None,
) -> dict[str, Any] | None:
    """The price point one card calls for (``new_min``/``new_max``: its prices in cents), or None."""
    changed = (
        (new_min is not None and new_min != product.price_min)
        or (new_max is not None and new_max != product.price_max)
        or (item.in_stock is not None and item.in_stock != product.in_stock)
    )
    last = latest.get(product.id)
    if not (changed or last is None or now - last >= PRICE_POINT_EVERY):
        return None
    return {
        "product_id": product.id,
        "price_min": new_min if new_min is not None else product.price_min,
        "price_max": new_max if new_max is not None else product.price_max,
        "currency": item.currency or product.currency,
        "in_stock": item.in_stock if item.in_stock is not None else product.in_stock,
        "recorded_at": now,
    }


def latest_price_points(product_ids: list[int]) -> dict[int, datetime]:
    """Product id -> time of its latest price point (products without any are absent)."""
    latest: dict[int, datetime] = {}
    for start in range(0, len(product_ids), CHUNK):
        chunk = product_ids[start:start + CHUNK]
        query = (select(PricePoint.product_id, func.max(PricePoint.recorded_at))
                 .where(PricePoint.product_id.in_(chunk)).group_by(PricePoint.product_id))
        for product_id, recorded_at in db.session.execute(query):
            latest[product_id] = as_utc(recorded_at)
    return latest


def product_values(product: Product, parsed: ParsedProduct, now: datetime) -> dict[str, Any]:
    """New values of the shared product row: what the page shows, never erasing what it hides.
    (The canonical URL is set when the row is created.) Every poll runs this for every card,
    hence the plain, unrolled code."""
    values: dict[str, Any] = {"last_seen_at": now, "status": "delisted" if parsed.delisted else "listed"}
    if parsed.title:
        values["title"] = parsed.title[:_TITLE_LIMIT]
    if parsed.image_url is not None:
        values["image_url"] = parsed.image_url[:_IMAGE_URL_LIMIT]
    if parsed.store_id is not None:
        values["store_id"] = parsed.store_id[:_STORE_ID_LIMIT]
    if parsed.price_min is not None:
        values["price_min"] = cents(parsed.price_min)
    if parsed.price_max is not None:
        values["price_max"] = cents(parsed.price_max)
    if parsed.original_price_min is not None:
        values["original_price_min"] = cents(parsed.original_price_min)
    if parsed.currency is not None:
        values["currency"] = parsed.currency[:_CURRENCY_LIMIT]
    if parsed.unit is not None:
        values["unit"] = parsed.unit[:_UNIT_LIMIT]
    if parsed.min_order is not None:
        values["min_order"] = parsed.min_order
    if parsed.sold is not None:
        values["sold"] = parsed.sold
    if parsed.rating is not None:
        values["rating"] = rating_value(parsed.rating)
    if parsed.rating_count is not None:
        values["rating_count"] = parsed.rating_count
    if parsed.in_stock is not None:
        values["in_stock"] = parsed.in_stock
    return values


_TITLE_LIMIT, _IMAGE_URL_LIMIT, _STORE_ID_LIMIT, _CURRENCY_LIMIT, _UNIT_LIMIT = (
    FIELD_LIMITS[name] for name in ("title", "image_url", "store_id", "currency", "unit"))
_FIVE = Decimal(5)


def shows_stored(product: Any, parsed: ParsedProduct) -> bool:
    """Whether ``product_values(product, parsed, …)`` would hold nothing (``last_seen_at``
    aside) that differs from the stored row: the common case, so it is checked without building
    the values. Texts are compared cut to their limits as stored; amounts raw, which is exact:
    the database keeps them with two decimals (and ratings written by us at most 5), so a card
    amount equal to the stored one rounds to it. False only means "compare the values"."""
    return ((parsed.price_min is None or parsed.price_min == product.price_min)
            and (parsed.in_stock is None or parsed.in_stock == product.in_stock)
            and product.status == ("delisted" if parsed.delisted else "listed")
            and (parsed.price_max is None or parsed.price_max == product.price_max)
            and (parsed.original_price_min is None or parsed.original_price_min == product.original_price_min)
            and (not parsed.title or parsed.title[:_TITLE_LIMIT] == product.title)
            and (parsed.sold is None or parsed.sold == product.sold)
            and (parsed.rating is None or (parsed.rating == product.rating and product.rating <= _FIVE))
            and (parsed.rating_count is None or parsed.rating_count == product.rating_count)
            and (parsed.min_order is None or parsed.min_order == product.min_order)
            and (parsed.image_url is None or parsed.image_url[:_IMAGE_URL_LIMIT] == product.image_url)
            and (parsed.store_id is None or parsed.store_id[:_STORE_ID_LIMIT] == product.store_id)
            and (parsed.currency is None or parsed.currency[:_CURRENCY_LIMIT] == product.currency)
            and (parsed.unit is None or parsed.unit[:_UNIT_LIMIT] == product.unit))


def cents(value: Decimal | None) -> Decimal | None:
    """An amount rounded to whole cents, as stored."""
    if value is None:
        return None
    amount = value if type(value) is Decimal else Decimal(value)
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def rating_value(value: Decimal | None) -> Decimal | None:
    """A rating as stored: at most 5, two decimals."""
    if value is None:
        return None
    return min(Decimal(value), Decimal(5)).quantize(CENT, rounding=ROUND_HALF_UP)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

