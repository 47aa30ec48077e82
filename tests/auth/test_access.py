"""Who may open what: every protected page sends anonymous visitors to the login form (the admin
area's members-get-403 tests are in ``tests/admin/test_access.py``).

The "login required" test is generated from the app's URL map, so pages other areas add later
are covered without anyone remembering to list them. A page that is meant to be public must be
added to ``PUBLIC_ENDPOINTS`` on purpose.
"""
from __future__ import annotations

import tempfile
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from models import User

PUBLIC_ENDPOINTS = frozenset({
    "auth.login",
    "auth.set_password",
    "auth.preferences",
    # Accounts by e-mail: used before logging in, the signed token in a link is the authority.
    "auth.forgot_password",
    "auth.reset_password",
    "auth.signup",
    "auth.verify_account",
    "auth.resend_verification",
    "auth.confirm_email_change",
    "static",
    "dashboard.index",
    "go.follow",  # tracked links in e-mails and chat are followed without a session
    "notifications.unsubscribe_confirm",  # a link in an e-mail: its signed token is the authority
})
PUBLIC_PREFIXES = ("health.",)

_SAMPLE_BY_CONVERTER = {"IntegerConverter": 1, "FloatConverter": 1.5, "UUIDConverter": uuid.UUID(int=1)}


def _sample_value(rule: Rule, argument: str) -> object:
    """A value of the right kind; the app's own converters count as the Werkzeug ones they extend."""
    for converter in type(rule._converters[argument]).__mro__:
        if converter.__name__ in _SAMPLE_BY_CONVERTER:
            return _SAMPLE_BY_CONVERTER[converter.__name__]
    return "sample"


def _route_table() -> list[tuple[str, str]]:
    """(endpoint, example URL) of every GET route that is not public, from a throwaway app that
    is never served (no database or Redis is touched while building it)."""
    from app import create_app

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "INSTANCE_PATH": tempfile.mkdtemp(prefix="dhm-routes-"),
        "SECRET_KEY": "route-listing-only-" + "x" * 32,
        "SERVER_NAME": "localhost",
    })
    routes = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or ()):
                continue
            if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith(PUBLIC_PREFIXES):
                continue
            values = {arg: _sample_value(rule, arg) for arg in rule.arguments}
            routes.append((rule.endpoint, url_for(rule.endpoint, **values)))
    return sorted(routes)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "protected_url" in metafunc.fixturenames:
        table = _route_table()
        metafunc.parametrize("protected_url", [url for _, url in table], ids=[endpoint for endpoint, _ in table])


def test_route_table_sees_the_auth_pages() -> None:
    """Guards the generator itself: if it found nothing, the parametrized test would prove nothing."""
    endpoints = {endpoint for endpoint, _ in _route_table()}
    assert {"auth.sessions", "auth.account", "admin.users", "admin.security_log", "auth.change_password", "dashboard.overview"} <= endpoints


def test_login_required(client: FlaskClient, protected_url: str) -> None:
    response = client.get(protected_url)
    if protected_url.startswith("/api/") or protected_url == "/notifications/poll":  # JSON: 401 with a reason
        assert response.status_code == 401, f"{protected_url} answered {response.status_code}"
        return
    assert response.status_code == 302, f"{protected_url} answered {response.status_code} to an anonymous visitor"
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == [protected_url]


def test_anonymous_json_client_gets_401_not_a_redirect(client: FlaskClient) -> None:
    response = client.get("/auth/sessions", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.is_json and response.json["status"] == 401


def test_admin_required_decorator_for_other_blueprints(stores, app: Flask, alice: User, admin: User) -> None:  # noqa: ANN001
    """The decorator other areas import behaves like the admin pages: 302 / 403 / 200."""
    from tests.auth.conftest import browser_for, make_app
    from web.access import admin_required

    other = make_app(stores)

    @admin_required
    def platform() -> str:
        return "platform numbers"

    other.add_url_rule("/platform-test", "platform_test", platform)
    anonymous = other.test_client().get("/platform-test?range=7d")
    assert anonymous.status_code == 302
    location = urlsplit(anonymous.headers["Location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == ["/platform-test?range=7d"]
    assert browser_for(other, "alice").get("/platform-test").status_code == 403
    assert browser_for(other, "root").get("/platform-test").get_data(as_text=True) == "platform numbers"
