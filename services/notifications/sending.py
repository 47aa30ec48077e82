"""Sending deliveries: claim, send, record; retry with backoff; pause a channel that keeps failing.

Every send goes through the same three steps (``_attempt_chunk``):

1. **Claim** with one conditional ``UPDATE`` (``pending`` and due, or ``sending`` whose lease
   ran out) that sets ``sending``, a lease (``claimed_until``) and ``attempts + 1``; it is
   committed before anything is sent, and its ``RETURNING`` names the rows of the chunk
   (``CLAIM_CHUNK``) this worker won. Two workers on the same row: exactly one sends. A chunk's
   rows are read together (8 statements per chunk), then its messages are sent one at a time,
   each rendered while the server takes the one before it.
2. **Send** outside any transaction (SMTP or apprise).
3. **Record**: ``sent``; or ``pending`` again with ``next_attempt_at`` (the wait doubles each
   time) until ``NOTIFY_MAX_ATTEMPTS`` tries, then ``failed``. The last error is kept on the row
   and on the channel; ``NOTIFY_PAUSE_AFTER_FAILURES`` failures in a row pause the channel and
   tell the member in the app.

A worker that dies between the server's accept and step 3 leaves the row ``sending``; after the
lease it is claimed and sent again. A message's record is committed while the server reads the
next one's MAIL FROM, always before that one can be accepted, so a crash repeats at most one
message. Delivery is therefore at-least-once, with at most ``NOTIFY_MAX_ATTEMPTS`` copies, never
two within one lease; see ``docs/notifications.md``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any, cast

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import Connection, CursorResult, and_, bindparam, or_, select, update
from sqlalchemy.orm import joinedload

from extensions import db
from models import Delivery, Notification, NotificationChannel, User
from services.notifications.alerts import TITLE_LIMIT, clip, load_alert_rows, locale_of
from services.notifications.channels import PAUSED_FAILING, channel_name
from services.notifications.delivery import create_test_alert
from services.notifications.messages import Draft, RenderedMessage, Renderer
from services.notifications.senders import MailSettings, Outgoing, SendError, SmtpSession, outgoing, send_apprise

logger = logging.getLogger(__name__)

PAUSED_KIND = "channel_paused"
DUE_BATCH = 500
CLAIM_CHUNK = 100  # deliveries claimed (and rendered) together: fewer, larger reads per run


@dataclass
class DeliveryReport:
    """What one run did, by outcome (``sent``, ``retry``, ``failed``, ``skipped``, ``busy``,
    ``released``: given back unsent because the lease could run out)."""

    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def get(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)


def _due_condition(now: datetime) -> Any:
    return or_(
        and_(Delivery.status == "pending", or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
        and_(Delivery.status == "sending", Delivery.claimed_until < now),
    )


def deliver_notification(notification_id: int) -> DeliveryReport:
    """Try every due delivery of one notification once."""
    now = datetime.now(UTC)
    ids = list(db.session.scalars(select(Delivery.id).where(
        Delivery.notification_id == notification_id, _due_condition(now)).order_by(Delivery.id)))
    db.session.commit()  # end the read before the claims (SQLite cannot upgrade a reader)
    return _attempt_all(ids)


def deliver_due(limit: int = DUE_BATCH) -> DeliveryReport:
    """Try every due delivery (retries, and alerts whose job was never enqueued), oldest first."""
    now = datetime.now(UTC)
    ids = list(db.session.scalars(select(Delivery.id).where(_due_condition(now)).order_by(Delivery.id).limit(limit)))
    db.session.commit()
    return _attempt_all(ids)


def _attempt_all(ids: list[int]) -> DeliveryReport:
    """Try each delivery once, in claimed chunks; e-mails share one SMTP connection."""
    report = DeliveryReport()
    mail = MailSettings.from_config(current_app.config)
    renderer = Renderer()  # templates, languages, channels and the link signer, once per run
    with SmtpSession(mail) as smtp:
        for start in range(0, len(ids), CLAIM_CHUNK):
            _attempt_chunk(ids[start:start + CLAIM_CHUNK], mail, smtp, renderer, report)
    return report


@dataclass
class _Prepared:
    """One claimed delivery, read from its rows before anything is sent (plain values: commits
    expire ORM rows). Its message is rendered and serialized once, when first needed: for all
    but a chunk's first e-mail, while the server takes the e-mail before it (``ahead``)."""

    delivery_id: int
    channel_id: int
    kind: str
    target: str
    draft: Draft
    sender: str | None  # the From of an e-mail; None for apprise
    renderer: Renderer
    _message: RenderedMessage | None = None
    _email: Message | None = None
    _wire: Outgoing | None = None
    _built: bool = False
    _error: Exception | None = None

    def message(self) -> RenderedMessage:
        if self._error is not None:
            raise self._error
        if self._message is None:
            self._message = self.draft.render()
        return self._message

    def email(self) -> Message | None:
        """The e-mail (None for apprise), built once."""
        self._build()
        return self._email

    def wire(self) -> Outgoing | None:
        """The e-mail as written to the server (None: not an e-mail, or one that ``smtplib``
        must serialize itself), serialized once."""
        self._build()
        return self._wire

    def ahead(self, *, render_only: bool = False) -> None:
        """Render (and unless ``render_only``, build and serialize) now; an error is raised when
        this message's turn comes, not in the middle of another message's transaction."""
        if self._error is not None:
            return
        try:
            if render_only:
                self.message()
            else:
                self._build()
        except Exception as exc:  # noqa: BLE001 - raised again by wire() / email()
            self._error = exc

    def _build(self) -> None:
        if self._error is not None:
            raise self._error
        if not self._built:
            if self.sender is not None:
                self._email = self.renderer.email(self.delivery_id, self.target, self.message(), self.sender)
                self._wire = outgoing(self._email)
            self._built = True


def _attempt_chunk(ids: list[int], mail: MailSettings, smtp: SmtpSession, renderer: Renderer,
                   report: DeliveryReport) -> None:
    """Claim up to ``CLAIM_CHUNK`` deliveries in one statement, read what their messages need
    with their rows loaded together, then send and record them one by one (each record its own
    commit before the next message can be accepted, so a crash repeats at most one message, as
    with single claims)."""
    now = datetime.now(UTC)
    won = claim_many(ids, now)
    for lost in sorted(set(ids) - set(won)):
        _fail_exhausted(lost, now)
        report.add("busy")
    if not won:
        return
    lease_end = now + timedelta(seconds=int(current_app.config["NOTIFY_CLAIM_LEASE_SECONDS"]))
    prepared = _prepare(won, mail, renderer, report)
    db.session.commit()  # end the read: nothing is held while the network is used
    _record_channel_successes(_send_all(prepared, smtp, mail, lease_end, report))


def _send_all(prepared: list[_Prepared], smtp: SmtpSession, mail: MailSettings, lease_end: datetime,
              report: DeliveryReport) -> dict[int, tuple[str, datetime]]:
    """Send a chunk's messages in order; returns each channel's last outcome in it."""
    last_outcome: dict[int, tuple[str, datetime]] = {}  # channel id → its last outcome in this chunk
    with db.engine.connect() as marks:  # one connection records the chunk's sends, a commit each
        recorder = _SentRecorder(marks)
        try:
            for index, item in enumerate(prepared):
                if datetime.now(UTC) + timedelta(seconds=2 * mail.timeout) >= lease_end:
                    recorder.flush()
                    _release([p.delivery_id for p in prepared[index:]])  # the lease could run out mid-send
                    report.outcomes["released"] = report.get("released") + len(prepared) - index
                    break
                following = prepared[index + 1] if index + 1 < len(prepared) else None
                outcome = _send_prepared(item, following, smtp, recorder)
                report.add(outcome)
                last_outcome[item.channel_id] = (outcome, datetime.now(UTC))
        finally:
            recorder.flush()
    return last_outcome


def claim_many(ids: list[int], now: datetime) -> list[int]:
    """Take the due ones of ``ids`` for this worker in one conditional UPDATE (committed);
    ``RETURNING`` names exactly the rows this worker won."""
    lease = int(current_app.config["NOTIFY_CLAIM_LEASE_SECONDS"])
    max_attempts = int(current_app.config["NOTIFY_MAX_ATTEMPTS"])
    won = list(db.session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.attempts < max_attempts, _due_condition(now))
        .values(status="sending", claimed_until=now + timedelta(seconds=lease), attempts=Delivery.attempts + 1)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ))
    db.session.commit()
    return sorted(won)


def _prepare(ids: list[int], mail: MailSettings, renderer: Renderer, report: DeliveryReport) -> list[_Prepared]:
    """Read what every claimed delivery's message needs (``Renderer.draft``); skip (and
    record) those whose channel or member is gone."""
    deliveries = list(db.session.scalars(
        select(Delivery).where(Delivery.id.in_(ids)).options(joinedload(Delivery.notification)).order_by(Delivery.id)))
    channel_ids = {d.channel_id for d in deliveries if d.channel_id is not None}
    channels = {c.id: c for c in db.session.scalars(
        select(NotificationChannel).where(NotificationChannel.id.in_(channel_ids)))}
    users = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_({d.notification.user_id for d in deliveries})))}
    rows = load_alert_rows([d.notification for d in deliveries])
    prepared: list[_Prepared] = []
    for delivery in deliveries:
        channel = channels.get(delivery.channel_id) if delivery.channel_id is not None else None
        user = users.get(delivery.notification.user_id)
        if channel is None or user is None or not channel.active or not user.is_active:
            delivery.status, delivery.claimed_until = "skipped", None
            delivery.last_error = "the channel is paused or gone"
            report.add("skipped")
            continue
        draft = renderer.draft(delivery.notification, channel, user, rows)
        prepared.append(_Prepared(delivery.id, channel.id, channel.kind, channel.target, draft,
                                  mail.sender if channel.kind == "email" else None, renderer))
    return prepared


_DELIVERIES = Delivery.__table__
_MARK_SENT = _DELIVERIES.update().where(_DELIVERIES.c.id == bindparam("delivery_id")).values(
    status="sent", sent_at=bindparam("sent_at"), claimed_until=None, next_attempt_at=None)


class _SentRecorder:
    """Records accepted messages as ``sent``, one commit each, on the chunk's connection.

    A message's record waits for the next message to start: it is committed while the server
    reads that one's MAIL FROM, and always before that one can be accepted (and at the end of
    the chunk, or before anything else is sent). So at most one accepted message is unrecorded
    at any moment: the one a crash can repeat, as when each record came straight after its send.
    Once per message, so a plain Core UPDATE built once: committing it does not walk the
    session's rows of the whole chunk."""

    def __init__(self, marks: Connection) -> None:
        self.marks = marks
        self.pending: tuple[int, datetime] | None = None

    def accepted(self, delivery_id: int) -> None:
        self.flush()
        self.pending = (delivery_id, datetime.now(UTC))

    def flush(self) -> None:
        if self.pending is not None:
            delivery_id, sent_at = self.pending
            self.marks.execute(_MARK_SENT, {"delivery_id": delivery_id, "sent_at": sent_at})
            self.marks.commit()
            self.pending = None


def _send_prepared(item: _Prepared, following: _Prepared | None, smtp: SmtpSession,
                   recorder: _SentRecorder) -> str:
    """Send one message (recording the previous one meanwhile); ``following`` is serialized
    while the server takes this one."""
    try:
        wire = item.wire()
        if wire is not None:
            try:
                smtp.begin(wire)
            finally:
                recorder.flush()  # the previous message, while the server reads MAIL FROM
            smtp.address(wire)
            if following is not None:
                following.ahead(render_only=True)  # while the server reads RCPT TO
            smtp.transfer(wire)
            if following is not None:
                following.ahead()  # built and serialized while the server takes this message
            smtp.accepted()
        else:
            recorder.flush()
            email = item.email()
            if email is not None:
                smtp.send(email)
            else:
                message = item.message()
                send_apprise(item.target, message.subject, message.text)
    except SendError as exc:
        recorder.flush()
        delivery = db.session.get(Delivery, item.delivery_id)
        channel = db.session.get(NotificationChannel, item.channel_id)
        if delivery is None or channel is None:
            db.session.commit()
            return "skipped"
        return _record_failure(delivery, channel, str(exc))
    recorder.accepted(item.delivery_id)
    logger.info("delivery %s (%s) sent", item.delivery_id, item.kind)
    return "sent"


def _record_channel_successes(last_outcome: dict[int, tuple[str, datetime]]) -> None:
    """Once per chunk: each channel whose last message in it was accepted has its failure run
    reset and its last-sent time set (a failure was counted on the channel when it happened)."""
    for channel_id, (outcome, at) in sorted(last_outcome.items()):
        if outcome == "sent":
            db.session.execute(update(NotificationChannel).where(NotificationChannel.id == channel_id).values(
                consecutive_failures=0, last_sent_at=at).execution_options(synchronize_session=False))
    db.session.commit()


def _release(ids: list[int]) -> None:
    """Give back claimed rows this worker will not send now (their try does not count)."""
    db.session.execute(
        update(Delivery).where(Delivery.id.in_(ids), Delivery.status == "sending")
        .values(status="pending", claimed_until=None, attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False))
    db.session.commit()


def _record_failure(delivery: Delivery, channel: NotificationChannel, error: str) -> str:
    """Keep the error, schedule the next try (or give up) and count the failure on the channel."""
    now = datetime.now(UTC)
    max_attempts = int(current_app.config["NOTIFY_MAX_ATTEMPTS"])
    delivery.last_error = error
    delivery.claimed_until = None
    if delivery.attempts >= max_attempts:
        delivery.status, outcome = "failed", "failed"
    else:
        wait = int(current_app.config["NOTIFY_RETRY_SECONDS"]) * 2 ** (delivery.attempts - 1)
        delivery.status, delivery.next_attempt_at, outcome = "pending", now + timedelta(seconds=wait), "retry"
    db.session.execute(
        update(NotificationChannel).where(NotificationChannel.id == channel.id)
        .values(consecutive_failures=NotificationChannel.consecutive_failures + 1, last_error=error,
                last_error_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(channel)
    logger.warning("delivery %s (%s) failed on try %s: %s", delivery.id, delivery.channel, delivery.attempts, error)
    if channel.consecutive_failures >= int(current_app.config["NOTIFY_PAUSE_AFTER_FAILURES"]):
        _pause(channel, error, now)
    return outcome


def _pause(channel: NotificationChannel, error: str, now: datetime) -> None:
    """Pause a channel that keeps failing, once, and tell its member in the app."""
    result = cast("CursorResult[Any]", db.session.execute(
        update(NotificationChannel)
        .where(NotificationChannel.id == channel.id, NotificationChannel.paused_reason.is_(None))
        .values(paused_reason=PAUSED_FAILING)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount != 1:
        db.session.commit()
        return
    user = db.session.get(User, channel.user_id)
    if user is not None:
        with force_locale(locale_of(user)):
            title = _("Alerts to %(channel)s are paused", channel=channel_name(channel))
            body = _("The last %(n)s messages to %(channel)s failed (%(error)s). Fix the channel, then resume it "
                     "on the channels page.", n=channel.consecutive_failures, channel=channel_name(channel),
                     error=error)
        db.session.add(Notification(
            user_id=user.id, kind=PAUSED_KIND, severity="warning", title=clip(title, TITLE_LIMIT), body=body,
            link="/notifications/channels", dedupe_key=f"{PAUSED_KIND}:{channel.id}:{int(now.timestamp())}",
        ))
    db.session.commit()
    logger.warning("channel %s of user %s paused after %s failures", channel.id, channel.user_id,
                   channel.consecutive_failures)


def _fail_exhausted(delivery_id: int, now: datetime) -> None:
    """A row whose lease ran out after its last allowed try (the worker died on it) is closed as
    failed rather than left ``sending`` for ever."""
    max_attempts = int(current_app.config["NOTIFY_MAX_ATTEMPTS"])
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.claimed_until < now,
               Delivery.attempts >= max_attempts)
        .values(status="failed", claimed_until=None,
                last_error="the worker stopped while sending; the message may have been sent")
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def deliveries_of(notification_id: int) -> list[Delivery]:
    """Every delivery of one notification, in the order its channels were added."""
    return list(db.session.scalars(
        select(Delivery).where(Delivery.notification_id == notification_id).order_by(Delivery.id)))


def send_tests(user: User, channels: list[NotificationChannel]) -> tuple[Notification, DeliveryReport]:
    """A test message through ``channels``, sent now (``flask notifications test``)."""
    notification = create_test_alert(user, channels)
    return notification, deliver_notification(notification.id)
