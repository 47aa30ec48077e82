"""Alerts leave the app: e-mail to a real SMTP server, apprise to a real HTTP endpoint, every
send a claimed ``deliveries`` row, retried, never sent twice, and one-click unsubscribe."""
from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import func, select, update

from extensions import db
from models import Delivery, Monitor, Notification, NotificationChannel, User
from sandbox import SandboxServer
from services.notifications import channels as channel_service
from services.notifications.sending import deliver_due, deliver_notification
from services.polling import engine as polling
from tests.factories import make_monitor
from tests.notifications.conftest import Endpoint, Inbox


def poll(monitor: Monitor) -> None:
    run = polling.poll_monitor(monitor.id)
    assert run.outcome == "ok", run.error


def alert_after_changes(user: User, sandbox: SandboxServer, *, drops: int = 2, new: int = 1) -> Notification:
    """Baseline a store, then drop ``drops`` prices by 20 % and add ``new`` listings: one poll."""
    store_id = sandbox.catalog.store_ids()[0]
    monitor = make_monitor(user, kind="store", dhgate_id=store_id, poll_interval=3600, name="longlight508")
    products = sandbox.catalog.products(store_id)[:drops]
    for product in products:
        sandbox.catalog.set_price(product.item_code, "50.00")
    poll(monitor)
    for product in products:
        sandbox.catalog.set_price(product.item_code, "40.00")
    for i in range(new):
        sandbox.catalog.add_product(store_id, title=f"<b>Bold</b> & shiny lamp {i}", price_min="9.99")
    poll(monitor)
    notes = db.session.scalars(select(Notification).where(Notification.user_id == user.id)).all()
    assert len(notes) == 1, [n.title for n in notes]
    return notes[0]


def deliveries(notification_id: int | None = None) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.id)
    if notification_id is not None:
        query = query.where(Delivery.notification_id == notification_id)
    db.session.expire_all()
    return list(db.session.scalars(query))


# ------------------------------------------------------------------------------------- e-mail


def test_grouped_alert_by_email_with_both_parts_and_one_click_unsubscribe(
    napp: Flask, sandbox: SandboxServer, smtp: tuple[Inbox, int], alice: User, client,  # noqa: ANN001
) -> None:
    channel = channel_service.add_email_channel(alice)
    note = alert_after_changes(alice, sandbox)
    assert note.title == "longlight508: 1 new, 2 price drops"
    [delivery] = deliveries(note.id)
    assert (delivery.status, delivery.channel, delivery.target) == ("pending", "email", "alice@example.com")

    report = deliver_notification(note.id)
    assert report.get("sent") == 1
    inbox, _port = smtp
    [(recipients, mail)] = inbox.messages
    assert recipients == ["alice@example.com"]
    assert mail["Subject"] == "longlight508: 1 new, 2 price drops"
    assert mail["From"] == "Monitor <alerts@monitor.test>"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "went down from $50.00 to $40.00" in text and "<b>Bold</b> & shiny lamp 0" in text
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; shiny lamp 0" in html and "<b>Bold</b>" not in html  # escaped
    assert "http://monitor.test/monitors/" in html
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(.+)>", mail["List-Unsubscribe"]).group(1)
    assert url.startswith("http://monitor.test/notifications/unsubscribe/")
    assert deliveries(note.id)[0].status == "sent" and deliveries(note.id)[0].attempts == 1

    # The link works without a login: GET asks, POST (as a mail provider sends it) unsubscribes.
    path = url.removeprefix("http://monitor.test")
    page = client.get(path)
    assert page.status_code == 200 and "alice@example.com" in page.get_data(as_text=True)
    assert db.session.get(NotificationChannel, channel.id).active  # a GET changes nothing
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(NotificationChannel, channel.id).paused_reason == "unsubscribed"


def test_email_in_the_members_language(napp: Flask, sandbox: SandboxServer, smtp, alice: User) -> None:  # noqa: ANN001
    alice.locale = "nl"
    db.session.commit()
    channel_service.add_email_channel(alice)
    note = alert_after_changes(alice, sandbox, drops=1, new=0)
    deliver_notification(note.id)
    [(_to, mail)] = smtp[0].messages
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"].startswith("Prijsdaling")
    assert "Afmelden" in mail.get_body(("html",)).get_content() or "Stop deze berichten" in text
    assert "is gedaald van US$\xa050,00 naar US$\xa040,00" in text  # the events' sentences and prices too
    assert "Op DHgate" in mail.get_body(("html",)).get_content()


def test_tampered_unsubscribe_token_is_a_clear_400(napp: Flask, alice: User, client) -> None:  # noqa: ANN001
    channel = channel_service.add_email_channel(alice)
    token = channel_service.unsubscribe_token(channel)
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "nonsense"):
        for response in (client.get(f"/notifications/unsubscribe/{bad}"),
                         client.post(f"/notifications/unsubscribe/{bad}")):
            assert response.status_code == 400
            assert "This unsubscribe link is not valid" in response.get_data(as_text=True)
    assert db.session.get(NotificationChannel, channel.id).active


# ------------------------------------------------------------------------------------ apprise


def test_apprise_delivers_to_a_local_endpoint(napp: Flask, sandbox: SandboxServer, endpoint: Endpoint,
                                              alice: User) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url, "my hook")
    note = alert_after_changes(alice, sandbox)
    assert deliver_notification(note.id).get("sent") == 1
    [payload] = endpoint.received
    assert payload["title"] == "longlight508: 1 new, 2 price drops"
    assert "went down from $50.00 to $40.00" in payload["message"]
    assert payload["type"] == "info"


def test_a_channel_that_fails_twice_then_succeeds(napp: Flask, sandbox: SandboxServer, endpoint: Endpoint,
                                                  alice: User) -> None:
    endpoint.fail_first = 2
    channel = channel_service.add_apprise_channel(alice.id, endpoint.url)
    note = alert_after_changes(alice, sandbox, drops=1, new=0)
    assert deliver_notification(note.id).outcomes == {"retry": 1}
    [delivery] = deliveries(note.id)
    assert (delivery.status, delivery.attempts) == ("pending", 1) and "500" in (delivery.last_error or "")
    assert db.session.get(NotificationChannel, channel.id).last_error
    assert deliver_due().outcomes == {"retry": 1}
    assert deliver_due().outcomes == {"sent": 1}
    assert deliver_due().outcomes == {}  # nothing left
    [delivery] = deliveries(note.id)
    assert (delivery.status, delivery.attempts, endpoint.requests) == ("sent", 3, 3)
    assert len(endpoint.received) == 1  # one message reached the member
    db.session.expire_all()
    assert db.session.get(NotificationChannel, channel.id).consecutive_failures == 0


def test_backoff_waits_before_the_next_try(napp: Flask, sandbox: SandboxServer, endpoint: Endpoint,
                                           alice: User) -> None:
    napp.config["NOTIFY_RETRY_SECONDS"] = 60
    endpoint.fail_first = 10
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    note = alert_after_changes(alice, sandbox, drops=1, new=0)
    deliver_notification(note.id)
    [delivery] = deliveries(note.id)
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at >= datetime.now(UTC) + timedelta(seconds=50)
    assert deliver_due().outcomes == {}  # not due yet
    assert endpoint.requests == 1


def test_three_failures_end_the_delivery_and_repeated_failures_pause_the_channel(
    napp: Flask, sandbox: SandboxServer, endpoint: Endpoint, alice: User,
) -> None:
    napp.config["NOTIFY_PAUSE_AFTER_FAILURES"] = 3
    endpoint.fail_first = 100
    channel = channel_service.add_apprise_channel(alice.id, endpoint.url)
    note = alert_after_changes(alice, sandbox, drops=1, new=0)
    for _ in range(5):
        deliver_due()
    [delivery] = deliveries(note.id)
    assert (delivery.status, delivery.attempts, endpoint.requests) == ("failed", 3, 3)
    db.session.expire_all()
    paused = db.session.get(NotificationChannel, channel.id)
    assert paused.paused_reason == "failing" and paused.consecutive_failures == 3
    [notice] = db.session.scalars(select(Notification).where(Notification.kind == "channel_paused")).all()
    assert notice.user_id == alice.id and "paused" in notice.title


# ------------------------------------------------------------------------------- concurrency


def test_two_workers_delivering_at_once_send_nothing_twice(
    napp: Flask, sandbox: SandboxServer, smtp: tuple[Inbox, int], alice: User,
) -> None:
    channel = channel_service.add_email_channel(alice)
    alert_after_changes(alice, sandbox)
    # Four more alerts for the same channel, so the two workers have rows to fight over.
    for i in range(4):
        extra = Notification(user_id=alice.id, kind="test", title=f"extra {i}", dedupe_key=f"extra:{i}")
        db.session.add(extra)
        db.session.flush()
        db.session.add(Delivery(notification_id=extra.id, channel="email", target=alice.email, channel_id=channel.id))
    db.session.commit()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with napp.app_context():
                start.wait()
                deliver_due()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    subjects = sorted(mail["Subject"] for _to, mail in smtp[0].messages)
    assert len(subjects) == 5 and len(set(subjects)) == 5
    assert all((d.status, d.attempts) == ("sent", 1) for d in deliveries())


def test_a_row_being_sent_is_not_claimed_again_until_its_lease_ends(
    napp: Flask, sandbox: SandboxServer, smtp: tuple[Inbox, int], alice: User,
) -> None:
    """A worker died after the SMTP server accepted the message but before it recorded that: the
    row stays ``sending``; it is sent again only once its lease is over (at-least-once)."""
    channel_service.add_email_channel(alice)
    note = alert_after_changes(alice, sandbox, drops=1, new=0)
    [delivery] = deliveries(note.id)
    now = datetime.now(UTC)
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id).values(
        status="sending", attempts=1, claimed_until=now + timedelta(minutes=5)))
    db.session.commit()
    assert deliver_due().outcomes == {}
    assert smtp[0].messages == []
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id).values(
        claimed_until=now - timedelta(seconds=1)))
    db.session.commit()
    assert deliver_due().outcomes == {"sent": 1}
    [(_to, mail)] = smtp[0].messages
    assert mail["Message-ID"] == f"<delivery-{delivery.id}@monitor.test>"  # the same id on every copy


# ------------------------------------------------------------------------------- end to end


def test_a_poll_enqueues_the_delivery_and_a_rerun_notifies_once(
    napp: Flask, sandbox: SandboxServer, smtp: tuple[Inbox, int], alice: User,
) -> None:
    napp.config["RQ_SYNC"] = True  # the delivery job runs inline right after the poll commits
    channel_service.add_email_channel(alice)
    note = alert_after_changes(alice, sandbox, drops=1, new=1)
    assert len(smtp[0].messages) == 1
    store_monitor = db.session.scalar(select(Monitor))
    poll(store_monitor)  # nothing new: nothing is said again
    poll(store_monitor)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    assert len(smtp[0].messages) == 1
    assert deliveries(note.id)[0].status == "sent"


def test_the_inbox_shows_one_grouped_alert(napp: Flask, sandbox: SandboxServer, alice: User, auth, client) -> None:  # noqa: ANN001
    alert_after_changes(alice, sandbox, drops=2, new=1)
    auth.login()
    page = client.get("/notifications/").get_data(as_text=True)
    assert page.count("longlight508: 1 new, 2 price drops") == 1
    assert 'class="muted notification-body"' in page and "went down from $50.00 to $40.00" in page
    assert "&lt;b&gt;Bold&lt;/b&gt;" in page  # DHgate titles are escaped in the app too


def test_a_batch_of_emails_shares_one_smtp_connection(napp: Flask, sandbox: SandboxServer, smtp, alice: User,  # noqa: ANN001
                                                      bob: User) -> None:
    channel_service.add_email_channel(alice)
    channel_service.add_email_channel(bob)
    alert_after_changes(alice, sandbox, drops=1, new=0)
    alert_after_changes(bob, sandbox, drops=1, new=1)
    assert deliver_due().outcomes == {"sent": 2}
    inbox, _port = smtp
    assert sorted(to for to, _mail in inbox.messages) == [["alice@example.com"], ["bob@example.com"]]
    assert len(set(inbox.peers)) == 1


def test_a_chunk_whose_lease_could_run_out_is_given_back_unsent(napp: Flask, sandbox: SandboxServer, smtp,  # noqa: ANN001
                                                                 alice: User) -> None:
    channel_service.add_email_channel(alice)
    note = alert_after_changes(alice, sandbox, drops=1, new=0)
    napp.config.update(NOTIFY_CLAIM_LEASE_SECONDS=10, MAIL_TIMEOUT_SECONDS=20.0)  # a slow server could outlast it
    assert deliver_due().outcomes == {"released": 1}
    [delivery] = deliveries(note.id)
    assert (delivery.status, delivery.attempts, delivery.claimed_until) == ("pending", 0, None)
    assert smtp[0].messages == []
    napp.config.update(NOTIFY_CLAIM_LEASE_SECONDS=300, MAIL_TIMEOUT_SECONDS=5.0)
    assert deliver_due().outcomes == {"sent": 1}
    assert len(smtp[0].messages) == 1
