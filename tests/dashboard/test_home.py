"""The member's home: each section shows what the test wrote, only the viewer's own, an empty
state that says what to do next, and a fixed number of SQL statements however many monitors."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask import Flask

from extensions import db
from models import AffiliatePerformance, Monitor, User
from tests.factories import make_monitor, make_user
from tests.monitoring.conftest import add_event, add_price_points, add_product, browser_for
from tests.sql_count import statements


def section(html: str, testid: str) -> str:
    """The table (or block) marked ``data-testid=testid``, up to its end."""
    start = html.index(f'data-testid="{testid}"')
    end = html.index("</table>", start) if "<table" in html[start - 60:start] else html.index("</section>", start)
    return html[start:end]


def rows(table: str) -> list[str]:
    return re.findall(r'<tr class="row-link">(.*?)</tr>', table, re.S)


def links(row: str) -> list[tuple[str, str]]:
    return re.findall(r'<a href="([^"]+)">([^<]+)</a>', row)


def cell(row: str, label: str) -> str:
    match = re.search(rf'data-label="{label}">(.*?)</td>', row, re.S)
    assert match, f"no {label} cell in {row}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()




def test_monitors_are_listed_with_their_status_and_link_to_their_page(app: Flask, alice: User) -> None:
    shop = make_monitor(alice, name="Lamp shop", last_status="ok", last_polled_at=datetime.now(UTC))
    resting = make_monitor(alice, dhgate_id="999", name="Resting shop", active=False)
    add_product(shop, "1", "Lamp", "5.00")
    add_product(shop, "2", "Mug", "2.00")
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    table = section(html, "home-monitors")
    by_name = {links(r)[0][1]: r for r in rows(table)}
    assert set(by_name) == {"Lamp shop", "Resting shop"}
    assert links(by_name["Lamp shop"]) == [(f"/monitors/{shop.id}", "Lamp shop")]
    assert links(by_name["Resting shop"]) == [(f"/monitors/{resting.id}", "Resting shop")]
    assert cell(by_name["Lamp shop"], "Status") == "Up to date"
    assert cell(by_name["Resting shop"], "Status") == "Paused"
    assert cell(by_name["Lamp shop"], "Products") == "2"
    assert re.search(r'data-testid="stat-monitors">2<', html) and re.search(r'data-testid="stat-products">2<', html)


def test_problem_monitors_are_counted_and_lead_to_the_filtered_list(app: Flask, alice: User) -> None:
    make_monitor(alice, name="Blocked shop", last_status="blocked", consecutive_failures=2)
    make_monitor(alice, dhgate_id="5", name="Fine shop", last_status="ok")
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    assert re.search(r'data-testid="stat-failing">1<', html)
    assert 'href="/monitors/?status=problem"' in html


def test_recent_changes_show_prices_before_and_after(app: Flask, alice: User) -> None:
    shop = make_monitor(alice, name="Lamp shop")
    lamp = add_product(shop, "859375351", "LED Desk Lamp", "9.95")
    mug = add_product(shop, "42", "Travel Mug", "3.00")
    add_event(shop, lamp, "price_drop", old="12.00", new="9.95", at=datetime.now(UTC) - timedelta(hours=1))
    add_event(shop, mug, "out_of_stock")
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    found = rows(section(html, "recent-changes"))
    assert [links(r) for r in found] == [
        [(f"/monitors/{shop.id}/products/{mug.id}", "Travel Mug")],  # newest first
        [(f"/monitors/{shop.id}/products/{lamp.id}", "LED Desk Lamp")],
    ]
    assert (cell(found[1], "Before"), cell(found[1], "After")) == ("$12.00", "$9.95")
    assert (cell(found[0], "Before"), cell(found[0], "After")) == ("—", "—")
    assert cell(found[1], "Monitor") == "Lamp shop"
    assert re.search(r'data-testid="stat-events">2<', html)


def test_biggest_price_drops_this_week_are_measured_from_price_history(app: Flask, alice: User) -> None:
    shop = make_monitor(alice, name="Lamp shop")
    other = make_monitor(alice, dhgate_id="77", name="Second shop")
    now = datetime.now(UTC)
    lamp = add_product(shop, "1", "Lamp", "8.00")  # 10.00 → 8.00: −20 %
    add_product(other, "1", "Lamp", "8.00")  # the same product through a second monitor counts once
    mug = add_product(shop, "2", "Mug", "9.00")  # 10.00 → 9.00: −10 %
    chair = add_product(shop, "3", "Chair", "50.00")  # rose: not a drop
    old = add_product(shop, "4", "Old Drop", "1.00")  # fell before this week: not this week's
    add_price_points(lamp, [(now - timedelta(days=3), "10.00"), (now - timedelta(days=1), "8.00")])
    add_price_points(mug, [(now - timedelta(days=2), "10.00"), (now - timedelta(hours=3), "9.00")])
    add_price_points(chair, [(now - timedelta(days=2), "40.00"), (now - timedelta(hours=3), "50.00")])
    add_price_points(old, [(now - timedelta(days=20), "9.00"), (now - timedelta(days=1), "1.00")])
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    found = rows(section(html, "price-drops"))
    assert [links(r) for r in found] == [
        [(f"/monitors/{shop.id}/products/{lamp.id}", "Lamp")],
        [(f"/monitors/{shop.id}/products/{mug.id}", "Mug")],
    ]
    assert [(cell(r, "Highest this week"), cell(r, "Now"), cell(r, "Change")) for r in found] == [
        ("$10.00", "$8.00", "▼ -20.0%"), ("$10.00", "$9.00", "▼ -10.0%"),
    ]


def test_new_listings_this_week_are_the_new_product_events(app: Flask, alice: User) -> None:
    shop = make_monitor(alice, name="Lamp shop")
    fresh = add_product(shop, "1", "Fresh Lamp", "4.50")
    stale = add_product(shop, "2", "Stale Lamp", "4.00")
    add_event(shop, fresh, "new_product", at=datetime.now(UTC) - timedelta(days=2))
    add_event(shop, stale, "new_product", at=datetime.now(UTC) - timedelta(days=9))
    add_event(shop, stale, "price_rise", old="3.00", new="4.00")
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    found = rows(section(html, "new-listings"))
    assert [links(r) for r in found] == [[(f"/monitors/{shop.id}/products/{fresh.id}", "Fresh Lamp")]]
    assert cell(found[0], "Price") == "$4.50" and cell(found[0], "Monitor") == "Lamp shop"


def _performance(user: User, days_ago: int, clicks: int, conversions: int, commission: str) -> None:
    db.session.add(AffiliatePerformance(
        user_id=user.id, date=datetime.now(UTC).date() - timedelta(days=days_ago), clicks=clicks,
        conversions=conversions, revenue=Decimal(commission) * 10, commission=Decimal(commission),
    ))
    db.session.commit()


def test_affiliate_summary_counts_the_last_thirty_days_of_the_member(app: Flask, alice: User, bob: User) -> None:
    _performance(alice, 0, 4, 1, "1.50")
    _performance(alice, 29, 3, 1, "2.25")
    _performance(alice, 30, 100, 9, "99.00")  # 31 days ago: outside the period
    _performance(bob, 0, 50, 5, "40.00")
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    block = section(html, "home-affiliate")
    assert re.search(r'data-testid="affiliate-clicks">7<', block)
    assert re.search(r'data-testid="affiliate-orders">2<', block)
    assert re.search(r'data-testid="affiliate-commission">\$3\.75<', block)


def test_each_member_and_admin_sees_only_their_own_home(app: Flask, alice: User, bob: User, admin: User) -> None:
    mine = make_monitor(alice, name="Alice shop")
    theirs = make_monitor(bob, name="Bob shop")
    own = make_monitor(admin, dhgate_id="31", name="Root shop")
    now = datetime.now(UTC)
    for monitor, code, title in ((mine, "a1", "Alice Lamp"), (theirs, "b1", "Bob Gadget"), (own, "r1", "Root Widget")):
        product = add_product(monitor, code, title, "5.00")
        add_price_points(product, [(now - timedelta(days=1), "9.00")])
        add_event(monitor, product, "new_product")
    _performance(bob, 0, 12, 0, "0")
    titles = ("Alice", "Bob", "Root")
    expected = {"alice": "Alice", "bob": "Bob", "root": "Root"}
    for login, who in expected.items():
        html = browser_for(app, login).get("/dashboard").get_data(as_text=True)
        for testid in ("home-monitors", "recent-changes", "price-drops", "new-listings"):
            shown = {name for name in titles if name in section(html, testid)}
            assert shown == {who}, (login, testid, shown)
        assert ('data-testid="affiliate-clicks">12<' in html) == (login == "bob")


def test_empty_home_says_what_to_do_next(app: Flask, alice: User) -> None:
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    assert "Add your first monitor" in html and 'href="/monitors/new"' in html
    assert 'data-testid="home-monitors"' not in html
    assert 'data-testid="no-affiliate"' in html


def test_quiet_monitors_say_the_first_check_is_coming(app: Flask, alice: User) -> None:
    make_monitor(alice, name="Lamp shop")
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    assert "No changes yet: the first check runs within a minute" in html
    assert 'data-testid="no-drops"' in html and 'data-testid="no-new"' in html
    assert "Add your first monitor" not in html


def test_checked_monitors_without_changes_do_not_promise_a_first_check(app: Flask, alice: User) -> None:
    make_monitor(alice, name="Lamp shop", last_status="ok", last_polled_at=datetime.now(UTC))
    html = browser_for(app, "alice").get("/dashboard").get_data(as_text=True)
    assert 'data-testid="no-changes"' in html and "the first check runs within a minute" not in html


def test_the_home_page_runs_a_fixed_number_of_statements(app: Flask) -> None:
    """The same statements for 1 and for 20 monitors (each with products, history and events):
    nothing is loaded per monitor or per row."""

    def home_for(name: str, monitors: int) -> Callable[[], list[str]]:
        user = make_user(name)
        now = datetime.now(UTC)
        for n in range(monitors):
            monitor: Monitor = make_monitor(user, dhgate_id=f"{name}{n}", name=f"{name} shop {n}", last_status="ok")
            product = add_product(monitor, f"{name}-{n}", f"Thing {n}", "5.00")
            add_price_points(product, [(now - timedelta(days=1), "6.00")])
            add_event(monitor, product, "new_product")
            add_event(monitor, product, "price_drop", old="6.00", new="5.00", at=now - timedelta(minutes=n + 1))
        _performance(user, 0, 3, 1, "1.00")
        client = browser_for(app, name)

        def visit() -> list[str]:
            with statements() as seen:
                response = client.get("/dashboard")
            assert response.status_code == 200
            return seen
        return visit

    one = home_for("solo", 1)()
    twenty = home_for("many", 20)()
    assert len(one) == len(twenty) == HOME_STATEMENTS, (len(one), len(twenty), "\n".join(s[:100] for s in twenty))


# The login session (2: the first request after logging in reads it joined to its user; its
# last-seen update), the monitors and their
# three grouped counts (4), the affiliate totals and top products (4), distinct products (1),
# recent changes (1), new listings (1), price drops (1), the unread count shared with the layout's
# badge (1) and the layout's site settings (1).
HOME_STATEMENTS = 16


def test_the_home_speaks_dutch(app: Flask, alice: User) -> None:
    make_monitor(alice, name="Lamp shop")
    html = browser_for(app, "alice").get("/dashboard", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    for text in ("Je monitors", "Grootste prijsdalingen deze week", "Nieuwe producten deze week",
                 "Nog geen wijzigingen: de eerste controle volgt binnen een minuut.", "Affiliate: afgelopen 30 dagen"):
        assert text in html, text
