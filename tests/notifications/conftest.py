"""Real parts for the notification tests: an SMTP server (aiosmtpd) and an HTTP endpoint on
loopback, and an app whose mail settings point at them.

``alerted`` polls a sandbox store twice with a price drop and a new listing in between, so the
alert under test came out of a real poll.
"""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from sandbox import SandboxServer
from tests.polling.conftest import FAST_POLLING


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server accepted, as parsed messages with their envelope recipients."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)  # the client address of each message's connection
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self.peers.append(session.peer)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class Endpoint:
    """An HTTP endpoint that records JSON posts and answers 500 to the first ``fail_first``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.requests = 0
        self.fail_first = 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with endpoint.lock:
                    endpoint.requests += 1
                    failing = endpoint.requests <= endpoint.fail_first
                    if not failing:
                        endpoint.received.append(json.loads(body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()
    ep.thread.start()
    try:
        yield ep
    finally:
        ep.server.shutdown()
        ep.server.server_close()


@pytest.fixture
def napp(app: Flask, sandbox: SandboxServer, smtp: tuple[Inbox, int]) -> Flask:
    """The test app: polling the sandbox, mailing to the loopback SMTP server, retrying at once."""
    app.config.update(
        FAST_POLLING, DHGATE_BASE_URL=sandbox.base_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp[1],
        MAIL_USE_TLS=False, MAIL_USE_SSL=False, MAIL_DEFAULT_SENDER="Monitor <alerts@monitor.test>",
        NOTIFY_RETRY_SECONDS=0, BASE_URL="http://monitor.test",
    )
    return app
