"""Delivery in chunks against a real SMTP server (aiosmtpd): the statements a chunk costs, the
order of "accepted" and "recorded" that bounds what a crash can repeat, and the bytes on the
wire of the overlapped send path against ``smtplib.send_message``."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import create_engine, select, text

from extensions import db
from models import Delivery, Notification, NotificationChannel, Product, ProductEvent, User
from services.affiliate_links import LinkTarget, make_token, read_token
from services.notifications import channels as channel_service
from services.notifications import sending
from services.notifications.senders import MailSettings, SmtpSession, outgoing
from services.notifications.sending import deliver_due
from tests.factories import make_monitor
from tests.notifications.conftest import Inbox, _free_port
from tests.sql_count import statements


def queue_alerts(user: User, channel: NotificationChannel, count: int, events_per_alert: int = 3) -> list[int]:
    """``count`` grouped price-drop alerts of one monitor, each with a pending e-mail delivery."""
    monitor = make_monitor(user, name="longlight508")
    products = [Product(item_code=f"{700000 + user.id * 1000 + i}", title=f"Lamp <{i}> & shade", url=f"https://dhgate.test/{i}",
                        currency="USD", price_min=Decimal("40.00")) for i in range(events_per_alert)]
    db.session.add_all(products)
    db.session.flush()
    ids = []
    for a in range(count):
        events = [ProductEvent(monitor_id=monitor.id, product_id=p.id, kind="price_drop", old_value=Decimal("50.00"),
                               new_value=Decimal("40.00"), details={"percent": "20", "currency": "USD"},
                               dedupe_key=f"t:{a}:{p.id}") for p in products]
        db.session.add_all(events)
        db.session.flush()
        note = Notification(user_id=user.id, kind="monitor_alert", title=f"longlight508: alert {a}",
                            link=f"/monitors/{monitor.id}", dedupe_key=f"alert:t:{a}", monitor_id=monitor.id,
                            event_kinds=" price_drop ", details={"monitor_id": monitor.id,
                                                                 "event_ids": [e.id for e in events]})
        db.session.add(note)
        db.session.flush()
        delivery = Delivery(notification_id=note.id, channel="email", target=channel.target, channel_id=channel.id)
        db.session.add(delivery)
        db.session.flush()
        ids.append(delivery.id)
    db.session.commit()
    return ids


def test_a_chunk_costs_eight_statements_whatever_its_size_plus_one_record_per_message(
    napp: Flask, smtp: tuple[Inbox, int], alice: User, bob: User,
) -> None:
    """Claim, six set-based reads (deliveries with their notifications, channels, members,
    events, products, monitors) and the channels' success: 8 per chunk however many messages it
    holds; then exactly one UPDATE per accepted message (the record the crash guarantee needs)."""
    counts = []
    for user, size in ((alice, 2), (bob, 9)):
        channel = channel_service.add_email_channel(user)
        queue_alerts(user, channel, size)
        with statements() as seen:
            assert deliver_due().outcomes == {"sent": size}
        records = [s for s in seen if s.startswith("UPDATE deliveries SET status") and "sent_at" in s]
        counts.append((len(seen) - 1 - len(records), len(records)))  # - 1: the run's read of due ids
    assert counts == [(8, 2), (8, 9)]
    assert len(smtp[0].messages) == 11


def test_links_signed_once_per_run_are_the_links_of_the_site(napp: Flask, smtp: tuple[Inbox, int], alice: User) -> None:
    channel = channel_service.add_email_channel(alice)
    queue_alerts(alice, channel, 2)
    assert deliver_due().outcomes == {"sent": 2}
    [(_to, mail), _second] = smtp[0].messages
    tokens = re.findall(r"http://monitor\.test/go/([\w.-]+)", mail.get_body(("html",)).get_content())
    products = db.session.scalars(select(Product.id).where(Product.title.startswith("Lamp")).order_by(Product.id)).all()
    monitor_id = db.session.scalar(select(Notification.monitor_id).where(Notification.user_id == alice.id))
    assert tokens == [make_token(alice.id, product_id, monitor_id, "email") for product_id in products]
    assert read_token(tokens[0]) == LinkTarget(alice.id, products[0], monitor_id, "email")


def test_a_chunk_of_a_hundred_is_still_eight_statements(napp: Flask, smtp: tuple[Inbox, int], alice: User) -> None:
    channel = channel_service.add_email_channel(alice)
    queue_alerts(alice, channel, sending.CLAIM_CHUNK + 1, events_per_alert=1)
    with statements() as seen:
        assert deliver_due().outcomes == {"sent": sending.CLAIM_CHUNK + 1}
    records = [s for s in seen if s.startswith("UPDATE deliveries SET status") and "sent_at" in s]
    assert (len(seen) - 1 - len(records), len(records)) == (2 * 8, sending.CLAIM_CHUNK + 1)


class RecordingInbox:
    """An SMTP handler that, when a message's content arrives (before the server accepts it),
    reads every delivery's status from the database on a connection of its own."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)
        self.seen: list[tuple[int, dict[int, str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        delivery_id = int(re.search(rb"<delivery-(\d+)@", envelope.original_content).group(1))
        with self.engine.connect() as connection:
            statuses = dict(connection.execute(text("SELECT id, status FROM deliveries")).all())
        with self.lock:
            self.seen.append((delivery_id, statuses))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(napp: Flask, handler: Any) -> Iterator[None]:
    """``handler`` serving SMTP on loopback, with the app's mail settings pointed at it."""
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    napp.config["MAIL_PORT"] = port
    try:
        yield
    finally:
        controller.stop()


def test_each_message_is_accepted_only_after_the_one_before_it_is_recorded(napp: Flask, alice: User) -> None:
    """The record of a message is committed while the next one starts and before the server can
    accept it: at any moment at most one accepted message is unrecorded, so a crash repeats at
    most one."""
    inbox = RecordingInbox(napp.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with smtp_server(napp, inbox):
            channel = channel_service.add_email_channel(alice)
            ids = queue_alerts(alice, channel, 6)
            assert deliver_due().outcomes == {"sent": 6}
    finally:
        inbox.engine.dispose()
    assert [delivery_id for delivery_id, _statuses in inbox.seen] == ids
    for position, (delivery_id, statuses) in enumerate(inbox.seen):
        assert statuses[delivery_id] == "sending"  # in flight: not accepted yet
        assert all(statuses[earlier] == "sent" for earlier in ids[:position]), (position, statuses)
        assert all(statuses[later] == "sending" for later in ids[position + 1:])
    db.session.expire_all()
    assert set(db.session.scalars(select(Delivery.status))) == {"sent"}


def _sample_mail(body: str) -> Message:
    email = MIMEMultipart("alternative", boundary="===============1234567890123456789==",
                          policy=policy.compat32.clone(max_line_length=998))
    email["Subject"] = "Prijsdaling: “lamp” é"
    email["From"] = "Monitor <alerts@monitor.test>"
    email["To"] = "alice@example.com"
    email["List-Unsubscribe"] = "<http://monitor.test/notifications/unsubscribe/" + "x" * 300 + ">"
    email.attach(MIMEText(body, "plain", "us-ascii"))  # 7bit: leading periods reach the wire as they are
    email.attach(MIMEText("<p>é</p>", "html", "utf-8"))
    return email


def test_the_overlapped_path_writes_what_send_message_writes() -> None:
    received: list[bytes] = []

    class Raw(Inbox):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope.original_content)
            return await super().handle_DATA(server, session, envelope)

    raw_port = _free_port()
    controller = Controller(Raw(), hostname="127.0.0.1", port=raw_port)
    controller.start()
    try:
        settings = MailSettings("127.0.0.1", raw_port, False, False, None, None, "alerts@monitor.test", 5.0)
        message = _sample_mail(".leading period\n..two\nlast line without newline.")
        with SmtpSession(settings) as session:
            session.send(message)  # smtplib.send_message
            wire = outgoing(message)
            assert wire is not None and (wire.sender, wire.recipient) == ("alerts@monitor.test", "alice@example.com")
            session.begin(wire)
            session.address(wire)
            session.transfer(wire)
            session.accepted()
    finally:
        controller.stop()
    assert len(received) == 2 and received[0] == received[1]
    assert b"\r\n.leading period\r\n..two\r\n" in received[0]
    parsed = message_from_bytes(received[1], policy=policy.default)
    assert parsed["Subject"] == "Prijsdaling: “lamp” é"


def test_what_only_send_message_can_send_takes_its_path() -> None:
    message = _sample_mail("hi")
    message["Bcc"] = "hidden@example.com"
    assert outgoing(message) is None
    del message["Bcc"]
    message.replace_header("To", "alice@example.com, bob@example.com")
    assert outgoing(message) is None  # several recipients: some could be refused
    message.replace_header("To", "ålice@example.com")
    assert outgoing(message) is None  # needs SMTPUTF8


class RefusingInbox(Inbox):
    """Accepts every message but the first: its recipient (550) or its content (451) is refused."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage
        self.refused = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if self.stage == "RCPT" and self.refused == 0:
            self.refused += 1
            return "550 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.stage == "DATA" and self.refused == 0:
            self.refused += 1
            return "451 Try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize(("stage", "error"), [("RCPT", "550"), ("DATA", "451")])
def test_a_refused_message_is_retried_and_the_rest_of_the_chunk_is_sent(napp: Flask, alice: User, stage: str,
                                                                        error: str) -> None:
    inbox = RefusingInbox(stage)
    with smtp_server(napp, inbox):
        channel = channel_service.add_email_channel(alice)
        first, *rest = queue_alerts(alice, channel, 4)
        assert deliver_due().outcomes == {"retry": 1, "sent": 3}
        assert len(inbox.messages) == 3
        db.session.expire_all()
        refused = db.session.get(Delivery, first)
        assert (refused.status, refused.attempts) == ("pending", 1) and error in (refused.last_error or "")
        assert [db.session.get(Delivery, i).status for i in rest] == ["sent"] * 3
        assert deliver_due().outcomes == {"sent": 1}  # NOTIFY_RETRY_SECONDS is 0 here
    assert len(inbox.messages) == 4
    db.session.expire_all()
    assert db.session.get(NotificationChannel, channel.id).consecutive_failures == 0
