"""Queueing deliveries: one ``deliveries`` row per alert and active channel, then a job.

The rows are written in the same transaction as the alert, so an alert that exists has its
deliveries; the job is enqueued only after that transaction commits (a job that ran first would
find nothing). If Redis is down at that moment nothing is lost: the every-minute
``deliver_notifications`` sweep sends whatever is due. Sending itself lives in
``services.notifications.sending`` (which loads the e-mail and apprise libraries), so the poll
path that queues never pays for them.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import select

from extensions import db
from models import Delivery, Notification, NotificationChannel, User
from services.notifications.alerts import locale_of
from services.notifications.rules import DeliveryTiming, preference_of, timing_for
from services.queue import enqueue

logger = logging.getLogger(__name__)

DELIVER_JOB = "jobs.notifications.deliver_notification"
TEST_KIND = "channel_test"


def deliver_job_id(notification_id: int) -> str:
    """One queued delivery job per alert at a time (a second request while it waits is a no-op)."""
    return f"deliver-notification-{notification_id}"


def queue_deliveries(notification: Notification, channels: Iterable[NotificationChannel] | None = None,
                     now: datetime | None = None) -> int:
    """Add a delivery of ``notification`` to each channel; not committed. Returns how many rows
    were added.

    Without ``channels`` it is an alert to every active channel of its member, timed by their
    preferences (``rules.timing_for``): pending now, pending until their quiet hours end, or
    held for their digest. Explicit channels (a test message, a digest) are sent now."""
    timing = DeliveryTiming("pending")
    now = now or datetime.now(UTC)
    if channels is None:
        channels = db.session.scalars(select(NotificationChannel).where(
            NotificationChannel.user_id == notification.user_id, NotificationChannel.paused_reason.is_(None),
        ).order_by(NotificationChannel.id)).all()
        user = db.session.get(User, notification.user_id)
        if user is not None:
            kinds = (notification.event_kinds or notification.kind).split()
            timing = timing_for(user, preference_of(user.id), kinds, now)
    added = 0
    for channel in channels:
        db.session.add(Delivery(notification_id=notification.id, channel=channel.kind, target=channel.target,
                                channel_id=channel.id, status=timing.status, next_attempt_at=timing.not_before,
                                created_at=now))
        added += 1
    if added:
        db.session.flush()
    return added


def request_delivery(notification_ids: Iterable[int]) -> None:
    """Enqueue the delivery job of each alert (after the commit that wrote them). A Redis error
    is logged, not raised: the periodic sweep delivers the rows a little later."""
    for notification_id in notification_ids:
        try:
            enqueue(DELIVER_JOB, notification_id, job_id=deliver_job_id(notification_id))
        except RedisError:
            logger.warning("could not enqueue the delivery of notification %s; the sweep will send it",
                           notification_id, exc_info=True)


def create_test_alert(user: User, channels: list[NotificationChannel]) -> Notification:
    """A test message to ``channels`` of ``user`` (committed), delivered like any alert, so the
    test proves the whole path and its outcome shows on the channels page."""
    with force_locale(locale_of(user)):
        title = _("Test message from DHgate Monitor")
        body = _("If you can read this, alerts reach you here.")
    notification = Notification(user_id=user.id, kind=TEST_KIND, severity="info", title=title, body=body,
                                link="/notifications/channels", dedupe_key=f"{TEST_KIND}:{uuid.uuid4().hex}")
    db.session.add(notification)
    db.session.flush()
    queue_deliveries(notification, channels)
    db.session.commit()
    logger.info("test message %s queued to %s channel(s)", notification.id, len(channels))
    return notification
