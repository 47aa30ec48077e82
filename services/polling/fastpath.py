"""What makes an ordinary poll cheap: card fingerprints and the one read of a monitor's rows.

Most polls of a store change nothing that matters, but the counters on a card (sold, rating,
reviews) move all the time on real top-selling pages. So a card has two parts:

* its **event fields** (price, stock, availability, and the monitor's alert rules), hashed per
  card into ``card_fingerprint``. A link stores the fingerprint its state was planned from
  (``MonitorProduct.card_hash``): a card showing the same fingerprint cannot produce an event or
  change the link, so the per-card path (``services.polling.cards``) skips its diff;
* everything else, compared directly with the shared product row; the cosmetic counters among
  them (``COSMETIC_FIELDS``) never make a poll "changed".

``Monitor.content_hash`` is the fingerprint of a whole poll (its coverage, the rules and every
card's fingerprint): equal hashes mean the listing showed the same products with the same
prices, stock and availability.

``monitor_rows`` reads everything the per-card path compares with in ONE statement, as plain
rows (no ORM objects): the monitor's links, their products, whether each product's daily price
point is done, and the owner: language, time zone, notification preferences (alert kinds,
digest or instant, quiet hours), active channel count and keywords. New cards need the keywords
and a poll with events needs the rest for its alert, which then costs no read of its own.
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections import namedtuple
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, Text, bindparam, cast, exists, func, literal_column, or_, select

from extensions import db
from models import (
    Keyword,
    Monitor,
    MonitorProduct,
    NotificationChannel,
    NotificationPreference,
    PricePoint,
    Product,
    User,
)
from models.base import UTCDateTime
from services.dhgate.types import ParsedProduct
from services.polling.plan import PRICE_POINT_EVERY
from services.polling.snapshot import Snapshot

TERM_SEPARATOR = "\x1f"  # joins the owner's keywords in the read (no term contains it)
FINGERPRINT_VERSION = "2"  # bump when a fingerprint's contents change: old hashes then never match
# Counters that move on busy listings without anything a member is told about.
COSMETIC_FIELDS = frozenset({"sold", "rating", "rating_count", "feedback_percent"})
# Columns no comparison reads (``last_seen_at`` is written only when a link stops being seen; a
# product's URL and first sighting are set once, when its row is created). Reading fewer
# columns matters: converting dates and decimals is most of the cost of the read.
_UNREAD_LINK_COLUMNS = frozenset({"monitor_id", "first_seen_at", "last_seen_at"})
_UNREAD_PRODUCT_COLUMNS = frozenset({"url", "first_seen_at", "last_seen_at", "first_price_min"})


def alert_rules(monitor: Monitor, missing_threshold: int) -> tuple[object, ...]:
    """The monitor's settings a poll's events depend on."""
    return (monitor.kind, monitor.dhgate_id, str(monitor.price_drop_pct), str(monitor.price_rise_pct),
            str(monitor.target_price), bool(monitor.stock_alerts), missing_threshold)


def card_fingerprint(rules: str, price: Decimal | None, currency: str | None, parsed: ParsedProduct) -> str:
    """What a link's state is planned from: the card's price (in cents), stock and
    availability, the currency it is read in (the product's when the card shows none) and the
    alert rules (``rules_key``)."""
    text = f"{rules}|{price}|{currency}|{parsed.in_stock}|{parsed.delisted}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def rules_key(rules: tuple[object, ...]) -> str:
    """The alert rules as the text every card fingerprint of a poll starts with."""
    return repr((FINGERPRINT_VERSION, rules))


def content_fingerprint(rules: str, snapshot: Snapshot, cards: list[str]) -> str:
    """sha256 over a whole poll: its coverage, the alert rules and every card's fingerprint."""
    digest = hashlib.sha256(repr((snapshot.kind, snapshot.outcome.value, snapshot.complete, snapshot.gone,
                                  rules)).encode())
    digest.update("\n".join(sorted(cards)).encode())
    return digest.hexdigest()


# The owner as an alert needs them (duck-typed ``User`` / ``NotificationPreference``: what
# ``services.notifications.alerts.alert_row`` and ``services.notifications.rules`` read).
Owner = namedtuple("Owner", ["id", "locale", "timezone"])
Preference = namedtuple("Preference", ["frequency", "quiet_hours_start", "quiet_hours_end", "alert_kinds"])


@dataclass
class MonitorRows:
    """A monitor's stored state as plain rows with the models' attribute names."""

    links: dict[int, Any] = field(default_factory=dict)  # by product id
    products: dict[str, Any] = field(default_factory=dict)  # by item code
    latest_points: dict[int, datetime] = field(default_factory=dict)  # product id -> latest point
    owner: Any = None  # an ``Owner``; None: not read (the monitor had no link) or no such user
    preference: Any = None  # the owner's ``Preference``; None: none stored (every default applies)
    owner_channels: int | None = None  # active channels; None: not read (the monitor had no link)
    owner_terms: list[str] | None = None  # the owner's active keywords for this monitor, as stored

    def add_products(self, rows: Iterable[Any]) -> None:
        for row in rows:
            self.products[row.item_code] = row

    def product_by_id(self) -> dict[int, Any]:
        return {row.id: row for row in self.products.values()}


@dataclass(frozen=True)
class _RowsQuery:
    statement: Select[Any]
    link_row: Any  # namedtuple classes: building one from a slice of a row costs next to nothing
    product_row: Any


def _point_is_recent() -> Any:
    """Whether the product has a price point younger than ``point_cutoff``: a boolean is all a
    poll needs (is the daily point due?), and far cheaper to read than a timestamp. ``EXISTS``
    stops at the first such point (one step into the ``(product_id, recorded_at)`` index)."""
    points, products = PricePoint.__table__, Product.__table__
    return exists().where(points.c.product_id == products.c.id,
                          points.c.recorded_at > bindparam("point_cutoff", type_=UTCDateTime())).label("point_recent")


def _product_columns() -> list[Any]:
    return [column for column in Product.__table__.c if column.name not in _UNREAD_PRODUCT_COLUMNS]


@functools.cache
def _rows_query() -> _RowsQuery:
    """The per-card path's one read, built once per process (every poll runs it)."""
    link_table, product_table = MonitorProduct.__table__, Product.__table__
    link_columns = [column for column in link_table.c if column.name not in _UNREAD_LINK_COLUMNS]
    product_columns = _product_columns()
    owner: Any = bindparam("user_id")
    channels = (select(func.count()).select_from(NotificationChannel)
                .where(NotificationChannel.user_id == owner, NotificationChannel.paused_reason.is_(None))
                .scalar_subquery().label("owner_channels"))
    monitor: Any = bindparam("monitor_id")
    # The separator as a literal of the SQL text: given as a string, it would be a "literal
    # execute" parameter, and the statement's SQL would be rendered again on every execution.
    separator: Any = literal_column(f"'{TERM_SEPARATOR}'")
    terms = (select(func.aggregate_strings(Keyword.term, separator))
             .where(Keyword.user_id == owner, Keyword.active.is_(True),
                    or_(Keyword.monitor_id.is_(None), Keyword.monitor_id == monitor))
             .scalar_subquery().label("owner_terms"))
    statement = (
        select(*(column.label(f"l_{column.name}") for column in link_columns),
               *(column.label(f"p_{column.name}") for column in product_columns), _point_is_recent(), channels,
               terms, *_owner_columns(owner))
        .join_from(link_table, product_table, link_table.c.product_id == product_table.c.id)
        .where(link_table.c.monitor_id == monitor)
    )
    return _RowsQuery(statement, namedtuple("LinkRow", [c.name for c in link_columns]),
                      _product_row_class())


def _owner_columns(owner: Any) -> list[Any]:
    """The owner's columns an alert reads, one uncorrelated scalar subquery each (evaluated once
    per statement, not per row). ``timezone`` is never NULL for an existing user, and a stored
    preference always has a ``frequency``; ``alert_kinds`` comes as its JSON text (decoded once
    per poll, not once per row)."""
    def of_user(column: Any) -> Any:
        return select(column).where(User.id == owner).scalar_subquery()

    def of_preference(column: Any) -> Any:
        return select(column).where(NotificationPreference.user_id == owner).scalar_subquery()

    return [of_user(User.locale).label("owner_locale"), of_user(User.timezone).label("owner_timezone"),
            of_preference(NotificationPreference.frequency).label("pref_frequency"),
            of_preference(NotificationPreference.quiet_hours_start).label("pref_quiet_start"),
            of_preference(NotificationPreference.quiet_hours_end).label("pref_quiet_end"),
            of_preference(cast(NotificationPreference.alert_kinds, Text)).label("pref_alert_kinds")]


@functools.cache
def _product_row_class() -> Any:
    return namedtuple("ProductRow", [c.name for c in _product_columns()])


@functools.cache
def _products_query() -> Select[Any]:
    return (select(*_product_columns(), _point_is_recent())
            .where(Product.__table__.c.item_code.in_(bindparam("codes", expanding=True))))


def product_row(values: dict[str, Any]) -> Any:
    """A product row (as the read gives it) from the values of a row just inserted."""
    row_class = _product_row_class()
    return row_class(*(values.get(name) for name in row_class._fields))


def monitor_rows(monitor: Monitor, now: datetime) -> MonitorRows:
    """The monitor's links, their products, whether their daily price point is done and the
    owner, in ONE statement. ``latest_points`` holds ``now`` for products whose latest price
    point is less than a day old (the only question ``plan_price_points`` asks of it)."""
    query = _rows_query()
    rows = MonitorRows()
    make_link, make_product = query.link_row._make, query.product_row._make
    split = len(query.link_row._fields)
    end = split + len(query.product_row._fields)
    parameters = {"monitor_id": monitor.id, "user_id": monitor.user_id, "point_cutoff": now - PRICE_POINT_EVERY}
    found = db.session.connection().execute(query.statement, parameters).all()
    for row in found:
        link = make_link(row[:split])
        product = make_product(row[split:end])
        rows.links[link.product_id] = link
        rows.products[product.item_code] = product
        if row[end]:
            rows.latest_points[product.id] = now
    if found:
        _read_owner(rows, monitor.user_id, found[-1][end + 1:])
    return rows


def _read_owner(rows: MonitorRows, user_id: int, values: Any) -> None:
    """The owner's part of the read (the same on every row)."""
    channels, terms, locale, zone, frequency, quiet_start, quiet_end, kinds = values
    rows.owner_channels = int(channels or 0)
    rows.owner_terms = (terms or "").split(TERM_SEPARATOR)
    if zone is not None:  # NULL only when the user is gone
        rows.owner = Owner(user_id, locale, zone)
    if frequency is not None:
        rows.preference = Preference(frequency, quiet_start, quiet_end, None if kinds is None else json.loads(kinds))


def product_rows(codes: list[str], now: datetime) -> tuple[list[Any], dict[int, datetime]]:
    """Product rows for item codes (and ``now`` for those whose daily price point is done), in
    one statement."""
    if not codes:
        return [], {}
    make_product = _product_row_class()._make
    found: list[Any] = []
    latest: dict[int, datetime] = {}
    for row in db.session.connection().execute(_products_query(), {"codes": codes, "point_cutoff": now - PRICE_POINT_EVERY}).all():
        product = make_product(row[:-1])
        found.append(product)
        if row[-1]:
            latest[product.id] = now
    return found, latest


def differs(values: dict[str, Any], row: Any, ignore: frozenset[str] = frozenset({"last_seen_at"})) -> bool:
    """Whether any planned value (besides ``ignore``) differs from the stored one."""
    for name, value in values.items():
        if name in ignore:
            continue
        if getattr(row, name) != value:
            return True
    return False
