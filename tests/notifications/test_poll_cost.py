"""What the live badge's "nothing new" answer costs, counted exactly, and that remembering
verified poll tokens accepts nothing the signature check would refuse."""
from __future__ import annotations

import pytest
from flask import Flask

from models import User
from tests.auth.test_request_cost import counted
from tests.conftest import Stores, make_app
from tests.monitoring.conftest import browser_for
from tests.notifications.test_center import badge_url


def _poll_url_and_etag(app: Flask) -> tuple[str, str]:
    url = badge_url(browser_for(app, "alice").get("/dashboard").get_data(as_text=True))
    first = app.test_client().get(url)
    assert first.status_code == 200
    return f"{url}&since={first.get_json()['cursor']}", first.headers["ETag"]


def test_a_304_costs_one_round_trip_and_no_statement(
    app: Flask, alice: User, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, etag = _poll_url_and_etag(app)
    client = app.test_client()
    for _ in range(2):  # the first verifies the token, the second finds it verified
        with counted(app, monkeypatch) as traffic:
            response = client.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 304 and response.get_data() == b""
        assert traffic.statements == [] and traffic.redis_round_trips == 1
    listed = client.get(url, headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304  # a list naming the ETag still matches


def test_a_token_verified_under_one_secret_is_refused_under_another(
    app: Flask, stores: Stores, alice: User,
) -> None:
    url, etag = _poll_url_and_etag(app)
    assert app.test_client().get(url, headers={"If-None-Match": etag}).status_code == 304
    other = make_app(stores, SECRET_KEY="another-secret-key-that-is-long-enough-9876543210")
    assert other.test_client().get(url, headers={"If-None-Match": etag}).status_code == 401
