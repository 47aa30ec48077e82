"""Fixtures of the polling tests: an app aimed at the sandbox marketplace (``tests/conftest.py``).

Every test gets its own sandbox (fresh catalog, no faults, zero request counts) on an ephemeral
port. Waits are tiny (retry backoff, Retry-After cap) and the per-host rate is high, so tests
stay fast while going through the same code as production.
"""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from sandbox import SandboxServer

FAST_POLLING: dict[str, Any] = {
    "DHGATE_REQUESTS_PER_SECOND": 1000.0,
    "DHGATE_RATE_BURST": 100,
    "DHGATE_RETRY_ATTEMPTS": 3,
    "DHGATE_RETRY_WAIT_SECONDS": 0.01,
    "DHGATE_RETRY_MAX_WAIT_SECONDS": 0.05,
    "DHGATE_RETRY_AFTER_MAX_SECONDS": 0.05,
    "DHGATE_TIMEOUT_SECONDS": 5.0,
    "DHGATE_CONNECT_TIMEOUT_SECONDS": 2.0,
    # Change-detection tests provoke many failures on purpose; the breaker has its own tests.
    "DHGATE_BREAKER_FAILURES": 1000,
    "DHGATE_BREAKER_RESET_SECONDS": 60.0,
    "POLL_BUDGET_SECONDS": 60.0,
    "DHGATE_MAX_PAGES": 5,
    "MISSING_POLLS_THRESHOLD": 3,
}


@pytest.fixture
def papp(app: Flask, sandbox: SandboxServer) -> Flask:
    """The test app, fetching from the sandbox with tiny waits."""
    app.config.update(FAST_POLLING, DHGATE_BASE_URL=sandbox.base_url)
    return app


@pytest.fixture
def store_id(sandbox: SandboxServer) -> str:
    return sandbox.catalog.store_ids()[0]


@pytest.fixture
def store_monitor(papp: Flask, alice, store_id: str):  # noqa: ANN001, ANN201
    from tests.factories import make_monitor

    return make_monitor(alice, kind="store", dhgate_id=store_id, poll_interval=3600)


def product_monitor(user, sandbox: SandboxServer, item_code: str | None = None, **fields: Any):  # noqa: ANN001, ANN201
    """A product monitor on an in-stock product of the first store (or ``item_code``)."""
    from tests.factories import make_monitor

    if item_code is None:
        item_code = next(p.item_code for p in sandbox.catalog.products(sandbox.catalog.store_ids()[0]) if p.in_stock)
    fields.setdefault("poll_interval", 3600)
    return make_monitor(user, kind="product", dhgate_id=item_code, url=f"/product/x/{item_code}.html", **fields)
