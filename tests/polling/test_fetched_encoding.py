"""The fetcher decodes answers as a browser does: the HTTP charset when the answer names one,
else the page's byte-order mark or ``<meta>`` declaration (a real HTTP server, no mocks)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from services.dhgate.fetcher import get_fetcher
from services.dhgate.parsers import parse_product_page
from services.dhgate.types import PollOutcome

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dhgate"


class _BytesServer:
    """Serves ``/page`` as fixed bytes under a chosen Content-Type."""

    def __init__(self) -> None:
        self.body = b""
        self.content_type = "text/html"
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def app(self, environ: dict, start_response):  # noqa: ANN001, ANN201
        response = Response(self.body, headers={"Content-Type": self.content_type})
        return response(environ, start_response)


@pytest.fixture
def server(papp: Flask) -> Iterator[_BytesServer]:
    served = _BytesServer()
    served.thread.start()
    papp.config["DHGATE_BASE_URL"] = served.base_url
    try:
        yield served
    finally:
        served.server.shutdown()


def _fetched_text(server: _BytesServer, body: bytes, content_type: str) -> str:
    server.body, server.content_type = body, content_type
    result = get_fetcher().fetch("/page")
    assert result.outcome is PollOutcome.OK, result.error
    return result.text or ""


def test_a_utf16_page_without_a_charset_header_is_read_from_its_byte_order_mark(server: _BytesServer) -> None:
    body = (FIXTURES / "product-2026-utf16le.html").read_bytes()
    (product,) = parse_product_page(_fetched_text(server, body, "text/html")).products
    assert product.title == "Café Lamp – Nordic Style, Dimmable SPA..."


def test_a_page_without_a_charset_header_follows_its_meta_declaration(server: _BytesServer) -> None:
    body = (FIXTURES / "product-mobile-windows-1252.html").read_bytes()
    assert "Crème Brûlée Torch – 2 Pack, €-Plug" in _fetched_text(server, body, "text/html")


def test_the_charset_of_the_answer_wins_over_the_meta_declaration(server: _BytesServer) -> None:
    body = '<html><head><meta charset="gbk"></head><body>Crème brûlée</body></html>'.encode("cp1252")
    assert "Crème brûlée" in _fetched_text(server, body, "text/html; charset=ISO-8859-1")
    # Without the header, the (wrong) declaration is what a browser would go by, too.
    assert "Crème brûlée" not in _fetched_text(server, body, "text/html")
