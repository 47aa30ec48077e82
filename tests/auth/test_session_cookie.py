"""The cookie session remembers values whose signature verified; it must refuse exactly what
Flask refuses: an altered cookie, and one older than the session lifetime."""
from __future__ import annotations

import time

import pytest
from flask import Flask
from flask_login import current_user

from models import User
from tests.auth.conftest import browser_for
from web.session_cookie import VerifiedCookieSessionInterface


@pytest.fixture
def probe(app: Flask) -> str:
    app.add_url_rule("/whoami-cookie", "whoami_cookie",
                     lambda: current_user.username if current_user.is_authenticated else "anonymous")
    return "/whoami-cookie"


def _cookie(app: Flask, client: object) -> str:
    name = app.config["SESSION_COOKIE_NAME"]
    found = client.get_cookie(name)  # type: ignore[attr-defined]
    assert found is not None
    return str(found.value)


def test_the_app_uses_the_remembering_interface(app: Flask) -> None:
    assert isinstance(app.session_interface, VerifiedCookieSessionInterface)


def test_an_altered_cookie_is_refused_after_the_real_one_was_remembered(app: Flask, alice: User, probe: str) -> None:
    client = browser_for(app, "alice")
    assert client.get(probe).get_data(as_text=True) == "alice"  # verified and remembered
    value = _cookie(app, client)
    altered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], altered)
    assert client.get(probe).get_data(as_text=True) == "anonymous"
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], value)
    assert client.get(probe).get_data(as_text=True) == "alice"


def test_a_remembered_cookie_still_expires_with_the_session_lifetime(
    app: Flask, alice: User, probe: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = browser_for(app, "alice")
    assert client.get(probe).get_data(as_text=True) == "alice"
    assert client.get(probe).get_data(as_text=True) == "alice"  # from memory
    lifetime = app.permanent_session_lifetime.total_seconds()
    later = time.time() + lifetime + 5
    monkeypatch.setattr(time, "time", lambda: later)  # for Flask's signer and our memory alike
    assert client.get(probe).get_data(as_text=True) == "anonymous"
