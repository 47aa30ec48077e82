"""The change-free fast path: unchanged polls skip the per-product diff, changes never do."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import event, func, select, update

from extensions import db
from jobs import monitoring as monitoring_jobs
from models import Monitor, MonitorProduct, PricePoint, Product, ProductEvent
from services.polling import engine as polling
from tests.polling.conftest import product_monitor
from tests.polling.test_change_detection import count, events, link_of, poll, product_by_code


def statements_during(action) -> tuple[object, list[str]]:  # noqa: ANN001
    """Run ``action`` and return its result with every SQL statement it sent."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        return action(), seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_an_unchanged_poll_takes_the_fast_path(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    baseline = poll(store_monitor)
    assert not polling.took_fast_path(baseline)
    monitor = db.session.get(Monitor, store_monitor.id)
    assert monitor.content_hash is not None and len(monitor.content_hash) == 64
    before = datetime.now(UTC)
    points = count(PricePoint)
    run, statements = statements_during(lambda: poll(store_monitor))
    assert polling.took_fast_path(run)
    assert (run.outcome, run.products_seen, run.products_new, run.products_changed) == ("ok", 30, 0, 0)
    # Everything seen reads as seen by this poll, with no write per product or link.
    links = db.session.scalars(select(MonitorProduct).where(MonitorProduct.monitor_id == store_monitor.id)).all()
    assert len(links) == 30 and min(link.last_seen for link in links) >= before
    assert count(PricePoint) == points and events(store_monitor) == []
    monitor = db.session.get(Monitor, store_monitor.id)
    assert monitor.last_status == "ok" and monitor.next_poll_at >= before + timedelta(seconds=3600)
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert [s.split()[:3] for s in writes] == [["UPDATE", "monitors", "SET"], ["INSERT", "INTO", "poll_runs"]]
    # The job reports it too.
    assert monitoring_jobs.poll_monitor(store_monitor.id)["fast_path"] is True


def test_cards_with_a_known_fingerprint_skip_their_diff(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    poll(store_monitor)
    fast, fast_statements = statements_during(lambda: poll(store_monitor))
    db.session.execute(update(MonitorProduct).values(card_hash=None))  # every card planned again, same content
    db.session.commit()
    full, full_statements = statements_during(lambda: poll(store_monitor))
    assert polling.took_fast_path(fast) and not polling.took_fast_path(full)
    assert (fast.products_seen, fast.products_changed) == (full.products_seen, full.products_changed) == (30, 0)
    # The re-planned cards store their fingerprint again: one statement (an upsert) for all 30 links.
    assert len(full_statements) == len(fast_statements) + 1
    assert sum(s.startswith("INSERT INTO monitor_products") and "ON CONFLICT" in s for s in full_statements) == 1
    assert db.session.scalar(select(func.count()).select_from(MonitorProduct)
                             .where(MonitorProduct.card_hash.is_(None))) == 0
    assert events(store_monitor) == []


def test_every_change_still_takes_the_full_diff_with_the_same_events(store_monitor, sandbox, store_id, alice) -> None:  # noqa: ANN001
    poll(store_monitor)
    products = sandbox.catalog.products(store_id)
    cheap = products[0].item_code
    sandbox.catalog.set_price(cheap, (products[0].price_min * Decimal("0.5")).quantize(Decimal("0.01")))
    run = poll(store_monitor)
    assert not polling.took_fast_path(run)
    assert [(e.kind, product_by_code(cheap).id) for e in events(store_monitor)] == [
        ("price_drop", product_by_code(cheap).id)]
    assert polling.took_fast_path(poll(store_monitor))  # the new price is now the known one
    # Stock shows on product pages (store cards do not show it).
    watched = product_monitor(alice, sandbox)
    poll(watched)
    assert polling.took_fast_path(poll(watched))
    sandbox.catalog.set_stock(watched.dhgate_id, False)
    run = poll(watched)
    assert not polling.took_fast_path(run) and run.products_changed == 1
    assert [e.kind for e in events(watched)] == ["out_of_stock"]
    assert link_of(watched, watched.dhgate_id).last_in_stock is False
    added = sandbox.catalog.add_product(store_id, title="Brand new listing").item_code
    run = poll(store_monitor)
    assert not polling.took_fast_path(run) and run.products_new == 1
    assert [e.kind for e in events(store_monitor)][-1] == "new_product"
    assert events(store_monitor)[-1].product_id == product_by_code(added).id


def test_a_missing_product_keeps_counting_while_the_pages_stay_the_same(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    poll(store_monitor)
    code = sandbox.catalog.products(store_id)[3].item_code
    sandbox.catalog.delist(code)
    runs = [poll(store_monitor) for _ in range(3)]  # polls 2 and 3 see what poll 1 saw
    assert [polling.took_fast_path(run) for run in runs] == [False, False, False]
    [missing] = events(store_monitor)
    assert missing.kind == "missing" and missing.product_id == product_by_code(code).id
    assert link_of(store_monitor, code).gone_at is not None
    assert polling.took_fast_path(poll(store_monitor))  # now it is settled: nothing more to count


def test_the_daily_price_point_is_still_written(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    poll(store_monitor)
    assert polling.took_fast_path(poll(store_monitor))
    points = count(PricePoint)
    day_ago = datetime.now(UTC) - timedelta(days=1, minutes=1)
    db.session.execute(update(PricePoint).values(recorded_at=day_ago))
    db.session.commit()
    run = poll(store_monitor)
    assert not polling.took_fast_path(run)
    assert count(PricePoint) == points + 30
    assert polling.took_fast_path(poll(store_monitor))
    assert count(PricePoint) == points + 30


def test_changed_alert_rules_or_shared_rows_take_the_full_diff(store_monitor, sandbox, store_id, alice) -> None:  # noqa: ANN001
    code = sandbox.catalog.products(store_id)[0].item_code
    poll(store_monitor)
    # A target price set meanwhile: the full diff marks the product at its target.
    price = product_by_code(code).price_min
    db.session.execute(update(Monitor).where(Monitor.id == store_monitor.id).values(target_price=price))
    db.session.commit()
    run = poll(store_monitor)
    assert not polling.took_fast_path(run)
    assert [e.kind for e in events(store_monitor)] == ["target_price"]
    # A shared product row changed by someone else: the full diff writes what this poll saw.
    db.session.execute(update(Product).where(Product.item_code == code).values(title="Changed elsewhere"))
    db.session.commit()
    run = poll(store_monitor)
    assert not polling.took_fast_path(run)
    assert product_by_code(code).title != "Changed elsewhere"
    # A link removed since: the product is new to the monitor again.
    db.session.execute(MonitorProduct.__table__.delete().where(
        MonitorProduct.product_id == product_by_code(code).id))
    db.session.commit()
    run = poll(store_monitor)
    assert not polling.took_fast_path(run) and run.products_new == 1
    assert count(ProductEvent) == 2  # target_price, then new_product
