"""Public signup with a confirmed address, and changing one's address: the mails reach a real
SMTP server and their links work through the app."""
from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from extensions import db
from models import Notification, NotificationChannel, User
from services.notifications.channels import add_email_channel
from services.queue import get_queue
from tests.accounts.conftest import link_in, parts, run_jobs
from tests.auth.conftest import browser_for
from tests.conftest import PASSWORD, AuthActions, csrf_token_from

Received = Callable[[], list[tuple[list[str], EmailMessage]]]
SIGNUP = {"email": "dora@example.com", "username": "dora", "new_password": PASSWORD, "confirm": PASSWORD}


def post_form(client: FlaskClient, path: str, data: dict[str, str]):  # noqa: ANN201
    token = csrf_token_from(client.get(path).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def test_signup_is_off_by_default(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/auth/signup").status_code == 404
    assert client.post("/auth/signup", data=SIGNUP).status_code in (400, 404)  # no account either way
    assert db.session.scalar(select(User).where(User.username == "dora")) is None
    assert "Create an account" not in client.get("/auth/login").get_data(as_text=True)


def test_signup_confirmation_and_the_admins_alert(mail_app: Flask, admin: User, received: Received) -> None:
    mail_app.config["SIGNUP_ENABLED"] = True
    add_email_channel(admin)
    client = mail_app.test_client()
    assert "Create an account" in client.get("/auth/login").get_data(as_text=True)
    response = post_form(client, "/auth/signup", SIGNUP)
    assert response.status_code == 200 and "dora@example.com" in response.get_data(as_text=True)

    # Not confirmed yet: the right password gets a clear message and a way to get a new link.
    refused = AuthActions(mail_app.test_client()).login("dora", PASSWORD)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 403 and "Please confirm your e-mail address first" in page
    assert "/auth/verify/resend?email=dora@example.com" in page

    run_jobs(mail_app)
    [(recipients, message)] = received()
    assert recipients == ["dora@example.com"] and message["Subject"] == "Confirm your DHgate Monitor account"
    path = link_in(message)
    assert path.startswith("/auth/verify/")
    assert client.get(path).status_code == 302
    assert AuthActions(mail_app.test_client()).login("dora", PASSWORD).status_code == 302

    # Confirming told the admins once, in the app and through their channel.
    run_jobs(mail_app)
    alerts = db.session.scalars(select(Notification).where(Notification.user_id == admin.id)).all()
    assert [a.title for a in alerts] == ["New member: dora"]
    assert [r for r, _m in received()][1:] == [[admin.email]]
    assert client.get(path).status_code == 302  # a second click: already confirmed, nothing new
    run_jobs(mail_app)
    assert len(db.session.scalars(select(Notification).where(Notification.user_id == admin.id)).all()) == 1


def test_signup_form_errors_re_render(mail_app: Flask, alice: User) -> None:
    mail_app.config["SIGNUP_ENABLED"] = True
    client = mail_app.test_client()
    taken = post_form(client, "/auth/signup", {**SIGNUP, "email": alice.email})
    assert taken.status_code == 200 and "already exists" in taken.get_data(as_text=True)
    mismatch = post_form(client, "/auth/signup", {**SIGNUP, "confirm": "something else entirely"})
    assert mismatch.status_code == 200 and "The two passwords are not the same." in mismatch.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.username == "dora")) is None


def test_resend_sends_only_to_accounts_waiting_and_is_rate_limited(
    mail_app: Flask, alice: User, received: Received
) -> None:
    mail_app.config["SIGNUP_ENABLED"] = True
    client = mail_app.test_client()
    post_form(client, "/auth/signup", SIGNUP)
    for address in ("dora@example.com", alice.email, "nobody@example.com"):
        assert post_form(client, "/auth/verify/resend", {"email": address}).status_code == 200
    run_jobs(mail_app)
    assert [r for r, _m in received()] == [["dora@example.com"], ["dora@example.com"]]
    statuses = [post_form(client, "/auth/verify/resend", {"email": "dora@example.com"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # the first resend above used one of the three


def test_changing_the_address_is_confirmed_from_the_new_one(mail_app: Flask, alice: User, received: Received) -> None:
    add_email_channel(alice)
    client = browser_for(mail_app, "alice")
    wrong = post_form(client, "/auth/email", {"new_email": "alice@new.example", "password": "not my password"})
    assert wrong.status_code == 200 and "Your current password is not correct." in wrong.get_data(as_text=True)
    response = post_form(client, "/auth/email", {"new_email": "Alice@New.example", "password": PASSWORD})
    assert response.status_code == 302
    run_jobs(mail_app)
    [(recipients, message)] = received()
    assert recipients == ["alice@new.example"] and message["Subject"] == "Confirm your new e-mail address"
    db.session.refresh(alice)
    assert alice.email == "alice@example.com"  # nothing changes before the link is followed

    path = link_in(message)
    other_browser = mail_app.test_client()  # the link may be opened anywhere
    page = other_browser.get(path)
    assert page.status_code == 200 and "alice@new.example" in page.get_data(as_text=True)
    confirmed = other_browser.post(path, data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert confirmed.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, alice.id).email == "alice@new.example"
    channel = db.session.scalar(select(NotificationChannel).where(NotificationChannel.user_id == alice.id))
    assert channel is not None and channel.target == "alice@new.example"

    run_jobs(mail_app)
    notice_to, notice = received()[1]
    assert notice_to == ["alice@example.com"]
    assert "alice@new.example" in parts(notice)[0]
    assert other_browser.get(path).status_code == 400  # spent


def test_an_address_of_another_account_is_refused(mail_app: Flask, alice: User, bob: User) -> None:
    client = browser_for(mail_app, "alice")
    response = post_form(client, "/auth/email", {"new_email": bob.email, "password": PASSWORD})
    assert response.status_code == 200 and "Another account uses that address." in response.get_data(as_text=True)
    assert get_queue("high").count == 0
