"""What members watch on DHgate and everything seen there: products, prices, events, poll runs."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import BigIntPK, Model, UTCDateTime, utcnow

MONITOR_KINDS = ("store", "search", "product")
# "error": the poll itself failed (a bug or a database problem), not DHgate.
POLL_OUTCOMES = (
    "ok", "blocked", "gone", "unreachable", "http_error", "timeout", "parse_error", "circuit_open", "error",
)
PRODUCT_STATUSES = ("listed", "missing", "delisted")
EVENT_KINDS = (
    "new_product", "keyword_match", "price_drop", "price_rise",
    "back_in_stock", "out_of_stock", "delisted", "missing",
    "target_price",  # the lowest price reached the monitor's target price
)

Money = Numeric(14, 2)
Percent = Numeric(6, 2)


class Monitor(Model):
    """A store, search or product a member watches, with its schedule and alert rules."""

    __tablename__ = "monitors"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "dhgate_id"),
        Index("ix_monitors_active_next_poll_at", "active", "next_poll_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    dhgate_id: Mapped[str] = mapped_column(String(200))  # store number, search keywords or item code
    url: Mapped[str] = mapped_column(String(2000))
    name: Mapped[str] = mapped_column(String(200))
    poll_interval: Mapped[int] = mapped_column(default=21600)  # seconds
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(500))
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    baseline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # first successful poll
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a poll is queued/running
    # Start of the current run of blocked polls (None while not blocked): one admin alert per run.
    blocked_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # sha256 of what the last successful poll saw (services.polling.fastpath): a poll seeing the
    # same may skip the per-product diff. Only a hint: the fast path re-checks the stored state.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # Time of the last successful poll. Links it saw (``MonitorProduct.present``) were last seen
    # then, so an ordinary poll writes this one value instead of a time on every link.
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    price_drop_pct: Mapped[Decimal] = mapped_column(Percent, default=Decimal("5"))
    price_rise_pct: Mapped[Decimal] = mapped_column(Percent, default=Decimal("5"))
    target_price: Mapped[Decimal | None] = mapped_column(Money)
    stock_alerts: Mapped[bool] = mapped_column(default=True)
    # Event kinds that notify for this monitor (None: the owner's notification preferences).
    alert_kinds: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    keywords: Mapped[list[Keyword]] = relationship(back_populates="monitor", cascade="all, delete-orphan")


class Keyword(Model):
    """A term matched case-insensitively on product titles; global for the member when
    ``monitor_id`` is empty."""

    __tablename__ = "keywords"
    __table_args__ = (UniqueConstraint("user_id", "monitor_id", "term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), index=True)
    term: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    monitor: Mapped[Monitor | None] = relationship(back_populates="keywords")


class Product(Model):
    """One DHgate item, shared by every monitor that sees it (keyed by item code)."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    item_code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(2000))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    store_id: Mapped[str | None] = mapped_column(String(32), index=True)
    price_min: Mapped[Decimal | None] = mapped_column(Money)
    price_max: Mapped[Decimal | None] = mapped_column(Money)
    original_price_min: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    unit: Mapped[str | None] = mapped_column(String(32))
    min_order: Mapped[int | None]
    sold: Mapped[int | None]
    rating: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    rating_count: Mapped[int | None]
    in_stock: Mapped[bool | None]
    status: Mapped[str] = mapped_column(String(16), default="listed")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    first_price_min: Mapped[Decimal | None] = mapped_column(Money)  # for "change since first seen"


class MonitorProduct(Model):
    """Which monitor saw which product, and for how many successful polls it has been missing."""

    __tablename__ = "monitor_products"
    __table_args__ = (UniqueConstraint("monitor_id", "product_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    missing_polls: Mapped[int] = mapped_column(default=0)
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # reported missing from the monitor
    # What this monitor last reported, so each monitor (and each member) hears of every change
    # even when another monitor saw the same product first. Price moves are measured from
    # ``reference_price``: the price when first seen or at the last price event.
    reference_price: Mapped[Decimal | None] = mapped_column(Money)
    reference_currency: Mapped[str | None] = mapped_column(String(3))
    last_in_stock: Mapped[bool | None]
    target_reached: Mapped[bool] = mapped_column(default=False)  # at/below target, already told
    # Bumped by every reported change: part of event dedupe keys, so a re-run repeats the same
    # key (nothing twice) while a later change of the same kind gets a new one.
    change_seq: Mapped[int] = mapped_column(default=0)
    # Seen by the monitor's last successful poll: its last sighting is then
    # ``Monitor.last_success_at``; ``last_seen_at`` is written when it stops being seen.
    present: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Fingerprint of the card's event fields (and the alert rules) this link's state was last
    # planned from (services.polling.cards): a card with the same one needs no diff.
    card_hash: Mapped[str | None] = mapped_column(String(32))

    monitor: Mapped[Monitor] = relationship()
    product: Mapped[Product] = relationship()

    @property
    def last_seen(self) -> datetime:
        """When the monitor last saw this product (``last_seen_at`` is only written when the
        product stops being seen, not by every poll)."""
        if self.present and self.monitor.last_success_at is not None:
            return max(self.monitor.last_success_at, self.last_seen_at)
        return self.last_seen_at


class PricePoint(Model):
    """Price history: written when the price changes, plus one a day, never per poll."""

    __tablename__ = "price_points"
    __table_args__ = (Index("ix_price_points_product_id_recorded_at", "product_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    price_min: Mapped[Decimal | None] = mapped_column(Money)
    price_max: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    in_stock: Mapped[bool | None]
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProductEvent(Model):
    """A change worth telling someone about. ``dedupe_key`` is unique so a re-run of a poll after a
    crash cannot record (or notify) the same change twice."""

    __tablename__ = "product_events"
    __table_args__ = (
        Index("ix_product_events_monitor_id_created_at", "monitor_id", "created_at"),
        Index("ix_product_events_created_at", "created_at"),  # the admin dashboard's events per day
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    poll_run_id: Mapped[int | None] = mapped_column(ForeignKey("poll_runs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    old_value: Mapped[Decimal | None] = mapped_column(Money)
    new_value: Mapped[Decimal | None] = mapped_column(Money)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    monitor: Mapped[Monitor] = relationship()
    product: Mapped[Product] = relationship()


class PollRun(Model):
    """One poll of one monitor, whatever its outcome (blocked and failed polls are kept too)."""

    __tablename__ = "poll_runs"
    __table_args__ = (
        Index("ix_poll_runs_monitor_id_started_at", "monitor_id", "started_at"),
        Index("ix_poll_runs_started_at", "started_at"),  # the admin dashboard's polls by outcome
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16))
    http_status: Mapped[int | None]
    pages: Mapped[int] = mapped_column(default=0)
    products_seen: Mapped[int] = mapped_column(default=0)
    products_new: Mapped[int] = mapped_column(default=0)
    products_changed: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
