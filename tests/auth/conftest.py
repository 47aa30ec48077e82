"""Helpers of the auth tests: isolated requests, extra logged-in browsers, the security log."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import PASSWORD, AuthActions, make_app  # noqa: F401  (re-exported for the auth tests)


def browser_for(app: Flask, login: str, password: str = PASSWORD, *, remember: bool = False) -> FlaskClient:
    """A separate browser (own cookie jar) logged in through the real form."""
    client = app.test_client()
    response = AuthActions(client).login(login, password, remember=remember)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def browser(app: Flask) -> Callable[..., FlaskClient]:
    def make(login: str, password: str = PASSWORD, *, remember: bool = False) -> FlaskClient:
        return browser_for(app, login, password, remember=remember)

    return make


@pytest.fixture
def security_events(app: Flask) -> Callable[..., list[Any]]:
    """``security_events("failed_login")``: rows of that kind, oldest first (all kinds if None)."""
    from extensions import db
    from models import SecurityEvent

    def read(event: str | None = None, **filters: Any) -> list[SecurityEvent]:
        db.session.expire_all()
        query = select(SecurityEvent).order_by(SecurityEvent.id)
        if event:
            query = query.where(SecurityEvent.event == event)
        for key, value in filters.items():
            query = query.where(getattr(SecurityEvent, key) == value)
        return list(db.session.scalars(query))

    return read


def live_session_ids(user_id: int) -> list[int]:
    from extensions import db
    from services.sessions import live_sessions

    db.session.expire_all()
    return [row.id for row in live_sessions(user_id)]


def is_logged_in(client: FlaskClient) -> bool:
    """The protected overview answers 200 only to a live session; else it redirects to login."""
    response = client.get("/dashboard")
    if response.status_code == 200:
        assert "<h1>Hello, " in response.get_data(as_text=True)
        return True
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    return False
