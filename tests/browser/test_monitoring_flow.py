"""A member watches a DHgate store in a real browser, end to end: paste a link, check now (a
real RQ worker polls the sandbox marketplace over HTTP), read the products and a product's price
chart, see a price drop appear, pause, and delete with confirmation.

Every check of the page is Playwright's retrying ``expect``, so it waits for the page to get
there rather than reading it once after a load event.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import expect

from sandbox import SandboxServer
from services.worker_runtime import AppSimpleWorker, build_worker
from tests.browser.conftest import serving
from tests.conftest import PASSWORD, Stores, make_app
from tests.polling.conftest import FAST_POLLING


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
    expect(page).to_have_url(f"{base}/dashboard")

    # Paste a store link the way people copy it: a tab page with tracking bits.
    page.goto(f"{base}/monitors/new")
    page.get_by_label("DHgate link or search keywords").fill(
        f"https://www.dhgate.com/store/top-selling/{store_id}.html?f=bm%7cGFHS%7c&dspm=pcen.hp.1")
    page.get_by_role("button", name="Start watching").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/monitors/\d+"))
    expect(page.get_by_role("heading", level=1)).not_to_be_empty()
    status = page.get_by_test_id("monitor-status").first
    expect(status).to_have_text("Waiting for first check")

    page.get_by_test_id("poll-now").click()
    expect(page.locator(".flashes")).to_contain_text("now")  # the check is queued
    run_polls(worker_app)
    page.reload()
    expect(status).to_have_text("Up to date")
    expect(page.locator('[data-field="product_count"]')).to_have_text("30")  # two store pages
    store_name = sandbox.catalog.store(store_id).name  # "Store 123…" became the name DHgate shows
    expect(page.get_by_role("heading", level=1)).to_have_text(store_name)

    # The products, and one product's page with its price chart and link out.
    page.get_by_role("link", name="Products").first.click()
    rows = page.get_by_test_id("products").locator("tbody tr")
    expect(rows).to_have_count(25)  # the first of two pages of products
    page.get_by_label("Search", exact=True).fill(cheapest.item_code)  # find it by item code
    page.get_by_label("Search", exact=True).press("Enter")
    expect(page).to_have_url(re.compile(r"q="))
    expect(rows).to_have_count(1)
    page.get_by_role("link", name=cheapest.title[:40], exact=False).first.click()
    expect(page.get_by_test_id("product-price")).to_contain_text("40.00")
    expect(page.get_by_test_id("price-chart").locator("svg")).to_have_count(1)
    expect(page.get_by_test_id("dhgate-link")).to_have_attribute("href", re.compile(r"\S"))

    # DHgate drops the price by 10 %: the next check shows a price drop.
    sandbox.catalog.set_price(cheapest.item_code, "36.00")
    page.get_by_role("link", name="Monitors").first.click()
    page.get_by_role("link", name=store_name, exact=False).first.click()
    page.get_by_test_id("poll-now").click()
    expect(page.locator(".flashes")).to_contain_text("now")
    run_polls(worker_app)
    page.reload()
    events = page.locator("table", has_text="Price drop")
    expect(events.first).to_contain_text(cheapest.title[:30])

    # Pause, then delete with confirmation.
    page.get_by_test_id("pause").click()
    expect(status).to_have_text("Paused")
    page.get_by_role("link", name="Delete…").click()
    page.get_by_test_id("confirm-delete").click()
    expect(page).to_have_url(f"{base}/monitors/")
    expect(page.get_by_role("link", name=store_name, exact=False)).to_have_count(0)
