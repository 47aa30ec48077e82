"""The monitors list in pages of 25 that keep their filters and order, and a fixed number of SQL
statements per page (for the list and for a monitor's products) however many rows there are."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import Monitor, MonitorProduct, Product, ProductEvent, User
from tests.factories import make_user
from tests.monitoring.conftest import browser_for
from tests.sql_count import statements


def monitor_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-monitor-id="(\d+)"', html)]


def many_monitors(user: User, count: int, *, tag: str, products_each: int = 0) -> list[Monitor]:
    """``count`` monitors named ``<tag> shop 000``…, each with ``products_each`` products (two of
    them new this week with an event), written in bulk so large lists stay quick to build."""
    now = datetime.now(UTC)
    monitors = [
        Monitor(user_id=user.id, kind="store", dhgate_id=f"{tag}{n}", url=f"/store/{tag}{n}.html", name=f"{tag} shop {n:03d}",
                last_status="ok" if n % 2 else None, last_polled_at=now - timedelta(minutes=n) if n % 2 else None,
                created_at=now - timedelta(hours=count - n))
        for n in range(count)
    ]
    db.session.add_all(monitors)
    db.session.flush()
    for monitor in monitors:
        for p in range(products_each):
            product = Product(item_code=f"{monitor.dhgate_id}-{p}", title=f"Thing {p}", url=f"/product/{monitor.dhgate_id}-{p}.html",
                              status="listed", first_seen_at=now, last_seen_at=now)
            db.session.add(product)
            db.session.flush()
            seen = now - timedelta(days=1 if p < 2 else 30)
            db.session.add(MonitorProduct(monitor_id=monitor.id, product_id=product.id, first_seen_at=seen, last_seen_at=now))
            if p < 2:
                db.session.add(ProductEvent(monitor_id=monitor.id, product_id=product.id, kind="new_product",
                                            dedupe_key=f"{monitor.id}:{product.id}", created_at=now))
    db.session.commit()
    return monitors


def test_monitors_list_pages_keep_filters_and_order(app: Flask, alice: User) -> None:
    monitors = many_monitors(alice, 60, tag="a")
    client = browser_for(app, "alice")
    first = client.get("/monitors/").get_data(as_text=True)
    by_name = sorted(monitors, key=lambda m: m.name)
    assert monitor_ids(first) == [m.id for m in by_name[:25]]
    assert "Page 1 of 3" in first and "Monitors <span class=\"muted\">(60)</span>" in first
    third = client.get("/monitors/?page=3").get_data(as_text=True)
    assert monitor_ids(third) == [m.id for m in by_name[50:]]

    checked = client.get("/monitors/?status=ok&sort=last_check").get_data(as_text=True)
    ok_by_last_check = [m.id for m in monitors if m.last_status == "ok"]  # polled n minutes ago: n ascending
    assert monitor_ids(checked) == ok_by_last_check[:25]
    assert 'href="/monitors/?page=2&amp;status=ok&amp;sort=last_check"' in checked
    second = client.get("/monitors/?page=2&status=ok&sort=last_check").get_data(as_text=True)
    assert monitor_ids(second) == ok_by_last_check[25:30]
    assert 'rel="next"' not in second and '<option value="last_check" selected>' in second

    newest = client.get("/monitors/?sort=newest").get_data(as_text=True)
    assert monitor_ids(newest)[:3] == [monitors[59].id, monitors[58].id, monitors[57].id]

    past_the_end = client.get("/monitors/?page=9")
    assert past_the_end.status_code == 200 and "Nothing on this page" in past_the_end.get_data(as_text=True)
    for bad in ("page=abc", "page=-4", "page=99999999999999999999999", "sort=drop table"):
        assert client.get(f"/monitors/?{bad}").status_code == 200, bad


def test_admin_sees_everyones_monitors_in_pages(app: Flask, alice: User, admin: User) -> None:
    many_monitors(alice, 30, tag="a")
    many_monitors(admin, 1, tag="r")
    client = browser_for(app, "root")
    mine = client.get("/monitors/").get_data(as_text=True)
    assert len(monitor_ids(mine)) == 1
    everyone = client.get("/monitors/?everyone=1").get_data(as_text=True)
    assert len(monitor_ids(everyone)) == 25 and "Page 1 of 2" in everyone
    assert 'href="/monitors/?page=2&amp;everyone=1"' in everyone


def visit(client: FlaskClient, path: str) -> list[str]:
    with statements() as seen:
        response = client.get(path)
    assert response.status_code == 200
    return seen


def test_monitors_list_statements_do_not_grow_with_rows(app: Flask) -> None:
    """A member with 2 monitors and one with 120 (each with products and events), first page and
    a later one: the same statements."""

    def list_of(name: str, count: int) -> Callable[[str], list[str]]:
        user = make_user(name)
        many_monitors(user, count, tag=name, products_each=3)
        client = browser_for(app, name)
        return lambda path: visit(client, path)

    few = list_of("few", 2)
    lots = list_of("lots", 120)
    few("/dashboard"), lots("/dashboard")  # new accounts and logins: each reads its login session once
    counts = {len(few("/monitors/")), len(lots("/monitors/")), len(lots("/monitors/?page=3&sort=newest&status=ok"))}
    assert counts == {MONITORS_LIST_STATEMENTS}


# The login session's last-seen update (1; the session itself comes from this process's memory,
# services.session_cache), the page of monitors and its total (2), their
# products, new products and events of the week counted per monitor in three grouped statements
# (3), and the layout's unread count and site settings (2).
MONITORS_LIST_STATEMENTS = 8


def test_products_page_statements_do_not_grow_with_rows(app: Flask, alice: User) -> None:
    [small] = many_monitors(alice, 1, tag="s", products_each=3)
    [large] = many_monitors(alice, 1, tag="l", products_each=140)
    client = browser_for(app, "alice")
    client.get("/dashboard")  # the first request after logging in reads the login session once
    counts = {
        len(visit(client, f"/monitors/{small.id}/products")),
        len(visit(client, f"/monitors/{large.id}/products")),
        len(visit(client, f"/monitors/{large.id}/products?page=4&sort=title&dir=asc&q=thing")),
    }
    assert counts == {PRODUCTS_PAGE_STATEMENTS}
    html = client.get(f"/monitors/{large.id}/products?page=2&sort=title&dir=asc").get_data(as_text=True)
    assert "Page 2 of 6" in html


# The login session's last-seen update (1; the session from memory), the monitor (1), the page of products with its total (2), the monitor's
# product count (1), and the layout's unread count and site settings (2).
PRODUCTS_PAGE_STATEMENTS = 7
