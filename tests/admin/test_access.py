"""Only admins get in: the check sits on the whole admin blueprint, so it is proven here for every
route the blueprint has (read from the URL map), not only for the ones listed by hand."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import User
from tests.conftest import csrf_token_from

# Each admin page with words only that page shows, so an admin gets the real page, not a stub.
ADMIN_GET_PAGES = {
    "/admin/users": "<h1>People",
    "/admin/users/new": "Add a person</h1>",
    "/admin/users/{bob}": "bob@example.com</span></h1>",
    "/admin/security-log": "<h1>Security log</h1>",
    "/admin/sessions": "<h1>Sessions",
    "/admin/jobs": "<h1>Failed jobs</h1>",
    "/admin/scheduler": "<h1>Scheduler</h1>",
    "/admin/status-page": "<h1>Status page</h1>",
    "/admin/affiliate/import": "<h1>Import conversions</h1>",
    "/admin/affiliate/settings": "Affiliate settings</h1>",
    "/admin/affiliate/report": "<h1>Affiliate report</h1>",
}
# Files (no page around them, so no admin navigation), with their first words.
ADMIN_DOWNLOADS = {
    "/admin/affiliate/report/members.csv": "user_id,username,email,clicks",
    "/admin/security-log.csv": "time_utc,event,user_id",
}
ADMIN_POST_ACTIONS = [
    "/admin/users/new",
    "/admin/users/{bob}",
    "/admin/users/{bob}/sessions/revoke-all",
    "/admin/users/{bob}/sessions/1/revoke",
    "/admin/users/{bob}/password-link",
    "/admin/users/{bob}/unlock",
    "/admin/users/{bob}/deactivate",
    "/admin/users/{bob}/reactivate",
    "/admin/jobs/job-1/retry",
    "/admin/jobs/retry-all",
    "/admin/jobs/job-1/delete",
    "/admin/scheduler/prune/run",
    "/admin/polling",
    "/admin/status-page",
    "/admin/affiliate/import",
    "/admin/affiliate/import/upload-token-0000000000",
    "/admin/affiliate/settings",
    "/admin/affiliate/settings/reset",
]


def test_every_admin_route_is_listed_here(app: Flask) -> None:
    """A route added to the blueprint must join the lists above, so its access is tested too."""
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")}
    listed = {path.replace("{bob}", "<int:user_id>") for path in [*ADMIN_GET_PAGES, *ADMIN_POST_ACTIONS,
                                                                  *ADMIN_DOWNLOADS]}
    listed = {path.replace("/sessions/1/", "/sessions/<int:session_id>/") for path in listed}
    listed = {path.replace("/jobs/job-1/", "/jobs/<job_id>/") for path in listed}
    listed = {path.replace("/upload-token-0000000000", "/<token>") for path in listed}
    listed = {path.replace("/members.csv", "/<table>.csv") for path in listed}
    listed = {path.replace("/scheduler/prune/", "/scheduler/<name>/") for path in listed}
    assert rules == listed


@pytest.mark.parametrize("path", [*ADMIN_GET_PAGES, *ADMIN_DOWNLOADS])
def test_admin_pages_refuse_members(app: Flask, alice: User, bob: User, browser: Callable[..., FlaskClient], path: str) -> None:
    response = browser("alice").get(path.format(bob=bob.id))
    assert response.status_code == 403
    assert "bob@example.com" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [*ADMIN_GET_PAGES, *ADMIN_DOWNLOADS])
def test_admin_pages_send_anonymous_to_login(client: FlaskClient, bob: User, path: str) -> None:
    url = path.format(bob=bob.id)
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


@pytest.mark.parametrize(("path", "content"), ADMIN_GET_PAGES.items())
def test_admin_pages_open_for_admins(
    app: Flask, admin: User, bob: User, browser: Callable[..., FlaskClient], path: str, content: str
) -> None:
    response = browser("root").get(path.format(bob=bob.id))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert content in html
    assert 'aria-label="Administration"' in html  # the admin section's own navigation


@pytest.mark.parametrize(("path", "content"), ADMIN_DOWNLOADS.items())
def test_admin_downloads_only_for_admins(
    app: Flask, alice: User, admin: User, browser: Callable[..., FlaskClient], path: str, content: str
) -> None:
    refused = browser("alice").get(path)
    assert refused.status_code == 403 and content not in refused.get_data(as_text=True)
    response = browser("root").get(path)
    assert response.status_code == 200 and response.get_data(as_text=True).startswith(content)


@pytest.mark.parametrize("path", ADMIN_POST_ACTIONS)
def test_admin_actions_refuse_members(app: Flask, alice: User, bob: User, browser: Callable[..., FlaskClient], path: str) -> None:
    client = browser("alice")
    token = csrf_token_from(client.get("/auth/sessions").get_data(as_text=True))
    response = client.post(path.format(bob=bob.id), data={"csrf_token": token, "role": "admin"})
    assert response.status_code == 403
    db.session.expire_all()
    assert bob.role == "member" and bob.is_active


def test_admin_link_in_the_menu_only_for_admins(app: Flask, alice: User, admin: User, browser: Callable[..., FlaskClient]) -> None:
    assert 'href="/admin/users"' not in browser("alice").get("/dashboard").get_data(as_text=True)
    assert 'href="/admin/users"' in browser("root").get("/dashboard").get_data(as_text=True)
