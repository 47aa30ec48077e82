"""One snapshot recorded for several monitors (a page fetched once, fanned out to its watchers)."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from extensions import db
from models import Monitor, MonitorProduct, Notification, PollRun, PricePoint, Product
from services.polling import engine as polling
from tests.factories import make_monitor, make_user
from tests.polling.test_change_detection import events


def record_for_all(monitors: list[Monitor]) -> list[PollRun]:
    settings = polling.PollSettings.from_app()
    snapshot = polling.take_monitor_snapshot("store", monitors[0].dhgate_id, settings,
                                             deadline=time.monotonic() + 30)
    assert snapshot.succeeded
    before = [(parsed.item_code, parsed.price_min, parsed.sold) for parsed in snapshot.products]
    now = datetime.now(UTC)
    runs = []
    for monitor in monitors:
        run = PollRun(monitor_id=monitor.id, started_at=now, outcome="ok")
        polling.record_snapshot(db.session.get(Monitor, monitor.id), snapshot, run, now=now, settings=settings)
        db.session.add(run)
        runs.append(run)
    db.session.commit()
    assert [(parsed.item_code, parsed.price_min, parsed.sold) for parsed in snapshot.products] == before  # only read
    return runs


def test_one_snapshot_recorded_for_three_monitors(papp, sandbox, store_id) -> None:  # noqa: ANN001
    monitors = [make_monitor(make_user(name), kind="store", dhgate_id=store_id) for name in ("ann", "ben", "cas")]
    record_for_all(monitors)
    assert db.session.scalar(select(func.count()).select_from(Product)) == 30  # shared rows, created once
    assert db.session.scalar(select(func.count()).select_from(MonitorProduct)) == 90
    assert db.session.scalar(select(func.count()).select_from(PricePoint)) == 30
    product = sandbox.catalog.products(store_id)[0]
    sandbox.catalog.set_price(product.item_code, (product.price_min * Decimal("0.5")).quantize(Decimal("0.01")))
    runs = record_for_all(monitors)
    assert [polling.took_fast_path(run) for run in runs] == [False, False, False]
    for monitor in monitors:  # every watcher hears of the drop, each with its own alert
        assert [e.kind for e in events(monitor)] == ["price_drop"]
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 3
    assert db.session.scalar(select(func.count()).select_from(PricePoint)) == 31  # one point for the shared row
    runs = record_for_all(monitors)
    assert [polling.took_fast_path(run) for run in runs] == [True, True, True]
