"""A member's data rights: a copy of everything the site keeps about them, and deleting it all.

**Export** is a JSON document written section by section while it is sent, each section read in
batches (``yield_per``), so a member with years of events never makes the server hold them all.
It has the account, channels, preferences, monitors, keywords, the products their monitors saw,
events, notifications and deliveries. It leaves out what is a secret even to its owner (the
password hash, login counters, session tokens) and apprise URLs' paths and queries, which are
often tokens of the service: a channel shows as its scheme and host.

**Deletion** removes every row that is the member's, children first, so it works whether or not
the database enforces foreign keys, in one transaction: a failure leaves everything as it was.
Rows about the site rather than the member lose their link to the person but stay, so the
site's history keeps adding up: the security log (``user_id`` emptied) and affiliate clicks
(counted traffic, ``user_id`` emptied). Products are DHgate's public listings, shared by every
monitor that sees them, and stay too. Ending the sessions is part of the deletion: the session
rows go with the account.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, delete, func, or_, select, update

from extensions import db
from models import (
    AdminSession,
    AffiliateClick,
    AffiliatePerformance,
    Delivery,
    Keyword,
    Monitor,
    MonitorProduct,
    Notification,
    NotificationChannel,
    NotificationPreference,
    PollRun,
    Product,
    ProductEvent,
    SecurityEvent,
    User,
)
from models.base import Model
from services.accounts import AccountError
from services.audit import record_security_event
from services.notifications.channels import channel_name

logger = logging.getLogger(__name__)

EXPORT_VERSION = 1
BATCH = 500
_USER_FIELDS = ("id", "email", "username", "role", "subscription_tier", "api_quota", "is_active", "locale", "theme",
                "timezone", "created_at", "updated_at", "last_login_at", "password_changed_at")


class DeletionRefused(AccountError):
    """The account cannot be deleted (the message says why)."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj: Model, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {column.key: _plain(getattr(obj, column.key)) for column in obj.__mapper__.column_attrs
            if column.key not in skip}


def _monitor_ids(user_id: int) -> Select[Any]:
    return select(Monitor.id).where(Monitor.user_id == user_id)


def _notification_ids(user_id: int) -> Select[Any]:
    return select(Notification.id).where(Notification.user_id == user_id)


def _channel_ids(user_id: int) -> Select[Any]:
    return select(NotificationChannel.id).where(NotificationChannel.user_id == user_id)


def _section(query: Select[Any], shape: Any) -> Iterator[str]:
    """A JSON array of the query's rows, one row at a time."""
    yield "["
    first = True
    for obj in db.session.scalars(query.execution_options(yield_per=BATCH)):
        yield ("" if first else ",") + json.dumps(shape(obj), ensure_ascii=False, default=str)
        first = False
    yield "]"


def _channel(channel: NotificationChannel) -> dict[str, Any]:
    data = _row(channel, skip=("target", "last_error"))
    data["target"] = channel_name(channel)
    return data


def _delivery(delivery: Delivery) -> dict[str, Any]:
    data = _row(delivery, skip=("target",))
    data["target"] = delivery.target if delivery.channel == "email" else delivery.target.split("://", 1)[0] + "://…"
    return data


def export_sections(user_id: int) -> Iterator[tuple[str, Select[Any], Any]]:
    """(name, query, row shape) of each exported section, every query scoped to ``user_id``."""
    own_monitors = _monitor_ids(user_id)
    yield "channels", select(NotificationChannel).where(NotificationChannel.user_id == user_id).order_by(
        NotificationChannel.id), _channel
    yield "notification_preferences", select(NotificationPreference).where(
        NotificationPreference.user_id == user_id), lambda p: _row(p, skip=("apprise_urls",))
    yield "monitors", select(Monitor).where(Monitor.user_id == user_id).order_by(Monitor.id), _row
    yield "keywords", select(Keyword).where(Keyword.user_id == user_id).order_by(Keyword.id), _row
    yield "products", select(Product).where(Product.id.in_(
        select(MonitorProduct.product_id).where(MonitorProduct.monitor_id.in_(own_monitors)))).order_by(Product.id), _row
    yield "monitor_products", select(MonitorProduct).where(MonitorProduct.monitor_id.in_(own_monitors)).order_by(
        MonitorProduct.id), _row
    yield "events", select(ProductEvent).where(ProductEvent.monitor_id.in_(own_monitors)).order_by(
        ProductEvent.id), _row
    yield "notifications", select(Notification).where(Notification.user_id == user_id).order_by(
        Notification.id), _row
    yield "deliveries", select(Delivery).where(Delivery.notification_id.in_(_notification_ids(user_id))).order_by(
        Delivery.id), _delivery


def export_json(user: User) -> Iterator[str]:
    """The member's data as one JSON document, in pieces (for a streamed download)."""
    account = {name: _plain(getattr(user, name)) for name in _USER_FIELDS}
    head = {"format": "dhgate-monitor-export", "version": EXPORT_VERSION,
            "exported_at": datetime.now(UTC).isoformat(), "account": account}
    yield json.dumps(head, ensure_ascii=False)[:-1]
    for name, query, shape in export_sections(user.id):
        yield f", {json.dumps(name)}: "
        yield from _section(query, shape)
    yield "}\n"


# --- deleting -------------------------------------------------------------------------------------

def check_deletion(user: User, typed_email: str) -> None:
    """``DeletionRefused`` unless the typed address is the account's and it is not the last admin."""
    if typed_email.strip().lower() != user.email.strip().lower():
        raise DeletionRefused(_("Type your e-mail address exactly as shown to confirm."))
    if user.role == "admin":
        others = db.session.scalar(select(func.count()).select_from(User).where(
            User.role == "admin", User.is_active.is_(True), User.id != user.id))
        if not others:
            raise DeletionRefused(_("You are the last administrator. Make someone else an administrator first."))


def owned_row_counts(user_id: int) -> dict[str, int]:
    """How many rows of each table belong to ``user_id`` (what a deletion removes)."""
    monitors = _monitor_ids(user_id)
    counts: dict[str, Any] = {
        "users": select(func.count()).select_from(User).where(User.id == user_id),
        "admin_sessions": select(func.count()).select_from(AdminSession).where(AdminSession.user_id == user_id),
        "monitors": select(func.count()).select_from(Monitor).where(Monitor.user_id == user_id),
        "keywords": select(func.count()).select_from(Keyword).where(
            or_(Keyword.user_id == user_id, Keyword.monitor_id.in_(monitors))),
        "monitor_products": select(func.count()).select_from(MonitorProduct).where(
            MonitorProduct.monitor_id.in_(monitors)),
        "product_events": select(func.count()).select_from(ProductEvent).where(ProductEvent.monitor_id.in_(monitors)),
        "poll_runs": select(func.count()).select_from(PollRun).where(PollRun.monitor_id.in_(monitors)),
        "notifications": select(func.count()).select_from(Notification).where(Notification.user_id == user_id),
        "deliveries": select(func.count()).select_from(Delivery).where(or_(
            Delivery.notification_id.in_(_notification_ids(user_id)), Delivery.channel_id.in_(_channel_ids(user_id)))),
        "notification_channels": select(func.count()).select_from(NotificationChannel).where(
            NotificationChannel.user_id == user_id),
        "notification_preferences": select(func.count()).select_from(NotificationPreference).where(
            NotificationPreference.user_id == user_id),
        "affiliate_performance": select(func.count()).select_from(AffiliatePerformance).where(
            AffiliatePerformance.user_id == user_id),
        "affiliate_clicks": select(func.count()).select_from(AffiliateClick).where(AffiliateClick.user_id == user_id),
        "security_events": select(func.count()).select_from(SecurityEvent).where(SecurityEvent.user_id == user_id),
    }
    return {name: int(db.session.scalar(query) or 0) for name, query in counts.items()}


def delete_account(user: User, typed_email: str) -> None:
    """Remove every row of the member (checked by ``check_deletion`` first), in one transaction,
    and log the deletion without naming them."""
    check_deletion(user, typed_email)
    user_id = user.id
    monitors = _monitor_ids(user_id)
    try:
        # Written first and anonymised with the rest of the log below: the event stays, the name goes.
        record_security_event("account_deleted", user_id=user_id, details={"account": user_id}, commit=False)
        db.session.execute(delete(Delivery).where(or_(
            Delivery.notification_id.in_(_notification_ids(user_id)), Delivery.channel_id.in_(_channel_ids(user_id)))))
        db.session.execute(delete(Notification).where(Notification.user_id == user_id))
        db.session.execute(delete(NotificationChannel).where(NotificationChannel.user_id == user_id))
        db.session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
        db.session.execute(update(AffiliateClick).where(AffiliateClick.monitor_id.in_(monitors)).values(monitor_id=None))
        db.session.execute(delete(ProductEvent).where(ProductEvent.monitor_id.in_(monitors)))
        db.session.execute(delete(PollRun).where(PollRun.monitor_id.in_(monitors)))
        db.session.execute(delete(MonitorProduct).where(MonitorProduct.monitor_id.in_(monitors)))
        db.session.execute(delete(Keyword).where(or_(Keyword.user_id == user_id, Keyword.monitor_id.in_(monitors))))
        db.session.execute(delete(Monitor).where(Monitor.user_id == user_id))
        db.session.execute(delete(AffiliatePerformance).where(AffiliatePerformance.user_id == user_id))
        db.session.execute(update(AffiliateClick).where(AffiliateClick.user_id == user_id).values(user_id=None))
        db.session.execute(update(SecurityEvent).where(SecurityEvent.user_id == user_id).values(user_id=None))
        db.session.execute(delete(AdminSession).where(AdminSession.user_id == user_id))
        db.session.expunge(user)
        db.session.execute(delete(User).where(User.id == user_id))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    logger.info("account %s deleted by its owner", user_id)
