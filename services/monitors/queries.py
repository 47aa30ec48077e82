"""What the monitoring pages, the status API and the CLI read: every query scoped to the viewer.

Every function that starts from a monitor id takes the *viewer* and returns only what that
person may see (their own monitors; admins see everyone's), so a forgotten filter in a view
cannot leak another member's data. Functions that take a ``Monitor`` expect one the viewer was
already allowed to see (``get_monitor``). Nothing here writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Float, Select, cast, func, or_, select
from sqlalchemy.orm import QueryableAttribute, contains_eager
from sqlalchemy.sql.elements import ColumnElement

from extensions import db
from models import Keyword, Monitor, MonitorProduct, PollRun, PricePoint, Product, ProductEvent, User
from services.dhgate.types import PriceTier
from services.labels import status_label, status_tone

NEW_PRODUCT_DAYS = 7
PROBLEM_STATUSES = (
    "blocked", "gone", "unreachable", "http_error", "timeout", "parse_error", "circuit_open", "error",
)
STATUS_FILTERS = ("ok", "problem", "waiting", "paused")
PRODUCT_SORTS = ("first_seen", "title", "price", "change", "sold")
PRODUCT_STATUS_FILTERS = ("listed", "missing", "delisted")


def scoped_monitors(viewer: User, *, everyone: bool = False) -> Select[Monitor]:
    """Monitors ``viewer`` may see: their own; every member's for an admin who asks for it."""
    query = select(Monitor)
    if not (viewer.is_admin and everyone):
        query = query.where(Monitor.user_id == viewer.id)
    return query


def get_monitor(viewer: User, monitor_id: int) -> Monitor | None:
    """The monitor when ``viewer`` owns it or is an admin; None otherwise (callers answer 404,
    so a member cannot even learn that another member's monitor exists)."""
    monitor = db.session.get(Monitor, monitor_id)
    if monitor is None:
        return None
    if monitor.user_id != viewer.id and not viewer.is_admin:
        return None
    return monitor


@dataclass
class MonitorRow:
    """One line of the monitors list with its counts."""

    monitor: Monitor
    product_count: int = 0
    new_this_week: int = 0
    events_this_week: int = 0
    owner_name: str | None = None


def list_monitors(
    viewer: User, *, kind: str | None = None, status: str | None = None, everyone: bool = False
) -> list[MonitorRow]:
    """The monitors list with product/new/event counts, in three grouped queries (not 3 × N)."""
    query = scoped_monitors(viewer, everyone=everyone)
    if kind:
        query = query.where(Monitor.kind == kind)
    query = _status_filter(query, status)
    return _rows(query, with_owners=everyone and viewer.is_admin)


MONITOR_SORTS = ("name", "last_check", "newest")


@dataclass
class MonitorPage:
    """One page of the monitors list: the pagination (totals, neighbours) and its rows."""

    pagination: Pagination
    rows: list[MonitorRow]


def monitors_page(
    viewer: User,
    *,
    kind: str | None = None,
    status: str | None = None,
    everyone: bool = False,
    sort: str = "name",
    page: int = 1,
    per_page: int = 25,
) -> MonitorPage:
    """One page of the monitors list, counts included: the same five statements (the page, its
    total, three grouped counts; six with owners) whatever the number of monitors."""
    query = scoped_monitors(viewer, everyone=everyone)
    if kind:
        query = query.where(Monitor.kind == kind)
    query = _status_filter(query, status).order_by(*_monitor_order(sort))
    pagination = db.paginate(query, page=page, per_page=per_page, max_per_page=100, error_out=False)
    rows = _rows_for(list(pagination.items), with_owners=everyone and viewer.is_admin)
    return MonitorPage(pagination, rows)


def _monitor_order(sort: str) -> tuple[Any, ...]:
    """The list's orders, each ending in the id so a page boundary never splits ties unstably."""
    if sort == "last_check":
        return (Monitor.last_polled_at.desc().nulls_last(), Monitor.id.desc())
    if sort == "newest":
        return (Monitor.created_at.desc(), Monitor.id.desc())
    return (func.lower(Monitor.name), Monitor.id)


def operator_monitor_rows(owner_id: int | None = None) -> list[MonitorRow]:
    """Every monitor (or one user's), with owner names: for operators on the command line."""
    query = select(Monitor)
    if owner_id is not None:
        query = query.where(Monitor.user_id == owner_id)
    return _rows(query, with_owners=True)


def _rows(query: Select[Monitor], *, with_owners: bool) -> list[MonitorRow]:
    monitors = list(db.session.scalars(query.order_by(func.lower(Monitor.name), Monitor.id)))
    return _rows_for(monitors, with_owners=with_owners)


def _rows_for(monitors: list[Monitor], *, with_owners: bool) -> list[MonitorRow]:
    """``monitors`` with their product/new/event counts, in three grouped queries (not 3 × N)."""
    if not monitors:
        return []
    ids = [m.id for m in monitors]
    week_ago = datetime.now(UTC) - timedelta(days=NEW_PRODUCT_DAYS)
    products = _counts(select(MonitorProduct.monitor_id, func.count()).where(MonitorProduct.monitor_id.in_(ids)))
    new = _counts(
        select(MonitorProduct.monitor_id, func.count()).where(
            MonitorProduct.monitor_id.in_(ids), MonitorProduct.first_seen_at >= week_ago
        )
    )
    events = _counts(
        select(ProductEvent.monitor_id, func.count()).where(
            ProductEvent.monitor_id.in_(ids), ProductEvent.created_at >= week_ago
        )
    )
    owners: dict[int, str] = {}
    if with_owners:
        owner_ids = {m.user_id for m in monitors}
        owners = dict(db.session.execute(select(User.id, User.username).where(User.id.in_(owner_ids))).all())
    return [
        MonitorRow(m, products.get(m.id, 0), new.get(m.id, 0), events.get(m.id, 0), owners.get(m.user_id))
        for m in monitors
    ]


def _status_filter(query: Select[Monitor], status: str | None) -> Select[Monitor]:
    if status == "paused":
        return query.where(Monitor.active.is_(False))
    if status == "ok":
        return query.where(Monitor.active.is_(True), Monitor.last_status == "ok")
    if status == "problem":
        return query.where(Monitor.active.is_(True), Monitor.last_status.in_(PROBLEM_STATUSES))
    if status == "waiting":
        return query.where(Monitor.active.is_(True), Monitor.last_status.is_(None))
    return query


def _counts(query: Select[int, int]) -> dict[int, int]:
    first_column = query.selected_columns[0]
    return {row[0]: row[1] for row in db.session.execute(query.group_by(first_column))}


def product_count(monitor: Monitor) -> int:
    return db.session.scalar(
        select(func.count()).select_from(MonitorProduct).where(MonitorProduct.monitor_id == monitor.id)
    ) or 0


@dataclass
class MonitorSummary:
    """The figures at the top of a monitor's page."""

    product_count: int
    new_this_week: int
    events_this_week: int
    missing: int
    keywords: list[str] = field(default_factory=list)
    global_keywords: list[str] = field(default_factory=list)


def monitor_summary(monitor: Monitor) -> MonitorSummary:
    week_ago = datetime.now(UTC) - timedelta(days=NEW_PRODUCT_DAYS)
    counts = db.session.execute(
        select(
            func.count(MonitorProduct.id),
            func.count(MonitorProduct.id).filter(MonitorProduct.first_seen_at >= week_ago),
            func.count(MonitorProduct.id).filter(MonitorProduct.gone_at.is_not(None)),
        ).where(MonitorProduct.monitor_id == monitor.id)
    ).one()
    events = db.session.scalar(
        select(func.count(ProductEvent.id)).where(
            ProductEvent.monitor_id == monitor.id, ProductEvent.created_at >= week_ago
        )
    ) or 0
    return MonitorSummary(
        product_count=counts[0],
        new_this_week=counts[1],
        events_this_week=events,
        missing=counts[2],
        keywords=[k.term for k in sorted(monitor.keywords, key=lambda k: k.term.casefold())],
        global_keywords=[k.term for k in global_keywords(monitor.user_id)],
    )


def recent_poll_runs(monitor: Monitor, limit: int = 10) -> list[PollRun]:
    return list(
        db.session.scalars(
            select(PollRun).where(PollRun.monitor_id == monitor.id).order_by(PollRun.started_at.desc(), PollRun.id.desc()).limit(limit)
        )
    )


def recent_events(monitor: Monitor, *, product_id: int | None = None, limit: int = 20) -> list[ProductEvent]:
    """A monitor's latest events (optionally of one product), newest first, products loaded."""
    query = (
        select(ProductEvent)
        .join(ProductEvent.product)
        .options(contains_eager(ProductEvent.product))
        .where(ProductEvent.monitor_id == monitor.id)
    )
    if product_id is not None:
        query = query.where(ProductEvent.product_id == product_id)
    return list(db.session.scalars(query.order_by(ProductEvent.created_at.desc(), ProductEvent.id.desc()).limit(limit)))


def _change_ratio() -> ColumnElement[Any]:
    """(price now − price first seen) / price first seen, as a float for ordering only
    (SQLite would otherwise divide two whole-number prices as integers)."""
    first = cast(Product.first_price_min, Float)
    return (cast(Product.price_min, Float) - first) / func.nullif(first, 0)


def _sort_columns(sort: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
    columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
        "first_seen": MonitorProduct.first_seen_at,
        "title": func.lower(Product.title),
        "price": Product.price_min,
        "change": _change_ratio(),
        "sold": Product.sold,
    }
    return columns.get(sort, MonitorProduct.first_seen_at)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def monitor_products(
    monitor: Monitor,
    *,
    search: str = "",
    status: str | None = None,
    sort: str = "first_seen",
    direction: str = "desc",
    page: int = 1,
    per_page: int = 25,
) -> Pagination:
    """One page of the products a monitor has seen (``MonitorProduct`` rows, product loaded).

    Searches title and item code; sorts by title, price, change since first seen, first seen or
    sold count, unknown values last whichever the direction.
    """
    query = (
        select(MonitorProduct)
        .join(MonitorProduct.product)
        .options(contains_eager(MonitorProduct.product))
        .where(MonitorProduct.monitor_id == monitor.id)
    )
    search = " ".join(search.split())[:200]
    if search:
        pattern = _like_pattern(search)
        query = query.where(
            or_(Product.title.ilike(pattern, escape="\\"), Product.item_code.ilike(pattern, escape="\\"))
        )
    if status == "delisted":
        query = query.where(Product.status == "delisted")
    elif status == "missing":
        query = query.where(
            Product.status != "delisted", or_(Product.status == "missing", MonitorProduct.gone_at.is_not(None))
        )
    elif status == "listed":
        query = query.where(Product.status == "listed", MonitorProduct.gone_at.is_(None))
    column = _sort_columns(sort)
    ordered = column.asc() if direction == "asc" else column.desc()
    query = query.order_by(ordered.nulls_last(), MonitorProduct.id.desc())
    return db.paginate(query, page=page, per_page=per_page, max_per_page=100, error_out=False)


def get_monitor_product(monitor: Monitor, product_id: int) -> MonitorProduct | None:
    """The product as seen by this monitor; None when this monitor never saw it."""
    return db.session.scalar(
        select(MonitorProduct)
        .join(MonitorProduct.product)
        .options(contains_eager(MonitorProduct.product))
        .where(MonitorProduct.monitor_id == monitor.id, MonitorProduct.product_id == product_id)
    )


def price_history(product_id: int, limit: int = 500) -> list[PricePoint]:
    """The latest ``limit`` price points of a product, oldest first (ready to chart)."""
    rows = list(
        db.session.scalars(
            select(PricePoint)
            .where(PricePoint.product_id == product_id)
            .order_by(PricePoint.recorded_at.desc(), PricePoint.id.desc())
            .limit(limit)
        )
    )
    rows.reverse()
    return rows


def price_change_pct(product: Product) -> Decimal | None:
    """Change of the lowest price since the product was first seen, in percent (one decimal)."""
    first, now = product.first_price_min, product.price_min
    if first is None or now is None or first == 0:
        return None
    return ((Decimal(now) - Decimal(first)) / Decimal(first) * 100).quantize(Decimal("0.1"))


def price_tiers(product: Product) -> list[PriceTier]:
    """The product's wholesale quantity tiers, when they were stored with it.

    The page data carries tiers (``ParsedProduct.tiers``); products keep them in a ``tiers``
    JSON list (``[{"min_qty": 1, "max_qty": 9, "price": "2.50"}, …]``) once that is persisted.
    Until then, and for malformed entries, this is simply empty: tiers are shown "if known".
    """
    raw = getattr(product, "tiers", None)
    if not isinstance(raw, list):
        return []
    tiers: list[PriceTier] = []
    for entry in raw:
        try:
            max_qty = entry.get("max_qty")
            tiers.append(PriceTier(int(entry["min_qty"]), int(max_qty) if max_qty else None, Decimal(str(entry["price"]))))
        except (AttributeError, KeyError, TypeError, ValueError, InvalidOperation):
            continue
    return sorted(tiers, key=lambda tier: tier.min_qty)


def is_new(link: MonitorProduct, now: datetime | None = None) -> bool:
    """First seen by this monitor within the last week."""
    now = now or datetime.now(UTC)
    return link.first_seen_at >= now - timedelta(days=NEW_PRODUCT_DAYS)


def monitor_status(monitor: Monitor) -> dict[str, Any]:
    """The monitor's state for the JSON status endpoint (machine fields and display text)."""
    return {
        "id": monitor.id,
        "active": monitor.active,
        "status": monitor.last_status,
        "status_label": status_label(monitor),
        "status_tone": status_tone(monitor),
        "last_polled_at": _iso(monitor.last_polled_at),
        "next_poll_at": _iso(monitor.next_poll_at) if monitor.active else None,
        "consecutive_failures": monitor.consecutive_failures,
        "product_count": product_count(monitor),
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


# --------------------------------------------------------------------------- member-wide keywords


def global_keywords(user_id: int) -> list[Keyword]:
    """A member's keywords that apply to all their monitors, alphabetically."""
    return list(
        db.session.scalars(
            select(Keyword).where(Keyword.user_id == user_id, Keyword.monitor_id.is_(None)).order_by(func.lower(Keyword.term))
        )
    )

