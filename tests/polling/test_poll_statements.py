"""Exactly which SQL statements a poll sends: first, unchanged, cosmetic-only and changed polls.

Counted: every statement the database driver receives (SQLAlchemy's ``before_cursor_execute``
on the app's engine; an ``executemany`` is one statement) during one whole
``services.polling.engine.poll_monitor`` call, with the sandbox's pages fetched for real.
Nothing is left out: the engine's one read of the monitor (``SELECT monitors``, before the
fetch: what to fetch and everything the diff and the schedule need), the per-card path's one
read of the monitor's rows, its writes, and the poll's own bookkeeping (one ``UPDATE monitors``
with the schedule, one ``INSERT poll_runs`` with its final values: at the end, or just before
the events, which refer to it). Transaction control (BEGIN/COMMIT) is not a statement here.
Goals: unchanged <= 4, changed <= 10, first <= 12, all of these counted. The same lists hold
on SQLite and PostgreSQL.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from extensions import db
from models import (
    Delivery,
    Keyword,
    Monitor,
    MonitorProduct,
    Notification,
    NotificationChannel,
    NotificationPreference,
    PollRun,
    PricePoint,
    Product,
)
from services.polling import engine as polling
from tests.polling.test_change_detection import events
from tests.polling.test_fast_path import statements_during

READ = ["SELECT monitors"]  # the monitor, once, before the fetch
# Links + products + latest price points + the owner (language, time zone, preferences, channels,
# keywords), one read.
ROWS = ["SELECT monitor_products"]
BOOKKEEPING = ["UPDATE monitors", "INSERT poll_runs"]  # a poll without events
LINKS = "INSERT monitor_products ... ON CONFLICT DO UPDATE"  # new links and moved ones, one statement
# The run the events refer to, the events, and their alert (the owner came with ROWS).
EVENTS_BOOKKEEPING = ["INSERT poll_runs", "INSERT product_events", "INSERT notifications"]


def shape(statement: str) -> str:
    """"UPDATE products", "INSERT poll_runs", "SELECT monitors" (the first selected column's table)."""
    words = statement.split()
    verb = words[0].upper()
    if verb == "SELECT":
        return f"SELECT {words[1].split('.')[0]}"
    if verb == "INSERT":
        upsert = " ... ON CONFLICT DO UPDATE" if "DO UPDATE" in statement else ""
        return f"INSERT {words[2]}{upsert}"
    return f"{verb} {words[1]}"


def poll_shapes(monitor_id: int) -> tuple[object, list[str]]:
    run, statements = statements_during(lambda: polling.poll_monitor(monitor_id))
    return run, [shape(statement) for statement in statements]


def test_statements_of_first_unchanged_cosmetic_and_changed_polls(store_monitor, sandbox, store_id, alice) -> None:  # noqa: ANN001
    monitor_id = store_monitor.id
    db.session.add(NotificationChannel(user_id=alice.id, kind="email", target="alice@example.com"))
    db.session.commit()

    run, first = poll_shapes(monitor_id)
    # Products created with every value the cards show: no update of each row afterwards.
    assert first == [*READ, *ROWS, "INSERT products", LINKS, "INSERT price_points", *BOOKKEEPING]
    assert len(first) == 7 <= 12
    assert db.session.scalar(select(func.count()).select_from(MonitorProduct)) == 30

    run, unchanged = poll_shapes(monitor_id)
    assert polling.took_fast_path(run)
    assert unchanged == [*READ, *ROWS, *BOOKKEEPING]
    assert len(unchanged) == 4

    products = sandbox.catalog.products(store_id)
    for product in products[:5]:
        sandbox.catalog.set_sold(product.item_code, (product.sold or 0) + 100)
    run, cosmetic = poll_shapes(monitor_id)
    assert polling.took_fast_path(run)  # moving counters are no change...
    assert cosmetic == [*READ, *ROWS, "UPDATE products", *BOOKKEEPING]  # ...written in one statement
    assert sorted(db.session.scalars(select(Product.sold).where(
        Product.item_code.in_([p.item_code for p in products[:5]])))) == sorted((p.sold or 0) + 100 for p in products[:5])

    cheap = products[6]
    sandbox.catalog.set_price(cheap.item_code, (cheap.price_min * Decimal("0.5")).quantize(Decimal("0.01")))
    for product in products[:5]:
        sandbox.catalog.set_sold(product.item_code, (product.sold or 0) + 200)
    points = db.session.scalar(select(func.count()).select_from(PricePoint))
    run, changed = poll_shapes(monitor_id)
    assert not polling.took_fast_path(run)
    # The run is inserted once, with its final values, just before the events that refer to it.
    assert changed == [*READ, *ROWS, "UPDATE products", LINKS, "INSERT price_points",
                       *EVENTS_BOOKKEEPING, "INSERT deliveries", "UPDATE monitors"]
    # 10 with an e-mail channel (its delivery is copied by one INSERT ... SELECT); 9 without.
    assert len(changed) == 10
    stored = db.session.get(PollRun, run.id)  # written once, yet with the poll's final values
    assert (stored.outcome, stored.pages, stored.products_seen, stored.products_changed) == ("ok", 2, 30, 1)
    assert stored.finished_at is not None and stored.duration_ms is not None
    assert [e.kind for e in events(store_monitor)] == ["price_drop"]
    assert [e.poll_run_id for e in events(store_monitor)] == [run.id]
    assert db.session.scalar(select(func.count()).select_from(PricePoint)) == points + 1
    [note] = db.session.scalars(select(Notification)).all()
    assert note.details["event_ids"] == [events(store_monitor)[0].id]
    [delivery] = db.session.scalars(select(Delivery)).all()
    assert (delivery.notification_id, delivery.channel, delivery.target, delivery.status) == (
        note.id, "email", "alice@example.com", "pending")


def test_a_changed_poll_of_an_owner_without_channels_sends_nine(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    monitor_id = store_monitor.id
    polling.poll_monitor(monitor_id)
    product = sandbox.catalog.products(store_id)[2]
    sandbox.catalog.set_price(product.item_code, (product.price_min * Decimal("2")).quantize(Decimal("0.01")))
    _run, changed = poll_shapes(monitor_id)
    assert changed == [*READ, *ROWS, "UPDATE products", LINKS, "INSERT price_points",
                       *EVENTS_BOOKKEEPING, "UPDATE monitors"]
    assert len(changed) == 9
    assert [e.kind for e in events(store_monitor)] == ["price_rise"]


def test_new_and_vanished_cards(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    """A card new to the monitor costs its product row (the member's keywords come with the
    read); its new link and the link of a card that vanishes (counted towards "missing") go out
    in one upsert."""
    monitor_id = store_monitor.id
    polling.poll_monitor(monitor_id)
    db.session.add(Keyword(user_id=store_monitor.user_id, term="  Brand NEW "))
    db.session.add(Keyword(user_id=store_monitor.user_id, term="listing", active=False))
    db.session.commit()
    sandbox.catalog.add_product(store_id, title="A brand new listing")
    gone = sandbox.catalog.products(store_id)[4].item_code
    sandbox.catalog.remove(gone)
    first_success = db.session.scalar(select(Monitor.last_success_at).where(Monitor.id == monitor_id))
    _run, changed = poll_shapes(monitor_id)
    # The new link and the vanished one are written by the same statement.
    assert changed == [*READ, *ROWS, "INSERT products", LINKS, "INSERT price_points", *EVENTS_BOOKKEEPING,
                       "UPDATE monitors"]
    assert len(changed) == 9
    assert [e.kind for e in events(store_monitor)] == ["new_product", "keyword_match"]
    assert events(store_monitor)[1].details["terms"] == ["brand new"]
    vanished = db.session.scalar(select(MonitorProduct).join(Product).where(Product.item_code == gone))
    assert (vanished.present, vanished.missing_polls, vanished.last_seen) == (False, 1, first_success)
    assert db.session.get(Monitor, monitor_id).last_success_at > first_success


def test_everything_at_once_with_the_owners_time_zone_quiet_hours_and_kinds(
    store_monitor, sandbox, store_id, alice,  # noqa: ANN001
) -> None:
    """New, repriced and vanished cards for an owner with a channel, a time zone, quiet hours
    that cover now and alert kinds of their own: 11 statements, and the alert follows those
    preferences though no statement reads the owner on its own (they come with ROWS)."""
    monitor_id = store_monitor.id
    polling.poll_monitor(monitor_id)
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("Asia/Kolkata"))  # a half-hour offset: the end is not on a UTC hour
    alice.timezone = "Asia/Kolkata"
    db.session.add(NotificationChannel(user_id=alice.id, kind="email", target="alice@example.com"))
    db.session.add(NotificationPreference(user_id=alice.id, alert_kinds=["price_drop", "delisted"],
                                          quiet_hours_start=local.hour, quiet_hours_end=(local.hour + 2) % 24))
    db.session.commit()
    products = sandbox.catalog.products(store_id)
    sandbox.catalog.add_product(store_id, title="A brand new listing")  # new_product: not in her kinds
    cheap = products[3]
    sandbox.catalog.set_price(cheap.item_code, (cheap.price_min * Decimal("0.5")).quantize(Decimal("0.01")))
    sandbox.catalog.remove(products[5].item_code)
    _run, changed = poll_shapes(monitor_id)
    assert changed == [*READ, *ROWS, "INSERT products", "UPDATE products", LINKS, "INSERT price_points",
                       *EVENTS_BOOKKEEPING, "INSERT deliveries", "UPDATE monitors"]
    assert len(changed) == 11
    assert sorted(e.kind for e in events(store_monitor)) == ["new_product", "price_drop"]
    [note] = db.session.scalars(select(Notification)).all()
    assert note.event_kinds == " price_drop "  # the owner's kinds, from the one read
    [delivery] = db.session.scalars(select(Delivery)).all()
    quiet_end = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)).astimezone(UTC)
    assert (delivery.status, delivery.next_attempt_at) == ("pending", quiet_end)  # held by her quiet hours


def test_a_digest_owners_alert_is_held_without_reading_the_owner(store_monitor, sandbox, store_id, alice) -> None:  # noqa: ANN001
    monitor_id = store_monitor.id
    polling.poll_monitor(monitor_id)
    db.session.add(NotificationChannel(user_id=alice.id, kind="email", target="alice@example.com"))
    db.session.add(NotificationPreference(user_id=alice.id, frequency="hourly"))
    db.session.commit()
    product = sandbox.catalog.products(store_id)[2]
    sandbox.catalog.set_price(product.item_code, (product.price_min * Decimal("0.5")).quantize(Decimal("0.01")))
    _run, changed = poll_shapes(monitor_id)
    assert "SELECT users" not in changed and len(changed) == 10
    [delivery] = db.session.scalars(select(Delivery)).all()
    assert delivery.status == "held"  # waits for her hourly digest
