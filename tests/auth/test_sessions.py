"""Server-side sessions: listing and revoking one's own, and the rule that a revoked or
changed-password session dies on its very next request. (Admins ending someone else's sessions:
``tests/admin/test_sessions.py``.)"""
from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import AdminSession, User
from tests.auth.conftest import is_logged_in, live_session_ids
from tests.conftest import PASSWORD, AuthActions, csrf_token_from

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"


def post_form(client: FlaskClient, path: str, data: dict | None = None, token_from: str = "/auth/sessions"):  # noqa: ANN201
    token = csrf_token_from(client.get(token_from).get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token})


def test_my_sessions_lists_each_browser(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    laptop = browser("alice")
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = FIREFOX
    AuthActions(phone).login()
    html = laptop.get("/auth/sessions").get_data(as_text=True)
    assert html.count('data-testid="this-session"') == 1
    assert "Firefox 121 on Windows" in html
    assert html.count("<tr") == 3  # header + two sessions
    assert "127.0.0.1" in html


def test_revoked_session_is_refused_on_next_request(app: Flask, alice: User, browser, security_events) -> None:  # noqa: ANN001
    first = browser("alice")
    second = browser("alice")
    assert is_logged_in(second)
    current_of_first = _current_session_id(first)
    other_id = next(i for i in live_session_ids(alice.id) if i != current_of_first)
    response = post_form(first, f"/auth/sessions/{other_id}/revoke")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/sessions"
    assert not is_logged_in(second)
    assert is_logged_in(first)
    [event] = security_events("session_revoked")
    assert event.user_id == alice.id and event.details["session_id"] == other_id


def _current_session_id(client: FlaskClient) -> int:
    import re

    html = client.get("/auth/sessions").get_data(as_text=True)
    match = re.search(r'<tr data-current="true">.*?/auth/sessions/(\d+)/revoke', html, re.S)
    assert match
    return int(match.group(1))


def test_revoking_the_current_session_logs_out(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    client = browser("alice")
    current = _current_session_id(client)
    response = post_form(client, f"/auth/sessions/{current}/revoke")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    assert not is_logged_in(client)
    assert live_session_ids(alice.id) == []


def test_log_out_all_other_sessions(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    keep = browser("alice")
    others = [browser("alice") for _ in range(2)]
    response = post_form(keep, "/auth/sessions/revoke-others")
    assert response.status_code == 302
    assert is_logged_in(keep)
    assert not any(is_logged_in(c) for c in others)
    assert len(live_session_ids(alice.id)) == 1


def test_member_cannot_see_or_revoke_another_members_session(app: Flask, alice: User, bob: User, browser) -> None:  # noqa: ANN001
    alice_client = browser("alice")
    bob_client = browser("bob")
    [bob_session] = live_session_ids(bob.id)
    assert f"/auth/sessions/{bob_session}/revoke" not in alice_client.get("/auth/sessions").get_data(as_text=True)
    response = post_form(alice_client, f"/auth/sessions/{bob_session}/revoke")
    assert response.status_code == 404
    assert is_logged_in(bob_client)
    # Nor through the admin pages.
    assert alice_client.get(f"/admin/users/{bob.id}").status_code == 403
    refused = post_form(alice_client, f"/admin/users/{bob.id}/sessions/{bob_session}/revoke")
    assert refused.status_code == 403
    assert is_logged_in(bob_client)


def test_revoke_needs_csrf_token(app: Flask, alice: User, browser, security_events) -> None:  # noqa: ANN001
    client = browser("alice")
    current = _current_session_id(client)
    response = client.post(f"/auth/sessions/{current}/revoke")
    assert response.status_code == 400
    assert is_logged_in(client)
    assert security_events("csrf_failed")


def test_change_password_revokes_other_sessions_only(app: Flask, alice: User, browser, security_events) -> None:  # noqa: ANN001
    here = browser("alice")
    elsewhere = browser("alice")
    new_password = "a brand new long passphrase"
    response = post_form(
        here, "/auth/password",
        {"current_password": PASSWORD, "new_password": new_password, "confirm": new_password},
        token_from="/auth/password",
    )
    assert response.status_code == 302
    assert is_logged_in(here)
    assert not is_logged_in(elsewhere)
    [event] = security_events("password_changed")
    assert event.user_id == alice.id and event.details["other_sessions_ended"] == 1
    # The new password works, the old one does not.
    assert AuthActions(app.test_client()).login("alice", new_password).status_code == 302
    old = AuthActions(app.test_client()).login("alice", PASSWORD)
    assert old.status_code == 200 and "do not match an account" in old.get_data(as_text=True)


def test_change_password_checks_current_and_confirmation(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    client = browser("alice")
    wrong_current = post_form(
        client, "/auth/password",
        {"current_password": "nope", "new_password": "long enough password", "confirm": "long enough password"},
        token_from="/auth/password",
    )
    assert wrong_current.status_code == 200
    assert "current password is not correct" in wrong_current.get_data(as_text=True)
    mismatch = post_form(
        client, "/auth/password",
        {"current_password": PASSWORD, "new_password": "long enough password", "confirm": "long enough passwort"},
        token_from="/auth/password",
    )
    assert "The two passwords are not the same." in mismatch.get_data(as_text=True)
    too_short = post_form(
        client, "/auth/password", {"current_password": PASSWORD, "new_password": "short", "confirm": "short"},
        token_from="/auth/password",
    )
    html = too_short.get_data(as_text=True)
    assert "Use at least 10 characters." in html
    assert 'aria-describedby="new_password-error"' in html or 'new_password-error' in html
    db.session.expire_all()
    from services.accounts import verify_password

    assert verify_password(alice, PASSWORD)


def test_change_password_min_length_comes_from_config(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    app.config["PASSWORD_MIN_LENGTH"] = 30
    client = browser("alice")
    response = post_form(
        client, "/auth/password",
        {"current_password": PASSWORD, "new_password": "twenty-five characters ok", "confirm": "twenty-five characters ok"},
        token_from="/auth/password",
    )
    assert "Use at least 30 characters." in response.get_data(as_text=True)


def test_session_of_user_deactivated_elsewhere_dies_even_if_rows_remain(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    """The loader checks the user too: deactivation bites even without revoking rows."""
    client = browser("alice")
    alice.is_active = False
    db.session.commit()
    assert not is_logged_in(client)


def test_expired_session_is_refused(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    from datetime import UTC, datetime, timedelta

    client = browser("alice")
    db.session.execute(
        db.update(AdminSession).where(AdminSession.user_id == alice.id).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.session.commit()
    assert not is_logged_in(client)
