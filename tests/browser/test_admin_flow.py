"""An admin's day in a real browser, with a real worker process running: the Platform page's
cards and chart, a failed job retried from the UI and seen to finish, and another browser's
session ended, that browser being logged out on its very next click."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from rq.job import Job, JobStatus

from extensions import db, get_redis
from models import User
from services.queue import enqueue
from tests.auth.conftest import live_session_ids
from tests.background.conftest import BIN, PROJECT_ROOT, process_env, wait_for
from tests.browser.conftest import serving
from tests.conftest import PASSWORD, Stores, make_app
from tests.factories import make_monitor
from tests.monitoring.conftest import add_poll_run


@pytest.fixture
def worker_process(app: Flask, stores: Stores, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python worker.py`` on the default queue, against the test stores, until the test ends."""
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen([str(BIN / "python"), "worker.py", "--queues", "default"], cwd=PROJECT_ROOT,
                               env=process_env(stores), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def admin_server(app: Flask, stores: Stores) -> Iterator[str]:
    """The app with the dashboard's 30-second cache off, so each visit measures afresh."""
    with serving(make_app(stores, DASHBOARD_CACHE_SECONDS=0)) as base_url:
        yield base_url


def logged_in(browser: Browser, base: str, login: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/auth/login")
    page.get_by_label("E-mail or username").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/dashboard")
    return context, page


def queue_cell(page: Page, queue: str, column: str) -> str:
    row = page.get_by_test_id("queues-table").locator("tr", has=page.get_by_role("cell", name=queue, exact=True))
    return row.locator(f'td[data-label="{column}"]').inner_text().strip()


def test_an_admins_day(browser: Browser, admin_server: str, worker_process: subprocess.Popen[bytes],
                       admin: User, alice: User) -> None:
    now = datetime.now(UTC)
    shop = make_monitor(alice)
    for hours_ago, outcome in ((1, "ok"), (2, "ok"), (3, "blocked")):
        add_poll_run(shop, outcome, started_at=now - timedelta(hours=hours_ago))
    db.session.commit()
    job = enqueue("tests.background.sample_jobs.fails_once", "dhm:test:admin-day")
    assert job is not None
    wait_for(lambda: Job.fetch(job.id, connection=get_redis()).get_status() == JobStatus.FAILED, 30,
             "the worker process to run the job and fail it")

    admin_context, admin_page = logged_in(browser, admin_server, "root")
    alice_context, alice_page = logged_in(browser, admin_server, "alice")
    try:
        # The Platform page: cards counted from what this test made, the polls chart with its
        # accessible title and a tooltip per point, the queues.
        admin_page.get_by_role("link", name="Platform").click()
        expect(admin_page.get_by_role("heading", name="Platform", level=1)).to_be_visible()
        expect(admin_page.get_by_test_id("kpi-users_total")).to_have_text("2")
        expect(admin_page.get_by_test_id("kpi-active_monitors")).to_have_text("1")
        chart = admin_page.locator('[data-chart="polls"] svg')
        expect(chart).to_be_visible()
        expect(chart.locator("title").first).to_have_text("Polls by outcome")
        expect(chart.locator("circle title").filter(has_text="Blocked")).to_have_count(24)
        assert queue_cell(admin_page, "default", "Failed") == "1"
        expect(admin_page.get_by_test_id("workers-table")).to_contain_text("default")

        # Retry from the queue tools; the running worker picks it up; the Platform page shows it done.
        admin_page.goto(f"{admin_server}/admin/jobs")
        admin_page.locator(f'tr[data-job-id="{job.id}"]').get_by_role("button", name=f"Retry {job.id}").click()
        expect(admin_page.get_by_text("The job is queued again.")).to_be_visible()

        def finished_on_the_platform_page() -> bool:
            admin_page.goto(f"{admin_server}/dashboard/platform")
            return queue_cell(admin_page, "default", "Finished") == "1" and queue_cell(admin_page, "default", "Failed") == "0"

        wait_for(finished_on_the_platform_page, 30, "the retried job to show as finished on the Platform page", interval=0.5)
        finished = Job.fetch(job.id, connection=get_redis())
        assert finished.get_status() == JobStatus.FINISHED and finished.return_value() == 2

        # End alice's session from the all-sessions page; her browser is out on its next click.
        [alice_session] = live_session_ids(alice.id)
        admin_page.get_by_role("link", name="Admin", exact=True).click()
        admin_page.get_by_role("navigation", name="Administration").get_by_role("link", name="Sessions").click()
        row = admin_page.locator(f'tr[data-session-id="{alice_session}"]')
        expect(row).to_contain_text("alice")
        row.get_by_role("button", name="End session").click()
        expect(admin_page.get_by_text("That session is logged out.")).to_be_visible()
        expect(admin_page.locator(f'tr[data-session-id="{alice_session}"]')).to_have_count(0)

        alice_page.get_by_role("link", name="Monitors", exact=True).click()
        expect(alice_page).to_have_url(f"{admin_server}/auth/login?next=/monitors/")
        expect(alice_page.get_by_text("Please log in to see this page.")).to_be_visible()
        expect(alice_page.get_by_label("E-mail or username")).to_be_visible()
        # The admin's own browser is untouched.
        admin_page.reload()
        expect(admin_page.get_by_role("heading", name="Sessions", level=1)).to_be_visible()
    finally:
        admin_context.close()
        alice_context.close()
