"""The products of a monitor (search, sort, pagination, badges) and the product page."""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from flask import Flask

from extensions import db
from models import Monitor
from services.monitors import commands, queries
from tests.monitoring.conftest import add_event, add_price_points, add_product, browser_for

TITLE_RE = re.compile(r'class="product-title">([^<]*)</a>')
SVG_NS = {"svg": "http://www.w3.org/2000/svg"}


def titles(page: str) -> list[str]:
    return [html.unescape(t) for t in TITLE_RE.findall(page)]


@pytest.fixture
def shop(app: Flask, alice) -> Monitor:  # noqa: ANN001
    return commands.create_monitor(alice, "https://www.dhgate.com/store/21880856")


@pytest.fixture
def alice_browser(app: Flask, alice):  # noqa: ANN001, ANN201
    return browser_for(app, "alice")


def test_pagination_25_per_page(shop, alice_browser) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    for i in range(30):
        add_product(shop, f"{1000 + i}", f"Item {i:02d}", "1.00", first_seen=now - timedelta(hours=i))
    first = alice_browser.get(f"/monitors/{shop.id}/products").get_data(as_text=True)
    assert len(titles(first)) == 25
    assert titles(first)[0] == "Item 00"  # newest first by default
    assert "Page 1 of 2" in first
    assert "30 products seen" in first
    second = alice_browser.get(f"/monitors/{shop.id}/products?page=2").get_data(as_text=True)
    assert titles(second) == [f"Item {i:02d}" for i in range(25, 30)]
    beyond = alice_browser.get(f"/monitors/{shop.id}/products?page=9")
    beyond_page = beyond.get_data(as_text=True)
    assert beyond.status_code == 200 and titles(beyond_page) == []
    assert "Products of Store 21880856" in beyond_page and "30 products seen" in beyond_page
    garbled = alice_browser.get(f"/monitors/{shop.id}/products?page=abc")
    assert garbled.status_code == 200 and titles(garbled.get_data(as_text=True)) == titles(first)  # page 1


def test_pager_keeps_search_and_sort(shop, alice_browser) -> None:  # noqa: ANN001
    for i in range(27):
        add_product(shop, f"{2000 + i}", f"Lamp {i:02d}", f"{i + 1}.00")
    page = alice_browser.get(f"/monitors/{shop.id}/products?q=lamp&sort=price&dir=asc").get_data(as_text=True)
    next_link = re.search(r'href="([^"]+)" rel="next"', page).group(1)
    assert "q=lamp" in next_link and "sort=price" in next_link and "dir=asc" in next_link and "page=2" in next_link


def test_search_by_title_and_item_code(shop, alice_browser) -> None:  # noqa: ANN001
    add_product(shop, "859375351", "LED Desk Lamp", "10.00")
    add_product(shop, "123456789", "USB cable 100% copper", "2.00")
    add_product(shop, "555000111", "Phone case", "3.00")
    url = f"/monitors/{shop.id}/products?q="
    assert titles(alice_browser.get(url + "desk").get_data(as_text=True)) == ["LED Desk Lamp"]
    assert titles(alice_browser.get(url + "37535").get_data(as_text=True)) == ["LED Desk Lamp"]
    # LIKE wildcards are searched literally, not as "anything"
    assert titles(alice_browser.get(url + "100%25").get_data(as_text=True)) == ["USB cable 100% copper"]
    assert titles(alice_browser.get(url + "_").get_data(as_text=True)) == []
    empty = alice_browser.get(url + "nothing-like-this").get_data(as_text=True)
    assert "No products match" in empty


@pytest.fixture
def sortable(shop):  # noqa: ANN001, ANN201
    now = datetime.now(UTC)
    add_product(shop, "1", "banana", "5.00", first_price="10.00", sold=50, first_seen=now - timedelta(days=3))  # -50%
    add_product(shop, "2", "Apple", "12.00", first_price="10.00", sold=None, first_seen=now - timedelta(days=1))  # +20%
    add_product(shop, "3", "cherry", "8.00", first_price="8.00", sold=900, first_seen=now - timedelta(days=2))  # 0%
    add_product(shop, "4", "date", None, sold=7, first_seen=now - timedelta(days=4))  # no price known
    return shop


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=title&dir=asc", ["Apple", "banana", "cherry", "date"]),
        ("sort=title&dir=desc", ["date", "cherry", "banana", "Apple"]),
        ("sort=price&dir=asc", ["banana", "cherry", "Apple", "date"]),
        ("sort=price&dir=desc", ["Apple", "cherry", "banana", "date"]),
        ("sort=change&dir=desc", ["Apple", "cherry", "banana", "date"]),
        ("sort=change&dir=asc", ["banana", "cherry", "Apple", "date"]),
        ("sort=first_seen&dir=desc", ["Apple", "cherry", "banana", "date"]),
        ("sort=first_seen&dir=asc", ["date", "banana", "cherry", "Apple"]),
        ("sort=sold&dir=desc", ["cherry", "banana", "date", "Apple"]),
        ("sort=nonsense&dir=sideways", ["Apple", "cherry", "banana", "date"]),
    ],
)
def test_sorting_with_unknown_values_last(sortable, alice_browser, query, expected) -> None:  # noqa: ANN001
    page = alice_browser.get(f"/monitors/{sortable.id}/products?{query}").get_data(as_text=True)
    assert titles(page) == expected


def test_sort_headers_toggle_and_announce_direction(sortable, alice_browser) -> None:  # noqa: ANN001
    page = alice_browser.get(f"/monitors/{sortable.id}/products?sort=price&dir=asc").get_data(as_text=True)
    assert 'aria-sort="ascending"' in page
    assert f"/monitors/{sortable.id}/products?sort=price&amp;dir=desc" in page


def test_change_new_badge_and_status(shop, alice_browser) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    add_product(shop, "11", "Fresh", "12.00", first_price="10.00", first_seen=now - timedelta(days=2))
    add_product(shop, "12", "Old", "9.00", first_price="10.00", first_seen=now - timedelta(days=10), status="delisted")
    page = alice_browser.get(f"/monitors/{shop.id}/products?sort=title&dir=asc").get_data(as_text=True)
    fresh_row, old_row = page.split('data-product-id="')[1:3]
    assert 'data-testid="new-badge"' in fresh_row and 'data-testid="new-badge"' not in old_row
    # arrows, signs and words: never colour alone
    assert "change-up" in fresh_row and "▲" in fresh_row and "+20.0%" in fresh_row and "higher than when first seen" in fresh_row
    assert "change-down" in old_row and "▼" in old_row and "-10.0%" in old_row and "lower than when first seen" in old_row
    assert "Listed" in fresh_row and "Delisted" in old_row
    delisted_only = alice_browser.get(f"/monitors/{shop.id}/products?status=delisted").get_data(as_text=True)
    assert titles(delisted_only) == ["Old"]


def test_empty_products_page_explains(shop, alice_browser) -> None:  # noqa: ANN001
    page = alice_browser.get(f"/monitors/{shop.id}/products").get_data(as_text=True)
    assert "No products yet" in page and "after the first check" in page


def test_product_page_with_price_history_chart(app: Flask, shop, alice_browser) -> None:  # noqa: ANN001
    product = add_product(shop, "859375351", "LED Desk Lamp", "11.00", first_price="12.00",
                          image_url="//img.dhgate.com/lamp.jpg", unit="Piece", min_order=2)
    start = datetime.now(UTC) - timedelta(days=10)
    add_price_points(product, [(start + timedelta(days=i), p) for i, p in enumerate(["12.00", "9.95", "14.50", "11.00"])])
    add_event(shop, product, "price_drop", old="12.00", new="9.95")
    response = alice_browser.get(f"/monitors/{shop.id}/products/{product.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page, re.S).group(0))
    assert len(svg.findall(".//svg:circle[@class='point']", SVG_NS)) == 4
    texts = {t.get("class"): t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert texts["label-min"] == "$9.95" and texts["label-max"] == "$14.50"
    assert svg.find("svg:title", SVG_NS).text == "Price history of LED Desk Lamp"
    assert "lowest $9.95, highest $14.50" in svg.find("svg:desc", SVG_NS).text
    assert "style=" not in re.search(r"<svg.*?</svg>", page, re.S).group(0)
    # the product itself
    assert 'src="https://img.dhgate.com/lamp.jpg"' in page
    assert "$11.00" in page and "/ Piece" in page
    assert "Price drop" in page and "$12.00" in page
    link = re.search(r'<a class="button" href="([^"]+)" rel="([^"]+)"[^>]*data-testid="dhgate-link"', page)
    assert link.group(1).startswith("/go/")  # the tracked affiliate redirect
    target = alice_browser.get(link.group(1)).headers["Location"]
    assert target.startswith(app.config["DHGATE_BASE_URL"] + "/product/thing/859375351.html?")
    assert link.group(2) == "noopener noreferrer nofollow"


def test_product_page_without_history(shop, alice_browser) -> None:  # noqa: ANN001
    product = add_product(shop, "42", "Mystery", None, url="https://www.dhgate.com/product/mystery/42.html")
    page = alice_browser.get(f"/monitors/{shop.id}/products/{product.id}").get_data(as_text=True)
    assert "No price recorded yet" in page
    link = re.search(r'href="(/go/[^"]+)"[^>]*data-testid="dhgate-link"', page).group(1)
    assert alice_browser.get(link).headers["Location"].startswith("https://www.dhgate.com/product/mystery/42.html?")
    assert "No changes recorded for this product yet." in page


def test_product_link_is_the_single_place_for_outbound_links(app: Flask, shop, alice_browser) -> None:  # noqa: ANN001
    product = add_product(shop, "77", "Thing", "1.00", url="javascript:alert(1)")
    link = commands.product_link(product, shop)
    assert link.startswith("/go/")
    assert alice_browser.get(link).headers["Location"].startswith(app.config["DHGATE_BASE_URL"] + "/?")
    product.url = "/product/thing/77.html"
    db.session.commit()
    target = alice_browser.get(link).headers["Location"]
    assert target.startswith(app.config["DHGATE_BASE_URL"] + "/product/thing/77.html?")


def test_price_tiers_when_known(app: Flask) -> None:
    from types import SimpleNamespace

    from services.dhgate.types import PriceTier

    product = SimpleNamespace(tiers=[{"min_qty": 10, "max_qty": None, "price": "2.10"}, {"min_qty": "1", "max_qty": 9, "price": 2.5},
                                     {"price": "broken"}, "junk"])
    assert queries.price_tiers(product) == [PriceTier(1, 9, Decimal("2.5")), PriceTier(10, None, Decimal("2.10"))]
    assert queries.price_tiers(SimpleNamespace()) == []


def test_price_chart_of_one_day_shows_times_in_the_viewers_zone(app: Flask, shop, alice) -> None:  # noqa: ANN001
    """Changes within one day: the axis shows two times (in the viewer's zone), not one date twice."""
    from zoneinfo import ZoneInfo

    from babel.dates import format_time

    alice.timezone = "Asia/Tokyo"
    db.session.commit()
    product = add_product(shop, "859375351", "LED Desk Lamp", "11.00")
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    add_price_points(product, [(first, "12.00"), (first + timedelta(hours=2), "11.00")])
    page = browser_for(app, "alice").get(f"/monitors/{shop.id}/products/{product.id}").get_data(as_text=True)
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page, re.S).group(0))
    texts = {t.get("class"): t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert texts["label-start"] == format_time(first, "short", tzinfo=ZoneInfo("Asia/Tokyo"), locale="en")
    assert texts["label-end"] != texts["label-start"]
    assert str(first.year) not in texts["label-start"] + texts["label-end"]  # times, not dates
