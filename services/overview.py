"""The member's home: their monitors, what changed, this week's price drops and new listings,
and their affiliate month, each counted from the database and scoped to the viewer.

Admins get their *own* home here (the platform view lives on the admin dashboard), so every
query filters on the viewer's monitors. The page is read on every login, so the number of SQL
statements is fixed: grouped queries over the member's monitor ids, never one per monitor or per
row (``tests/dashboard/test_home.py`` pins the exact count for 1 and for 20 monitors).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import aliased, contains_eager

from extensions import db
from models import MonitorProduct, PricePoint, Product, ProductEvent, User
from services import affiliate
from services.monitors.queries import NEW_PRODUCT_DAYS, PROBLEM_STATUSES, MonitorRow, list_monitors

RECENT_CHANGES = 10
TOP_DROPS = 5
NEW_LISTINGS = 10
AFFILIATE_DAYS = 30


@dataclass(frozen=True)
class PriceDrop:
    """A product whose price now is below its highest price recorded this week."""

    product: Product
    monitor_id: int  # the viewer's monitor the row links into (the lowest id that sees it)
    was: Decimal
    now: Decimal

    @property
    def pct(self) -> Decimal:
        """The fall as a negative percentage with one decimal (``-20.0``)."""
        return ((self.now - self.was) / self.was * 100).quantize(Decimal("0.1"))


@dataclass
class MemberHome:
    """Everything the home page shows; the template only formats it."""

    monitors: list[MonitorRow] = field(default_factory=list)
    products: int = 0
    recent_changes: list[ProductEvent] = field(default_factory=list)
    price_drops: list[PriceDrop] = field(default_factory=list)
    new_listings: list[ProductEvent] = field(default_factory=list)
    affiliate: affiliate.AffiliateSummary | None = None

    @property
    def active_monitors(self) -> int:
        return sum(1 for row in self.monitors if row.monitor.active)

    @property
    def failing_monitors(self) -> int:
        """Active monitors whose last check failed (paused ones are not a problem to fix)."""
        return sum(1 for row in self.monitors
                   if row.monitor.active and row.monitor.last_status in PROBLEM_STATUSES)

    @property
    def waiting_first_check(self) -> bool:
        """An active monitor was never checked yet (so "no changes" only means "not yet")."""
        return any(row.monitor.active and row.monitor.last_polled_at is None for row in self.monitors)

    @property
    def events_this_week(self) -> int:
        return sum(row.events_this_week for row in self.monitors)

    @property
    def new_this_week(self) -> int:
        return sum(row.new_this_week for row in self.monitors)


def member_home(viewer: User, *, now: datetime | None = None) -> MemberHome:
    """The viewer's home (their own monitors only, admins included)."""
    now = now or datetime.now(UTC)
    week_ago = now - timedelta(days=NEW_PRODUCT_DAYS)
    home = MemberHome(monitors=list_monitors(viewer))
    home.affiliate = affiliate.summary(viewer.id, days=AFFILIATE_DAYS, today=now.date())
    ids = [row.monitor.id for row in home.monitors]
    if not ids:
        return home
    home.products = db.session.scalar(
        select(func.count(func.distinct(MonitorProduct.product_id))).where(MonitorProduct.monitor_id.in_(ids))
    ) or 0
    home.recent_changes = _events(ids, limit=RECENT_CHANGES)
    home.new_listings = _events(ids, kind="new_product", since=week_ago, limit=NEW_LISTINGS)
    home.price_drops = price_drops(ids, since=week_ago)
    return home


def _events(
    monitor_ids: list[int], *, kind: str | None = None, since: datetime | None = None, limit: int
) -> list[ProductEvent]:
    """Latest events of these monitors, newest first, product and monitor loaded in the same
    statement (the rows show both, so lazy loads would cost one query per row)."""
    query = (
        select(ProductEvent)
        .join(ProductEvent.product)
        .join(ProductEvent.monitor)
        .options(contains_eager(ProductEvent.product), contains_eager(ProductEvent.monitor))
        .where(ProductEvent.monitor_id.in_(monitor_ids))
    )
    if kind is not None:
        query = query.where(ProductEvent.kind == kind)
    if since is not None:
        query = query.where(ProductEvent.created_at >= since)
    query = query.order_by(ProductEvent.created_at.desc(), ProductEvent.id.desc()).limit(limit)
    return list(db.session.scalars(query))


def price_drops(monitor_ids: list[int], *, since: datetime, limit: int = TOP_DROPS) -> list[PriceDrop]:
    """The products of these monitors that fell most (in percent) from their highest price
    recorded since ``since`` to their price now, biggest fall first, in one statement.

    Measured from ``price_points`` (written at every price change and once a day) rather than
    from price events, so a member's alert threshold does not hide a drop from the home page and
    a product seen by two of their monitors counts once.
    """
    seen = (
        select(MonitorProduct.product_id, func.min(MonitorProduct.monitor_id).label("monitor_id"))
        .where(MonitorProduct.monitor_id.in_(monitor_ids))
        .group_by(MonitorProduct.product_id)
        .subquery()
    )
    point = aliased(PricePoint)
    peak = (
        select(point.product_id, func.max(point.price_min).label("peak"))
        .where(point.recorded_at >= since, point.product_id.in_(select(seen.c.product_id)))
        .group_by(point.product_id)
        .subquery()
    )
    fall = (cast(peak.c.peak, Float) - cast(Product.price_min, Float)) / cast(peak.c.peak, Float)
    rows = db.session.execute(
        select(Product, seen.c.monitor_id, peak.c.peak)
        .join(seen, seen.c.product_id == Product.id)
        .join(peak, peak.c.product_id == Product.id)
        .where(Product.price_min.is_not(None), peak.c.peak > 0, Product.price_min < peak.c.peak)
        .order_by(fall.desc(), Product.id)
        .limit(limit)
    ).all()
    return [PriceDrop(product, int(monitor_id), Decimal(peak_price), Decimal(product.price_min))
            for product, monitor_id, peak_price in rows]

