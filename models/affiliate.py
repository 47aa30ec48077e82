"""Affiliate clicks out to DHgate, the orders they turn into, and the daily rollup."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import BigIntPK, Model, UTCDateTime, utcnow

CONVERSION_STATUSES = ("pending", "confirmed", "rejected")
Money = Numeric(14, 2)


CLICK_SOURCES = ("page", "email", "chat")


class AffiliateClick(Model):
    """One click through our redirect. The IP is stored only as a keyed hash.

    ``click_ref`` is our reference of the click: it travels to DHgate in the outbound link, comes
    back with the order, and being unique it is also what makes moving clicks from Redis into
    this table exactly-once (a click moved twice is the same row).
    """

    __tablename__ = "affiliate_clicks"
    __table_args__ = (Index("ix_affiliate_clicks_user_id_clicked_at", "user_id", "clicked_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), index=True)
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id", ondelete="SET NULL"))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    click_ref: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="page")
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    referrer: Mapped[str | None] = mapped_column(String(2000))


class AffiliateConversion(Model):
    """An order reported by the affiliate network; ``order_id`` is unique so re-imports merge."""

    __tablename__ = "affiliate_conversions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    click_id: Mapped[int | None] = mapped_column(ForeignKey("affiliate_clicks.id", ondelete="SET NULL"), index=True)
    order_value: Mapped[Decimal] = mapped_column(Money)
    commission: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # The product category the network reported and the rate (percent) the commission was
    # computed with at import; None when the network stated the commission itself. Kept so a
    # later change of AFFILIATE_COMMISSION_RATES never rewrites what was earned.
    category: Mapped[str | None] = mapped_column(String(64))
    commission_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AffiliatePerformance(Model):
    """The seed's daily rollup per user (unique per user and date), rebuilt by a job."""

    __tablename__ = "affiliate_performance"
    __table_args__ = (UniqueConstraint("user_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    clicks: Mapped[int] = mapped_column(default=0)
    conversions: Mapped[int] = mapped_column(default=0)
    revenue: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    commission: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
