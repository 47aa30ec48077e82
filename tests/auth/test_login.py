"""Logging in and out through the real form (CSRF on): who gets in, who does not, and what the
log says about it."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import AdminSession, User
from tests.auth.conftest import is_logged_in, live_session_ids, make_app
from tests.conftest import PASSWORD, AuthActions, csrf_token_from

GENERIC_ERROR = "That e-mail/username and password do not match an account."


def error_text(response) -> str:  # noqa: ANN001
    match = re.search(r'data-testid="login-error">([^<]*)<', response.get_data(as_text=True))
    assert match, "no login error shown"
    return match.group(1)


def test_login_page_has_accessible_fields(client: FlaskClient) -> None:
    html = client.get("/auth/login").get_data(as_text=True)
    assert 'name="login"' in html and 'autocomplete="username"' in html
    assert 'type="password"' in html and 'autocomplete="current-password"' in html
    assert 'name="remember"' in html
    assert '<label for="login"' in html and '<label for="password"' in html


def test_login_page_has_no_stray_none_attributes(client: FlaskClient) -> None:
    """Fields rendered through the shared ``field`` macro must not carry ``attr="None"``
    (``aria-invalid="None"`` makes screen readers announce every field as invalid)."""
    html = client.get("/auth/login").get_data(as_text=True)
    assert '="None"' not in html


def test_login_by_email(client: FlaskClient, auth: AuthActions, alice: User, security_events) -> None:  # noqa: ANN001
    response = auth.login("alice@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    assert is_logged_in(client)
    [event] = security_events("login")
    assert event.user_id == alice.id and event.ip == "127.0.0.1"
    assert event.user_agent  # the test client's user agent is recorded too


def test_login_by_username_ignores_case_and_spaces(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    response = auth.login("  ALICE ")
    assert response.status_code == 302
    assert is_logged_in(client)
    db.session.expire_all()
    assert alice.last_login_at is not None


def test_login_creates_hashed_server_side_session(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    auth.login()
    [row] = db.session.scalars(db.select(AdminSession).where(AdminSession.user_id == alice.id)).all()
    cookie = client.get_cookie("dhm_session")
    assert cookie is not None
    assert row.token not in cookie.value  # only a hash is stored, never the cookie's token
    assert len(row.token) == 64
    lifetime = row.expires_at - row.created_at
    assert timedelta(hours=23) < lifetime <= timedelta(hours=24)
    assert cookie.expires is None  # a browser-session cookie without "remember me"


def test_remember_me_lasts_thirty_days(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    auth.login(remember=True)
    [row] = db.session.scalars(db.select(AdminSession).where(AdminSession.user_id == alice.id)).all()
    assert timedelta(days=29) < row.expires_at - row.created_at <= timedelta(days=30)
    assert row.remember is True
    cookie = client.get_cookie("dhm_session")
    assert cookie is not None and cookie.expires is not None


def test_wrong_password_is_refused_and_logged(client: FlaskClient, auth: AuthActions, alice: User, security_events) -> None:  # noqa: ANN001
    response = auth.login("alice", "not the password")
    assert response.status_code == 200
    assert error_text(response) == GENERIC_ERROR
    assert not is_logged_in(client)
    [event] = security_events("failed_login")
    assert event.user_id == alice.id
    assert event.details["reason"] == "wrong_password"
    db.session.expire_all()
    assert alice.failed_login_count == 1


def test_unknown_user_gets_the_same_answer(client: FlaskClient, auth: AuthActions, alice: User, security_events) -> None:  # noqa: ANN001
    wrong_password = auth.login("alice", "not the password")
    unknown = auth.login("nobody@example.com", "not the password")
    assert unknown.status_code == wrong_password.status_code == 200
    assert error_text(unknown) == error_text(wrong_password) == GENERIC_ERROR
    events = security_events("failed_login")
    assert [e.details["reason"] for e in events] == ["wrong_password", "unknown_user"]
    assert events[1].user_id is None and events[1].details["login"] == "nobody@example.com"


def test_unknown_user_costs_the_same_hashing_work(
    client: FlaskClient, auth: AuthActions, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown names still run the password hash (else the fast answer gives them away)."""
    import services.accounts as accounts_module

    calls: list[str] = []
    real = accounts_module.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(accounts_module, "check_password_hash", counting)
    auth.login("alice", "not the password")
    known = list(calls)
    calls.clear()
    auth.login("nobody", "not the password")
    assert len(known) == len(calls) == 1
    assert calls[0] == known[0]  # the same algorithm and cost parameters


def test_deactivated_user_cannot_log_in(client: FlaskClient, auth: AuthActions, alice: User, security_events) -> None:  # noqa: ANN001
    alice.is_active = False
    db.session.commit()
    response = auth.login()
    assert response.status_code == 200
    assert "deactivated" in error_text(response)
    assert not is_logged_in(client)
    assert security_events("failed_login")[0].details["reason"] == "inactive"


def test_lockout_after_five_failures(client: FlaskClient, auth: AuthActions, alice: User, security_events) -> None:  # noqa: ANN001
    for _ in range(4):
        refused = auth.login("alice", "wrong guess")
        assert refused.status_code == 200 and error_text(refused) == GENERIC_ERROR
    fifth = auth.login("alice", "wrong guess")
    assert fifth.status_code == 429
    assert int(fifth.headers["Retry-After"]) > 60  # the 15-minute lock, not a one-minute window
    assert int(fifth.headers["Retry-After"]) <= 15 * 60
    db.session.expire_all()
    assert alice.locked_until is not None and alice.locked_until > datetime.now(UTC) + timedelta(minutes=14)
    [lockout] = security_events("lockout")
    assert lockout.user_id == alice.id and lockout.details["failures"] == 5

    # Locked means locked: even the right password is refused now, with the same 429.
    right = auth.login("alice", PASSWORD)
    assert right.status_code == 429
    assert "Retry-After" in right.headers
    assert not is_logged_in(client)
    assert security_events("failed_login")[-1].details["reason"] == "locked"


def test_lock_expires_and_success_resets_the_count(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    for _ in range(5):
        auth.login("alice", "wrong guess")
    db.session.expire_all()
    assert alice.failed_login_count == 5
    alice.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    assert auth.login("alice", PASSWORD).status_code == 302
    assert is_logged_in(client)
    db.session.expire_all()
    assert alice.failed_login_count == 0 and alice.locked_until is None


def test_after_an_expired_lock_one_more_failure_locks_again(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    for _ in range(5):
        auth.login("alice", "wrong guess")
    alice.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    assert auth.login("alice", "wrong again").status_code == 429


def test_unknown_names_are_locked_out_too(client: FlaskClient, auth: AuthActions, security_events) -> None:  # noqa: ANN001
    """Otherwise "locked after five tries" would reveal which names are real accounts."""
    statuses = [auth.login("ghost", "wrong guess").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    locked = auth.login("ghost", "wrong guess")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 60
    assert security_events("lockout")[0].details["login"] == "ghost"


def test_per_ip_rate_limit(stores, app: Flask, alice: User, security_events) -> None:  # noqa: ANN001
    limited = make_app(stores, LOGIN_RATE_LIMIT_IP="3 per minute")
    client = limited.test_client()
    auth = AuthActions(client)
    statuses = [auth.login(f"user{i}", "wrong guess").status_code for i in range(3)]
    assert statuses == [200, 200, 200]
    response = auth.login("alice", PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many login attempts" in response.get_data(as_text=True)
    assert not is_logged_in(client)
    [event] = security_events("rate_limited")
    assert event.details["scope"] == "ip" and event.ip == "127.0.0.1"
    # GETs of the form are not counted.
    form = client.get("/auth/login")
    assert form.status_code == 200 and 'id="login-title"' in form.get_data(as_text=True)


def test_per_account_rate_limit(stores, app: Flask, alice: User, security_events) -> None:  # noqa: ANN001
    limited = make_app(stores, LOGIN_RATE_LIMIT_ACCOUNT="2 per minute", LOGIN_MAX_FAILURES=50)
    auth = AuthActions(limited.test_client())
    assert [auth.login(" Alice", "wrong").status_code for _ in range(2)] == [200, 200]
    assert auth.login("alice", "wrong").status_code == 429  # same account, spelled differently
    other = auth.login("bob", "wrong")  # other names are not affected
    assert other.status_code == 200 and error_text(other) == GENERIC_ERROR
    [event] = security_events("rate_limited")
    assert event.details["scope"] == "account" and event.user_id == alice.id


def test_rate_limited_json_client_gets_json(stores, app: Flask) -> None:  # noqa: ANN001
    limited = make_app(stores, LOGIN_RATE_LIMIT_IP="1 per minute")
    client = limited.test_client()
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    data = {"login": "x", "password": "y", "csrf_token": token}
    client.post("/auth/login", data=data)
    response = client.post("/auth/login", data=data, headers={"Accept": "application/json"})
    assert response.status_code == 429
    assert response.json["status"] == 429 and "Retry-After" in response.headers


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil.example", "///evil.example",
                                    "http://localhost//evil.example", "javascript:alert(1)"])
def test_foreign_next_is_ignored(client: FlaskClient, auth: AuthActions, alice: User, target: str) -> None:
    response = auth.login(next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    # A path on this site: no scheme, no host, and nothing a browser reads as "//host".
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    parts = urlsplit(location)
    assert parts.scheme == "" and parts.netloc == ""


def test_foreign_next_in_query_string_is_ignored(client: FlaskClient, alice: User) -> None:
    page = client.get("/auth/login?next=//evil.example")
    token = csrf_token_from(page.get_data(as_text=True))
    response = client.post("/auth/login?next=//evil.example", data={"login": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/dashboard"


def test_local_next_is_honoured(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    response = auth.login(next="/auth/sessions?tab=all")
    assert response.headers["Location"] == "/auth/sessions?tab=all"


def test_protected_page_sends_back_after_login(client: FlaskClient, alice: User) -> None:
    response = client.get("/auth/sessions")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/auth/sessions"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" type="hidden" value="/auth/sessions"' in page
    token = csrf_token_from(page)
    done = client.post("/auth/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token, "next": "/auth/sessions"})
    assert done.headers["Location"] == "/auth/sessions"


def test_logged_in_visitor_skips_the_login_form(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    auth.login()
    response = client.get("/auth/login")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"


def test_logout_revokes_the_session_row(client: FlaskClient, auth: AuthActions, alice: User, app: Flask, security_events) -> None:  # noqa: ANN001
    auth.login()
    cookie = client.get_cookie("dhm_session")
    assert cookie is not None
    [session_id] = live_session_ids(alice.id)
    response = auth.logout()
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    row = db.session.get(AdminSession, session_id)
    db.session.refresh(row)
    assert row.revoked_at is not None and row.revoked_reason == "logout"
    assert not is_logged_in(client)
    # The old cookie, replayed from elsewhere, no longer works either.
    replay = app.test_client()
    replay.set_cookie("dhm_session", cookie.value)
    assert not is_logged_in(replay)
    assert security_events("logout")[0].user_id == alice.id


def test_logout_needs_post(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    auth.login()
    assert client.get("/auth/logout").status_code == 405
    assert is_logged_in(client)


def test_password_is_stored_as_scrypt_hash(alice: User) -> None:
    assert alice.password_hash.startswith("scrypt:")
    assert PASSWORD not in alice.password_hash


def test_outdated_hash_is_upgraded_on_login(client: FlaskClient, auth: AuthActions, alice: User) -> None:
    from werkzeug.security import generate_password_hash

    alice.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    db.session.commit()
    assert auth.login().status_code == 302
    db.session.expire_all()
    assert alice.password_hash.startswith("scrypt:")


def test_an_overlong_next_is_ignored(app: Flask, client: FlaskClient, auth: AuthActions, alice: User) -> None:
    """A 1 MB ``next`` is neither followed nor echoed: every answer stays small."""
    huge = "/auth/sessions?" + "a" * 1_000_000
    page = client.get("/auth/login", query_string={"next": huge})
    assert page.status_code == 200 and len(page.get_data()) < 100_000
    response = auth.login(next=huge)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert len(response.get_data()) < 10_000
    again = client.get("/auth/login", query_string={"next": huge})  # logged in: straight on
    assert again.status_code == 302 and again.headers["Location"] == "/dashboard"
    assert len(again.get_data()) < 10_000
    longest = "/auth/sessions?" + "a" * (app.config["NEXT_URL_MAX_LENGTH"] - len("/auth/sessions?"))
    assert client.get("/auth/login", query_string={"next": longest}).headers["Location"] == longest
    pages = client.get("/auth/sessions", query_string={"x": "a" * 1_000_000})  # the layout's forms
    assert pages.status_code == 200 and len(pages.get_data()) < 100_000


def test_a_protected_page_with_a_huge_query_sends_back_to_its_path(client: FlaskClient) -> None:
    response = client.get("/auth/sessions", query_string={"x": "a" * 1_000_000})
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/auth/sessions"
    platform = client.get("/dashboard/platform", query_string={"x": "a" * 1_000_000})
    assert platform.headers["Location"] == "/auth/login?next=/dashboard/platform"
