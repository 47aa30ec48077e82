"""Alert rules: a member's kinds and a monitor's override decide what a real poll announces."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from extensions import db
from models import Monitor, Notification, NotificationPreference, ProductEvent, User
from sandbox import SandboxServer
from tests.factories import make_monitor
from tests.notifications.test_delivery import poll


def changed_store(user: User, sandbox: SandboxServer) -> Monitor:
    """A baselined store; then two price drops and one new listing wait in the sandbox."""
    store_id = sandbox.catalog.store_ids()[0]
    monitor = make_monitor(user, kind="store", dhgate_id=store_id, poll_interval=3600, name="longlight508")
    products = sandbox.catalog.products(store_id)[:2]
    for product in products:
        sandbox.catalog.set_price(product.item_code, "50.00")
    poll(monitor)
    for product in products:
        sandbox.catalog.set_price(product.item_code, "40.00")
    sandbox.catalog.add_product(store_id, title="Shiny lamp", price_min="9.99")
    return monitor


def alerts_of(user: User) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)))


def test_member_default_kinds_filter_the_grouped_alert(napp: Flask, sandbox: SandboxServer, alice: User) -> None:
    db.session.add(NotificationPreference(user_id=alice.id, alert_kinds=["price_drop"]))
    db.session.commit()
    monitor = changed_store(alice, sandbox)
    poll(monitor)
    [note] = alerts_of(alice)
    assert note.title == "longlight508: 2 price drops"
    assert note.details["counts"] == {"price_drop": 2}
    assert (note.monitor_id, note.event_kinds) == (monitor.id, " price_drop ")
    # The silent event is still recorded for the product pages.
    kinds = db.session.scalars(select(ProductEvent.kind).where(ProductEvent.monitor_id == monitor.id)).all()
    assert sorted(kinds) == ["new_product", "price_drop", "price_drop"]


def test_a_monitor_override_wins_and_nothing_notifiable_means_no_alert(
    napp: Flask, sandbox: SandboxServer, alice: User,
) -> None:
    db.session.add(NotificationPreference(user_id=alice.id, alert_kinds=["price_drop"]))
    db.session.commit()
    monitor = changed_store(alice, sandbox)
    monitor.alert_kinds = ["new_product", "delisted"]
    db.session.commit()
    poll(monitor)
    [note] = alerts_of(alice)
    assert note.kind == "new_product" and note.title == "New listing: Shiny lamp"

    monitor.alert_kinds = []
    db.session.commit()
    for product in sandbox.catalog.products(monitor.dhgate_id)[:2]:
        sandbox.catalog.set_price(product.item_code, "20.00")
    poll(monitor)
    assert len(alerts_of(alice)) == 1  # the drops were recorded, nobody was told
    assert db.session.scalar(select(ProductEvent.id).where(ProductEvent.new_value == 20)) is not None
