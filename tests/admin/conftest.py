"""Helpers of the admin tests: an admin's browser and a form post that fetches its CSRF token
first. The separate browsers and the security log reader are the auth tests' own."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from models import User
from tests.auth.conftest import browser, security_events  # noqa: F401  (fixtures shared with the auth tests)
from tests.conftest import csrf_token_from


@pytest.fixture
def admin_client(app: Flask, admin: User, browser: Callable[..., FlaskClient]) -> FlaskClient:  # noqa: F811
    return browser("root")


def post(client: FlaskClient, path: str, data: dict | None = None, token_from: str | None = None) -> TestResponse:
    """POST ``data`` with the CSRF token of the page at ``token_from`` (the target by default)."""
    token = csrf_token_from(client.get(token_from or path).get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token})
