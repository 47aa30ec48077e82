"""Creating monitors from whatever a member pastes: kinds, hostile input, tiers, duplicates."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from extensions import db
from models import Keyword, Monitor
from services.monitors import commands, rules
from tests.factories import make_user
from tests.monitoring.conftest import monitor_count, post_form

STORE_URL = "https://www.dhgate.com/store/top-selling/21880856.html?f=bm%7cGFAT%7c&dspm=pcen.sp.list.1"


def form(target: str, **fields: str) -> dict[str, str]:
    data = {"target": target, "poll_interval": "21600", "price_drop_pct": "5", "price_rise_pct": "5", "stock_alerts": "y"}
    data.update(fields)
    return data


def only_monitor() -> Monitor:
    db.session.expire_all()
    return db.session.scalars(select(Monitor)).one()


@pytest.mark.parametrize(
    ("pasted", "kind", "dhgate_id", "url"),
    [
        (STORE_URL, "store", "21880856", "/store/top-selling/21880856.html"),
        ("https://www.dhgate.com/wholesale/search.do?act=search&searchkey=LED+Strip&pageNum=2", "search", "led strip",
         "/wholesale/search.do?act=search&searchkey=led+strip"),
        ("https://m.dhgate.com/product/fancy-lamp/859375351.html#reviews", "product", "859375351",
         "/product/fancy-lamp/859375351.html"),
    ],
)
def test_paste_becomes_a_monitor_due_now(client, auth, alice, pasted, kind, dhgate_id, url) -> None:
    """A link (a search link too) is watched at once, without a question."""
    auth.login("alice")
    before = datetime.now(UTC)
    response = post_form(client, "/monitors/new", form(pasted))
    assert response.status_code == 302
    monitor = only_monitor()
    assert response.headers["Location"].endswith(f"/monitors/{monitor.id}")
    assert (monitor.user_id, monitor.kind, monitor.dhgate_id, monitor.url) == (alice.id, kind, dhgate_id, url)
    assert monitor.active and monitor.poll_interval == 21600
    assert before <= monitor.next_poll_at <= datetime.now(UTC)  # the scheduler picks it up on its next tick
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The first check starts within a minute" in page
    assert "Waiting for first check" in page


def test_typed_words_become_a_search_only_after_a_yes(client, auth, alice) -> None:
    auth.login("alice")
    response = post_form(client, "/monitors/new", form("  led   strip  ", name="Strips"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Watch the search for “led strip”?" in page
    assert '<button type="submit" name="confirm_search" value="led strip"' in page  # a plain form button
    assert 'href="/monitors/new">Cancel</a>' in page
    assert 'value="Strips"' in page  # the rest of the form is kept for the second submit
    assert monitor_count() == 0

    # a "yes" given for other words does not count for these
    response = post_form(client, "/monitors/new", form("led lamp", confirm_search="led strip"))
    assert response.status_code == 200 and "Watch the search for “led lamp”?" in response.get_data(as_text=True)
    assert monitor_count() == 0

    response = post_form(client, "/monitors/new", form("  led   strip  ", name="Strips", confirm_search="led strip"))
    assert response.status_code == 302
    monitor = only_monitor()
    assert (monitor.kind, monitor.dhgate_id, monitor.name) == ("search", "led strip", "Strips")
    assert monitor.url == "/wholesale/search.do?act=search&searchkey=led+strip"


def test_the_search_question_in_dutch(client, auth, alice) -> None:
    auth.login("alice")
    client.get("/monitors/?lang=nl")  # the language is remembered for the visit
    page = post_form(client, "/monitors/new", form("led strip")).get_data(as_text=True)
    assert "De zoekresultaten voor “led strip” volgen?" in page and "Ja, volg deze zoekopdracht" in page
    assert monitor_count() == 0


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("javascript:alert(document.cookie)", "Only http and https links"),
        ("https://evil.example.com/store/top-selling/21880856.html", "Only links to dhgate.com can be watched"),
        ("http://127.0.0.1:6379/store/21880856", "Only links to dhgate.com can be watched"),
        ("https://www.dhgate.com.evil.example/store/21880856", "Only links to dhgate.com can be watched"),
        ("https://user:secret@www.dhgate.com/store/21880856", "user name or password"),
        ("https://www.dhgate.com/help/contact.html", "does not point to a store, a search or a product"),
        ("led\u202estrip", "invisible control characters"),
    ],
)
def test_hostile_or_useless_input_is_refused_with_a_message(client, auth, alice, pasted, message) -> None:
    auth.login("alice")
    response = post_form(client, "/monitors/new", form(pasted, name="mine"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert 'id="target-error"' in page  # tied to the field for screen readers
    assert 'value="mine"' in page  # the rest of the form is kept
    assert monitor_count() == 0


def test_empty_target_is_a_field_error(client, auth, alice) -> None:
    auth.login("alice")
    response = post_form(client, "/monitors/new", form(""))
    assert response.status_code == 422
    assert "Paste a DHgate link or type search keywords." in response.get_data(as_text=True)
    assert monitor_count() == 0


def test_free_member_cannot_pick_fifteen_minutes(client, auth, alice) -> None:
    auth.login("alice")
    page = client.get("/monitors/new").get_data(as_text=True)
    assert '<option disabled value="900">15 minutes (Pro plan)</option>' in page
    assert "Your Free plan checks as often as every 6 hours." in page

    response = post_form(client, "/monitors/new", form(STORE_URL, poll_interval="900"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The Free plan checks at most every 6 hours" in page
    assert '<option selected value="21600">6 hours</option>' in page  # a choice that can be sent again
    # what the link was understood as is shown even though the form failed
    assert 'data-testid="understood"' in page and "21880856" in page
    assert monitor_count() == 0


def test_pro_member_can_pick_fifteen_minutes_but_not_five(client, auth, app) -> None:
    make_user("carol", subscription_tier="pro")
    auth.login("carol")
    assert post_form(client, "/monitors/new", form(STORE_URL, poll_interval="300")).status_code == 422
    assert monitor_count() == 0
    assert post_form(client, "/monitors/new", form(STORE_URL, poll_interval="900")).status_code == 302
    assert only_monitor().poll_interval == 900


def test_default_interval_and_minimums_follow_config(app, alice, admin) -> None:
    assert rules.minimum_interval(alice) == 6 * 3600
    assert rules.minimum_interval(admin) == 5 * 60  # admins get the business limits
    alice.subscription_tier = "platinum"  # unknown tier: the safe side
    assert rules.minimum_interval(alice) == 6 * 3600
    app.config["MONITOR_MIN_INTERVAL_FREE"] = 3600
    alice.subscription_tier = "free"
    assert rules.minimum_interval(alice) == 3600


def test_duplicate_monitor_is_a_form_error(client, auth, alice, bob) -> None:
    commands.create_monitor(alice, "https://www.dhgate.com/store/21880856", rules.MonitorSettings(name="My store"))
    auth.login("alice")
    response = post_form(client, "/monitors/new", form("www.dhgate.com/store/products/21880856.html"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "You already watch this store: “My store”." in page
    assert "open the monitor you already have" in page
    assert monitor_count() == 1
    # another member watching the same store is not a duplicate
    commands.create_monitor(bob, STORE_URL)
    assert monitor_count() == 2


def test_settings_are_saved(client, auth, alice) -> None:
    auth.login("alice")
    response = post_form(
        client, "/monitors/new",
        form("https://www.dhgate.com/product/lamp/859375351.html", name="  Desk   lamp ", keywords="LED, led , lamp,, USB-C",
             price_drop_pct="12.5", price_rise_pct="30", target_price="9.99", stock_alerts=""),
    )
    assert response.status_code == 302
    monitor = only_monitor()
    assert monitor.name == "Desk lamp"
    assert sorted(k.term for k in monitor.keywords) == ["LED", "USB-C", "lamp"]
    assert all(k.user_id == alice.id for k in monitor.keywords)
    assert (monitor.price_drop_pct, monitor.price_rise_pct, monitor.target_price) == (
        Decimal("12.50"), Decimal("30.00"), Decimal("9.99"),
    )
    assert monitor.stock_alerts is False


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price_drop_pct": "150"}, "Number must be between"),
        ({"price_drop_pct": "abc"}, "Not a valid decimal value"),
        ({"target_price": "-3"}, "Number must be at least"),
        ({"keywords": "x" * 101}, "Keywords can be at most 100 characters long."),
        ({"name": "n" * 201}, "Field cannot be longer than 200 characters."),
    ],
)
def test_bad_settings_rerender_and_save_nothing(client, auth, alice, fields, message) -> None:
    auth.login("alice")
    response = post_form(client, "/monitors/new", form(STORE_URL, **fields))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert monitor_count() == 0
    assert db.session.scalar(select(Keyword.id)) is None


def test_new_page_requires_login(client) -> None:
    response = client.get("/monitors/new")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
