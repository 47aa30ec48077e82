"""Digests and quiet hours, driven by an injected clock: a digest gathers the held alerts once,
at the member's local hour, in any time zone and across DST changes; quiet hours (also across
midnight) hold non-urgent alerts until they end; urgent ones go at once."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from extensions import db
from models import Delivery, Notification, NotificationPreference, User
from services.notifications import channels as channel_service
from services.notifications.delivery import queue_deliveries
from services.notifications.digests import DIGEST_KIND, send_digests
from tests.notifications.conftest import Endpoint


def prefer(user: User, *, timezone: str = "UTC", frequency: str = "instant", digest_hour: int = 8,
           quiet: tuple[int, int] | None = None) -> None:
    user.timezone = timezone
    db.session.add(NotificationPreference(
        user_id=user.id, frequency=frequency, digest_hour=digest_hour,
        quiet_hours_start=quiet[0] if quiet else None, quiet_hours_end=quiet[1] if quiet else None))
    db.session.commit()


def alert(user: User, at: datetime, kind: str = "price_drop", title: str = "Price drop: lamp") -> Notification:
    """An alert written at ``at`` with its deliveries queued as a poll would queue them."""
    note = Notification(user_id=user.id, kind=kind, title=title, body="", event_kinds=f" {kind} ",
                        dedupe_key=f"t:{title}:{at.isoformat()}", created_at=at)
    db.session.add(note)
    db.session.flush()
    queue_deliveries(note, now=at)
    db.session.commit()
    return note


def statuses(note: Notification) -> list[tuple[str, datetime | None]]:
    db.session.expire_all()
    return [(d.status, d.next_attempt_at) for d in
            db.session.scalars(select(Delivery).where(Delivery.notification_id == note.id))]


def run_hourly(start: datetime, hours: int) -> list[datetime]:
    """Run the digest job at the top of each hour; the times a digest was written."""
    written = []
    for h in range(hours):
        now = start + timedelta(hours=h)
        if send_digests(now=now).digests:
            written.append(now)
    return written


def digests(user: User) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.kind == DIGEST_KIND).order_by(Notification.id)))


def test_daily_digest_at_8_in_kiritimati_utc_plus_14(app: Flask, alice: User, endpoint: Endpoint) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    prefer(alice, timezone="Pacific/Kiritimati", frequency="daily", digest_hour=8)
    first = alert(alice, datetime(2026, 6, 1, 10, 5, tzinfo=UTC), title="Price drop: lamp")
    alert(alice, datetime(2026, 6, 1, 12, 40, tzinfo=UTC), kind="new_product", title="New listing: bulb")
    assert statuses(first) == [("held", None)]
    assert endpoint.received == []

    # 08:00 on 2 June in Kiritimati is 18:00 UTC on 1 June.
    assert run_hourly(datetime(2026, 6, 1, 11, tzinfo=UTC), 30) == [datetime(2026, 6, 1, 18, tzinfo=UTC)]
    [payload] = endpoint.received
    assert payload["title"] == "Digest: 2 alerts (1 price drop, 1 new)"
    assert "• Price drop: lamp" in payload["message"] and "• New listing: bulb" in payload["message"]
    assert statuses(first) == [("digested", None)]
    [digest] = digests(alice)
    assert digest.read_at is not None  # its alerts are unread in the inbox already


def test_daily_digest_at_8_in_utc_minus_12(app: Flask, alice: User, endpoint: Endpoint) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    prefer(alice, timezone="Etc/GMT+12", frequency="daily", digest_hour=8)
    alert(alice, datetime(2026, 6, 1, 19, 30, tzinfo=UTC))  # 07:30 local: in time for today's digest
    alert(alice, datetime(2026, 6, 1, 20, 30, tzinfo=UTC), title="Price drop: later")  # 08:30: tomorrow's
    assert run_hourly(datetime(2026, 6, 1, 12, tzinfo=UTC), 40) == [
        datetime(2026, 6, 1, 20, tzinfo=UTC), datetime(2026, 6, 2, 20, tzinfo=UTC)]
    assert [p["title"] for p in endpoint.received] == ["Digest: 1 alert (1 price drop)"] * 2
    assert "Price drop: lamp" in endpoint.received[0]["message"]
    assert "Price drop: later" in endpoint.received[1]["message"]
    first, second = digests(alice)
    assert first.details["notification_ids"] != second.details["notification_ids"]


def test_daily_digest_on_both_dst_change_days_in_amsterdam(app: Flask, alice: User, endpoint: Endpoint) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    prefer(alice, timezone="Europe/Amsterdam", frequency="daily", digest_hour=2)
    # Spring forward, 29 March 2026: 02:00 does not exist; the digest goes when the clocks jump.
    alert(alice, datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert run_hourly(datetime(2026, 3, 28, 20, tzinfo=UTC), 12) == [datetime(2026, 3, 29, 1, tzinfo=UTC)]
    # Fall back, 25 October 2026: 02:00 happens twice; one digest, at the first.
    alert(alice, datetime(2026, 10, 24, 12, tzinfo=UTC))
    alert(alice, datetime(2026, 10, 25, 0, 30, tzinfo=UTC), title="Price drop: between the two 02:00s")
    assert run_hourly(datetime(2026, 10, 24, 20, tzinfo=UTC), 12) == [datetime(2026, 10, 25, 0, tzinfo=UTC)]
    assert len(endpoint.received) == 2
    # The alert written between the two 02:00s waits for the next day's digest (01:00 UTC in winter).
    assert run_hourly(datetime(2026, 10, 25, 1, tzinfo=UTC), 26) == [datetime(2026, 10, 26, 1, tzinfo=UTC)]


def test_hourly_digest_skips_quiet_hours_crossing_midnight(app: Flask, alice: User, endpoint: Endpoint) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    prefer(alice, timezone="Europe/Amsterdam", frequency="hourly", quiet=(22, 7))
    alert(alice, datetime(2026, 6, 1, 19, 20, tzinfo=UTC))  # 21:20 local
    alert(alice, datetime(2026, 6, 1, 21, 20, tzinfo=UTC), title="Price drop: at night")  # 23:20 local
    written = run_hourly(datetime(2026, 6, 1, 19, tzinfo=UTC), 14)
    # 20:00 UTC is 22:00 local: quiet already; the night's alert waits until 07:00 local (05:00 UTC).
    assert written == [datetime(2026, 6, 2, 5, tzinfo=UTC)]
    assert len(endpoint.received) == 1 and "2 alerts" in endpoint.received[0]["title"]


def test_instant_alerts_wait_for_the_end_of_quiet_hours_but_urgent_ones_do_not(app: Flask, alice: User,
                                                                                 endpoint: Endpoint) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    prefer(alice, timezone="Europe/Amsterdam", frequency="instant", quiet=(22, 7))
    night = datetime(2026, 1, 10, 22, 30, tzinfo=UTC)  # 23:30 local (winter, UTC+1)
    quiet = alert(alice, night)
    assert statuses(quiet) == [("pending", datetime(2026, 1, 11, 6, tzinfo=UTC))]  # 07:00 local
    urgent = alert(alice, night, kind="back_in_stock", title="Back in stock: lamp")
    assert statuses(urgent) == [("pending", None)]
    early = alert(alice, datetime(2026, 1, 11, 5, 59, tzinfo=UTC), title="Price drop: 06:59")
    assert statuses(early) == [("pending", datetime(2026, 1, 11, 6, tzinfo=UTC))]
    day = alert(alice, datetime(2026, 1, 11, 6, 0, tzinfo=UTC), title="Price drop: 07:00")
    assert statuses(day) == [("pending", None)]


def test_urgent_alerts_skip_the_digest(app: Flask, alice: User, endpoint: Endpoint) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    prefer(alice, frequency="daily")
    urgent = alert(alice, datetime(2026, 6, 1, 10, tzinfo=UTC), kind="target_price", title="Target price: lamp")
    assert statuses(urgent) == [("pending", None)]


def test_a_digest_never_repeats_an_alert(app: Flask, alice: User, endpoint: Endpoint, runner) -> None:  # noqa: ANN001
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    prefer(alice, frequency="daily")
    alert(alice, datetime.now(UTC) - timedelta(minutes=5))
    now = datetime.now(UTC)
    assert len(send_digests(now=now, user_id=alice.id, force=True).digests) == 1
    assert send_digests(now=now, user_id=alice.id, force=True).digests == {}
    assert send_digests(now=now + timedelta(days=2)).digests == {}
    assert len(endpoint.received) == 1
    result = runner.invoke(args=["notifications", "digest", "--user", "alice"])
    assert result.exit_code == 0 and result.output.strip() == "no digest was due"

    alert(alice, datetime.now(UTC) - timedelta(minutes=1), title="Price drop: another")
    result = runner.invoke(args=["notifications", "digest", "--user", "alice@example.com"])
    assert result.exit_code == 0 and result.output.strip() == "1 digest(s) written; sending: 1 sent"
    assert len(endpoint.received) == 2
    bad = runner.invoke(args=["notifications", "digest", "--user", "nobody"])
    assert bad.exit_code != 0 and "No user" in bad.output


def test_digest_per_channel_and_back_to_instant(app: Flask, alice: User, endpoint: Endpoint, bob: User) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url)
    channel_service.add_apprise_channel(alice.id, endpoint.url + "?x=2", "second")
    prefer(alice, frequency="hourly")
    alert(alice, datetime(2026, 6, 1, 10, 10, tzinfo=UTC))
    alert(bob, datetime(2026, 6, 1, 10, 10, tzinfo=UTC))  # bob has no channel: nothing for him
    pref = db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == alice.id))
    pref.frequency = "instant"  # switched back: what is still held goes at the next run
    db.session.commit()
    run = send_digests(now=datetime(2026, 6, 1, 10, 20, tzinfo=UTC))
    assert list(run.digests) == [alice.id]
    assert len(endpoint.received) == 2  # one message per channel
