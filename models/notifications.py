"""What people are told, how they want to be told, and each attempt to tell them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import BigIntPK, Model, UTCDateTime, utcnow

SEVERITIES = ("info", "warning", "critical")
FREQUENCIES = ("instant", "hourly", "daily")
# held: waits for its member's digest; digested: went out inside a digest (its own delivery row).
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "skipped", "held", "digested")
CHANNEL_KINDS = ("email", "apprise")


class Notification(Model):
    """An in-app message for one user. ``dedupe_key`` (unique per user) keeps a repeated cause —
    a re-run job, a check that stays failing — from producing the same message twice."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "dedupe_key"),
        Index("ix_notifications_user_id_read_at_created_at", "user_id", "read_at", "created_at"),
        # The live poll's "newest id of this member" (services.notifications.live) reads this index only.
        Index("ix_notifications_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16), default="info")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    product_event_id: Mapped[int | None] = mapped_column(ForeignKey("product_events.id", ondelete="SET NULL"))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    # A grouped alert's parts: {"monitor_id", "event_ids", "counts"} (None for a single message).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The monitor an alert is about, and its event kinds as " price_drop new_product " (spaces
    # around each, so the inbox filters by kind with one portable LIKE).
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id", ondelete="SET NULL"))
    event_kinds: Mapped[str | None] = mapped_column(String(200))


class NotificationPreference(Model):
    """How one user wants to hear about things: frequency, channels and quiet hours."""

    __tablename__ = "notification_preferences"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    frequency: Mapped[str] = mapped_column(String(16), default="instant")
    email_enabled: Mapped[bool] = mapped_column(default=True)
    apprise_urls: Mapped[str | None] = mapped_column(Text)  # one URL per line
    quiet_hours_start: Mapped[int | None]  # hour 0-23 in the user's time zone
    quiet_hours_end: Mapped[int | None]
    # Which event kinds notify (None: every kind); a monitor's own ``alert_kinds`` overrides it.
    alert_kinds: Mapped[list[str] | None] = mapped_column(JSON)
    digest_hour: Mapped[int] = mapped_column(default=8)  # the daily digest's local hour
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class NotificationChannel(Model):
    """Where one member's alerts go: their account e-mail address or one apprise URL.

    A channel that fails ``NOTIFY_PAUSE_AFTER_FAILURES`` deliveries in a row is paused
    (``paused_reason = "failing"``) so a dead webhook does not retry forever; an unsubscribe link
    pauses it with ``"unsubscribed"``. ``last_error`` is what the member sees on the channels page.
    """

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("user_id", "kind", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # email / apprise
    target: Mapped[str] = mapped_column(String(500))
    label: Mapped[str] = mapped_column(String(100), default="")
    paused_reason: Mapped[str | None] = mapped_column(String(16))  # None = active
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def active(self) -> bool:
        return self.paused_reason is None


class Delivery(Model):
    """One channel's delivery of one notification, with its retry state.

    ``pending`` rows are due at ``next_attempt_at`` (``None``: now). A sender claims a row by a
    conditional update to ``sending`` with a lease (``claimed_until``); a lease that runs out
    (the worker died mid-send) makes the row claimable again. See ``docs/notifications.md``.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", "target"),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_deliveries_created_at", "created_at"),  # the admin dashboard's deliveries today
        Index("ix_deliveries_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email / apprise
    target: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"),
                                                   index=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    notification: Mapped[Notification] = relationship()
