"""Batches: many polls in flight in one process, pages shared by monitors fetched once, and fair,
budget-sized claims. Real sandbox over HTTP, real database, real Redis."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask import Flask
from sqlalchemy import func, select

from extensions import db
from jobs import monitoring as monitoring_jobs
from models import Monitor, PollRun, ProductEvent
from sandbox import SandboxServer
from services.dhgate.urls import store_page_path
from services.polling.batch import plan_batches, run_batch
from services.polling.schedule import ClaimedMonitor, claim_due_batch, due_monitor_ids
from tests.factories import make_monitor, make_user
from tests.polling.conftest import product_monitor

PAST = timedelta(minutes=1)


def _in_flight_peak(sandbox: SandboxServer, latency: float) -> Callable[[], int]:
    """Make every page wait ``latency`` seconds while counting how many wait at once."""
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def waited() -> float:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(latency)
        with lock:
            state["now"] -= 1
        return 0.0

    sandbox.app.serving.latency.seconds = waited  # type: ignore[method-assign]
    return lambda: state["peak"]


def test_a_batch_polls_its_monitors_side_by_side(papp: Flask, sandbox: SandboxServer, alice) -> None:  # noqa: ANN001
    products = [p.item_code for s in sandbox.catalog.store_ids() for p in sandbox.catalog.products(s)][:8]
    ids = [product_monitor(alice, sandbox, code, claimed_until=datetime.now(UTC) + timedelta(minutes=5)).id
           for code in products]
    peak = _in_flight_peak(sandbox, 0.3)

    results = run_batch(ids, concurrency=4)

    assert sorted(r.monitor_id for r in results) == sorted(ids)
    assert {r.outcome for r in results} == {"ok"}
    assert peak() == 4  # four polls in flight at once, never more
    assert sandbox.request_count("product") == 8
    db.session.expire_all()
    monitors = db.session.scalars(select(Monitor).where(Monitor.id.in_(ids))).all()
    assert all(m.claimed_until is None and m.last_status == "ok" for m in monitors)
    assert db.session.scalar(select(func.count()).select_from(PollRun)) == 8


def test_a_page_watched_by_ten_monitors_is_fetched_once_with_each_monitors_own_events(
    papp: Flask, sandbox: SandboxServer,
) -> None:
    store_id = sandbox.catalog.store_ids()[0]
    # Ten members watch the same store: five hear of price drops of 5 % or more, five only of 50 %.
    ids = [make_monitor(make_user(f"member{n}"), kind="store", dhgate_id=store_id, poll_interval=3600,
                        price_drop_pct=Decimal(5 if n < 5 else 50)).id for n in range(10)]
    first = run_batch(ids, concurrency=8)
    assert {r.outcome for r in first} == {"ok"} and all(r.shared for r in first)
    pages = [store_page_path(store_id, 0), store_page_path(store_id, 1)]
    assert [sandbox.path_count(p.split("?")[0]) for p in pages] == [1, 1]  # once, for all ten
    runs = db.session.scalars(select(PollRun).where(PollRun.monitor_id.in_(ids))).all()
    assert sorted(run.products_new for run in runs) == [30] * 10  # each its own baseline

    product = sandbox.catalog.products(store_id)[0]
    sandbox.catalog.set_price(product.item_code, (product.price_min * Decimal("0.8")).quantize(Decimal("0.01")))
    sandbox.reset_counts()
    run_batch(ids, concurrency=8)
    assert sandbox.request_count("store") == 2
    drops = db.session.execute(
        select(ProductEvent.monitor_id).where(ProductEvent.kind == "price_drop", ProductEvent.monitor_id.in_(ids))
    ).scalars().all()
    assert sorted(drops) == sorted(ids[:5])  # a 20 % drop: only the 5 % monitors hear of it


def test_monitors_of_one_target_share_a_batch(papp: Flask) -> None:
    def claimed(monitor_id: int, target: str) -> ClaimedMonitor:
        return ClaimedMonitor(monitor_id, 1, "store", target, None)

    order = [claimed(1, "a"), claimed(2, "b"), claimed(3, "a"), claimed(4, "c"), claimed(5, "b"), claimed(6, "d")]
    assert plan_batches(order, 3) == [[1, 3], [2, 5, 4], [6]]


def test_one_members_500_monitors_cannot_starve_anothers_5(papp: Flask, alice, bob) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    for n in range(500):  # alice's have been due for longer than bob's
        make_monitor(alice, kind="product", dhgate_id=str(10_000 + n), next_poll_at=now - timedelta(hours=2, seconds=n))
    bobs = [make_monitor(bob, kind="product", dhgate_id=str(20_000 + n), next_poll_at=now - PAST).id for n in range(5)]
    claimed = claim_due_batch(now, lease_seconds=900, limit=10)
    assert len(claimed) == 10
    assert sorted(c.monitor_id for c in claimed if c.user_id == bob.id) == sorted(bobs)
    alices = [c for c in claimed if c.user_id == alice.id]
    assert [c.next_poll_at for c in alices] == sorted(c.next_poll_at for c in alices)  # earliest due first
    oldest = db.session.scalar(select(func.min(Monitor.next_poll_at)).where(Monitor.user_id == alice.id))
    assert alices[0].next_poll_at == oldest
    assert [c.user_id for c in claimed] == [alice.id, bob.id] * 5  # taking turns
    assert len(due_monitor_ids(now, 1000)) == 495  # the rest wait, unclaimed


def test_a_tick_claims_what_the_request_budget_carries(papp: Flask, sandbox: SandboxServer) -> None:
    """At 0.1 requests a second, a 30 s tick carries 3 requests; with 1.5 ticks' worth kept in
    flight and 2 pages a poll before any poll ran, that is 3 polls (2.25 rounded up); the next
    tick claims only what the polls still in flight leave."""
    papp.config.update(DHGATE_REQUESTS_PER_SECOND=0.1, POLL_SPREAD_SECONDS=0)
    carol, dave = make_user("carol"), make_user("dave")
    now = datetime.now(UTC)
    for n in range(20):
        make_monitor(carol if n % 2 else dave, kind="product", dhgate_id=str(30_000 + n), next_poll_at=now - PAST)
    papp.config["RQ_SYNC"] = False  # queue the batches; nothing polls them here
    assert monitoring_jobs.poll_due_monitors() == 3
    assert monitoring_jobs.poll_due_monitors() == 0  # the three are still in flight
    claimed = db.session.scalars(select(Monitor.user_id).where(Monitor.claimed_until.is_not(None))).all()
    assert sorted(claimed).count(carol.id) in (1, 2)  # shared fairly between the two members
