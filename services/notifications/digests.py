"""Digests: one message per channel gathering the alerts a member's frequency held back.

An ``hourly`` or ``daily`` member's alerts are written as usual (the in-app center shows them at
once) but their deliveries are ``held`` (``rules.timing_for``). ``send_digests`` (scheduled
hourly, and ``flask notifications digest``) finds each member whose digest period has begun,
and in **one transaction** turns the held rows created before that period began into
``digested`` (a conditional update whose row count must match), writes a ``digest``
notification listing those alerts, and one pending delivery of it per channel. Then it is sent
like any alert. A re-run, or two runs at once, finds nothing left to gather, so a digest never
repeats an alert; an alert held after the period began waits for the next one.

Periods, in the member's time zone: ``hourly`` digests go at the top of each hour outside quiet
hours; ``daily`` ones at ``digest_hour`` local (a DST gap moves it to the end of the gap, a
repeated hour counts once), even inside quiet hours, since the member chose that hour. A member
who switched back to ``instant`` gets what was still held at the next run.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import CursorResult, select, update

from extensions import db
from models import Delivery, Notification, NotificationChannel, NotificationPreference, User
from services.notifications.alerts import TITLE_LIMIT, clip, count_phrase, locale_of
from services.notifications.rules import in_quiet_hours, local_instant, preference_of, zone_of
from services.notifications.sending import DeliveryReport, deliver_notification

logger = logging.getLogger(__name__)

DIGEST_KIND = "digest"


@dataclass
class DigestRun:
    """What one run did: the digests written (by member id) and what their sending did."""

    digests: dict[int, int] = field(default_factory=dict)  # user id → digest notification id
    sending: DeliveryReport = field(default_factory=DeliveryReport)


def digest_period(preference: NotificationPreference | None, user: User, now: datetime) -> datetime | None:
    """The start of the member's current digest period when a digest may go now, else ``None``.
    Held alerts created before that start belong to this digest."""
    frequency = preference.frequency if preference is not None else "instant"
    zone = zone_of(user)
    if frequency == "hourly":
        if in_quiet_hours(preference, zone, now):
            return None
        return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if frequency == "daily":
        assert preference is not None
        day = now.astimezone(zone).date()
        start = local_instant(day.year, day.month, day.day, preference.digest_hour, zone)
        if start > now:
            day -= timedelta(days=1)
            start = local_instant(day.year, day.month, day.day, preference.digest_hour, zone)
        return start
    return now  # instant again: release whatever is still held


def members_with_held() -> list[int]:
    return list(db.session.scalars(
        select(Notification.user_id).join(Delivery, Delivery.notification_id == Notification.id)
        .where(Delivery.status == "held").distinct().order_by(Notification.user_id)))


def send_digests(now: datetime | None = None, user_id: int | None = None, force: bool = False) -> DigestRun:
    """Write and send every digest that is due at ``now`` (one member with ``user_id``;
    ``force`` gathers everything held, ignoring the period: an operator's "send it now")."""
    now = now or datetime.now(UTC)
    run = DigestRun()
    members = [user_id] if user_id is not None else members_with_held()
    db.session.commit()
    for member_id in members:
        digest_id = write_digest(member_id, now, force=force)
        if digest_id is not None:
            run.digests[member_id] = digest_id
            for outcome, count in deliver_notification(digest_id).outcomes.items():
                run.sending.outcomes[outcome] = run.sending.get(outcome) + count
    return run


def write_digest(user_id: int, now: datetime, *, force: bool = False) -> int | None:
    """Gather one member's due held deliveries into a digest (committed); its id, or ``None``
    when nothing is due or another run gathered them first."""
    user = db.session.get(User, user_id)
    if user is None:
        return None
    preference = preference_of(user_id)
    start = now if force else digest_period(preference, user, now)
    if start is None:
        db.session.commit()
        return None
    held = db.session.execute(
        select(Delivery.id, Delivery.notification_id, Delivery.channel_id)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Notification.user_id == user_id, Delivery.status == "held", Delivery.created_at <= start)
        .order_by(Delivery.id)).all()
    if not held:
        db.session.commit()
        return None
    claimed = cast("CursorResult[Any]", db.session.execute(
        update(Delivery).where(Delivery.id.in_([row.id for row in held]), Delivery.status == "held")
        .values(status="digested").execution_options(synchronize_session=False)))
    if claimed.rowcount != len(held):
        db.session.rollback()  # a concurrent run took some of them: it sends them
        return None
    notification_ids = sorted({row.notification_id for row in held})
    digest = _digest_notification(user, notification_ids, now)
    channel_ids = {row.channel_id for row in held if row.channel_id is not None}
    channels = db.session.scalars(select(NotificationChannel).where(
        NotificationChannel.id.in_(channel_ids), NotificationChannel.paused_reason.is_(None))
        .order_by(NotificationChannel.id)).all()
    for channel in channels:
        db.session.add(Delivery(notification_id=digest.id, channel=channel.kind, target=channel.target,
                                channel_id=channel.id, status="pending"))
    if preference is not None:
        preference.last_digest_at = now
    db.session.commit()
    logger.info("digest %s for user %s gathers %s alert(s) to %s channel(s)", digest.id, user_id,
                len(notification_ids), len(channels))
    return digest.id


def _digest_notification(user: User, notification_ids: list[int], now: datetime) -> Notification:
    """The digest itself: read already (its alerts are in the inbox), titled by what it holds."""
    alerts = db.session.execute(select(Notification.kind, Notification.details, Notification.title).where(
        Notification.id.in_(notification_ids)).order_by(Notification.id)).all()
    counts: Counter[str] = Counter()
    for kind, details, _title in alerts:
        counts.update((details or {}).get("counts") or {kind: 1})
    with force_locale(locale_of(user)):
        parts = ", ".join(count_phrase(kind, n) for kind, n in counts.most_common())
        title = ngettext("Digest: %(num)d alert (%(parts)s)", "Digest: %(num)d alerts (%(parts)s)",
                         len(notification_ids), parts=parts)
        body = "\n".join([_("The alerts of DHgate Monitor since your last digest:")]
                          + [f"• {title}" for _kind, _details, title in alerts])
    digest = Notification(
        user_id=user.id, kind=DIGEST_KIND, severity="info", title=clip(title, TITLE_LIMIT), body=body,
        link="/notifications/", dedupe_key=f"{DIGEST_KIND}:{now.isoformat()}:{notification_ids[0]}",
        details={"notification_ids": notification_ids}, created_at=now, read_at=now,
    )
    db.session.add(digest)
    db.session.flush()
    return digest
