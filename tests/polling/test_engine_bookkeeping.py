"""The engine reads its monitor once, before the fetch: what happens when the member acts meanwhile.

The pages are fetched for real from the sandbox; only the moment between the fetch and the
recording is used to act as the member would (through the same database), by wrapping the
engine's own ``take_monitor_snapshot``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from extensions import db
from models import Monitor, MonitorProduct, PollRun
from services.dhgate.urls import store_target
from services.polling import engine as polling
from services.polling.snapshot import Snapshot
from tests.factories import make_monitor


def meanwhile(monkeypatch: pytest.MonkeyPatch, act: Callable[[], None]) -> list[Snapshot]:
    """Run ``act`` (committed) right after the poll's pages were fetched; returns the snapshots."""
    fetch = polling.take_monitor_snapshot
    taken: list[Snapshot] = []

    def fetch_then_act(*args: Any, **kwargs: Any) -> Snapshot:
        snapshot = fetch(*args, **kwargs)
        taken.append(snapshot)
        act()
        db.session.commit()
        return snapshot

    monkeypatch.setattr(polling, "take_monitor_snapshot", fetch_then_act)
    return taken


def count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_monitor_deleted_during_its_first_poll_is_skipped(store_monitor, monkeypatch) -> None:  # noqa: ANN001
    monitor_id = store_monitor.id
    taken = meanwhile(monkeypatch, lambda: db.session.execute(delete(Monitor).where(Monitor.id == monitor_id)))
    with pytest.raises(polling.MonitorNotFound):
        polling.poll_monitor(monitor_id)
    assert taken[0].succeeded and len(taken[0].products) == 30  # the pages were there to record
    assert (count(PollRun), count(MonitorProduct)) == (0, 0)  # nothing half-written


def test_a_monitor_deleted_during_a_blocked_poll_is_skipped(store_monitor, sandbox, monkeypatch) -> None:  # noqa: ANN001
    monitor_id = store_monitor.id
    sandbox.set_fault("blocked")
    meanwhile(monkeypatch, lambda: db.session.execute(delete(Monitor).where(Monitor.id == monitor_id)))
    with pytest.raises(polling.MonitorNotFound):
        polling.poll_monitor(monitor_id)
    assert count(PollRun) == 0


def test_the_store_name_is_adopted_unless_the_member_renamed_it_meanwhile(
    papp, alice, store_id, monkeypatch,  # noqa: ANN001
) -> None:
    default = store_target(store_id).name
    adopted = make_monitor(alice, kind="store", dhgate_id=store_id, name=default)
    polling.poll_monitor(adopted.id)
    name = db.session.scalar(select(Monitor.name).where(Monitor.id == adopted.id))
    assert name != default and name  # the name DHgate shows

    db.session.execute(delete(Monitor).where(Monitor.id == adopted.id))
    db.session.commit()
    renamed = make_monitor(alice, kind="store", dhgate_id=store_id, name=default)
    renamed_id = renamed.id
    meanwhile(monkeypatch, lambda: db.session.execute(
        update(Monitor).where(Monitor.id == renamed_id).values(name="My favourite shop")))
    run = polling.poll_monitor(renamed_id)
    assert run.outcome == "ok"
    assert db.session.scalar(select(Monitor.name).where(Monitor.id == renamed_id)) == "My favourite shop"
