"""A member adds an apprise channel in a real browser; a price drop in the sandbox (changed
through its HTTP control API) is polled, reaches a local JSON endpoint, and the badge of the page
left open updates without a reload."""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from models import User
from sandbox import SandboxServer
from services.notifications.sending import deliver_due
from services.polling import engine as polling
from tests.browser.conftest import serving
from tests.browser.test_responsive import log_in
from tests.conftest import Stores, make_app
from tests.factories import make_monitor
from tests.notifications.conftest import Endpoint
from tests.polling.conftest import FAST_POLLING


@pytest.fixture
def hook() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    endpoint.thread.start()
    try:
        yield endpoint
    finally:
        endpoint.server.shutdown()
        endpoint.server.server_close()


@pytest.fixture
def polling_server(app: Flask, stores: Stores, sandbox: SandboxServer) -> Iterator[str]:
    """The real app on a real port; the test's own app (the worker's part) polls the sandbox."""
    app.config.update(FAST_POLLING, DHGATE_BASE_URL=sandbox.base_url, NOTIFY_RETRY_SECONDS=0)
    with serving(make_app(stores, **FAST_POLLING, DHGATE_BASE_URL=sandbox.base_url)) as base_url:
        yield base_url


def sandbox_change(sandbox: SandboxServer, action: str, **params: str) -> dict:
    """POST to the sandbox's control API, as a demo script would."""
    request = urllib.request.Request(f"{sandbox.base_url}/__sandbox__/change/{action}", method="POST",
                                     data=json.dumps(params).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback sandbox)
        return json.loads(response.read())


def test_price_drop_reaches_the_apprise_endpoint_and_the_open_page_badge(
    page: Page, polling_server: str, sandbox: SandboxServer, hook: Endpoint, alice: User,
) -> None:
    base = polling_server
    log_in(page, base)
    page.goto(f"{base}/notifications/channels")
    page.get_by_label("Apprise URL").fill(hook.url)
    page.get_by_label("Name (optional)").fill("my hook")
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator(".flashes")).to_contain_text("Channel added")
    expect(page.get_by_role("cell", name="my hook apprise")).to_be_visible()

    store_id = sandbox.catalog.store_ids()[0]
    product = sandbox.catalog.products(store_id)[0]
    sandbox_change(sandbox, "set_price", item_code=product.item_code, price_min="50.00")
    monitor = make_monitor(alice, kind="store", dhgate_id=store_id, poll_interval=3600, name="longlight508")
    assert polling.poll_monitor(monitor.id).outcome == "ok"  # the baseline: nothing to tell

    page.goto(f"{base}/dashboard")
    badge_link = page.get_by_role("link", name="Notifications")
    expect(badge_link.locator(".badge")).to_have_count(0)
    page.evaluate("window.stillTheSamePage = true")

    sandbox_change(sandbox, "set_price", item_code=product.item_code, price_min="40.00")
    assert polling.poll_monitor(monitor.id).outcome == "ok"
    assert deliver_due().outcomes == {"sent": 1}
    [payload] = hook.received
    assert payload["title"].startswith("Price drop:")
    assert "went down from $50.00 to $40.00" in payload["message"]

    # The page polls every 30 s: within that the badge shows the alert, with no reload.
    expect(badge_link.locator(".badge")).to_have_text("1", timeout=45_000)
    expect(badge_link.locator(".badge")).to_have_attribute("aria-label", "1 unread")
    assert page.evaluate("window.stillTheSamePage") is True
