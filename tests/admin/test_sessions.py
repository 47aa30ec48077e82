"""Admins see and end other people's sessions, one person's or everyone's on one page; deactivating an
account ends its sessions at once."""
from __future__ import annotations

import re

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


FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"


def test_all_sessions_page_lists_every_live_session(app: Flask, alice: User, bob: User, admin: User, browser) -> None:  # noqa: ANN001
    alice_client = browser("alice")
    alice_client.environ_base.update(HTTP_USER_AGENT=FIREFOX)
    app.test_client()  # an anonymous visitor has no session to list
    bob_client = app.test_client()
    bob_client.environ_base.update(HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="10.9.8.7")
    from tests.conftest import AuthActions

    assert AuthActions(bob_client).login("bob").status_code == 302
    gone = browser("alice")
    post(browser("root"), f"/admin/users/{alice.id}/sessions/{live_session_ids(alice.id)[0]}/revoke",
         token_from=f"/admin/users/{alice.id}")  # an ended session is not listed
    admin_client = browser("root")
    html = admin_client.get("/admin/sessions").get_data(as_text=True)
    rows = {int(i): html.split(f'data-session-id="{i}"', 1)[1].split("</tr>", 1)[0] for i in re.findall(r'data-session-id="(\d+)"', html)}
    live = {*live_session_ids(alice.id), *live_session_ids(bob.id), *live_session_ids(admin.id)}
    assert set(rows) == live
    [bobs] = live_session_ids(bob.id)
    assert ">bob</a>" in rows[bobs] and "10.9.8.7" in rows[bobs] and "Firefox 121 on Windows" in rows[bobs]
    assert is_logged_in(alice_client) != is_logged_in(gone)  # exactly one of alice's two browsers ended


def test_revoking_from_the_all_sessions_page_logs_that_browser_out(app: Flask, alice: User, admin: User, browser, security_events) -> None:  # noqa: ANN001
    alice_client = browser("alice")
    admin_client = browser("root")
    [alice_session] = live_session_ids(alice.id)
    response = post(admin_client, f"/admin/users/{alice.id}/sessions/{alice_session}/revoke",
                    {"return_to": "sessions"}, token_from="/admin/sessions")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/sessions"
    after = admin_client.get("/admin/sessions").get_data(as_text=True)
    assert "That session is logged out." in after and f'data-session-id="{alice_session}"' not in after
    assert not is_logged_in(alice_client)
    assert is_logged_in(admin_client)
    assert security_events("session_revoked")[-1].details == {"session_id": alice_session, "by": "admin"}


def test_ending_all_of_a_persons_sessions_from_the_all_sessions_page(app: Flask, alice: User, bob: User, admin: User, browser) -> None:  # noqa: ANN001
    alice_clients = [browser("alice"), browser("alice")]
    bob_client = browser("bob")
    admin_client = browser("root")
    response = post(admin_client, f"/admin/users/{alice.id}/sessions/revoke-all", {"return_to": "sessions"},
                    token_from="/admin/sessions")
    assert response.headers["Location"] == "/admin/sessions"
    assert not any(is_logged_in(c) for c in alice_clients)
    assert is_logged_in(bob_client) and is_logged_in(admin_client)
    # An unknown return_to is no redirect target: the person's page it is.
    other = post(admin_client, f"/admin/users/{bob.id}/sessions/revoke-all", {"return_to": "https://evil.example"},
                 token_from="/admin/sessions")
    assert other.headers["Location"] == f"/admin/users/{bob.id}"


def test_all_sessions_page_for_one_person_and_its_pages(app: Flask, alice: User, bob: User, admin: User, browser) -> None:  # noqa: ANN001
    browser("alice")
    browser("bob")
    admin_client = browser("root")
    html = admin_client.get(f"/admin/sessions?user_id={alice.id}").get_data(as_text=True)
    assert "Sessions of alice." in html and ">alice</a>" in html and ">bob</a>" not in html
    assert admin_client.get("/admin/sessions?user_id=abc").status_code == 400
    assert "Nothing on this page" in admin_client.get("/admin/sessions?page=5").get_data(as_text=True)


def test_log_out_everywhere_is_offered_once_per_person_and_not_for_oneself(app: Flask, alice: User, admin: User, browser) -> None:  # noqa: ANN001
    browser("alice")
    browser("alice")
    browser("root")
    html = browser("root").get("/admin/sessions").get_data(as_text=True)
    assert html.count(f'action="/admin/users/{alice.id}/sessions/revoke-all"') == 1
    assert f'action="/admin/users/{admin.id}/sessions/revoke-all"' not in html
    assert "Log alice out everywhere" in html
