"""Pages read on a phone (390×844): data tables turn into one card per row, so nothing is wider
than the screen and no column (a change's Before / After) is clipped."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from models import Monitor, Product
from services.monitors import commands as monitor_service
from tests.conftest import PASSWORD
from tests.monitoring.conftest import add_event, add_price_points, add_product

PHONE = {"width": 390, "height": 844}

# Every element's box, against the viewport: a page is phone-ready when none sticks out.
TOO_WIDE = """() => {
  const limit = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.width > limit + 0.5 || box.right > limit + 0.5) {
      out.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return {limit, scrollWidth: document.documentElement.scrollWidth, out};
}"""


@pytest.fixture
def phone(browser) -> Page:  # noqa: ANN001
    context = browser.new_context(locale="en-US", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def shop(app, alice) -> tuple[Monitor, Product]:  # noqa: ANN001
    """A store with products of long titles and one product with a price history and changes."""
    monitor = monitor_service.create_monitor(alice, "https://www.dhgate.com/store/21880856")
    lamp = add_product(monitor, "859375351", "Adjustable LED Desk Lamp with Wireless Charger and USB Port, Warm White",
                       "1234.56", first_price="1499.99", sold=12345, unit="Piece")
    for i in range(5):
        add_product(monitor, f"90000{i}", f"Waterproof Outdoor Solar Garden Light Set of {i + 2} Stainless Steel", "19.99", sold=i)
    start = datetime.now(UTC) - timedelta(days=10)
    add_price_points(lamp, [(start + timedelta(days=i), p) for i, p in enumerate(["1499.99", "1299.00", "1234.56"])])
    add_event(monitor, lamp, "price_drop", old="1499.99", new="1299.00")
    add_event(monitor, lamp, "price_drop", old="1299.00", new="1234.56")
    return monitor, lamp


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.get_by_label("E-mail or username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/dashboard")


def assert_fits(page: Page, shot: Path) -> None:
    page.screenshot(path=str(shot), full_page=True)  # kept in the test's tmp folder to look at
    result = page.evaluate(TOO_WIDE)
    assert result["limit"] == PHONE["width"]
    assert result["out"] == [], f"wider than the {PHONE['width']} px screen: {result['out'][:10]}"
    assert result["scrollWidth"] <= PHONE["width"]


def test_products_and_product_page_fit_a_phone(phone: Page, live_server: str, shop, tmp_path: Path) -> None:  # noqa: ANN001
    monitor, lamp = shop
    log_in(phone, live_server)

    phone.goto(f"{live_server}/monitors/{monitor.id}/products")
    products = phone.get_by_test_id("products")
    expect(products).to_be_visible()
    expect(products.locator("tbody tr")).to_have_count(6)
    assert_fits(phone, tmp_path / "products-390.png")
    # each card says what each value is: the column header shows beside it
    price_cell = products.locator("tbody tr", has_text="Desk Lamp").locator('td[data-label="Price"]')
    expect(price_cell).to_contain_text("1,234.56")
    label = price_cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"Price"'

    phone.goto(f"{live_server}/monitors/{monitor.id}/products/{lamp.id}")
    changes = phone.get_by_test_id("product-changes")
    expect(changes).to_be_visible()
    for column in ("Before", "After"):  # once clipped on phones: now wholly on screen
        cell = changes.locator(f'td[data-label="{column}"]').first
        cell.scroll_into_view_if_needed()
        expect(cell).to_be_in_viewport(ratio=1)
    expect(changes.locator('td[data-label="After"]').first).to_contain_text("1,234.56")
    assert_fits(phone, tmp_path / "product-390.png")


def test_wide_screens_keep_the_table(page: Page, live_server: str, shop) -> None:  # noqa: ANN001
    """Above phone width the header row is shown and cells sit side by side, as a table."""
    monitor, _ = shop
    log_in(page, live_server)
    page.goto(f"{live_server}/monitors/{monitor.id}/products")
    expect(page.get_by_test_id("products").locator("thead th").nth(1)).to_be_visible()
    boxes = page.get_by_test_id("products").locator("tbody tr").first.locator("td")
    assert boxes.nth(1).bounding_box()["y"] == boxes.nth(2).bounding_box()["y"]
