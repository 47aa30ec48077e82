"""Affiliate figures from the daily rollup (``affiliate_performance``)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from extensions import db
from models import AffiliatePerformance


@dataclass
class AffiliateSummary:
    days: int
    clicks: int
    conversions: int
    revenue: Decimal
    commission: Decimal
    rows: list[AffiliatePerformance]

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per click as a percentage; None when there were no clicks (not 0 %)."""
        return (self.conversions / self.clicks * 100) if self.clicks else None


def summary(user_id: int | None, *, days: int = 30) -> AffiliateSummary:
    """The last ``days`` days for one user, or for everyone when ``user_id`` is None (admins)."""
    since: date = (datetime.now(UTC) - timedelta(days=days)).date()
    scope = [AffiliatePerformance.date >= since]
    if user_id is not None:
        scope.append(AffiliatePerformance.user_id == user_id)
    totals = db.session.execute(
        select(
            func.coalesce(func.sum(AffiliatePerformance.clicks), 0),
            func.coalesce(func.sum(AffiliatePerformance.conversions), 0),
            func.coalesce(func.sum(AffiliatePerformance.revenue), 0),
            func.coalesce(func.sum(AffiliatePerformance.commission), 0),
        ).where(*scope)
    ).one()
    rows = list(
        db.session.scalars(select(AffiliatePerformance).where(*scope).order_by(AffiliatePerformance.date.desc()))
    )
    return AffiliateSummary(
        days=days, clicks=int(totals[0]), conversions=int(totals[1]),
        revenue=Decimal(totals[2]), commission=Decimal(totals[3]), rows=rows,
    )
