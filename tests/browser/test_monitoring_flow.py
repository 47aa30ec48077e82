"""A member watches a DHgate store in a real browser, end to end: paste a link, check now (a
real RQ worker polls the sandbox marketplace over HTTP), read the products and a product's price
chart, see a price drop appear, pause, and delete with confirmation."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from sandbox import SandboxServer
from tests.browser.conftest import serving
from tests.conftest import PASSWORD, Stores, make_app
from tests.polling.conftest import FAST_POLLING
from worker import AppSimpleWorker, build_worker


@pytest.fixture
def watching_server(app, stores: Stores, sandbox: SandboxServer) -> Iterator[tuple[str, Flask]]:  # noqa: ANN001
    """The real app on a real port fetching from the sandbox, and an app for the worker."""
    settings = {**FAST_POLLING, "DHGATE_BASE_URL": sandbox.base_url}
    worker_app = make_app(stores, **settings)
    with serving(make_app(stores, **settings)) as base_url:
        yield base_url, worker_app
    with worker_app.app_context():
        from extensions import db

        db.engine.dispose()


def run_polls(worker_app) -> None:  # noqa: ANN001
    """What the background worker does: take the queued polls and run them, here and now."""
    build_worker(worker_app, ["polling"], worker_class=AppSimpleWorker).work(burst=True)


def test_watch_a_store_from_paste_to_price_drop(page, watching_server, sandbox, alice) -> None:  # noqa: ANN001
    base, worker_app = watching_server
    store_id = sandbox.catalog.store_ids()[0]
    cheapest = sandbox.catalog.products(store_id)[0]
    sandbox.catalog.set_price(cheapest.item_code, "40.00")

    page.goto(f"{base}/auth/login")
    page.get_by_label("E-mail or username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard")

    # Paste a store link the way people copy it: a tab page with tracking bits.
    page.goto(f"{base}/monitors/new")
    page.get_by_label("DHgate link or search keywords").fill(
        f"https://www.dhgate.com/store/top-selling/{store_id}.html?f=bm%7cGFHS%7c&dspm=pcen.hp.1")
    page.get_by_role("button", name="Start watching").click()
    page.wait_for_url(f"{base}/monitors/*")
    assert page.get_by_role("heading", level=1).inner_text().strip()
    assert page.get_by_test_id("monitor-status").inner_text() == "Waiting for first check"

    page.get_by_test_id("poll-now").click()
    page.wait_for_load_state()
    run_polls(worker_app)
    page.reload()
    assert page.get_by_test_id("monitor-status").inner_text() == "Up to date"
    assert page.locator('[data-field="product_count"]').inner_text() == "30"  # two store pages

    # The products, and one product's page with its price chart and link out.
    page.get_by_role("link", name="Products").first.click()
    rows = page.get_by_test_id("products").locator("tbody tr")
    assert rows.count() == 25  # the first of two pages of products
    page.get_by_label("Search", exact=True).fill(cheapest.item_code)  # find it by item code
    page.get_by_label("Search", exact=True).press("Enter")
    page.wait_for_url("**q=*")
    assert rows.count() == 1
    page.get_by_role("link", name=cheapest.title[:40], exact=False).first.click()
    assert "40.00" in page.get_by_test_id("product-price").inner_text()
    assert page.get_by_test_id("price-chart").locator("svg").count() == 1
    assert page.get_by_test_id("dhgate-link").get_attribute("href")

    # DHgate drops the price by 10 %: the next check shows a price drop.
    sandbox.catalog.set_price(cheapest.item_code, "36.00")
    page.get_by_role("link", name="Monitors").first.click()
    page.get_by_role("link", name=f"Store {store_id}", exact=False).first.click()
    page.get_by_test_id("poll-now").click()
    page.wait_for_load_state()
    run_polls(worker_app)
    page.reload()
    events = page.locator("table", has_text="Price drop")
    assert events.count() >= 1 and cheapest.title[:30] in events.first.inner_text()

    # Pause, then delete with confirmation.
    page.get_by_test_id("pause").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("monitor-status").inner_text() == "Paused"
    page.get_by_role("link", name="Delete…").click()
    page.get_by_test_id("confirm-delete").click()
    page.wait_for_url(f"{base}/monitors/")
    assert page.get_by_role("link", name=f"Store {store_id}", exact=False).count() == 0
