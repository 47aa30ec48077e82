"""What makes an ordinary poll cheap: card fingerprints and the one read of a monitor's rows.

Most polls of a store change nothing that matters, but the counters on a card (sold, rating,
reviews) move all the time on real top-selling pages. So a card has two parts:

* its **event fields** (price, stock, availability, and the monitor's alert rules), hashed per
  card into ``card_fingerprint``. A link stores the fingerprint its state was planned from
  (``MonitorProduct.card_hash``): a card showing the same fingerprint cannot produce an event or
  change the link, so the per-card path (``services.polling.cards``) skips its diff;
* everything else, compared directly with the shared product row; the cosmetic counters among
  them (``COSMETIC_FIELDS``) never make a poll "changed".

``Monitor.content_hash`` is the fingerprint of a whole poll (every card's event and listing
fields, the coverage and the rules, no cosmetic field): equal hashes mean the listing showed
the same products the same way.

``monitor_rows`` reads everything the per-card path compares with in ONE statement, as plain
rows (no ORM objects): the monitor's links, their products, each product's latest price point
time and the owner's language and active channel count (for the alert, if any).
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, bindparam, func, select

from extensions import db
from models import Monitor, MonitorProduct, NotificationChannel, PricePoint, Product, User
from services.dhgate.types import ParsedProduct
from services.polling.plan import as_utc, cents
from services.polling.snapshot import Snapshot

FINGERPRINT_VERSION = "2"  # bump when a fingerprint's contents change: old hashes then never match
# Counters that move on busy listings without anything a member is told about.
COSMETIC_FIELDS = frozenset({"sold", "rating", "rating_count", "feedback_percent"})
# Every other parsed field, so a field added later is covered without a change here.
_LISTING_FIELDS = tuple(item.name for item in fields(ParsedProduct) if item.name not in COSMETIC_FIELDS)
# Columns no comparison reads (``last_seen_at`` is written only when a link stops being seen; a
# product's URL and first sighting are set once, when its row is created). Reading fewer
# columns matters: converting dates and decimals is most of the cost of the read.
_UNREAD_LINK_COLUMNS = frozenset({"monitor_id", "first_seen_at", "last_seen_at"})
_UNREAD_PRODUCT_COLUMNS = frozenset({"url", "first_seen_at", "last_seen_at", "first_price_min"})


def alert_rules(monitor: Monitor, missing_threshold: int) -> tuple[object, ...]:
    """The monitor's settings a poll's events depend on."""
    return (monitor.kind, monitor.dhgate_id, str(monitor.price_drop_pct), str(monitor.price_rise_pct),
            str(monitor.target_price), bool(monitor.stock_alerts), missing_threshold)


def card_fingerprint(rules: tuple[object, ...], parsed: ParsedProduct, currency: str | None) -> str:
    """What a link's state is planned from: the card's price, stock and availability, the
    currency it is read in (the product's when the card shows none) and the alert rules."""
    return hashlib.blake2b(
        repr((FINGERPRINT_VERSION, rules, cents(parsed.price_min), currency, parsed.in_stock,
              parsed.delisted)).encode(), digest_size=16).hexdigest()


def content_fingerprint(rules: tuple[object, ...], snapshot: Snapshot) -> str:
    """sha256 over a poll's listing without its cosmetic counters (see module docs)."""
    digest = hashlib.sha256()
    digest.update(repr((FINGERPRINT_VERSION, snapshot.kind, snapshot.outcome.value, snapshot.complete,
                        snapshot.gone, rules)).encode())
    for product in sorted(snapshot.products, key=lambda item: item.item_code):
        digest.update(b"\n")
        digest.update(repr(tuple(getattr(product, name) for name in _LISTING_FIELDS)).encode())
    return digest.hexdigest()


@dataclass
class MonitorRows:
    """A monitor's stored state as plain rows with the models' attribute names."""

    links: dict[int, SimpleNamespace] = field(default_factory=dict)  # by product id
    products: dict[str, SimpleNamespace] = field(default_factory=dict)  # by item code
    latest_points: dict[int, datetime] = field(default_factory=dict)  # product id -> latest point
    owner_locale: str | None = None
    owner_channels: int | None = None  # active channels; None: not read (the monitor had no link)

    def add_products(self, rows: Iterable[SimpleNamespace]) -> None:
        for row in rows:
            self.products[row.item_code] = row

    def product_by_id(self) -> dict[int, SimpleNamespace]:
        return {row.id: row for row in self.products.values()}


@dataclass(frozen=True)
class _RowsQuery:
    statement: Select[Any]
    link_names: tuple[str, ...]
    product_names: tuple[str, ...]


def _latest_point() -> Any:
    points, products = PricePoint.__table__, Product.__table__
    return (select(func.max(points.c.recorded_at)).where(points.c.product_id == products.c.id)
            .scalar_subquery().label("latest_point"))


def _product_columns() -> list[Any]:
    return [column for column in Product.__table__.c if column.name not in _UNREAD_PRODUCT_COLUMNS]


@functools.cache
def _rows_query() -> _RowsQuery:
    """The per-card path's one read, built once per process (every poll runs it)."""
    link_table, product_table = MonitorProduct.__table__, Product.__table__
    link_columns = [column for column in link_table.c if column.name not in _UNREAD_LINK_COLUMNS]
    product_columns = _product_columns()
    owner: Any = bindparam("user_id")
    locale = select(User.locale).where(User.id == owner).scalar_subquery().label("owner_locale")
    channels = (select(func.count()).select_from(NotificationChannel)
                .where(NotificationChannel.user_id == owner, NotificationChannel.paused_reason.is_(None))
                .scalar_subquery().label("owner_channels"))
    statement = (
        select(*(column.label(f"l_{column.name}") for column in link_columns),
               *(column.label(f"p_{column.name}") for column in product_columns), _latest_point(), locale, channels)
        .join_from(link_table, product_table, link_table.c.product_id == product_table.c.id)
        .where(link_table.c.monitor_id == bindparam("monitor_id"))
    )
    return _RowsQuery(statement, tuple(c.name for c in link_columns), tuple(c.name for c in product_columns))


@functools.cache
def _products_query() -> tuple[Select[Any], tuple[str, ...]]:
    columns = _product_columns()
    statement = (select(*columns, _latest_point())
                 .where(Product.__table__.c.item_code.in_(bindparam("codes", expanding=True))))
    return statement, tuple(column.name for column in columns)


def monitor_rows(monitor: Monitor) -> MonitorRows:
    """The monitor's links, their products, latest price points and owner, in ONE statement."""
    query = _rows_query()
    rows = MonitorRows()
    split = len(query.link_names)
    end = split + len(query.product_names)
    for row in db.session.execute(query.statement, {"monitor_id": monitor.id, "user_id": monitor.user_id}):
        link = SimpleNamespace(**dict(zip(query.link_names, row[:split], strict=True)))
        product = SimpleNamespace(**dict(zip(query.product_names, row[split:end], strict=True)))
        rows.links[link.product_id] = link
        rows.products[product.item_code] = product
        if row[end] is not None:
            rows.latest_points[product.id] = as_utc(row[end])
        rows.owner_locale, rows.owner_channels = row[end + 1], int(row[end + 2] or 0)
    return rows


def product_rows(codes: list[str]) -> tuple[list[SimpleNamespace], dict[int, datetime]]:
    """Product rows (and their latest price point times) for item codes, in one statement."""
    if not codes:
        return [], {}
    statement, names = _products_query()
    found: list[SimpleNamespace] = []
    latest: dict[int, datetime] = {}
    for row in db.session.execute(statement, {"codes": codes}):
        product = SimpleNamespace(**dict(zip(names, row[:-1], strict=True)))
        found.append(product)
        if row[-1] is not None:
            latest[product.id] = as_utc(row[-1])
    return found, latest


def differs(values: dict[str, Any], row: Any, ignore: frozenset[str] = frozenset({"last_seen_at"})) -> bool:
    """Whether any planned value (besides ``ignore``) differs from the stored one."""
    for name, value in values.items():
        if name in ignore:
            continue
        if getattr(row, name) != value:
            return True
    return False
