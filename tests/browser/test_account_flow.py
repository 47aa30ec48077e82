"""A person logs in, switches language and theme, and logs out, in a real browser."""
from __future__ import annotations

from tests.conftest import PASSWORD


def test_login_language_theme_logout(page, live_server: str, alice) -> None:  # noqa: ANN001
    page.goto(f"{live_server}/dashboard")
    assert "/auth/login" in page.url  # protected page sends us to log in

    page.get_by_label("E-mail or username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}/dashboard")
    assert page.locator("html").get_attribute("lang") == "en"

    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.get_by_role("link", name="Meldingen").is_visible()  # Dutch navigation

    before = page.locator("html").get_attribute("data-theme")
    page.get_by_test_id("theme-switch").click()
    page.wait_for_load_state()
    after = page.locator("html").get_attribute("data-theme")
    assert after != before and after in ("dark", "light")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(17, 20, 24)" if after == "dark" else "rgb(247, 247, 248)")

    page.locator(".user-menu summary").click()
    page.get_by_test_id("logout").click()
    page.wait_for_url(f"{live_server}/auth/login**")
    page.goto(f"{live_server}/dashboard")
    assert "/auth/login" in page.url  # the session really ended
