"""``flask monitors poll`` and ``flask dhgate parse|sandbox`` through the CLI runner."""
from __future__ import annotations

import socket
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from extensions import db
from models import Monitor, PollRun
from sandbox import SandboxServer
from tests.factories import make_monitor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dhgate"


def test_poll_one_monitor_prints_a_summary(papp: Flask, store_monitor: Monitor) -> None:
    result = papp.test_cli_runner().invoke(args=["monitors", "poll", str(store_monitor.id)])
    assert result.exit_code == 0, result.output
    assert f"#{store_monitor.id} {store_monitor.name}: ok · 2 page(s) · 30 seen, 30 new, 0 changed" in result.output
    assert db.session.scalar(select(func.count()).select_from(PollRun)) == 1


def test_poll_all_active_monitors(papp: Flask, sandbox: SandboxServer, store_monitor: Monitor, alice) -> None:  # noqa: ANN001
    second = make_monitor(alice, kind="store", dhgate_id=sandbox.catalog.store_ids()[1])
    paused = make_monitor(alice, kind="store", dhgate_id=sandbox.catalog.store_ids()[2], active=False)
    sandbox.set_fault("blocked", store=sandbox.catalog.store_ids()[1])
    result = papp.test_cli_runner().invoke(args=["monitors", "poll", "--all"])
    assert result.exit_code == 0, result.output
    assert f"#{store_monitor.id} " in result.output and ": ok ·" in result.output
    assert f"#{second.id} {second.name}: blocked" in result.output
    assert f"#{paused.id} " not in result.output
    assert "1 of 2 polls did not succeed" in result.output


def test_poll_unknown_monitor_is_one_clear_line(papp: Flask) -> None:
    result = papp.test_cli_runner().invoke(args=["monitors", "poll", "424242"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: No monitor with id 424242."


def test_poll_needs_an_id_or_all(papp: Flask, store_monitor: Monitor) -> None:
    for args in (["monitors", "poll"], ["monitors", "poll", str(store_monitor.id), "--all"]):
        result = papp.test_cli_runner().invoke(args=args)
        assert result.exit_code == 1
        assert "Give one monitor id, or --all" in result.output


def test_parse_prints_what_the_parser_sees(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["dhgate", "parse", str(FIXTURES / "store-page-1.html")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("store page")
    assert " products" in result.output.splitlines()[0]


def test_parse_with_kind_and_a_blocked_page(app: Flask) -> None:
    runner = app.test_cli_runner()
    product = runner.invoke(args=["dhgate", "parse", "--kind", "product", str(FIXTURES / "product-page.html")])
    assert product.exit_code == 0 and product.output.startswith("product page")
    blocked = runner.invoke(args=["dhgate", "parse", str(FIXTURES / "access-denied.html")])
    assert blocked.exit_code == 1
    assert blocked.output.startswith("Error: blocked:")
    missing = runner.invoke(args=["dhgate", "parse", "no-such-file.html"])
    assert missing.exit_code != 0 and "no-such-file.html" in missing.output


def test_sandbox_refuses_a_busy_port_with_one_line(app: Flask) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = app.test_cli_runner().invoke(args=["dhgate", "sandbox", "--port", str(port)])
    assert result.exit_code == 1
    assert "DHgate sandbox: cannot listen on 127.0.0.1" in result.output
