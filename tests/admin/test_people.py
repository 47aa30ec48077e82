"""Admin user management: list, create (temporary password or one-time link), edit, unlock."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import User
from services.accounts import find_user, verify_password
from tests.admin.conftest import post
from tests.auth.conftest import is_logged_in
from tests.conftest import AuthActions, csrf_token_from
from tests.factories import make_user


def shown_value(html: str, element_id: str) -> str:
    """The value of the read-only box that shows a secret once (a password or a link)."""
    tag = re.search(rf'<input[^>]*id="{element_id}"[^>]*>', html)
    assert tag, f"no #{element_id} on the page"
    return re.search(r'value="([^"]+)"', tag.group(0)).group(1).replace("&amp;", "&")


def new_user(client: FlaskClient, setup: str, **fields: str):  # noqa: ANN201
    data = {"email": "carol@example.com", "username": "carol", "role": "member",
            "subscription_tier": "pro", "password_setup": setup}
    data.update(fields)
    return post(client, "/admin/users/new", data)


def test_user_list_search_filter_and_pages(admin_client: FlaskClient, alice: User, bob: User) -> None:
    html = admin_client.get("/admin/users").get_data(as_text=True)
    assert all(name in html for name in ("alice", "bob", "root"))
    found = admin_client.get("/admin/users?q=ALI").get_data(as_text=True)
    assert "alice@example.com" in found and "bob@example.com" not in found
    admins = admin_client.get("/admin/users?role=admin").get_data(as_text=True)
    assert "root@example.com" in admins and "alice@example.com" not in admins
    bob.is_active = False
    bob.subscription_tier = "pro"
    db.session.commit()
    inactive = admin_client.get("/admin/users?state=deactivated").get_data(as_text=True)
    assert "bob@example.com" in inactive and "alice@example.com" not in inactive
    pro = admin_client.get("/admin/users?tier=pro").get_data(as_text=True)
    assert "bob@example.com" in pro and "alice@example.com" not in pro
    nobody = admin_client.get("/admin/users?q=zzz").get_data(as_text=True)
    assert "Nobody matches" in nobody


def test_user_list_paginates(admin_client: FlaskClient) -> None:
    for i in range(30):
        make_user(f"user{i:02d}")
    first = admin_client.get("/admin/users").get_data(as_text=True)
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = admin_client.get("/admin/users?page=2").get_data(as_text=True)
    assert "user29" in second and "user00" not in second
    past_the_end = admin_client.get("/admin/users?page=99")
    assert past_the_end.status_code == 200  # past the end: says so, no error
    assert "Nothing on this page" in past_the_end.get_data(as_text=True)
    assert "No accounts yet" not in past_the_end.get_data(as_text=True)


def test_create_user_with_temporary_password(app: Flask, admin_client: FlaskClient, admin: User, security_events) -> None:  # noqa: ANN001
    response = new_user(admin_client, "temporary")
    html = response.get_data(as_text=True)
    password = shown_value(html, "temporary-password")
    carol = find_user("carol")
    assert carol is not None and carol.subscription_tier == "pro" and carol.must_change_password
    assert verify_password(carol, password)
    [action] = [e for e in security_events("admin_action") if e.details["action"] == "user_created"]
    assert action.user_id == admin.id and action.details["target_user_id"] == carol.id
    assert password not in str(action.details)

    # First login goes straight to "choose a new password"; other pages wait until then.
    client = app.test_client()
    login = AuthActions(client).login("carol", password)
    assert login.headers["Location"] == "/auth/password"
    assert client.get("/dashboard").headers["Location"] == "/auth/password"
    token = csrf_token_from(client.get("/auth/password").get_data(as_text=True))
    changed = client.post("/auth/password", data={
        "csrf_token": token, "current_password": password,
        "new_password": "carol's own passphrase", "confirm": "carol's own passphrase",
    })
    assert changed.status_code == 302
    assert "Hello, carol" in client.get("/dashboard").get_data(as_text=True)
    db.session.expire_all()
    assert not carol.must_change_password


def test_create_user_with_one_time_link(app: Flask, admin_client: FlaskClient, security_events) -> None:  # noqa: ANN001
    html = new_user(admin_client, "link").get_data(as_text=True)
    link = shown_value(html, "set-password-link")
    assert link.startswith("http://localhost/auth/set-password/")
    path = link.removeprefix("http://localhost")
    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    token = csrf_token_from(page.get_data(as_text=True))
    done = visitor.post(path, data={"csrf_token": token, "new_password": "chosen by carol", "confirm": "chosen by carol"})
    assert done.status_code == 302 and done.headers["Location"] == "/auth/login"
    assert AuthActions(app.test_client()).login("carol", "chosen by carol").status_code == 302
    carol = find_user("carol")
    assert [e.details["via"] for e in security_events("password_changed", user_id=carol.id)] == ["link"]
    # The link works once.
    again = app.test_client().get(path)
    assert again.status_code == 400 and "no longer works" in again.get_data(as_text=True)


def test_set_password_link_expires_after_48_hours(app: Flask, admin_client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    html = new_user(admin_client, "link").get_data(as_text=True)
    path = shown_value(html, "set-password-link").removeprefix("http://localhost")
    import itsdangerous.timed

    later = time.time() + 48 * 3600 + 60
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    assert app.test_client().get(path).status_code == 400


def test_tampered_link_is_refused(app: Flask, alice: User) -> None:
    from services.auth_tokens import make_set_password_token

    token = make_set_password_token(alice)
    assert app.test_client().get(f"/auth/set-password/{token}x").status_code == 400
    assert app.test_client().get("/auth/set-password/not-a-token").status_code == 400


def test_password_link_for_existing_user_logs_them_out_when_used(app: Flask, admin_client: FlaskClient, alice: User, browser) -> None:  # noqa: ANN001
    alice_client = browser("alice")
    html = post(admin_client, f"/admin/users/{alice.id}/password-link").get_data(as_text=True)
    path = shown_value(html, "set-password-link").removeprefix("http://localhost")
    assert is_logged_in(alice_client)  # making a link changes nothing yet
    visitor = app.test_client()
    token = csrf_token_from(visitor.get(path).get_data(as_text=True))
    visitor.post(path, data={"csrf_token": token, "new_password": "forgot and reset", "confirm": "forgot and reset"})
    assert not is_logged_in(alice_client)


def test_create_user_refuses_duplicates_and_bad_input(admin_client: FlaskClient, alice: User) -> None:
    duplicate = new_user(admin_client, "link", email="ALICE@example.com", username="someone")
    assert "already exists" in duplicate.get_data(as_text=True)
    bad_name = new_user(admin_client, "link", username="has space")
    assert "Username must be" in bad_name.get_data(as_text=True)
    bad_email = new_user(admin_client, "link", email="not-an-email")
    assert bad_email.status_code == 200
    assert "That is not a valid e-mail address." in bad_email.get_data(as_text=True)
    assert find_user("carol") is None


def test_edit_user(admin_client: FlaskClient, admin: User, alice: User, security_events) -> None:  # noqa: ANN001
    response = post(admin_client, f"/admin/users/{alice.id}", {
        "role": "admin", "subscription_tier": "business", "api_quota": "5000", "is_active": "y",
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert (alice.role, alice.subscription_tier, alice.api_quota, alice.is_active) == ("admin", "business", 5000, True)
    [action] = security_events("admin_action")
    assert action.details["action"] == "user_updated"
    assert action.details["changes"]["role"] == ["member", "admin"]
    assert action.details["changes"]["api_quota"] == [1000, 5000]


def test_edit_user_rejects_negative_quota(admin_client: FlaskClient, alice: User) -> None:
    response = post(admin_client, f"/admin/users/{alice.id}", {
        "role": "member", "subscription_tier": "free", "api_quota": "-1", "is_active": "y",
    })
    assert response.status_code == 200
    assert "Number must be between 0 and 10000000." in response.get_data(as_text=True)
    db.session.expire_all()
    assert alice.api_quota == 1000


def test_admin_cannot_demote_or_deactivate_themselves(admin_client: FlaskClient, admin: User, security_events) -> None:  # noqa: ANN001
    demote = post(admin_client, f"/admin/users/{admin.id}", {
        "role": "member", "subscription_tier": "free", "api_quota": "1000", "is_active": "y",
    })
    assert demote.status_code == 200
    assert "You cannot remove your own admin role." in demote.get_data(as_text=True)
    deactivate = post(admin_client, f"/admin/users/{admin.id}", {"role": "admin", "subscription_tier": "free", "api_quota": "1000"})
    assert "You cannot deactivate your own account." in deactivate.get_data(as_text=True)
    db.session.expire_all()
    assert admin.role == "admin" and admin.is_active
    assert is_logged_in(admin_client)
    assert security_events("admin_action") == []


def test_unknown_user_page_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/admin/users/999999").status_code == 404


def test_admin_unlocks_a_locked_account(app: Flask, admin_client: FlaskClient, alice: User, security_events) -> None:  # noqa: ANN001
    alice.failed_login_count = 5
    alice.locked_until = datetime.now(UTC) + timedelta(minutes=15)
    db.session.commit()
    page = admin_client.get(f"/admin/users/{alice.id}").get_data(as_text=True)
    assert "Locked until" in page
    post(admin_client, f"/admin/users/{alice.id}/unlock", token_from=f"/admin/users/{alice.id}")
    assert AuthActions(app.test_client()).login().status_code == 302
    assert any(e.details["action"] == "user_unlocked" for e in security_events("admin_action"))
