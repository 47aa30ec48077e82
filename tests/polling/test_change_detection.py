"""Change detection end to end: real sandbox pages over HTTP, real parsers, real database."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from extensions import db
from models import Keyword, Monitor, MonitorProduct, Notification, PricePoint, Product, ProductEvent
from sandbox import SandboxServer
from services.polling import engine as polling
from tests.factories import make_monitor, make_user
from tests.polling.conftest import product_monitor


def poll(monitor: Monitor, outcome: str = "ok"):  # noqa: ANN201
    run = polling.poll_monitor(monitor.id)
    assert run.outcome == outcome, run.error
    return run


def events(monitor: Monitor, kind: str | None = None) -> list[ProductEvent]:
    query = select(ProductEvent).where(ProductEvent.monitor_id == monitor.id).order_by(ProductEvent.id)
    if kind:
        query = query.where(ProductEvent.kind == kind)
    return list(db.session.scalars(query))


def product_by_code(code: str) -> Product:
    product = db.session.scalar(select(Product).where(Product.item_code == code))
    assert product is not None
    return product


def link_of(monitor: Monitor, code: str) -> MonitorProduct:
    link = db.session.scalar(
        select(MonitorProduct).join(Product).where(MonitorProduct.monitor_id == monitor.id, Product.item_code == code)
    )
    assert link is not None
    return link


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def priced_product(sandbox: SandboxServer, store_id: str, price: str) -> str:
    """A store's product repriced to ``price`` (before the baseline), by item code."""
    code = sandbox.catalog.products(store_id)[0].item_code
    sandbox.catalog.set_price(code, price)
    return code


# ------------------------------------------------------------------------------------ baseline


def test_first_poll_is_a_silent_baseline(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    before = datetime.now(UTC)
    run = poll(store_monitor)
    assert (run.pages, run.products_seen, run.products_new, run.products_changed) == (2, 30, 30, 0)
    assert count(Product) == 30
    assert db.session.scalar(select(func.count()).select_from(MonitorProduct)
                             .where(MonitorProduct.monitor_id == store_monitor.id)) == 30
    assert count(PricePoint) == 30  # one price point each
    assert events(store_monitor) == []
    assert count(Notification) == 0
    monitor = db.session.get(Monitor, store_monitor.id)
    assert monitor.baseline_at is not None and monitor.baseline_at >= before
    assert monitor.consecutive_failures == 0 and monitor.last_status == "ok"
    assert monitor.next_poll_at >= before + timedelta(seconds=3600)
    sandbox_product = sandbox.catalog.products(store_id)[0]
    product = product_by_code(sandbox_product.item_code)
    assert product.price_min == sandbox_product.price_min
    assert product.store_id == store_id
    assert product.url.startswith(sandbox.base_url + "/product/")


def test_keywords_do_not_fire_on_the_baseline(store_monitor, sandbox, store_id, alice) -> None:  # noqa: ANN001
    first_word = sandbox.catalog.products(store_id)[0].title.split()[0]
    db.session.add(Keyword(user_id=alice.id, term=first_word))
    db.session.commit()
    poll(store_monitor)
    assert events(store_monitor) == []


# ------------------------------------------------------------------------------ new products


def test_new_product_gives_an_event_and_a_notification(store_monitor, sandbox, store_id, alice) -> None:  # noqa: ANN001
    poll(store_monitor)
    change = sandbox.catalog.add_product(store_id, title="Brass Desk Lamp Adjustable", price_min="12.50")
    run = poll(store_monitor)
    assert (run.products_seen, run.products_new) == (31, 1)
    [event] = events(store_monitor)
    product = product_by_code(change.item_code)
    assert (event.kind, event.product_id, event.new_value) == ("new_product", product.id, Decimal("12.50"))
    assert event.poll_run_id == run.id
    [note] = db.session.scalars(select(Notification)).all()
    assert (note.user_id, note.kind, note.product_event_id) == (alice.id, "new_product", event.id)
    assert note.link == f"/monitors/{store_monitor.id}/products/{product.id}"
    assert "Brass Desk Lamp" in note.title and "12.50" in note.body
    poll(store_monitor)
    assert len(events(store_monitor)) == 1  # still new only once


def test_keyword_match_uses_global_and_monitor_keywords(store_monitor, sandbox, store_id, alice, bob) -> None:  # noqa: ANN001
    poll(store_monitor)
    other = make_monitor(alice, kind="store", dhgate_id=sandbox.catalog.store_ids()[1])
    db.session.add_all([
        Keyword(user_id=alice.id, term="ZEBRA"),  # global
        Keyword(user_id=alice.id, monitor_id=store_monitor.id, term="unicorn lamp"),  # this monitor
        Keyword(user_id=alice.id, monitor_id=other.id, term="teapot"),  # another monitor's
        Keyword(user_id=alice.id, term="flamingo", active=False),  # switched off
        Keyword(user_id=bob.id, term="giraffe"),  # somebody else's
    ])
    db.session.commit()
    zebra = sandbox.catalog.add_product(store_id, title="Striped zebra mug 350ml").item_code
    unicorn = sandbox.catalog.add_product(store_id, title="Unicorn  Lamp night light for kids").item_code
    for title in ("Ceramic teapot", "Flamingo float", "Giraffe plush", "Plain white cup"):
        sandbox.catalog.add_product(store_id, title=title)
    poll(store_monitor)
    assert len(events(store_monitor, "new_product")) == 6
    matches = {event.product_id: event.details["terms"] for event in events(store_monitor, "keyword_match")}
    assert matches == {product_by_code(zebra).id: ["zebra"], product_by_code(unicorn).id: ["unicorn lamp"]}
    # One alert for the poll, not one per event, naming what happened and listing every event.
    [note] = db.session.scalars(select(Notification).where(Notification.user_id == alice.id)).all()
    assert note.kind == "monitor_alert"
    assert note.title == f"{store_monitor.name}: 6 new, 2 keyword matches"
    assert note.details["counts"] == {"new_product": 6, "keyword_match": 2}
    assert len(note.details["event_ids"]) == 8 and note.link == f"/monitors/{store_monitor.id}"
    assert "Striped zebra mug" in note.body and "Plain white cup" in note.body


# ------------------------------------------------------------------------------------ prices


def test_price_drop_needs_the_threshold(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    code = priced_product(sandbox, store_id, "50.00")
    poll(store_monitor)
    sandbox.catalog.set_price(code, "48.00")  # -4 %
    assert poll(store_monitor).products_changed == 0
    assert events(store_monitor) == []
    sandbox.catalog.set_price(code, "47.00")  # -6 % from the reference (50.00)
    run = poll(store_monitor)
    [event] = events(store_monitor)
    assert (event.kind, event.old_value, event.new_value) == ("price_drop", Decimal("50.00"), Decimal("47.00"))
    assert event.details["percent"] == "6.0"
    assert run.products_changed == 1
    note = db.session.scalar(select(Notification).where(Notification.product_event_id == event.id))
    assert "50.00" in note.body and "47.00" in note.body
    poll(store_monitor)
    assert len(events(store_monitor)) == 1


def test_price_rise_and_the_reference_moves_with_each_event(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    code = priced_product(sandbox, store_id, "20.00")
    poll(store_monitor)
    sandbox.catalog.set_price(code, "21.20")  # +6 %
    poll(store_monitor)
    sandbox.catalog.set_price(code, "22.00")  # +3.8 % from the new reference 21.20
    poll(store_monitor)
    sandbox.catalog.set_price(code, "20.00")  # -5.7 % from 21.20
    poll(store_monitor)
    summary = [(e.kind, e.old_value, e.new_value) for e in events(store_monitor)]
    assert summary == [
        ("price_rise", Decimal("20.00"), Decimal("21.20")),
        ("price_drop", Decimal("21.20"), Decimal("20.00")),
    ]


def test_monitor_thresholds_are_its_own(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    store_monitor.price_drop_pct = Decimal("10")
    db.session.commit()
    code = priced_product(sandbox, store_id, "50.00")
    poll(store_monitor)
    sandbox.catalog.set_price(code, "47.00")  # -6 %: below this monitor's 10 %
    poll(store_monitor)
    assert events(store_monitor) == []
    sandbox.catalog.set_price(code, "44.00")  # -12 %
    poll(store_monitor)
    assert [e.kind for e in events(store_monitor)] == ["price_drop"]


def test_every_monitor_of_a_product_hears_of_its_change(papp, sandbox, store_id, alice, bob) -> None:  # noqa: ANN001
    code = priced_product(sandbox, store_id, "30.00")
    alices = make_monitor(alice, kind="store", dhgate_id=store_id)
    bobs = make_monitor(bob, kind="store", dhgate_id=store_id)
    poll(alices)
    poll(bobs)
    sandbox.catalog.set_price(code, "25.00")
    poll(alices)
    poll(bobs)  # the shared product row already shows 25.00: bob must still be told
    assert [e.kind for e in events(alices)] == ["price_drop"]
    assert [e.kind for e in events(bobs)] == ["price_drop"]
    owners = sorted(n.user_id for n in db.session.scalars(select(Notification)))
    assert owners == sorted([alice.id, bob.id])


def test_target_price(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    store_monitor.target_price = Decimal("40.00")
    store_monitor.price_drop_pct = Decimal("90")  # only the target matters here
    store_monitor.price_rise_pct = Decimal("90")
    db.session.commit()
    code = priced_product(sandbox, store_id, "50.00")
    poll(store_monitor)
    sandbox.catalog.set_price(code, "40.01")
    poll(store_monitor)
    assert events(store_monitor) == []
    sandbox.catalog.set_price(code, "40.00")
    poll(store_monitor)
    [event] = events(store_monitor)
    assert (event.kind, event.new_value, event.details["target"]) == ("target_price", Decimal("40.00"), "40.00")
    sandbox.catalog.set_price(code, "39.00")
    poll(store_monitor)
    assert len(events(store_monitor)) == 1  # still at or below the target: said once
    sandbox.catalog.set_price(code, "41.00")
    poll(store_monitor)
    sandbox.catalog.set_price(code, "38.00")
    poll(store_monitor)
    assert [e.new_value for e in events(store_monitor, "target_price")] == [Decimal("40.00"), Decimal("38.00")]


def test_store_baseline_does_not_announce_products_already_below_target(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    store_monitor.target_price = Decimal("1000")
    db.session.commit()
    poll(store_monitor)
    poll(store_monitor)
    assert events(store_monitor) == []


def test_product_monitor_baseline_announces_a_target_already_met(papp, sandbox, alice) -> None:  # noqa: ANN001
    monitor = product_monitor(alice, sandbox, target_price=Decimal("100000"))
    poll(monitor)
    assert [e.kind for e in events(monitor)] == ["target_price"]


# ------------------------------------------------------------------------------ stock, delisting


def test_stock_changes_on_a_product_page(papp, sandbox, alice) -> None:  # noqa: ANN001
    monitor = product_monitor(alice, sandbox)
    poll(monitor)
    sandbox.catalog.set_stock(monitor.dhgate_id, False)
    poll(monitor)
    sandbox.catalog.set_stock(monitor.dhgate_id, True)
    poll(monitor)
    assert [e.kind for e in events(monitor)] == ["out_of_stock", "back_in_stock"]
    severities = [n.severity for n in db.session.scalars(select(Notification).order_by(Notification.id))]
    assert severities == ["warning", "info"]


def test_stock_alerts_off_tracks_stock_silently(papp, sandbox, alice) -> None:  # noqa: ANN001
    monitor = product_monitor(alice, sandbox, stock_alerts=False)
    poll(monitor)
    sandbox.catalog.set_stock(monitor.dhgate_id, False)
    poll(monitor)
    assert events(monitor) == []
    monitor.stock_alerts = True
    db.session.commit()
    poll(monitor)  # still sold out: switching alerts on must not report an old change
    assert events(monitor) == []
    sandbox.catalog.set_stock(monitor.dhgate_id, True)
    poll(monitor)
    assert [e.kind for e in events(monitor)] == ["back_in_stock"]


def test_delisted_product_page(papp, sandbox, alice) -> None:  # noqa: ANN001
    monitor = product_monitor(alice, sandbox)
    poll(monitor)
    sandbox.catalog.delist(monitor.dhgate_id)  # the page answers with istate false
    poll(monitor)
    poll(monitor)
    [event] = events(monitor)
    assert event.kind == "delisted"
    assert product_by_code(monitor.dhgate_id).status == "delisted"
    assert link_of(monitor, monitor.dhgate_id).gone_at is not None
    sandbox.catalog.relist(monitor.dhgate_id)
    poll(monitor)
    assert product_by_code(monitor.dhgate_id).status == "listed"
    assert link_of(monitor, monitor.dhgate_id).gone_at is None
    assert len(events(monitor)) == 1  # back without an event


def test_removed_product_answers_410_and_is_delisted_once(papp, sandbox, alice) -> None:  # noqa: ANN001
    monitor = product_monitor(alice, sandbox)
    poll(monitor)
    sandbox.catalog.remove(monitor.dhgate_id)
    run = poll(monitor, outcome="gone")
    assert run.http_status == 410
    poll(monitor, outcome="gone")
    assert [e.kind for e in events(monitor)] == ["delisted"]
    refreshed = db.session.get(Monitor, monitor.id)
    assert refreshed.consecutive_failures == 0  # a definite answer, not a failure
    assert product_by_code(monitor.dhgate_id).status == "delisted"


def test_unknown_store_is_gone_without_touching_anything(papp, alice) -> None:  # noqa: ANN001
    monitor = make_monitor(alice, kind="store", dhgate_id="99999999", poll_interval=3600)
    run = poll(monitor, outcome="gone")
    assert run.http_status == 404 and run.products_seen == 0
    refreshed = db.session.get(Monitor, monitor.id)
    assert refreshed.consecutive_failures == 1 and refreshed.baseline_at is None
    assert count(Product) == 0 and count(ProductEvent) == 0


# ------------------------------------------------------------------------------------ missing


def test_missing_only_after_k_complete_polls_and_blocked_polls_do_not_count(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    poll(store_monitor)
    code = sandbox.catalog.products(store_id)[3].item_code
    sandbox.catalog.delist(code)  # gone from the store pages
    poll(store_monitor)
    poll(store_monitor)
    assert link_of(store_monitor, code).missing_polls == 2
    sandbox.set_fault("blocked", store=store_id)
    poll(store_monitor, outcome="blocked")
    sandbox.clear_faults()
    assert link_of(store_monitor, code).missing_polls == 2
    assert events(store_monitor) == []
    poll(store_monitor)
    [event] = events(store_monitor)
    assert event.kind == "missing"
    assert product_by_code(code).status == "missing"
    poll(store_monitor)
    assert len(events(store_monitor)) == 1
    # Back in the store: no event, counters reset; a later disappearance is a new event.
    sandbox.catalog.relist(code)
    poll(store_monitor)
    link = link_of(store_monitor, code)
    assert (link.gone_at, link.missing_polls) == (None, 0)
    assert product_by_code(code).status == "listed"
    assert len(events(store_monitor)) == 1
    sandbox.catalog.delist(code)
    for _ in range(3):
        poll(store_monitor)
    assert [e.kind for e in events(store_monitor)] == ["missing", "missing"]


def test_capped_polls_never_count_products_missing(store_monitor, sandbox, store_id, papp) -> None:  # noqa: ANN001
    papp.config["DHGATE_MAX_PAGES"] = 1  # the store has two pages: polls see only part of it
    poll(store_monitor)
    for _ in range(4):
        run = poll(store_monitor)
    assert run.pages == 1
    assert db.session.scalar(select(func.max(MonitorProduct.missing_polls))) == 0
    assert events(store_monitor) == []


# ------------------------------------------------------------------------- failed polls change nothing


def _state() -> tuple[list[tuple], list[tuple], int, int]:
    products = [tuple(row) for row in db.session.execute(
        select(Product.item_code, Product.price_min, Product.status, Product.last_seen_at).order_by(Product.item_code))]
    links = [tuple(row) for row in db.session.execute(
        select(MonitorProduct.product_id, MonitorProduct.missing_polls, MonitorProduct.reference_price,
               MonitorProduct.gone_at, MonitorProduct.last_seen_at).order_by(MonitorProduct.product_id))]
    return products, links, count(PricePoint), count(ProductEvent)


@pytest.mark.parametrize(("fault", "options", "outcome"), [
    ("blocked", {}, "blocked"),
    ("challenge", {}, "blocked"),
    ("garbled", {}, "parse_error"),
    ("truncated", {}, "parse_error"),
    ("server_error", {"status": 503}, "http_error"),
    ("rate_limited", {"retry_after": 1}, "blocked"),
    ("slow", {"delay": 1.0}, "timeout"),
])
def test_failed_polls_change_nothing_and_back_off(
    store_monitor, sandbox, store_id, papp, fault, options, outcome,  # noqa: ANN001
) -> None:
    papp.config.update(DHGATE_TIMEOUT_SECONDS=0.3, DHGATE_RETRY_ATTEMPTS=2)
    poll(store_monitor)
    products = sandbox.catalog.products(store_id)
    sandbox.catalog.add_product(store_id, title="Should not be seen")
    sandbox.catalog.set_price(products[0].item_code, "0.01")
    sandbox.catalog.delist(products[1].item_code)
    before = _state()
    sandbox.set_fault(fault, store=store_id, **options)
    started = datetime.now(UTC)
    run = poll(store_monitor, outcome=outcome)
    assert (run.products_seen, run.products_new, run.products_changed) == (0, 0, 0)
    assert run.error
    assert _state() == before  # no product, link, price point or event touched
    monitor = db.session.get(Monitor, store_monitor.id)
    assert monitor.consecutive_failures == 1 and monitor.last_status == outcome
    assert monitor.next_poll_at >= started + timedelta(seconds=2 * 3600)  # backed off


def test_backoff_grows_caps_and_success_resets(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    sandbox.set_fault("server_error", store=store_id)
    delays = []
    for _ in range(3):
        started = datetime.now(UTC)
        poll(store_monitor, outcome="http_error")
        monitor = db.session.get(Monitor, store_monitor.id)
        delays.append(round((monitor.next_poll_at - started).total_seconds() / 3600))
    assert delays == [2, 4, 4]  # twice the interval, then capped at four times
    assert monitor.consecutive_failures == 3
    sandbox.clear_faults()
    started = datetime.now(UTC)
    poll(store_monitor)
    monitor = db.session.get(Monitor, store_monitor.id)
    assert monitor.consecutive_failures == 0 and monitor.last_error is None
    assert round((monitor.next_poll_at - started).total_seconds() / 3600) == 1


def test_open_circuit_skips_the_poll_without_counting_a_failure(store_monitor, sandbox, store_id, papp) -> None:  # noqa: ANN001
    papp.config.update(DHGATE_BREAKER_FAILURES=1, DHGATE_BREAKER_RESET_SECONDS=600)
    poll(store_monitor)
    sandbox.set_fault("blocked", store=store_id)
    poll(store_monitor, outcome="blocked")  # one failure opens this breaker
    sandbox.clear_faults()
    requests = sandbox.request_count("store")
    started = datetime.now(UTC)
    run = poll(store_monitor, outcome="circuit_open")
    assert sandbox.request_count("store") == requests  # DHgate was not contacted
    assert (run.pages, run.products_seen) == (0, 0)
    monitor = db.session.get(Monitor, store_monitor.id)
    assert monitor.consecutive_failures == 1  # unchanged: not this monitor's failure
    assert started + timedelta(seconds=590) <= monitor.next_poll_at <= started + timedelta(seconds=700)
    assert events(store_monitor) == []


def test_admins_are_told_once_per_blocked_incident(store_monitor, sandbox, store_id, admin, alice) -> None:  # noqa: ANN001
    second_admin = make_user("ops", role="admin")
    make_user("retired", role="admin", is_active=False)
    sandbox.set_fault("blocked", store=store_id)
    for _ in range(3):
        poll(store_monitor, outcome="blocked")
    sandbox.set_fault("server_error", store=store_id)
    poll(store_monitor, outcome="http_error")  # still the same incident
    sandbox.set_fault("blocked", store=store_id)
    poll(store_monitor, outcome="blocked")
    notes = db.session.scalars(select(Notification).order_by(Notification.user_id)).all()
    assert [(n.user_id, n.kind) for n in notes] == [(admin.id, "poll_blocked"), (second_admin.id, "poll_blocked")]
    assert notes[0].link == f"/monitors/{store_monitor.id}"
    sandbox.clear_faults()
    poll(store_monitor)
    assert db.session.get(Monitor, store_monitor.id).blocked_since is None
    sandbox.set_fault("blocked", store=store_id)
    poll(store_monitor, outcome="blocked")
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == admin.id)) == 2  # a new incident, a new notice
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == alice.id)) == 0


# ------------------------------------------------------------------------------- idempotency


def _snapshot_and_plan(monitor: Monitor):  # noqa: ANN202
    import time

    from services.polling.changes import plan_changes

    settings = polling.PollSettings.from_app()
    snapshot = polling.take_monitor_snapshot(monitor.kind, monitor.dhgate_id, settings,
                                             deadline=time.monotonic() + 30)
    assert snapshot.succeeded
    now = datetime.now(UTC)
    plan = plan_changes(monitor, snapshot, now=now, base_url=settings.base_url,
                        missing_threshold=settings.missing_threshold)
    return plan, now


def test_writing_the_same_diff_twice_creates_nothing_twice(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    from services.polling.changes import write_events

    code = priced_product(sandbox, store_id, "50.00")
    poll(store_monitor)
    sandbox.catalog.add_product(store_id, title="A brand new thing")
    sandbox.catalog.set_price(code, "40.00")
    plan, now = _snapshot_and_plan(store_monitor)
    write_events(plan, store_monitor, None, now)
    write_events(plan, store_monitor, None, now)
    db.session.commit()
    assert sorted(e.kind for e in events(store_monitor)) == ["new_product", "price_drop"]
    [note] = db.session.scalars(select(Notification)).all()  # one alert about both events
    assert note.details["counts"] == {"new_product": 1, "price_drop": 1}


def test_rerun_after_a_crash_between_events_and_state(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    from services.polling.changes import write_events

    code = priced_product(sandbox, store_id, "50.00")
    poll(store_monitor)
    new_code = sandbox.catalog.add_product(store_id, title="A brand new thing").item_code
    sandbox.catalog.set_price(code, "40.00")
    monitor_before = db.session.get(Monitor, store_monitor.id)
    next_poll_before = monitor_before.next_poll_at
    # The job writes the events, commits, and dies before the state and the schedule are written.
    plan, now = _snapshot_and_plan(store_monitor)
    write_events(plan, store_monitor, None, now)
    db.session.commit()
    assert link_of(store_monitor, code).reference_price == Decimal("50.00")  # state not written
    assert db.session.get(Monitor, store_monitor.id).next_poll_at == next_poll_before
    # The re-run (RQ or the next tick) plans the very same events and finds them present.
    run = poll(store_monitor)
    assert sorted(e.kind for e in events(store_monitor)) == ["new_product", "price_drop"]
    assert count(Notification) == 1  # the re-run announces nothing twice
    assert link_of(store_monitor, code).reference_price == Decimal("40.00")
    assert link_of(store_monitor, new_code).missing_polls == 0
    assert db.session.get(Monitor, store_monitor.id).next_poll_at > next_poll_before
    assert run.products_seen == 31
    poll(store_monitor)
    assert len(events(store_monitor)) == 2


# ------------------------------------------------------------------------------ price history


def test_price_history_only_on_change_plus_one_a_day(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    code = sandbox.catalog.products(store_id)[0].item_code
    poll(store_monitor)
    assert count(PricePoint) == 30
    poll(store_monitor)
    assert count(PricePoint) == 30  # nothing changed: nothing written
    sandbox.catalog.set_price(code, "7.77")
    poll(store_monitor)
    poll(store_monitor)
    product = product_by_code(code)
    points = db.session.scalars(select(PricePoint).where(PricePoint.product_id == product.id)
                                .order_by(PricePoint.recorded_at)).all()
    assert [p.price_min for p in points][-1] == Decimal("7.77")
    assert count(PricePoint) == 31
    # A day later with the price unchanged: one more point for the history, then none again.
    day_ago = datetime.now(UTC) - timedelta(hours=25)
    db.session.execute(update(PricePoint).values(recorded_at=day_ago))
    db.session.commit()
    poll(store_monitor)
    poll(store_monitor)
    assert count(PricePoint) == 61


# ------------------------------------------------------------------------------------ search


def test_search_monitor_pages_until_the_listing_ends(papp, alice) -> None:  # noqa: ANN001
    with SandboxServer(seed=7, stores=6, products_per_store=30, search_page_size=5) as small_pages:
        papp.config.update(DHGATE_BASE_URL=small_pages.base_url, DHGATE_MAX_PAGES=20)
        keyword = "led"
        total = small_pages.catalog.search(keyword).total
        assert 10 < total <= 100, total  # several pages, all within the page cap
        monitor = make_monitor(alice, kind="search", dhgate_id=keyword, url="/wholesale/search.do")
        run = poll(monitor)
        assert run.products_seen == total
        assert run.pages >= -(-total // 5)
        store = small_pages.catalog.store_ids()[0]
        small_pages.catalog.add_product(store, title="LED desk strip with remote", sold=60000)
        run = poll(monitor)
        assert run.products_new == 1
        assert [e.kind for e in events(monitor)] == ["new_product"]
