"""Views of the admin area that run the platform rather than its people: failed background jobs
(retry one / all, delete), the scheduler (run a job now, pause / resume all polling) and the
switch of the public status page.

Every change is a POST carrying the CSRF token (checked app-wide by Flask-WTF) and is written to
the security log as an admin action; the blueprint refuses everyone but admins.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from blueprints.admin import bp
from services import failed_jobs
from services.audit import record_admin_action
from services.health import process_warnings
from services.maintenance import PauseState, pause_state, pause_state_for_layout, set_polling_paused
from services.queue import enqueue
from services.schedule_plan import schedule_plan
from services.scheduler import last_outcomes
from services.site_settings import set_status_page_public, status_page_public

logger = logging.getLogger(__name__)

JOB_ID_MAX = 128  # RQ ids are uuids or our "name:slot" ids; anything longer is not one of ours


@bp.context_processor
def operations_banner() -> dict[str, list[str] | PauseState]:
    """Every admin page says when nothing will be polled: a process is not running, or an admin
    paused polling (maintenance mode)."""
    return {"ops_warnings": process_warnings(), "polling_pause": pause_state_for_layout()}


# --- failed jobs ---------------------------------------------------------------------------------

@bp.get("/jobs")
def jobs() -> str:
    """Logged-in pages are already ``private, no-store``, so tracebacks stay out of caches.
    While Redis is down the page says the queues cannot be read instead of failing."""
    try:
        listing = failed_jobs.failed_jobs()
    except RedisError:
        logger.warning("failed jobs unavailable: Redis cannot be reached", exc_info=True)
        listing = None
    return render_template("admin/jobs.html", listing=listing)


def _job_id(job_id: str) -> str:
    if len(job_id) > JOB_ID_MAX:
        abort(404)
    return job_id


@bp.post("/jobs/<job_id>/retry")
def job_retry(job_id: str) -> Response:
    if failed_jobs.retry(_job_id(job_id)):
        record_admin_action("job_retried", job_id=job_id)
        flash(_("The job is queued again."), "success")
    else:
        flash(_("No failed job with that id: it may have been retried or deleted already."), "warning")
    return redirect(url_for("admin.jobs"))


@bp.post("/jobs/retry-all")
def jobs_retry_all() -> Response:
    count = failed_jobs.retry_all()
    record_admin_action("jobs_retried", count=count)
    flash(_("%(n)s failed jobs queued again.", n=count), "success")
    return redirect(url_for("admin.jobs"))


@bp.post("/jobs/<job_id>/delete")
def job_delete(job_id: str) -> Response:
    if failed_jobs.delete(_job_id(job_id)):
        record_admin_action("job_deleted", job_id=job_id)
        flash(_("The failed job was deleted."), "success")
    else:
        flash(_("No failed job with that id: it may have been retried or deleted already."), "warning")
    return redirect(url_for("admin.jobs"))


# --- the scheduler: run now, pause / resume polling ---------------------------------------------

@bp.get("/scheduler")
def scheduler() -> str:
    """Every scheduled job with its next run and last outcome, a "run now" button each, and the
    maintenance switch. While Redis is down the last outcomes are left out, not the page."""
    try:
        outcomes = last_outcomes()
    except RedisError:
        logger.warning("scheduler outcomes unavailable: Redis cannot be reached", exc_info=True)
        outcomes = None
    return render_template("admin/scheduler.html", plan=schedule_plan(current_app.config), outcomes=outcomes,
                           pause=pause_state())


@bp.post("/scheduler/<name>/run")
def scheduler_run_now(name: str) -> Response:
    """Enqueue a scheduled job now, outside its schedule (its own queue, timeout and retries)."""
    entry = next((e for e in schedule_plan(current_app.config) if e.job.name == name), None)
    if entry is None:
        flash(_("There is no scheduled job by that name."), "error")
        return redirect(url_for("admin.scheduler"))
    try:
        queued = enqueue(entry.job.target, job_id=f"{name}-manual-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}")
    except RedisError:
        logger.warning("could not enqueue %s: Redis cannot be reached", name, exc_info=True)
        flash(_("The job could not be queued: Redis is not answering."), "error")
        return redirect(url_for("admin.scheduler"))
    if queued is None:
        flash(_("%(name)s is already queued.", name=name), "warning")
        return redirect(url_for("admin.scheduler"))
    record_admin_action("job_run_now", job=name, job_id=queued.id)
    flash(_("%(name)s is queued (job %(id)s) and runs as soon as a worker is free.", name=name, id=queued.id),
          "success")
    return redirect(url_for("admin.scheduler"))


@bp.post("/polling")
def polling_switch() -> Response:
    """Pause or resume all polling (maintenance mode)."""
    wanted = request.form.get("paused")
    if wanted not in ("on", "off"):
        flash(_("Choose whether polling is paused."), "error")
        return redirect(url_for("admin.scheduler"))
    if set_polling_paused(wanted == "on", current_user.id):
        record_admin_action("polling_paused" if wanted == "on" else "polling_resumed")
    flash(_("Polling is paused: no monitor is polled until you resume it.") if wanted == "on"
          else _("Polling is resumed: due monitors are polled on the next tick."), "success")
    return redirect(url_for("admin.scheduler"))


# --- the public status page ----------------------------------------------------------------------

@bp.route("/status-page", methods=["GET", "POST"])
def status_page_switch() -> Response | str:
    if request.method == "POST":
        wanted = request.form.get("public")
        if wanted not in ("on", "off"):
            flash(_("Choose whether the status page is public."), "error")
            return redirect(url_for("admin.status_page_switch"))
        set_status_page_public(wanted == "on", current_user.id)
        record_admin_action("status_page_switched", public=wanted == "on")
        flash(_("The status page is public now.") if wanted == "on" else _("The status page is switched off."), "success")
        return redirect(url_for("admin.status_page_switch"))
    return render_template("admin/status_page.html", public=status_page_public())
