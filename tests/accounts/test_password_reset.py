"""Password reset by e-mail: the mail reaches a real SMTP server with both parts and a link that
works once through the app, the page never tells whether an address has an account, the link
expires and dies once used, sessions end, and the form is rate-limited."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from extensions import db
from models import User
from services.account_links import RESET_SALT, make_reset_token
from services.queue import get_queue
from tests.accounts.conftest import link_in, parts, run_jobs
from tests.auth.conftest import browser_for, is_logged_in
from tests.conftest import PASSWORD, AuthActions, csrf_token_from

CSRF_VALUE = re.compile(r'value="[^"]+\.[^"]+\.[^"]+"')
NEW_PASSWORD = "a brand new password 42"
Received = Callable[[], list[tuple[list[str], EmailMessage]]]


def ask_reset(client: FlaskClient, address: str):  # noqa: ANN201
    token = csrf_token_from(client.get("/auth/forgot").get_data(as_text=True))
    return client.post("/auth/forgot", data={"email": address, "csrf_token": token})


def choose_password(client: FlaskClient, path: str, password: str = NEW_PASSWORD):  # noqa: ANN201
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(path, data={"new_password": password, "confirm": password, "csrf_token": token})


def test_reset_mail_arrives_and_its_link_sets_the_password_once(
    mail_app: Flask, alice: User, received: Received
) -> None:
    client = mail_app.test_client()
    response = ask_reset(client, "  ALICE@example.com ")
    assert response.status_code == 200 and 'data-testid="mail-sent"' in response.get_data(as_text=True)
    run_jobs(mail_app)
    [(recipients, message)] = received()
    assert recipients == [alice.email]
    assert message["To"] == alice.email and message["Subject"] == "Reset your DHgate Monitor password"
    text, html = parts(message)
    assert "alice" in text and "60 minutes" in text and "Choose a new password" in html
    path = link_in(message)
    assert path.startswith("/auth/reset/")

    assert choose_password(client, path).status_code == 302
    assert AuthActions(mail_app.test_client()).login("alice", NEW_PASSWORD).status_code == 302
    assert AuthActions(mail_app.test_client()).login("alice", PASSWORD).status_code == 200  # old one refused
    again = client.get(path)
    assert again.status_code == 400 and "This link no longer works" in again.get_data(as_text=True)


def _without(html: str, address: str) -> str:
    """The page minus what differs by design: the address typed and the per-browser CSRF token."""
    return CSRF_VALUE.sub("", html.replace(address, "ADDRESS"))


def test_the_answer_is_the_same_with_or_without_an_account(mail_app: Flask, alice: User, received: Received) -> None:
    known = ask_reset(mail_app.test_client(), alice.email).get_data(as_text=True)
    unknown = ask_reset(mail_app.test_client(), "nobody@example.com").get_data(as_text=True)
    assert _without(known, alice.email) == _without(unknown, "nobody@example.com")
    # Both requests took the same path: one job each; the worker decides, and mails only alice.
    assert get_queue("high").count == 2
    run_jobs(mail_app)
    assert [recipients for recipients, _m in received()] == [[alice.email]]


def test_reset_ends_every_session_of_the_account(mail_app: Flask, alice: User) -> None:
    other_browser = browser_for(mail_app, "alice")
    assert is_logged_in(other_browser)
    client = mail_app.test_client()
    assert choose_password(client, "/auth/reset/" + make_reset_token(alice)).status_code == 302
    assert not is_logged_in(other_browser)


class StampedEarlier(TimestampSigner):
    """Signs as if it were 61 minutes ago: the real clock, a link past its hour."""

    def get_timestamp(self) -> int:
        return int(time.time()) - 61 * 60


def test_an_expired_or_altered_link_is_refused(mail_app: Flask, alice: User) -> None:
    client = mail_app.test_client()
    token = make_reset_token(alice)
    assert client.get("/auth/reset/" + token).status_code == 200
    assert client.get("/auth/reset/" + token[:-2] + "xx").status_code == 400
    fresh = URLSafeTimedSerializer(mail_app.config["SECRET_KEY"], salt=RESET_SALT)
    late = URLSafeTimedSerializer(mail_app.config["SECRET_KEY"], salt=RESET_SALT, signer=StampedEarlier)
    expired = late.dumps(fresh.loads(token))
    assert client.get("/auth/reset/" + expired).status_code == 400
    mail_app.config["PASSWORD_RESET_LINK_MINUTES"] = 62
    assert client.get("/auth/reset/" + expired).status_code == 200


def test_a_reset_link_cannot_stand_in_for_another_kind_of_link(mail_app: Flask, alice: User) -> None:
    token = make_reset_token(alice)
    assert mail_app.test_client().get("/auth/verify/" + token).status_code == 400
    assert mail_app.test_client().get("/auth/email/confirm/" + token).status_code == 400


def test_a_too_short_password_re_renders_the_form(mail_app: Flask, alice: User) -> None:
    response = choose_password(mail_app.test_client(), "/auth/reset/" + make_reset_token(alice), "short")
    assert response.status_code == 200 and "Use at least" in response.get_data(as_text=True)
    db.session.refresh(alice)
    assert AuthActions(mail_app.test_client()).login("alice", PASSWORD).status_code == 302


def test_an_invalid_address_gets_a_message_not_a_mail(mail_app: Flask) -> None:
    response = ask_reset(mail_app.test_client(), "not an address")
    assert response.status_code == 200 and "That is not a valid e-mail address." in response.get_data(as_text=True)
    assert get_queue("high").count == 0


def test_asking_for_one_address_is_rate_limited(mail_app: Flask, alice: User) -> None:
    client = mail_app.test_client()
    statuses = [ask_reset(client, alice.email).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert get_queue("high").count == 3


def test_the_mail_is_in_the_members_language(mail_app: Flask, alice: User, received: Received) -> None:
    alice.locale = "nl"
    db.session.commit()
    ask_reset(mail_app.test_client(), alice.email)
    run_jobs(mail_app)
    [(_to, message)] = received()
    assert message["Subject"] == "Stel je DHgate Monitor-wachtwoord opnieuw in"
    assert "Kies een nieuw wachtwoord" in parts(message)[1]
