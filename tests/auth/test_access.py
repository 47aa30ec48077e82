"""Who may open what: every protected page sends anonymous visitors to the login form, and the
admin pages refuse members.

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
from tests.conftest import csrf_token_from

PUBLIC_ENDPOINTS = frozenset({
    "auth.login",
    "auth.set_password",
    "auth.preferences",
    "static",
    "dashboard.index",
})
PUBLIC_PREFIXES = ("health.",)

ADMIN_GET_PAGES = ["/auth/users", "/auth/users/new", "/auth/users/{bob}", "/auth/security-log"]
ADMIN_POST_ACTIONS = [
    "/auth/users/new",
    "/auth/users/{bob}",
    "/auth/users/{bob}/sessions/revoke-all",
    "/auth/users/{bob}/sessions/1/revoke",
    "/auth/users/{bob}/password-link",
    "/auth/users/{bob}/unlock",
]

_SAMPLE_BY_CONVERTER = {"IntegerConverter": 1, "FloatConverter": 1.5, "UUIDConverter": uuid.UUID(int=1)}


def _sample_value(rule: Rule, argument: str) -> object:
    converter = type(rule._converters[argument]).__name__
    return _SAMPLE_BY_CONVERTER.get(converter, "sample")


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
    assert {"auth.sessions", "auth.users", "auth.security_log", "auth.change_password", "dashboard.overview"} <= endpoints


def test_login_required(client: FlaskClient, protected_url: str) -> None:
    response = client.get(protected_url)
    if protected_url.startswith("/api/"):
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


@pytest.mark.parametrize("path", ADMIN_GET_PAGES)
def test_admin_pages_refuse_members(app: Flask, alice: User, bob: User, browser, path: str) -> None:  # noqa: ANN001
    client = browser("alice")
    assert client.get(path.format(bob=bob.id)).status_code == 403


@pytest.mark.parametrize("path", ADMIN_GET_PAGES)
def test_admin_pages_send_anonymous_to_login(client: FlaskClient, bob: User, path: str) -> None:
    url = path.format(bob=bob.id)
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


@pytest.mark.parametrize("path", ADMIN_GET_PAGES)
def test_admin_pages_open_for_admins(app: Flask, admin: User, bob: User, browser, path: str) -> None:  # noqa: ANN001
    client = browser("root")
    assert client.get(path.format(bob=bob.id)).status_code == 200


@pytest.mark.parametrize("path", ADMIN_POST_ACTIONS)
def test_admin_actions_refuse_members(app: Flask, alice: User, bob: User, browser, path: str) -> None:  # noqa: ANN001
    client = browser("alice")
    token = csrf_token_from(client.get("/auth/sessions").get_data(as_text=True))
    response = client.post(path.format(bob=bob.id), data={"csrf_token": token, "role": "admin"})
    assert response.status_code == 403
    from extensions import db

    db.session.expire_all()
    assert bob.role == "member" and bob.is_active


def test_admin_required_decorator_for_other_blueprints(stores, app: Flask, alice: User, admin: User) -> None:  # noqa: ANN001
    """The decorator other areas import behaves like the auth pages: 302 / 403 / 200."""
    from blueprints.auth.decorators import admin_required
    from tests.auth.conftest import browser_for
    from tests.auth.conftest import make_app

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
