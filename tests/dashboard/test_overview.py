"""The member's dashboard home: figures, empty states, and recent changes that lead to the product."""
from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from models import User
from services.monitors import commands as monitor_service
from tests.monitoring.conftest import add_event, add_product, browser_for


def test_recent_changes_rows_link_to_the_product_within_its_monitor(app: Flask, alice: User) -> None:
    shop = monitor_service.create_monitor(alice, "https://www.dhgate.com/store/21880856")
    lamp = add_product(shop, "859375351", "LED Desk Lamp", "9.95")
    cup = add_product(shop, "42", "Travel Mug", "3.00")
    add_event(shop, lamp, "price_drop", old="12.00", new="9.95")
    add_event(shop, cup, "new_product")
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    start = html.index('data-testid="recent-changes"')
    table = html[start:html.index("</table>", start)]
    rows = re.findall(r"<tr class=\"row-link\">(.*?)</tr>", table, re.S)
    assert len(rows) == 2
    links = [re.findall(r'<a href="([^"]+)">([^<]+)</a>', row) for row in rows]
    assert sorted(links) == sorted([
        [(f"/monitors/{shop.id}/products/{lamp.id}", "LED Desk Lamp")],
        [(f"/monitors/{shop.id}/products/{cup.id}", "Travel Mug")],
    ])  # exactly one real link per row
    assert "Price drop" in table and "New listing" in table


def test_dashboard_without_monitors_invites_the_first_one(app: Flask, alice: User) -> None:
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    assert "Hello, alice" in html
    assert "Nothing watched yet" in html and 'href="/monitors/new"' in html
    assert 'data-testid="recent-changes"' not in html


def test_dashboard_with_quiet_monitors_says_no_changes_yet(app: Flask, alice: User) -> None:
    monitor_service.create_monitor(alice, "https://www.dhgate.com/store/21880856")
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    assert "No changes yet" in html


def test_recent_changes_are_the_members_own(app: Flask, alice: User, bob: User) -> None:
    theirs = monitor_service.create_monitor(bob, "https://www.dhgate.com/store/21880856")
    add_event(theirs, add_product(theirs, "7", "Bob's Secret Gadget", "1.00"), "new_product")
    client: FlaskClient = browser_for(app, "alice")
    assert "Secret Gadget" not in client.get("/dashboard").get_data(as_text=True)
