"""Data rights: the export holds the member's rows and no secrets; deleting an account removes
every row of theirs (counted per table), ends their sessions, and leaves other members' rows
exactly as they were. The data comes from real polls of the sandbox marketplace."""
from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from extensions import db
from models import Delivery, Keyword, Notification, SecurityEvent, User
from sandbox import SandboxServer
from services.data_rights import owned_row_counts
from services.notifications import channels as channel_service
from tests.auth.conftest import browser_for, is_logged_in
from tests.conftest import PASSWORD, csrf_token_from
from tests.factories import make_user
from tests.notifications.conftest import Endpoint
from tests.notifications.test_delivery import alert_after_changes

HOOK_SECRET = "hook-token-s3cret"


def give_data(user: User, sandbox: SandboxServer, hook: Endpoint) -> None:
    """Channels (one apprise URL with a token in it), a keyword, and a real alert from two polls."""
    channel_service.add_email_channel(user)
    channel_service.add_apprise_channel(user.id, f"json://127.0.0.1:{hook.port}/hook?token={HOOK_SECRET}")
    note = alert_after_changes(user, sandbox)
    db.session.add(Keyword(user_id=user.id, term=f"lamp-{user.username}"))
    db.session.commit()
    assert note.id


def delete_form(client: FlaskClient, typed: str):  # noqa: ANN201
    token = csrf_token_from(client.get("/auth/account/data").get_data(as_text=True))
    return client.post("/auth/account/delete", data={"confirm_email": typed, "csrf_token": token})


def test_export_has_the_members_rows_and_no_secrets(
    napp: Flask, sandbox: SandboxServer, alice: User, endpoint: Endpoint
) -> None:
    give_data(alice, sandbox, endpoint)
    response = browser_for(napp, "alice").get("/auth/account/export")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"].startswith('attachment; filename="dhgate-monitor-alice-')
    body = response.get_data(as_text=True)
    data = json.loads(body)
    assert data["account"]["email"] == alice.email
    counts = owned_row_counts(alice.id)
    assert len(data["monitors"]) == counts["monitors"] == 1
    assert len(data["events"]) == counts["product_events"] > 0
    assert len(data["notifications"]) == counts["notifications"] == 1
    assert len(data["deliveries"]) == counts["deliveries"] == 2
    assert len(data["products"]) == counts["monitor_products"] > 0
    assert {c["kind"] for c in data["channels"]} == {"email", "apprise"}
    assert data["keywords"][0]["term"] == "lamp-alice"
    for secret in (HOOK_SECRET, alice.password_hash, "password_hash", "failed_login_count"):
        assert secret not in body


def test_export_needs_a_login(app: Flask, client: FlaskClient) -> None:
    response = client.get("/auth/account/export")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_deleting_removes_every_row_of_the_member_and_nothing_of_others(
    napp: Flask, sandbox: SandboxServer, alice: User, bob: User, endpoint: Endpoint
) -> None:
    give_data(alice, sandbox, endpoint)
    give_data(bob, sandbox, endpoint)
    alice_id = alice.id
    browser = browser_for(napp, "alice")
    second_browser = browser_for(napp, "alice")
    bobs_browser = browser_for(napp, "bob")
    before_alice, before_bob = owned_row_counts(alice_id), owned_row_counts(bob.id)
    assert all(before_alice[t] > 0 for t in ("monitors", "product_events", "notifications", "deliveries",
                                              "notification_channels", "keywords", "monitor_products",
                                              "admin_sessions", "security_events"))

    response = delete_form(browser, "ALICE@example.com ")
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/login")
    db.session.expire_all()
    assert set(owned_row_counts(alice_id).values()) == {0}
    assert owned_row_counts(bob.id) == before_bob
    assert not is_logged_in(browser) and not is_logged_in(second_browser) and is_logged_in(bobs_browser)
    # The security log keeps the deletion, without the person.
    deleted = db.session.scalar(select(SecurityEvent).where(SecurityEvent.event == "account_deleted"))
    assert deleted is not None and deleted.user_id is None and deleted.details == {"account": alice_id}
    remaining = db.session.scalar(select(func.count()).select_from(Delivery).join(Notification).where(
        Notification.user_id == alice_id))
    assert remaining == 0


def test_a_wrong_confirmation_deletes_nothing(app: Flask, alice: User) -> None:
    browser = browser_for(app, "alice")
    response = delete_form(browser, "bob@example.com")
    assert response.status_code == 400
    assert "Type your e-mail address exactly as shown to confirm." in response.get_data(as_text=True)
    assert db.session.get(User, alice.id) is not None and is_logged_in(browser)


def test_the_last_admin_cannot_delete_themself(app: Flask, admin: User) -> None:
    browser = browser_for(app, "root")
    response = delete_form(browser, admin.email)
    assert response.status_code == 400 and "You are the last administrator." in response.get_data(as_text=True)
    assert db.session.get(User, admin.id) is not None


def test_an_admin_with_another_admin_can(app: Flask, admin: User) -> None:
    make_user("root2", password=PASSWORD, role="admin")
    response = delete_form(browser_for(app, "root"), admin.email)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(User).where(User.username == "root")) is None
