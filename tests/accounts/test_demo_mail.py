"""The demo's mail sink and mailbox: a real SMTP sink process keeps what it receives, the
``/demo/mail`` pages show a mail the product sent (HTML in a sandboxed frame, text, headers) to
its recipient, the link in it works, and the pages do not exist outside the demo."""
from __future__ import annotations

import re
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import User
from scripts.demo import start_mail_sink
from scripts.run_all import build_children, demo_mail_environment, parse_args
from services.demo_mail import list_mails
from tests.accounts.conftest import BASE_URL, run_jobs
from tests.conftest import PASSWORD, AuthActions, Stores, csrf_token_from, make_app
from tests.notifications.conftest import _free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_app(app: Flask, stores: Stores, tmp_path: Path) -> Iterator[Flask]:
    """An app built the way ``make demo`` builds it: mail to a local sink, the mailbox on."""
    port = _free_port()
    folder = tmp_path / "mail"
    sink = start_mail_sink("127.0.0.1", port, str(folder))
    environment = demo_mail_environment(tmp_path, port)
    try:
        yield make_app(stores, MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USE_SSL=False,
                       MAIL_DEFAULT_SENDER=environment["MAIL_DEFAULT_SENDER"], DEMO_MAIL_DIR=environment["DEMO_MAIL_DIR"],
                       BASE_URL=BASE_URL)
    finally:
        sink.stop()


def logged_in(app: Flask, login: str) -> FlaskClient:
    client = app.test_client()
    assert AuthActions(client).login(login, PASSWORD).status_code == 302
    return client


def ask_reset(app: Flask, address: str) -> None:
    client = app.test_client()
    token = csrf_token_from(client.get("/auth/forgot").get_data(as_text=True))
    assert client.post("/auth/forgot", data={"email": address, "csrf_token": token}).status_code == 200


def test_the_mailbox_shows_a_sent_mail_and_its_link_works(demo_app: Flask, alice: User) -> None:
    ask_reset(demo_app, alice.email)
    run_jobs(demo_app)
    client = logged_in(demo_app, "alice")
    listing = client.get("/demo/mail").get_data(as_text=True)
    assert "Reset your DHgate Monitor password" in listing and alice.email in listing
    key = re.search(r'href="/demo/mail/([^"/]+)"', listing)
    assert key is not None
    page = client.get(f"/demo/mail/{key.group(1)}").get_data(as_text=True)
    assert f'<iframe class="mail-frame" sandbox src="/demo/mail/{key.group(1)}/html"' in page
    assert "Message-ID" in page and "X-Envelope-To" in page  # the headers
    link = re.search(re.escape(BASE_URL) + r"(/auth/reset/[^\s<]+)", page)
    assert link is not None, "the text part with its link is on the page"

    html = client.get(f"/demo/mail/{key.group(1)}/html")
    assert html.status_code == 200 and "Choose a new password" in html.get_data(as_text=True)
    assert html.headers["Content-Security-Policy"].startswith("sandbox;")
    assert html.headers["X-Frame-Options"] == "SAMEORIGIN"

    assert demo_app.test_client().get(link.group(1)).status_code == 200  # the link from the mail works


def test_members_see_only_their_own_mails_and_admins_all(demo_app: Flask, alice: User, bob: User, admin: User) -> None:
    ask_reset(demo_app, alice.email)
    run_jobs(demo_app)
    [mail] = list_mails(demo_app.config["DEMO_MAIL_DIR"])
    bobs = logged_in(demo_app, "bob")
    assert "Reset your DHgate Monitor password" not in bobs.get("/demo/mail").get_data(as_text=True)
    assert "No mail yet" in bobs.get("/demo/mail").get_data(as_text=True)
    assert bobs.get(f"/demo/mail/{mail.key}").status_code == 404
    assert bobs.get(f"/demo/mail/{mail.key}/html").status_code == 404
    assert logged_in(demo_app, "root").get(f"/demo/mail/{mail.key}").status_code == 200
    assert demo_app.test_client().get("/demo/mail").status_code == 302  # anonymous: to the login page


def test_there_is_no_mailbox_outside_the_demo(app: Flask, alice: User) -> None:
    assert logged_in(app, "alice").get("/demo/mail").status_code == 404
    assert not any(rule.rule.startswith("/demo") for rule in app.url_map.iter_rules())


def test_production_never_has_a_mailbox(stores: Stores, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    production = make_app(stores, DEMO_MAIL_DIR=str(tmp_path / "mail"))
    assert production.config["ENV_NAME"] == "production"
    assert not any(rule.rule.startswith("/demo") for rule in production.url_map.iter_rules())


def test_make_demo_runs_the_sink_and_points_the_mail_settings_at_it(tmp_path: Path) -> None:
    # The app is only handed to the forked children when they start; an empty one will do here.
    children = build_children(parse_args(["--demo", "--mail-port", "8799"]), Flask(__name__))
    sink = next(child for child in children if child.name == "mailsink")
    assert sink.command[1:5] == ["scripts/demo.py", "mailsink", "--port", "8799"]
    environment = demo_mail_environment(tmp_path, 8799)
    assert (environment["MAIL_SERVER"], environment["MAIL_PORT"]) == ("127.0.0.1", "8799")
    assert environment["DEMO_MAIL_DIR"] == str(tmp_path / "mail")


def test_the_sink_process_keeps_what_it_receives(tmp_path: Path) -> None:
    port, folder = _free_port(), tmp_path / "mail"
    process = subprocess.Popen([sys.executable, "scripts/demo.py", "mailsink", "--port", str(port),
                                "--folder", str(folder)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@monitor.test", "b@example.com", "Hello sink"
        message.set_content("plain words")
        for _ in range(200):  # until the process listens
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                    client.send_message(message)
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        [received] = list_mails(folder)
        assert received.subject == "Hello sink" and received.recipients == ("b@example.com",)
    finally:
        process.terminate()
        process.wait(timeout=10)
