"""A person who forgot their password gets a link by e-mail and chooses a new one, in a real
browser; the mail arrives at the demo's local mail sink, and the demo mailbox shows it with its
HTML part rendered in a sandboxed frame."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect

from scripts.demo import start_mail_sink
from services.demo_mail import list_mails, read_mail
from tests.accounts.conftest import run_jobs
from tests.browser.conftest import serving
from tests.conftest import Stores, make_app
from tests.notifications.conftest import _free_port

NEW_PASSWORD = "a fresh and long password"


@pytest.fixture
def demo_server(app: Flask, stores: Stores, tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """The app as ``make demo`` runs it (mail to a local sink, the mailbox on), on a real port."""
    port = _free_port()
    sink = start_mail_sink("127.0.0.1", port, str(tmp_path / "mail"))
    server_app = make_app(stores, MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USE_SSL=False,
                          DEMO_MAIL_DIR=str(tmp_path / "mail"))
    try:
        with serving(server_app) as base_url:
            server_app.config["BASE_URL"] = base_url  # the links in mails point at this server
            yield base_url, server_app
    finally:
        sink.stop()


def test_forgotten_password_by_e_mail(page, demo_server: tuple[str, Flask], alice) -> None:  # noqa: ANN001
    base_url, server_app = demo_server
    page.goto(f"{base_url}/auth/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("E-mail").fill(alice.email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_test_id("mail-sent")).to_contain_text(alice.email)

    run_jobs(server_app)  # the worker sends the mail to the sink
    folder = server_app.config["DEMO_MAIL_DIR"]
    [summary] = list_mails(folder)
    mail = read_mail(folder, summary.key)
    assert mail is not None and mail.text is not None
    link = re.search(re.escape(base_url) + r"/auth/reset/\S+", mail.text)
    assert link is not None

    page.goto(link.group(0))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save my new password").click()
    expect(page).to_have_url(re.compile(r"/auth/login"))
    expect(page.get_by_text("Your password is changed")).to_be_visible()

    page.get_by_label("E-mail or username").fill("alice")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/dashboard")

    page.goto(f"{base_url}/demo/mail")
    page.get_by_role("link", name="Reset your DHgate Monitor password").click()
    expect(page.get_by_test_id("mail-text")).to_contain_text("/auth/reset/")
    frame = page.frame_locator("iframe.mail-frame")
    expect(frame.get_by_role("link", name="Choose a new password")).to_be_visible()
