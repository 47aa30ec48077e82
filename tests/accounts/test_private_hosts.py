"""Apprise URLs whose host is internal are refused when saved, unless NOTIFY_ALLOW_PRIVATE_HOSTS
is on (it is under the tests and the demo, whose endpoints are on loopback). Only literal
addresses and ``localhost`` are used, so nothing here needs DNS or the internet."""
from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from extensions import db
from models import NotificationChannel, User
from services.notifications.channels import ChannelError, add_apprise_channel
from tests.auth.conftest import browser_for
from tests.conftest import csrf_token_from


@pytest.fixture
def strict(app: Flask) -> Flask:
    app.config["NOTIFY_ALLOW_PRIVATE_HOSTS"] = False
    return app


@pytest.mark.parametrize("url, address", [
    ("json://127.0.0.1:8080/hook", "127.0.0.1"),
    ("json://localhost/hook", None),  # resolves to loopback (127.0.0.1 or ::1)
    ("jsons://10.1.2.3/hook", "10.1.2.3"),
    ("ntfy://192.168.1.20/topic", "192.168.1.20"),
    ("json://169.254.169.254/latest/meta-data", "169.254.169.254"),  # cloud metadata
    ("gotify://[::1]/token", "::1"),
    ("json://0.0.0.0/hook", "0.0.0.0"),
])
def test_internal_hosts_are_refused(strict: Flask, alice: User, url: str, address: str | None) -> None:
    with pytest.raises(ChannelError) as refused:
        add_apprise_channel(alice.id, url)
    assert "internal address" in str(refused.value)
    if address:
        assert address in str(refused.value)
    assert db.session.scalar(select(func.count()).select_from(NotificationChannel)) == 0


@pytest.mark.parametrize("url", [
    "json://93.184.216.34/hook",  # a public address
    "tgram://123456789:abcdefg_hijklmnop/12315544/",  # fixed endpoint: the URL holds tokens
    "ntfy://my-topic",  # ntfy.sh cloud mode
])
def test_public_hosts_and_fixed_services_are_accepted(strict: Flask, alice: User, url: str) -> None:
    assert add_apprise_channel(alice.id, url).id


def test_the_setting_allows_loopback(app: Flask, alice: User) -> None:
    assert app.config["NOTIFY_ALLOW_PRIVATE_HOSTS"] is True  # the testing default
    assert add_apprise_channel(alice.id, "json://127.0.0.1:8080/hook").id


def test_the_form_says_why(strict: Flask, alice: User) -> None:
    client = browser_for(strict, "alice")
    token = csrf_token_from(client.get("/notifications/channels").get_data(as_text=True))
    response = client.post("/notifications/channels/apprise",
                           data={"url": "json://10.0.0.7/hook", "label": "", "csrf_token": token})
    assert response.status_code == 400
    assert "points at an internal address (10.0.0.7)" in response.get_data(as_text=True)


def test_production_refuses_by_default() -> None:
    from config import ProductionConfig

    values = ProductionConfig.load({"SECRET_KEY": "x" * 40})
    assert values["NOTIFY_ALLOW_PRIVATE_HOSTS"] is False
