"""The dashboard's recent changes in a real browser: each row leads to its product, by keyboard
(a real link takes focus and Enter follows it) and by pointer (anywhere on the row)."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from services.monitors import commands as monitor_service
from tests.browser.test_responsive import log_in
from tests.monitoring.conftest import add_event, add_product


def test_recent_changes_rows_open_the_product(page: Page, live_server: str, alice) -> None:  # noqa: ANN001
    shop = monitor_service.create_monitor(alice, "https://www.dhgate.com/store/21880856")
    lamp = add_product(shop, "859375351", "LED Desk Lamp", "9.95")
    add_event(shop, lamp, "price_drop", old="12.00", new="9.95")
    product_url = f"{live_server}/monitors/{shop.id}/products/{lamp.id}"
    log_in(page, live_server)

    link = page.get_by_test_id("recent-changes").get_by_role("link", name="LED Desk Lamp")
    link.focus()
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(product_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("LED Desk Lamp")

    page.go_back()
    # a click on another cell of the row lands on the row's link (it covers the row)
    box = page.get_by_test_id("recent-changes").get_by_role("cell", name="Price drop").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page).to_have_url(product_url)
