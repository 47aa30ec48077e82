"""Changing a monitor: edit, pause/resume and delete (with its confirmation page)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from extensions import db
from models import Keyword, Monitor, MonitorProduct, PollRun, Product, ProductEvent, SecurityEvent
from services.monitors import commands, rules
from tests.monitoring.conftest import add_event, add_poll_run, add_product, monitor_count, post_form


def alice_monitor(alice, **settings) -> Monitor:  # noqa: ANN001
    return commands.create_monitor(
        alice, "https://www.dhgate.com/store/21880856", rules.MonitorSettings(keywords=["led", "lamp"], **settings)
    )


def fresh(monitor_id: int) -> Monitor | None:
    db.session.expire_all()
    return db.session.get(Monitor, monitor_id)


def edit_data(**fields: str) -> dict[str, str]:
    data = {"name": "Renamed", "poll_interval": "43200", "keywords": "LAMP, usb", "price_drop_pct": "10",
            "price_rise_pct": "20", "target_price": "4.50"}
    data.update(fields)
    return data


def test_edit_form_is_prefilled(client, auth, alice) -> None:
    monitor = alice_monitor(alice, target_price=Decimal("3.25"))
    auth.login("alice")
    page = client.get(f"/monitors/{monitor.id}/edit").get_data(as_text=True)
    assert 'value="Store 21880856"' in page
    assert 'value="lamp, led"' in page
    assert 'value="3.25"' in page
    assert '<option selected value="21600">6 hours</option>' in page
    assert "stock_alerts" not in page  # stock alerts are for product monitors only


def test_edit_saves_and_keeps_unchanged_keywords(client, auth, alice) -> None:
    monitor = alice_monitor(alice)
    lamp_id = next(k.id for k in monitor.keywords if k.term == "lamp")
    auth.login("alice")
    response = post_form(client, f"/monitors/{monitor.id}/edit", edit_data())
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/monitors/{monitor.id}")
    monitor = fresh(monitor.id)
    assert (monitor.name, monitor.poll_interval, monitor.target_price) == ("Renamed", 43200, Decimal("4.50"))
    assert (monitor.price_drop_pct, monitor.price_rise_pct) == (Decimal("10.00"), Decimal("20.00"))
    terms = {k.term: k.id for k in monitor.keywords}
    assert set(terms) == {"LAMP", "usb"}
    assert terms["LAMP"] == lamp_id  # same row, new spelling
    assert db.session.scalar(select(func.count(Keyword.id))) == 2  # "led" is gone, not orphaned
    assert monitor.stock_alerts is True  # not on the store form, so left alone


def test_edit_shows_and_keeps_an_interval_that_is_no_standard_choice(client, auth, alice) -> None:
    """A demo monitor checked every 20 s (or one from before a downgrade) is shown as it is, and
    saving other changes keeps its interval instead of quietly moving it to a listed one."""
    monitor = alice_monitor(alice)
    monitor.poll_interval = 20
    db.session.commit()
    auth.login("alice")
    page = client.get(f"/monitors/{monitor.id}/edit").get_data(as_text=True)
    assert '<option selected value="20">20 seconds</option>' in page
    assert 'value="900">15 minutes (Pro plan)</option>' in page  # the plan's limit still shows

    response = post_form(client, f"/monitors/{monitor.id}/edit", edit_data(poll_interval="20", name="Demo"))
    assert response.status_code == 302
    monitor = fresh(monitor.id)
    assert (monitor.name, monitor.poll_interval) == ("Demo", 20)
    assert "<dd>20 seconds</dd>" in client.get(f"/monitors/{monitor.id}").get_data(as_text=True)

    # another sub-plan value is still refused, and the refused form offers the kept one again
    response = post_form(client, f"/monitors/{monitor.id}/edit", edit_data(poll_interval="30"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Choose an interval between 1 minute and 7 days." in page
    assert '<option selected value="20">20 seconds</option>' in page
    assert fresh(monitor.id).poll_interval == 20


def test_shorter_interval_pulls_the_next_check_in(app, alice) -> None:
    monitor = alice_monitor(alice)
    monitor.last_polled_at = datetime.now(UTC) - timedelta(hours=1)
    monitor.next_poll_at = monitor.last_polled_at + timedelta(days=1)
    monitor.poll_interval = 86400
    db.session.commit()
    commands.update_monitor(monitor, rules.MonitorSettings(name=monitor.name, poll_interval=21600))
    assert monitor.next_poll_at == monitor.last_polled_at + timedelta(hours=6)


def test_edit_refuses_an_interval_above_the_plan(client, auth, alice) -> None:
    monitor = alice_monitor(alice)
    auth.login("alice")
    response = post_form(client, f"/monitors/{monitor.id}/edit", edit_data(poll_interval="900"))
    assert response.status_code == 422
    assert "The Free plan checks at most every 6 hours" in response.get_data(as_text=True)
    monitor = fresh(monitor.id)
    assert (monitor.name, monitor.poll_interval) == ("Store 21880856", 21600)  # nothing half-written
    assert sorted(k.term for k in monitor.keywords) == ["lamp", "led"]


def test_pause_and_resume(client, auth, alice) -> None:
    monitor = alice_monitor(alice)
    monitor.next_poll_at = datetime.now(UTC) + timedelta(hours=5)
    monitor.consecutive_failures = 3
    db.session.commit()
    auth.login("alice")
    response = post_form(client, f"/monitors/{monitor.id}/pause", token_from=f"/monitors/{monitor.id}")
    assert response.status_code == 302
    assert fresh(monitor.id).active is False
    page = client.get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert "Nothing is checked until you resume it." in page
    assert 'data-testid="resume"' in page and 'data-testid="poll-now"' not in page
    assert "Paused" in client.get("/monitors/").get_data(as_text=True)

    before = datetime.now(UTC)
    post_form(client, f"/monitors/{monitor.id}/resume", token_from=f"/monitors/{monitor.id}")
    monitor = fresh(monitor.id)
    assert monitor.active is True and monitor.consecutive_failures == 0
    assert before <= monitor.next_poll_at <= datetime.now(UTC)  # checked again right away


def test_pause_needs_post(client, auth, alice) -> None:
    monitor = alice_monitor(alice)
    auth.login("alice")
    assert client.get(f"/monitors/{monitor.id}/pause").status_code == 405
    assert client.post(f"/monitors/{monitor.id}/pause").status_code == 400  # no CSRF token
    assert fresh(monitor.id).active is True


def test_delete_asks_first_then_removes_everything_recorded(client, auth, alice, bob) -> None:
    monitor = alice_monitor(alice)
    product = add_product(monitor, "111", "Lamp", "3.00")
    add_event(monitor, product, "new_product")
    add_poll_run(monitor)
    # the same product seen by bob's monitor must survive
    bobs = commands.create_monitor(bob, "https://www.dhgate.com/store/21880856")
    add_product(bobs, "111", "Lamp", "3.00")
    monitor_id = monitor.id
    auth.login("alice")

    confirm = client.get(f"/monitors/{monitor_id}/delete")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "Delete “Store 21880856”?" in page and 'data-testid="confirm-delete"' in page
    assert fresh(monitor_id) is not None  # a GET never deletes

    response = post_form(client, f"/monitors/{monitor_id}/delete", token_from=f"/monitors/{monitor_id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/monitors/")
    assert "Deleted “Store 21880856” and its history." in client.get("/monitors/").get_data(as_text=True)
    assert fresh(monitor_id) is None
    for model in (MonitorProduct, ProductEvent, PollRun, Keyword):
        assert db.session.scalar(select(func.count()).select_from(model).where(model.monitor_id == monitor_id)) == 0
    assert db.session.scalar(select(func.count(Product.id))) == 1
    assert db.session.scalar(select(func.count(MonitorProduct.id)).where(MonitorProduct.monitor_id == bobs.id)) == 1
    assert monitor_count() == 1


def test_admin_changes_to_a_members_monitor_are_logged(client, auth, alice, admin) -> None:
    monitor = alice_monitor(alice)
    auth.login("root")
    response = post_form(client, f"/monitors/{monitor.id}/pause", token_from=f"/monitors/{monitor.id}")
    assert response.status_code == 302
    assert fresh(monitor.id).active is False
    event = db.session.scalars(select(SecurityEvent).where(SecurityEvent.event == "admin_action")).one()
    assert event.user_id == admin.id
    assert event.details == {"action": "monitor_pause", "monitor_id": monitor.id, "owner_id": alice.id}
