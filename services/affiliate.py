"""Affiliate figures for the report: totals and days from the rollup, top products from clicks.

Totals and the per-day series come from ``affiliate_performance`` (cheap, one row per member
and day, kept current by the scheduled rollup). The top products need the product of each click,
which the rollup does not keep, so they are read from the raw clicks and orders of the period
(indexed by member and time).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from extensions import db
from models import AffiliateClick, AffiliateConversion, AffiliatePerformance, Product

PERIODS = (7, 30, 90)
TOP_PRODUCTS = 5
ZERO = Decimal("0")


@dataclass(frozen=True)
class DayFigures:
    day: date
    clicks: int = 0
    conversions: int = 0
    revenue: Decimal = ZERO
    commission: Decimal = ZERO


@dataclass(frozen=True)
class ProductFigures:
    product_id: int
    title: str
    clicks: int
    conversions: int
    commission: Decimal


@dataclass
class AffiliateSummary:
    """One period (``days`` days up to and including ``end``) for a member or everyone."""

    days: int
    start: date
    end: date
    clicks: int = 0
    conversions: int = 0
    revenue: Decimal = ZERO
    commission: Decimal = ZERO
    per_day: list[DayFigures] = field(default_factory=list)  # oldest first, every day of the period
    top_products: list[ProductFigures] = field(default_factory=list)

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per click as a percentage; None when there were no clicks (not 0 %)."""
        return (self.conversions / self.clicks * 100) if self.clicks else None

    @property
    def epc(self) -> Decimal | None:
        """Earnings (commission) per click; None without clicks."""
        return (self.commission / self.clicks) if self.clicks else None

    @property
    def rows(self) -> list[DayFigures]:
        """The days with any activity, newest first (the table under the chart)."""
        return [d for d in reversed(self.per_day) if d.clicks or d.conversions]


def summary(user_id: int | None, *, days: int = 30, today: date | None = None) -> AffiliateSummary:
    """The last ``days`` days (today included) for one member, or everyone when ``user_id`` is
    None (admins)."""
    end = today or datetime.now(UTC).date()
    return summary_between(user_id, end - timedelta(days=days - 1), end)


def summary_between(user_id: int | None, start: date, end: date, *, top: int = TOP_PRODUCTS) -> AffiliateSummary:
    """Every day from ``start`` to ``end`` (inclusive) for one member, or everyone (None)."""
    days = (end - start).days + 1
    scope = [AffiliatePerformance.date >= start, AffiliatePerformance.date <= end]
    if user_id is not None:
        scope.append(AffiliatePerformance.user_id == user_id)
    rows = db.session.execute(
        select(
            AffiliatePerformance.date,
            func.sum(AffiliatePerformance.clicks), func.sum(AffiliatePerformance.conversions),
            func.sum(AffiliatePerformance.revenue), func.sum(AffiliatePerformance.commission),
        ).where(*scope).group_by(AffiliatePerformance.date)
    )
    by_day = {
        row[0]: DayFigures(row[0], int(row[1] or 0), int(row[2] or 0), _money(row[3]), _money(row[4]))
        for row in rows
    }
    result = AffiliateSummary(days=days, start=start, end=end)
    result.per_day = [by_day.get(start + timedelta(days=n), DayFigures(start + timedelta(days=n))) for n in range(days)]
    result.clicks = sum(d.clicks for d in result.per_day)
    result.conversions = sum(d.conversions for d in result.per_day)
    result.revenue = sum((d.revenue for d in result.per_day), ZERO)
    result.commission = sum((d.commission for d in result.per_day), ZERO)
    result.top_products = top_products(user_id, start, end, limit=top)
    return result


def top_products(user_id: int | None, start: date, end: date, *, limit: int = TOP_PRODUCTS) -> list[ProductFigures]:
    """The products clicked most in ``[start, end]`` (then by commission), with their orders."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    click_scope = [AffiliateClick.clicked_at >= since, AffiliateClick.clicked_at < until,
                   AffiliateClick.product_id.is_not(None)]
    if user_id is not None:
        click_scope.append(AffiliateClick.user_id == user_id)
    clicks: dict[int, int] = {
        int(product_id): int(count)
        for product_id, count in db.session.execute(
            select(AffiliateClick.product_id, func.count()).where(*click_scope).group_by(AffiliateClick.product_id)
        )
        if product_id is not None
    }
    order_scope = [AffiliateConversion.ordered_at >= since, AffiliateConversion.ordered_at < until,
                   AffiliateConversion.status != "rejected", AffiliateClick.product_id.is_not(None)]
    if user_id is not None:
        order_scope.append(AffiliateClick.user_id == user_id)
    orders: dict[int, tuple[int, Decimal]] = {
        int(product_id): (int(count), _money(commission))
        for product_id, count, commission in db.session.execute(
            select(AffiliateClick.product_id, func.count(), func.sum(AffiliateConversion.commission))
            .join(AffiliateClick, AffiliateClick.id == AffiliateConversion.click_id)
            .where(*order_scope).group_by(AffiliateClick.product_id)
        )
        if product_id is not None
    }
    ranked = sorted(set(clicks) | set(orders),
                    key=lambda pid: (-clicks.get(pid, 0), -orders.get(pid, (0, ZERO))[1], pid))[:limit]
    titles = dict(db.session.execute(select(Product.id, Product.title).where(Product.id.in_(ranked))).all())
    return [
        ProductFigures(pid, titles.get(pid) or f"#{pid}", int(clicks.get(pid, 0)), *orders.get(pid, (0, ZERO)))
        for pid in ranked
    ]


def _money(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))
