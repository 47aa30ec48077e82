"""An admin retries a failed job from the queue tools in a real browser, and sees it finish."""
from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page, expect
from rq.job import Job, JobStatus

from extensions import get_redis
from services.queue import enqueue
from services.worker_runtime import AppSimpleWorker, build_worker
from tests.conftest import PASSWORD


def test_an_admin_retries_a_failed_job_and_sees_it_finish(page: Page, live_server: str, app: Flask, admin) -> None:  # noqa: ANN001
    job = enqueue("tests.background.sample_jobs.fails_once", "dhm:test:browser-once")
    assert job is not None
    build_worker(app, ["default"], worker_class=AppSimpleWorker).work(burst=True)

    page.goto(f"{live_server}/auth/login")
    page.get_by_label("E-mail or username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server}/admin/jobs")
    row = page.locator(f'tr[data-job-id="{job.id}"]')
    expect(row).to_contain_text("RuntimeError: attempt 1 fails")

    row.get_by_role("button", name=f"Retry {job.id}").click()
    expect(page.get_by_text("The job is queued again.")).to_be_visible()
    expect(page.get_by_role("heading", name="No failed jobs")).to_be_visible()

    build_worker(app, ["default"], worker_class=AppSimpleWorker).work(burst=True)
    finished = Job.fetch(job.id, connection=get_redis())
    assert finished.get_status() == JobStatus.FINISHED and finished.return_value() == 2
