"""``flask monitors poll`` and ``flask dhgate parse|sandbox`` through the CLI runner."""
from __future__ import annotations

import codecs
import json
import socket
from pathlib import Path

import httpx
from flask import Flask
from selectolax.lexbor import LexborHTMLParser
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


def test_parse_reads_pages_saved_by_a_browser_and_names_the_encoding(app: Flask) -> None:
    runner = app.test_cli_runner()
    utf16 = runner.invoke(args=["dhgate", "parse", str(FIXTURES / "product-2026-utf16le.html")])
    assert utf16.exit_code == 0, utf16.output
    assert utf16.output.startswith("product page")
    assert "3000000010  Café Lamp – Nordic Style, Dimmable SPA...\n" in utf16.output
    assert utf16.output.splitlines()[-1] == "encoding: UTF-16LE (from its byte-order mark)"
    cp1252 = runner.invoke(args=["dhgate", "parse", str(FIXTURES / "product-mobile-windows-1252.html")])
    assert cp1252.output.splitlines()[-1] == "encoding: windows-1252 (from its <meta> declaration)"
    plain = runner.invoke(args=["dhgate", "parse", str(FIXTURES / "search-page.html")])
    assert plain.output.splitlines()[-1] == "encoding: UTF-8 (from its <meta> declaration)"


def test_parse_says_which_encoding_an_unreadable_page_was_read_in(app: Flask, tmp_path: Path) -> None:
    page = tmp_path / "mystery.html"
    page.write_bytes(b"<html><body>nothing DHgate-like</body></html>")
    result = app.test_cli_runner().invoke(args=["dhgate", "parse", str(page)])
    assert result.exit_code == 1
    assert result.output == (
        "Error: Cannot tell what kind of page this is; pass --kind store, search or product. "
        "It was read as UTF-8 (the default: no byte-order mark or charset declaration).\n"
    )


def test_parse_refuses_a_file_above_the_page_cap_with_one_line(app: Flask, tmp_path: Path) -> None:
    big = tmp_path / "big.html"
    big.write_bytes(b"<html>" + b"x" * 4096)
    app.config["DHGATE_MAX_PAGE_BYTES"] = 4096  # the cap the fetcher uses; 8 MB by default
    result = app.test_cli_runner().invoke(args=["dhgate", "parse", str(big)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {big} is larger than 4096 bytes, the most the fetcher reads of a page; it was not parsed.\n"
    )


def test_parse_reads_a_sandbox_page_saved_as_utf16_with_the_2026_title(
    app: Flask, sandbox: SandboxServer, tmp_path: Path,
) -> None:
    """The sandbox's "saved page" download and its 2026 title template, through ``flask dhgate parse``."""
    odd, even = (next(p for p in sandbox.catalog.products() if int(p.item_code) % 2 == parity) for parity in (1, 0))
    for product in (odd, even):
        response = httpx.get(sandbox.product_url(product.item_code) + "?saved=utf-16")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html"  # no charset: the mark must tell
        assert response.headers["content-disposition"] == f'attachment; filename="{product.item_code}.html"'
        assert response.content.startswith(codecs.BOM_UTF16_LE)
        saved = tmp_path / f"{product.item_code}.html"
        saved.write_bytes(response.content)
        result = app.test_cli_runner().invoke(args=["dhgate", "parse", str(saved)])
        assert result.exit_code == 0, result.output
        assert f"{product.item_code}  {product.title[:90]}\n" in result.output
        assert result.output.splitlines()[-1] == "encoding: UTF-16LE (from its byte-order mark)"
    for product, tail in ((odd, " From &Price; | DHgate"), (even, "")):  # what the parser had to strip
        page = LexborHTMLParser(httpx.get(sandbox.product_url(product.item_code)).text)
        assert json.loads(page.css_first('script[type="application/ld+json"]').text())[0]["name"] == (
            product.title + tail
        )
        assert (page.css_first("title").text() or "").endswith(tail or " | DHgate.Com")


def test_sandbox_refuses_a_busy_port_with_one_line(app: Flask) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = app.test_cli_runner().invoke(args=["dhgate", "sandbox", "--port", str(port)])
    assert result.exit_code == 1
    assert "DHgate sandbox: cannot listen on 127.0.0.1" in result.output
