"""A person logs in, switches language and theme, and logs out, in a real browser.

Every check is Playwright's retrying ``expect``: it waits for the page to get there (up to the
page's default timeout) instead of reading it once after a load event.
"""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import PASSWORD


def test_login_language_theme_logout(page, live_server: str, alice) -> None:  # noqa: ANN001
    page.goto(f"{live_server}/dashboard")
    expect(page).to_have_url(re.compile(r"/auth/login"))  # protected page sends us to log in

    page.get_by_label("E-mail or username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server}/dashboard")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "en")

    page.get_by_test_id("lang-switch").click()
    expect(html).to_have_attribute("lang", "nl")
    expect(page.get_by_role("link", name="Meldingen")).to_be_visible()  # Dutch navigation

    before = html.get_attribute("data-theme")
    after = "light" if before == "dark" else "dark"
    page.get_by_test_id("theme-switch").click()
    expect(html).to_have_attribute("data-theme", after)
    expect(page.locator("body")).to_have_css(
        "background-color", "rgb(17, 20, 24)" if after == "dark" else "rgb(247, 247, 248)")

    page.locator(".user-menu summary").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.goto(f"{live_server}/dashboard")
    expect(page).to_have_url(re.compile(r"/auth/login"))  # the session really ended
    expect(page.locator("input[type=password]")).to_be_visible()  # the login form (in Dutch now)
