"""Request-level protections: security headers, the cross-origin check, CSRF, error bodies."""
from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from models import User
from tests.auth.conftest import is_logged_in, make_app
from tests.conftest import PASSWORD, csrf_token_from


def _directives(csp: str) -> dict[str, str]:
    parts = (p.strip().split(" ", 1) for p in csp.split(";") if p.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/auth/login")
    headers = response.headers
    csp = _directives(headers["Content-Security-Policy"])
    assert csp["script-src"] == "'self'"
    assert "unsafe-inline" not in csp["script-src"] and "unsafe-eval" not in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in headers  # plain-HTTP development and tests


def test_security_headers_on_error_pages(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Content-Security-Policy" in response.headers and response.headers["X-Frame-Options"] == "DENY"


def test_hsts_in_production(stores) -> None:  # noqa: ANN001
    production = make_app(stores, ENV_NAME="production")
    response = production.test_client().get("/auth/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_cookie_flags(client: FlaskClient, auth, alice: User) -> None:  # noqa: ANN001
    response = auth.login()
    cookie_header = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("dhm_session="))
    assert "HttpOnly" in cookie_header and "SameSite=Strict" in cookie_header


def test_cross_origin_post_is_refused_and_logged(client: FlaskClient, alice: User, security_events) -> None:  # noqa: ANN001
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post(
        "/auth/login",
        data={"login": "alice", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert not is_logged_in(client)
    [event] = security_events("csrf_failed")
    assert event.details["origin"] == "https://evil.example"
    assert event.ip == "127.0.0.1"


def test_cross_site_referer_is_refused(client: FlaskClient, alice: User) -> None:
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post(
        "/auth/login",
        data={"login": "alice", "password": PASSWORD, "csrf_token": token},
        headers={"Referer": "https://evil.example/page"},
    )
    assert response.status_code == 403


def test_same_origin_post_is_accepted(client: FlaskClient, alice: User) -> None:
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post(
        "/auth/login",
        data={"login": "alice", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "http://localhost"},
    )
    assert response.status_code == 302


def test_post_without_csrf_token_is_refused_and_logged(client: FlaskClient, alice: User, security_events) -> None:  # noqa: ANN001
    response = client.post("/auth/login", data={"login": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert not is_logged_in(client)
    [event] = security_events("csrf_failed")
    assert event.details["path"] == "/auth/login"


def test_post_with_forged_csrf_token_is_refused(client: FlaskClient, alice: User) -> None:
    client.get("/auth/login")
    response = client.post("/auth/login", data={"login": "alice", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400


def test_json_clients_get_json_errors(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.is_json
    assert response.json["status"] == 404 and response.json["error"]


def test_html_clients_get_the_error_page(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "<html" in response.get_data(as_text=True)


def test_pages_with_secrets_are_not_cached(app: Flask, admin: User, browser) -> None:  # noqa: ANN001
    client = browser("root")
    token = csrf_token_from(client.get("/admin/users/new").get_data(as_text=True))
    response = client.post("/admin/users/new", data={
        "csrf_token": token, "email": "carol@example.com", "username": "carol", "role": "member",
        "subscription_tier": "free", "password_setup": "temporary",
    })
    assert response.status_code == 200
    assert 'id="temporary-password"' in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
