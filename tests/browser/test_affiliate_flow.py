"""The affiliate loop in a real browser: a member clicks "View on DHgate" on a product page, the
tracked redirect lands on the sandbox (which plays the affiliate network and notes our click
reference), the network's report is imported, and the member's report shows the click and the
commission; the admin report shows them too."""
from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from flask import Flask
from playwright.sync_api import expect

from extensions import db
from models import AffiliateConversion
from sandbox import SandboxServer
from services.affiliate_clicks import flush_clicks
from services.affiliate_conversions import import_csv
from tests.browser.conftest import serving
from tests.conftest import PASSWORD, Stores, make_app
from tests.factories import make_monitor
from tests.monitoring.conftest import add_product


@pytest.fixture
def shop_server(app: Flask, stores: Stores, sandbox: SandboxServer) -> Iterator[str]:
    app.config["DHGATE_BASE_URL"] = sandbox.base_url
    with serving(make_app(stores, DHGATE_BASE_URL=sandbox.base_url, AFFILIATE_ID="aff-browser")) as base:
        yield base


def _login(page, base: str, login: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/auth/login")
    page.get_by_label("E-mail or username").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/dashboard")


def test_view_on_dhgate_then_import_shows_click_and_commission(
    page, shop_server: str, sandbox: SandboxServer, alice, admin,  # noqa: ANN001
) -> None:
    base = shop_server
    sandbox.network.configure(conversion_share=1)  # this click will become an order
    store_id = sandbox.catalog.store_ids()[0]
    item = sandbox.catalog.products(store_id)[0]
    monitor = make_monitor(alice, dhgate_id=store_id)
    product = add_product(monitor, item.item_code, item.title, item.price_min,
                          url=f"{sandbox.base_url}/product/{item.slug}/{item.item_code}.html")
    db.session.commit()

    _login(page, base, "alice")
    page.goto(f"{base}/monitors/{monitor.id}/products/{product.id}")
    with page.context.expect_page() as opened:
        page.get_by_test_id("dhgate-link").click()
    dhgate = opened.value
    dhgate.wait_for_load_state()
    assert dhgate.url.startswith(sandbox.base_url + f"/product/{item.slug}/{item.item_code}.html?")
    assert "affiliate_id=aff-browser" in dhgate.url
    ref = re.search(r"subid=([^&]+)", dhgate.url).group(1)
    dhgate.close()

    # What the scheduled jobs and the admin's import do: clicks into the database, the report in.
    assert flush_clicks().clicks == 1
    assert httpx.get(f"{sandbox.base_url}/__sandbox__/affiliate").json()["orders"][0]["click_ref"] == ref
    report = import_csv(httpx.get(f"{sandbox.base_url}/__sandbox__/affiliate/report.csv").text)
    assert (report.created, report.unmatched) == (1, 0)
    order = db.session.query(AffiliateConversion).one()
    commission = f"${order.commission:,.2f}"
    assert order.commission > Decimal("0")

    page.goto(f"{base}/affiliate/?days=7")
    expect(page.get_by_test_id("stat-clicks").locator(".value")).to_have_text("1")
    expect(page.get_by_test_id("stat-orders").locator(".value")).to_have_text("1")
    expect(page.get_by_test_id("stat-commission").locator(".value")).to_have_text(commission)
    expect(page.get_by_test_id("top-products")).to_contain_text(item.title[:30])

    page.context.clear_cookies()
    _login(page, base, "root")
    page.goto(f"{base}/admin/affiliate/report?days=7")
    expect(page.get_by_test_id("members")).to_contain_text("alice")
    expect(page.get_by_test_id("stat-commission").locator(".value")).to_have_text(commission)

