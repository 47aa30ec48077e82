"""A member downloads their data and deletes their account, in a real browser."""
from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.conftest import PASSWORD


def log_in(page, live_server: str, login: str, password: str = PASSWORD) -> None:  # noqa: ANN001
    page.goto(f"{live_server}/auth/login")
    page.get_by_label("E-mail or username").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_download_then_delete_my_account(page, live_server: str, alice) -> None:  # noqa: ANN001
    log_in(page, live_server, "alice")
    expect(page).to_have_url(f"{live_server}/dashboard")
    page.goto(f"{live_server}/auth/account")
    page.get_by_role("link", name="Your data").click()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download my data").click()
    download = download_info.value
    assert re.fullmatch(r"dhgate-monitor-alice-\d{8}\.json", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as exported:
        assert json.load(exported)["account"]["email"] == "alice@example.com"

    page.get_by_label("Type your e-mail address to confirm").fill("not my address")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("Type your e-mail address exactly as shown to confirm.")).to_be_visible()

    page.get_by_label("Type your e-mail address to confirm").fill("alice@example.com")
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/auth/login"))
    expect(page.get_by_text("Your account and everything in it are deleted.")).to_be_visible()

    log_in(page, live_server, "alice")
    expect(page.get_by_test_id("login-error")).to_be_visible()  # the account is gone
