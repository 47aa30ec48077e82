"""The platform page's live cards in a real browser: a new account appears in the users card
without reloading, and when the figures can no longer be fetched they are marked stale."""
from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import delete

from extensions import db
from models import AdminSession
from tests.browser.conftest import serving
from tests.conftest import PASSWORD, Stores, make_app
from tests.factories import make_monitor, make_user
from tests.monitoring.conftest import add_poll_run


def test_the_cards_refresh_themselves_and_say_when_they_are_stale(page: Page, app: Flask, stores: Stores, admin) -> None:  # noqa: ANN001
    with serving(make_app(stores, DASHBOARD_CACHE_SECONDS=1)) as base_url:
        page.goto(f"{base_url}/auth/login")
        page.get_by_label("E-mail or username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{base_url}/dashboard/platform")
        users = page.get_by_test_id("kpi-users_total")
        expect(users).to_have_text("1")
        stale = page.locator("[data-kpi-stale]")
        expect(stale).to_be_hidden()

        make_user("arrives_later")
        expect(users).to_have_text("2")  # no reload: the script fetched the new figures
        add_poll_run(make_monitor(admin), "ok")
        expect(page.get_by_test_id("kpi-polls_24h")).to_have_text("1")

        db.session.execute(delete(AdminSession))  # the admin's session ends: the JSON answers 401
        db.session.commit()
        expect(stale).to_be_visible()
        expect(users).to_have_text("2")  # the last figures stay, marked stale
