"""A person's page: usage counted from rows the test wrote (and only theirs), their monitors,
deactivate / reactivate with their sessions ended, the state filter, and the last active admin
who cannot be taken out of the running."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import AffiliateClick, Notification, User
from services.accounts import AccountChanges, AccountError, update_user
from tests.admin.conftest import post
from tests.auth.conftest import is_logged_in, live_session_ids
from tests.conftest import AuthActions
from tests.factories import make_monitor, make_user
from tests.monitoring.conftest import add_poll_run
from tests.sql_count import statements


def figure(html: str, testid: str) -> int:
    match = re.search(rf'data-testid="{testid}">(\d+)<', html)
    assert match, f"no {testid} figure"
    return int(match.group(1))


def _usage_rows(user: User, *, monitors: int, polls: int, old_polls: int, failed: int,
                notifications: int, clicks: int, tag: str) -> None:
    """Rows for ``user``: ``polls`` recent polls (``failed`` of them failed) and ``old_polls``
    from 40 days ago on their first monitor, plus notifications and clicks (one of each old)."""
    now = datetime.now(UTC)
    made = [make_monitor(user, dhgate_id=f"{tag}{n}", name=f"{tag} shop {n}") for n in range(monitors)]
    for n in range(polls):
        add_poll_run(made[0], "blocked" if n < failed else "ok", started_at=now - timedelta(hours=n + 1))
    for n in range(old_polls):
        add_poll_run(made[0], "ok", started_at=now - timedelta(days=40, hours=n))
    for n in range(notifications):
        db.session.add(Notification(user_id=user.id, kind="price_drop", title=f"n{n}",
                                    created_at=now - timedelta(days=40 if n == 0 else 1)))
    for n in range(clicks):
        db.session.add(AffiliateClick(user_id=user.id, click_ref=f"{tag}-click-{n}",
                                      clicked_at=now - timedelta(days=40 if n == 0 else 2)))
    db.session.commit()


def test_person_page_counts_their_usage_only(admin_client: FlaskClient, alice: User, bob: User) -> None:
    _usage_rows(alice, monitors=3, polls=5, old_polls=2, failed=2, notifications=4, clicks=3, tag="a")
    _usage_rows(bob, monitors=2, polls=7, old_polls=1, failed=1, notifications=6, clicks=5, tag="b")
    html = admin_client.get(f"/admin/users/{alice.id}").get_data(as_text=True)
    assert figure(html, "usage-monitors") == 3
    assert figure(html, "usage-polls") == 5
    assert "(2 failed; 7 in all)" in html
    assert figure(html, "usage-notifications") == 3  # one of the four is 40 days old
    assert "(4 in all)" in html
    assert figure(html, "usage-clicks") == 2
    monitors = html[html.index('data-testid="person-monitors"'):]
    assert re.findall(r">(\w shop \d)</a>", monitors) == ["a shop 0", "a shop 1", "a shop 2"]
    assert "b shop" not in html


def test_person_page_usage_is_a_fixed_number_of_statements(app: Flask, admin_client: FlaskClient, alice: User, bob: User) -> None:
    """Counting is done by the database: more rows, the same statements."""

    _usage_rows(alice, monitors=1, polls=1, old_polls=0, failed=0, notifications=1, clicks=1, tag="a")
    _usage_rows(bob, monitors=6, polls=30, old_polls=10, failed=5, notifications=20, clicks=15, tag="b")
    def visit(user: User) -> list[str]:
        path = f"/admin/users/{user.id}"  # (reading the test's own expired row is not the page's)
        with statements() as seen:
            assert admin_client.get(path).status_code == 200
        return seen

    visit(alice)  # the first request after logging in reads the login session from the database
    small, large = visit(alice), visit(bob)
    assert len(small) == len(large) == PERSON_PAGE_STATEMENTS, "\n".join(s[:90] for s in large)


# The login session (1: its last-seen update, written on every request in tests; the session and
# its user come from this process's memory, services.session_cache), the person (1), their
# sessions (1), recent security events (1), usage (4: monitors,
# polls, notifications, clicks), their monitors (1), and the layout's unread count and site
# settings (3).
PERSON_PAGE_STATEMENTS = 12


def test_deactivate_and_reactivate_buttons(app: Flask, alice: User, admin: User, browser, security_events) -> None:  # noqa: ANN001
    alice_browser = browser("alice")
    admin_browser = browser("root")
    page = f"/admin/users/{alice.id}"
    done = post(admin_browser, f"{page}/deactivate", token_from=page)
    assert done.status_code == 302
    assert "is deactivated and logged out everywhere" in admin_browser.get(page).get_data(as_text=True)
    assert not is_logged_in(alice_browser)
    assert live_session_ids(alice.id) == []
    assert AuthActions(app.test_client()).login("alice").status_code == 200  # refused, form again
    post(admin_browser, f"{page}/reactivate", token_from=page)
    db.session.expire_all()
    assert alice.is_active
    assert AuthActions(app.test_client()).login("alice").status_code == 302
    changes = [e.details["changes"]["is_active"] for e in security_events("admin_action") if e.details["action"] == "user_updated"]
    assert changes == [[True, False], [False, True]]


def test_an_admin_cannot_deactivate_themselves_with_the_button(admin_client: FlaskClient, admin: User) -> None:
    page = f"/admin/users/{admin.id}"
    assert f"{page}/deactivate" not in admin_client.get(page).get_data(as_text=True)
    post(admin_client, f"{page}/deactivate", token_from=page)
    assert "You cannot deactivate your own account." in admin_client.get(page).get_data(as_text=True)
    db.session.expire_all()
    assert admin.is_active and is_logged_in(admin_client)


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(app: Flask, admin: User) -> None:
    """The command line acts without an actor: the rule holds there too."""
    for changes in (AccountChanges(role="member"), AccountChanges(is_active=False)):
        with pytest.raises(AccountError, match="last active admin"):
            update_user(admin, changes)
    db.session.rollback()
    other = make_user("ops", role="admin")
    assert update_user(admin, AccountChanges(role="member")) == {"role": ["admin", "member"]}
    with pytest.raises(AccountError, match="last active admin"):
        update_user(other, AccountChanges(is_active=False))


def test_an_admin_demotes_another_admin_while_one_remains(admin_client: FlaskClient, admin: User) -> None:
    ops = make_user("ops", role="admin")
    post(admin_client, f"/admin/users/{ops.id}/deactivate", token_from=f"/admin/users/{ops.id}")
    db.session.expire_all()
    assert not ops.is_active
    # Deactivated admins do not count: root is now the last active one, even for another admin's view.
    with pytest.raises(AccountError, match="last active admin"):
        update_user(admin, AccountChanges(role="member"), actor=ops)


def test_state_filter_finds_locked_accounts(admin_client: FlaskClient, alice: User, bob: User) -> None:
    alice.locked_until = datetime.now(UTC) + timedelta(minutes=10)
    bob.locked_until = datetime.now(UTC) - timedelta(minutes=10)  # a lockout that has run out
    db.session.commit()
    locked = admin_client.get("/admin/users?state=locked").get_data(as_text=True)
    assert "alice@example.com" in locked and "bob@example.com" not in locked
    active = admin_client.get("/admin/users?state=active").get_data(as_text=True)
    assert "alice@example.com" in active and "bob@example.com" in active
    page_two = admin_client.get("/admin/users?state=locked&q=a&page=2").get_data(as_text=True)
    assert "Nothing on this page" in page_two


def test_search_takes_wildcards_literally(admin_client: FlaskClient, alice: User) -> None:
    make_user("under_score")
    found = admin_client.get("/admin/users?q=r_s").get_data(as_text=True)
    assert "under_score@example.com" in found and "alice@example.com" not in found
    assert "Nobody matches" in admin_client.get("/admin/users?q=%25").get_data(as_text=True)


def test_the_command_line_cannot_deactivate_the_last_active_admin(app: Flask, admin: User, alice: User, runner) -> None:  # noqa: ANN001
    refused = runner.invoke(args=["users", "deactivate", "root"])
    assert refused.exit_code == 1
    assert refused.output.strip() == "Error: This is the last active admin: make someone else an admin first."
    db.session.expire_all()
    assert admin.is_active
    done = runner.invoke(args=["users", "deactivate", "alice"])
    assert done.exit_code == 0 and "Deactivated alice" in done.output
    db.session.expire_all()
    assert not alice.is_active


def test_the_people_tools_speak_dutch(admin_client: FlaskClient, alice: User) -> None:
    dutch = {"Accept-Language": "nl"}
    person = admin_client.get(f"/admin/users/{alice.id}", headers=dutch).get_data(as_text=True)
    assert "Gebruik" in person and "Deactiveren" in person and "Deze persoon volgt nog niets." in person
    sessions = admin_client.get("/admin/sessions", headers=dutch).get_data(as_text=True)
    assert "Elke browser die nu is ingelogd." in sessions
    log = admin_client.get("/admin/security-log?since=2026-03-02&until=2026-03-01", headers=dutch).get_data(as_text=True)
    assert "Vanaf" in log and "“Tot en met” mag niet vóór “Vanaf” liggen." in log


def test_people_list_counts_monitors_per_person_in_fixed_statements(app: Flask, admin_client: FlaskClient, alice: User, bob: User) -> None:

    _usage_rows(alice, monitors=3, polls=0, old_polls=0, failed=0, notifications=0, clicks=0, tag="a")
    html = admin_client.get("/admin/users").get_data(as_text=True)

    def monitors_of(user: User) -> str:
        row = html.split(f'data-user-id="{user.id}"', 1)[1].split("</tr>", 1)[0]
        return re.search(r'data-label="Monitors">(\d+)<', row).group(1)

    assert (monitors_of(alice), monitors_of(bob)) == ("3", "0")
    with statements() as few:
        admin_client.get("/admin/users")
    for n in range(30):
        make_user(f"extra{n:02d}")
    _usage_rows(bob, monitors=4, polls=0, old_polls=0, failed=0, notifications=0, clicks=0, tag="b")
    admin_client.get("/admin/users")  # new accounts: the next request reads the login session once
    with statements() as many:
        admin_client.get("/admin/users")
    assert len(few) == len(many)
