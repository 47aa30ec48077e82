"""Real parts for the accounts-by-e-mail tests: the loopback SMTP server of the notification
tests, a real RQ worker in burst mode that runs the queued mail jobs, and helpers that read the
links out of the received mails."""
from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from flask import Flask

from services.worker_runtime import AppSimpleWorker, build_worker
from tests.notifications.conftest import Inbox, endpoint, napp, smtp  # noqa: F401  (fixtures of the notification tests)

BASE_URL = "http://monitor.test"
LINK_RE = re.compile(re.escape(BASE_URL) + r"(/auth/[^\s\"<]+)")


@pytest.fixture
def mail_app(app: Flask, smtp: tuple[Inbox, int]) -> Flask:  # noqa: F811
    """The test app mailing to the loopback SMTP server, with a known base URL."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp[1], MAIL_USE_TLS=False, MAIL_USE_SSL=False,
                      MAIL_DEFAULT_SENDER="Monitor <accounts@monitor.test>", BASE_URL=BASE_URL)
    return app


def run_jobs(app: Flask) -> None:
    """A real worker in burst mode on the queues account jobs use: runs what is queued."""
    build_worker(app, ["high", "default"], worker_class=AppSimpleWorker).work(burst=True)


def parts(message: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a received mail."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "the mail lacks a plain or an HTML part"
    return str(text.get_content()), str(html.get_content())


def link_in(message: EmailMessage) -> str:
    """The path of the one account link in the mail; the same link in both parts."""
    text, html = parts(message)
    in_text = LINK_RE.findall(text)
    in_html = {m.replace("&amp;", "&") for m in LINK_RE.findall(html)}
    assert in_text and set(in_text) == in_html, (in_text, in_html)
    return urlsplit(BASE_URL + in_text[0]).path


@pytest.fixture
def received(smtp: tuple[Inbox, int]) -> Callable[[], list[tuple[list[str], EmailMessage]]]:  # noqa: F811
    def read() -> list[tuple[list[str], EmailMessage]]:
        with smtp[0].lock:
            return list(smtp[0].messages)

    return read
