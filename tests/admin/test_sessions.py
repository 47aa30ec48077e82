"""Admins see and end other people's sessions; deactivating an account ends its sessions at once."""
from __future__ import annotations

from flask import Flask

from models import User
from tests.admin.conftest import post
from tests.auth.conftest import is_logged_in, live_session_ids


def test_deactivated_users_session_dies(app: Flask, alice: User, admin: User, browser, security_events) -> None:  # noqa: ANN001
    alice_client = browser("alice")
    admin_client = browser("root")
    response = post(
        admin_client, f"/admin/users/{alice.id}",
        {"role": "member", "subscription_tier": "free", "api_quota": "1000"},  # is_active unticked
        token_from=f"/admin/users/{alice.id}",
    )
    assert response.status_code == 302
    assert not is_logged_in(alice_client)
    assert live_session_ids(alice.id) == []
    actions = [e.details["action"] for e in security_events("admin_action")]
    assert "user_updated" in actions


def test_admin_sees_and_revokes_someones_sessions(app: Flask, alice: User, admin: User, browser, security_events) -> None:  # noqa: ANN001
    alice_client = browser("alice")
    admin_client = browser("root")
    [alice_session] = live_session_ids(alice.id)
    page = admin_client.get(f"/admin/users/{alice.id}").get_data(as_text=True)
    assert f"/admin/users/{alice.id}/sessions/{alice_session}/revoke" in page
    response = post(admin_client, f"/admin/users/{alice.id}/sessions/{alice_session}/revoke", token_from=f"/admin/users/{alice.id}")
    assert response.status_code == 302
    assert not is_logged_in(alice_client)
    assert is_logged_in(admin_client)
    revoked = security_events("session_revoked")
    assert revoked[0].user_id == alice.id and revoked[0].details["by"] == "admin"
    action = security_events("admin_action")[-1]
    assert action.user_id == admin.id and action.details["target_user_id"] == alice.id


def test_admin_ends_all_sessions_of_someone(app: Flask, alice: User, admin: User, browser) -> None:  # noqa: ANN001
    alice_clients = [browser("alice"), browser("alice")]
    admin_client = browser("root")
    post(admin_client, f"/admin/users/{alice.id}/sessions/revoke-all", token_from=f"/admin/users/{alice.id}")
    assert not any(is_logged_in(c) for c in alice_clients)
    assert is_logged_in(admin_client)
