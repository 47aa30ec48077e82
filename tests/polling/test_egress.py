"""The egress pool: two real HTTP proxies on loopback in front of the sandbox. A proxy DHgate
blocks cools down (its own breaker) while the fetcher goes on through the other; each proxy has
a request budget of its own."""
from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from flask import Flask

from sandbox import SandboxServer
from sandbox.render_failures import render_access_denied
from services.dhgate.clock import set_clock
from services.dhgate.fetcher import ForbiddenTarget, get_fetcher
from services.dhgate.types import PollOutcome
from services.dhgate.urls import store_page_path
from services.polling.budget import claim_limit, poll_concurrency
from tests.clock import FakeClock

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


class LoopbackProxy:
    """A forwarding HTTP proxy on 127.0.0.1. ``blocked``: it answers every request with the CDN's
    "Access Denied" page, as DHgate answers an address it has blocked."""

    def __init__(self) -> None:
        self.blocked = False
        self.requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                proxy.requests += 1
                if proxy.blocked:
                    body = render_access_denied(self.path, "18.proxy").encode()
                    self._answer(403, [("Content-Type", "text/html"), ("Server", "AkamaiGHost")], body)
                    return
                target = urlsplit(self.path)  # a proxy gets the absolute URL
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream.request("GET", target.path + (f"?{target.query}" if target.query else ""), headers=headers)
                    answer = upstream.getresponse()
                    body = answer.read()
                    kept = [(k, v) for k, v in answer.getheaders()
                            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
                    self._answer(answer.status, kept, body)
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxies() -> Iterator[tuple[LoopbackProxy, LoopbackProxy]]:
    with LoopbackProxy() as first, LoopbackProxy() as second:
        yield first, second


def test_a_blocked_proxy_cools_down_while_the_other_carries_on(
    papp: Flask, sandbox: SandboxServer, proxies: tuple[LoopbackProxy, LoopbackProxy],
) -> None:
    blocked, healthy = proxies
    blocked.blocked = True
    clock = FakeClock()
    set_clock(papp, clock)
    papp.config.update(DHGATE_PROXIES=[blocked.url, healthy.url], DHGATE_BREAKER_FAILURES=1,
                       DHGATE_BREAKER_RESET_SECONDS=60.0)
    page = store_page_path(sandbox.catalog.store_ids()[0], 0)
    fetcher = get_fetcher()
    assert [egress.name for egress in fetcher.egresses] == [url.removeprefix("http://") for url in (blocked.url, healthy.url)]

    results = [fetcher.fetch(page) for _ in range(6)]
    assert [r.outcome for r in results] == [PollOutcome.BLOCKED] + [PollOutcome.OK] * 5
    assert {r.egress for r in results[1:]} == {healthy.url.removeprefix("http://")}
    assert (blocked.requests, healthy.requests) == (1, 5)  # no request went to the blocked one again
    assert sandbox.path_count(page.split("?")[0]) == 5
    assert fetcher.egresses[0].breaker.state == "open" and fetcher.egresses[1].breaker.state == "closed"

    blocked.blocked = False  # the block is lifted; after the cool-down the proxy gets a trial
    clock.advance(61)
    outcomes = [fetcher.fetch(page) for _ in range(4)]
    assert all(r.outcome is PollOutcome.OK for r in outcomes)
    assert blocked.requests == 3 and healthy.requests == 7  # in turn again
    assert fetcher.egresses[0].breaker.state == "closed"


def test_each_proxy_has_a_budget_of_its_own(papp: Flask, proxies: tuple[LoopbackProxy, LoopbackProxy]) -> None:
    papp.config.update(DHGATE_REQUESTS_PER_SECOND=1.0, DHGATE_RATE_BURST=1, POLL_CONCURRENCY=32)
    fetcher = get_fetcher()
    assert [egress.name for egress in fetcher.egresses] == ["direct"]
    alone = claim_limit(datetime.now(UTC), papp.config)
    papp.config["DHGATE_PROXIES"] = [proxy.url for proxy in proxies]
    fetcher = get_fetcher()
    first, second = (egress.limiter for egress in fetcher.egresses)
    assert first.key != second.key
    assert first.reserve(10).wait == 0 and second.reserve(10).wait == 0  # each its own slot now
    # A tick's (30 s) requests × 1.5 ÷ 2 pages a poll, rounded up: 22.5 alone, 45 with two proxies.
    assert (alone, claim_limit(datetime.now(UTC), papp.config)) == (23, 45)
    assert poll_concurrency(papp.config) == 8


def test_a_proxy_that_is_not_an_http_url_is_refused(papp: Flask) -> None:
    papp.config["DHGATE_PROXIES"] = ["socks9://nowhere"]
    with pytest.raises(ForbiddenTarget, match="DHGATE_PROXIES"):
        get_fetcher()
