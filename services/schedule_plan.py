"""What is scheduled and when: the table of periodic jobs and the plan the configuration makes
of it.

Kept apart from the scheduler process (``services.scheduler``) because pages, the CLI and health
checks read the plan (``flask scheduler jobs``, the Platform page) without running a scheduler.
APScheduler provides the triggers only, through its public API (``get_next_fire_time``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config import parse_schedule

# Interval slots count from this instant, so every process computes the same slot times.
INTERVAL_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ScheduledJob:
    """A periodic job: its schedule name (the key in ``SCHEDULE``) and the job it enqueues.

    The queue, timeout and retries are the job's own (``@job``). Only jobs that exist are
    listed: a job joins this table when it is built, and a test checks every target imports.
    """

    name: str
    target: str


SCHEDULED_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("poll_due_monitors", "jobs.monitoring.poll_due_monitors"),
    ScheduledJob("recover_polls", "jobs.monitoring.recover_polls"),
    ScheduledJob("flush_metrics", "jobs.maintenance.flush_metrics"),
    ScheduledJob("snapshot_platform_metrics", "jobs.maintenance.snapshot_platform_metrics"),
    ScheduledJob("run_health_checks", "jobs.maintenance.run_health_checks"),
    ScheduledJob("prune", "jobs.maintenance.prune"),
    ScheduledJob("rollup_hours", "jobs.maintenance.rollup_hours"),
    ScheduledJob("flush_affiliate_clicks", "jobs.affiliate.flush_affiliate_clicks"),
    ScheduledJob("rollup_affiliate", "jobs.affiliate.rollup_affiliate"),
    ScheduledJob("deliver_notifications", "jobs.notifications.deliver_due"),
    ScheduledJob("send_digests", "jobs.notifications.send_digests"),
)


def scheduled_job(name: str) -> ScheduledJob | None:
    return next((job for job in SCHEDULED_JOBS if job.name == name), None)


@dataclass(frozen=True)
class PlanEntry:
    """A scheduled job with the trigger the configuration gives it."""

    job: ScheduledJob
    kind: str  # every / cron
    value: Any  # seconds / crontab expression

    def trigger(self) -> BaseTrigger:
        if self.kind == "every":
            return IntervalTrigger(seconds=int(self.value), start_date=INTERVAL_ANCHOR, timezone=UTC)
        return CronTrigger.from_crontab(str(self.value), timezone=UTC)

    def describe(self) -> str:
        if self.kind == "every":
            seconds = int(self.value)
            for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
                if seconds % size == 0:
                    return f"every {seconds // size}{unit}"
            return f"every {seconds}s"
        return f"cron {self.value} (UTC)"

    def next_run(self, now: datetime | None = None) -> datetime | None:
        return self.trigger().get_next_fire_time(None, now or datetime.now(UTC))


def schedule_plan(config: Mapping[str, Any]) -> list[PlanEntry]:
    """The jobs this configuration schedules ("off" ones left out)."""
    schedule: Mapping[str, str] = config["SCHEDULE"]
    plan = []
    for job in SCHEDULED_JOBS:
        spec = schedule.get(job.name, "off")
        kind, value = parse_schedule(job.name, spec)
        if kind == "off":
            continue
        plan.append(PlanEntry(job, kind, value))
    return plan
