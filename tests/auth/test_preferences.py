"""Language and theme switches (header buttons) and the account settings page."""
from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import User
from tests.conftest import csrf_token_from


def html_attr(html: str, name: str) -> str:
    match = re.search(rf'<html[^>]*\b{name}="([^"]*)"', html)
    assert match, f"<html> has no {name}"
    return match.group(1)


def switch(client: FlaskClient, page: str = "/auth/login", **data: str):  # noqa: ANN201
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post("/auth/preferences", data={"csrf_token": token, **data})


def test_anonymous_language_switch(client: FlaskClient) -> None:
    assert html_attr(client.get("/auth/login").get_data(as_text=True), "lang") == "en"
    response = switch(client, locale="nl", next="/auth/login")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    with client.session_transaction() as session:
        assert session["lang"] == "nl"
    html = client.get("/auth/login").get_data(as_text=True)
    assert html_attr(html, "lang") == "nl"
    assert 'data-testid="lang-switch"' in html and 'value="en"' in html  # the button now offers English


def test_anonymous_theme_switch_sets_a_cookie(client: FlaskClient) -> None:
    response = switch(client, theme="dark", next="/auth/login")
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("theme="))
    assert cookie.startswith("theme=dark")
    assert "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert html_attr(client.get("/auth/login").get_data(as_text=True), "data-theme") == "dark"


def test_member_preferences_are_stored_on_the_account(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    client = browser("alice")
    switch(client, page="/dashboard", locale="nl", next="/dashboard")
    switch(client, page="/dashboard", theme="dark", next="/dashboard")
    db.session.expire_all()
    assert alice.locale == "nl" and alice.theme == "dark"
    html = client.get("/dashboard").get_data(as_text=True)
    assert html_attr(html, "lang") == "nl" and html_attr(html, "data-theme") == "dark"
    # The account's choice follows the person to a new browser.
    fresh = browser("alice")
    html = fresh.get("/dashboard").get_data(as_text=True)
    assert html_attr(html, "lang") == "nl" and html_attr(html, "data-theme") == "dark"


def test_language_chosen_before_login_survives_login(client: FlaskClient, auth, alice: User) -> None:  # noqa: ANN001
    switch(client, locale="nl", next="/auth/login")
    auth.login()
    assert html_attr(client.get("/dashboard").get_data(as_text=True), "lang") == "nl"


def test_unknown_values_are_refused(client: FlaskClient) -> None:
    assert switch(client, locale="xx").status_code == 400
    assert switch(client, theme="neon").status_code == 400


def test_preferences_next_must_be_local(client: FlaskClient) -> None:
    response = switch(client, locale="nl", next="https://evil.example/")
    assert response.headers["Location"] == "/"
    response = switch(client, locale="nl", next="//evil.example")
    assert response.headers["Location"] == "/"


def test_preferences_need_csrf(client: FlaskClient, security_events) -> None:  # noqa: ANN001
    client.get("/auth/login")
    assert client.post("/auth/preferences", data={"locale": "nl"}).status_code == 400
    assert security_events("csrf_failed")


def test_account_settings_page(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    client = browser("alice")
    page = client.get("/auth/account").get_data(as_text=True)
    assert "Europe/Amsterdam" in page and "alice@example.com" in page
    token = csrf_token_from(page)
    response = client.post("/auth/account", data={
        "csrf_token": token, "locale": "nl", "theme": "light", "timezone": "Europe/Amsterdam",
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert (alice.locale, alice.theme, alice.timezone) == ("nl", "light", "Europe/Amsterdam")
    bad = client.post("/auth/account", data={"csrf_token": token, "locale": "en", "theme": "light", "timezone": "Mars/Base"})
    assert bad.status_code == 200 and 'id="timezone-error"' in bad.get_data(as_text=True)
    db.session.expire_all()
    assert (alice.locale, alice.timezone) == ("nl", "Europe/Amsterdam")  # nothing saved from a bad form


def _plan_limits(html: str) -> str:
    match = re.search(r'<dd data-testid="plan-limits">([^<]*)</dd>', html)
    assert match, "the account page does not explain the plan's limits"
    return match.group(1)


def test_account_page_and_monitor_form_explain_an_admins_limits_alike(app: Flask, admin: User, browser) -> None:  # noqa: ANN001
    """An admin on the free subscription gets the business limits: both pages say so, in the
    same words (they once said "Free" and "Your Business plan" for the same person)."""
    client = browser("root")
    account = client.get("/auth/account").get_data(as_text=True)
    assert "<dd>Free</dd>" in account  # the subscription on record is still shown
    limits = _plan_limits(account)
    assert limits == "As an admin you get the limits of the Business plan, whatever your subscription: checks as often as every 5 minutes."
    new_monitor = client.get("/monitors/new").get_data(as_text=True)
    assert limits in new_monitor
    assert "Your Business plan" not in new_monitor


def test_account_page_and_monitor_form_explain_a_members_limits_alike(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    client = browser("alice")
    limits = _plan_limits(client.get("/auth/account").get_data(as_text=True))
    assert limits == "Your Free plan checks as often as every 6 hours."
    assert limits in client.get("/monitors/new").get_data(as_text=True)


def test_admin_editing_a_members_monitor_sees_the_owners_limits(app: Flask, alice: User, admin: User, browser) -> None:  # noqa: ANN001
    from tests.factories import make_monitor

    monitor = make_monitor(alice)
    page = browser("root").get(f"/monitors/{monitor.id}/edit").get_data(as_text=True)
    assert "The owner&#39;s Free plan checks as often as every 6 hours." in page


def test_user_menu_links_the_account_page(app: Flask, alice: User, browser) -> None:  # noqa: ANN001
    page = browser("alice").get("/dashboard").get_data(as_text=True)
    menu = page[page.index('<details class="user-menu">'):page.index("</details>")]
    assert '<a href="/auth/account">Account settings</a>' in menu
