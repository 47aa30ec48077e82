"""The channels page and the ``flask notifications`` commands, with real SMTP and HTTP endpoints."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from extensions import db
from models import Delivery, NotificationChannel, User
from services.notifications import channels as channel_service
from tests.notifications.conftest import Endpoint, Inbox


def own_channels(user: User) -> list[NotificationChannel]:
    db.session.expire_all()
    return list(db.session.scalars(select(NotificationChannel).where(NotificationChannel.user_id == user.id)))


def test_a_member_adds_an_apprise_channel_and_sends_a_test(napp: Flask, auth, client, alice: User,  # noqa: ANN001
                                                           endpoint: Endpoint) -> None:
    napp.config["RQ_SYNC"] = True  # the test message's job runs inline
    auth.login()
    page = client.get("/notifications/channels").get_data(as_text=True)
    assert "No channels yet" in page and "E-mail my alerts to alice@example.com" in page
    added = auth.post("/notifications/channels/apprise", {"url": endpoint.url, "label": "My hook"},
                      token_from="/notifications/channels", follow_redirects=True)
    assert added.status_code == 200 and "Channel added" in added.get_data(as_text=True)
    [channel] = own_channels(alice)
    assert (channel.kind, channel.target, channel.label) == ("apprise", endpoint.url, "My hook")
    tested = auth.post(f"/notifications/channels/{channel.id}/test", token_from="/notifications/channels",
                       follow_redirects=True)
    assert "A test message is on its way to My hook" in tested.get_data(as_text=True)
    [payload] = endpoint.received
    assert payload["title"] == "Test message from DHgate Monitor"


def test_apprise_urls_are_checked_when_saved(napp: Flask, auth, client, alice: User) -> None:  # noqa: ANN001
    auth.login()
    refused = auth.post("/notifications/channels/apprise", {"url": "nosuchservice://whatever"},
                        token_from="/notifications/channels")
    assert refused.status_code == 400
    assert "Apprise does not understand that URL" in refused.get_data(as_text=True)
    empty = auth.post("/notifications/channels/apprise", {"url": ""}, token_from="/notifications/channels")
    assert empty.status_code == 400
    assert own_channels(alice) == []


def test_the_last_error_shows_and_a_paused_channel_can_be_resumed(napp: Flask, auth, client, alice: User,  # noqa: ANN001
                                                                   endpoint: Endpoint) -> None:
    napp.config.update(RQ_SYNC=True, NOTIFY_PAUSE_AFTER_FAILURES=1)
    endpoint.fail_first = 1
    channel = channel_service.add_apprise_channel(alice.id, endpoint.url, "Flaky")
    auth.login()
    auth.post(f"/notifications/channels/{channel.id}/test", token_from="/notifications/channels")
    page = client.get("/notifications/channels").get_data(as_text=True)
    assert "Paused: kept failing" in page and "500" in page
    auth.post(f"/notifications/channels/{channel.id}/resume", token_from="/notifications/channels")
    [channel] = own_channels(alice)
    assert channel.active and channel.consecutive_failures == 0


def test_channels_are_private_and_removable(napp: Flask, auth, client, alice: User, bob: User) -> None:  # noqa: ANN001
    bobs = channel_service.add_email_channel(bob)
    auth.login()
    for action in ("test", "resume", "remove"):
        response = auth.post(f"/notifications/channels/{bobs.id}/{action}", token_from="/notifications/channels")
        assert response.status_code == 404
    assert "bob@example.com" not in client.get("/notifications/channels").get_data(as_text=True)
    auth.post("/notifications/channels/email", token_from="/notifications/channels")
    [mine] = own_channels(alice)
    assert mine.target == "alice@example.com"
    again = auth.post("/notifications/channels/email", token_from="/notifications/channels", follow_redirects=True)
    assert "You already have that channel" in again.get_data(as_text=True)
    auth.post(f"/notifications/channels/{mine.id}/remove", token_from="/notifications/channels")
    assert own_channels(alice) == [] and len(own_channels(bob)) == 1


def test_cli_test_and_deliver(napp: Flask, runner, alice: User, smtp: tuple[Inbox, int]) -> None:  # noqa: ANN001
    none = runner.invoke(args=["notifications", "test", "alice"])
    assert none.exit_code == 1 and "has no alert channels" in none.output
    unknown = runner.invoke(args=["notifications", "test", "nobody"])
    assert unknown.exit_code == 1 and "No user" in unknown.output
    channel_service.add_email_channel(alice)
    result = runner.invoke(args=["notifications", "test", "alice@example.com"])
    assert result.exit_code == 0, result.output
    assert "alice@example.com: sent" in result.output
    [(recipients, mail)] = smtp[0].messages
    assert recipients == ["alice@example.com"] and mail["Subject"] == "Test message from DHgate Monitor"
    assert runner.invoke(args=["notifications", "deliver"]).output.strip() == "nothing was due"


def test_cli_test_reports_a_channel_that_refuses(napp: Flask, runner, alice: User) -> None:  # noqa: ANN001
    napp.config["MAIL_PORT"] = 9  # nothing listens there
    channel_service.add_email_channel(alice)
    result = runner.invoke(args=["notifications", "test", "alice"])
    assert result.exit_code == 1 and "did not accept the test" in result.output
    [delivery] = db.session.scalars(select(Delivery)).all()
    assert delivery.status == "pending" and delivery.last_error
