"""What a poll tells the member: a connection failure in its own words with the next check, and
a store monitor named by DHgate's store name instead of "Store 29173963"."""
from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask_babel import force_locale

from extensions import db
from models import Monitor, PollRun
from services.dhgate.fetcher import get_fetcher
from services.dhgate.types import PollOutcome
from services.labels import status_label
from services.monitors import commands, rules
from services.polling import engine
from tests.factories import make_monitor
from tests.polling.conftest import FAST_POLLING


@pytest.fixture
def refused_url() -> str:
    """An address where nothing listens: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def unreachable_app(app: Flask, refused_url: str) -> Flask:
    app.config.update(FAST_POLLING, DHGATE_BASE_URL=refused_url)
    return app


def test_a_refused_connection_is_unreachable_not_an_http_error(unreachable_app: Flask) -> None:
    result = get_fetcher().fetch("/store/1.html")
    assert result.outcome is PollOutcome.UNREACHABLE
    assert result.status_code is None and result.attempts == 3  # retried like a timeout
    assert "could not reach DHgate" in (result.error or "")


def test_an_unreachable_poll_says_so_and_when_the_next_check_is(unreachable_app: Flask, alice) -> None:  # noqa: ANN001
    monitor = make_monitor(alice, kind="store", dhgate_id="1", poll_interval=3600)
    run = engine.poll_monitor(monitor.id)
    db.session.expire_all()
    monitor = db.session.get(Monitor, monitor.id)
    assert run.outcome == monitor.last_status == "unreachable"
    assert monitor.consecutive_failures == 1 and monitor.next_poll_at > datetime.now(UTC)
    # backed off to twice its interval: the status says what happened and when it is tried again
    assert status_label(monitor) == (
        "Could not reach DHgate (address not found or connection failed) — next check in 2 hours"
    )
    with force_locale("nl"):
        dutch = status_label(monitor)
    assert dutch.startswith("DHgate was niet bereikbaar") and "volgende controle over 2 uur" in dutch
    assert db.session.query(PollRun).filter_by(monitor_id=monitor.id, outcome="unreachable").count() == 1


def test_a_store_monitor_takes_the_name_dhgate_shows(papp: Flask, sandbox, alice, store_id: str) -> None:  # noqa: ANN001
    default = commands.create_monitor(alice, f"https://www.dhgate.com/store/{store_id}")
    assert default.name == f"Store {store_id}"
    run = engine.poll_monitor(default.id)
    assert run.outcome == "ok"
    db.session.expire_all()
    assert db.session.get(Monitor, default.id).name == sandbox.catalog.store(store_id).name


def test_a_name_the_member_chose_is_kept(papp: Flask, sandbox, alice, bob, store_id: str) -> None:  # noqa: ANN001
    chosen = commands.create_monitor(alice, f"https://www.dhgate.com/store/{store_id}",
                                     rules.MonitorSettings(name="My lamp supplier"))
    engine.poll_monitor(chosen.id)
    db.session.expire_all()
    assert db.session.get(Monitor, chosen.id).name == "My lamp supplier"


def test_a_dhgate_name_is_cleaned_before_it_becomes_a_monitor_name() -> None:
    assert rules.name_from_dhgate("  Bright\u200b  Lights\x00 Co \n") == "Bright Lights Co"
    assert rules.name_from_dhgate("\u200b \n") is None
    assert rules.name_from_dhgate(None) is None
    assert len(rules.name_from_dhgate("x" * 500) or "") == rules.MAX_NAME_LENGTH
