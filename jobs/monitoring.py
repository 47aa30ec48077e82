"""Monitoring jobs: find due monitors every minute, and poll them in batches (or one monitor).

``poll_due_monitors`` only claims and enqueues; the fetching happens in ``poll_batch`` jobs on
the ``polling`` queue (many polls side by side per job, ``services.polling.batch``), so a slow
DHgate never delays the scheduler's other work. ``poll_monitor`` polls one monitor: "check now"
and recovered polls. Polling jobs
have no RQ retries: a failed poll is already rescheduled by the monitor's own backoff, and an RQ
retry on top would poll a blocked host twice as often. A poll lost to a dead worker or to a Redis
that lost its data is not retried by RQ either: each tick first recovers claims with no live poll
behind them (``services.polling.recovery``) and polls those monitors again at once.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from flask import current_app

from services.maintenance import polling_paused
from services.polling import batch, engine
from services.polling.batch import enqueue_batches, plan_batches
from services.polling.budget import claim_limit, note_pressure, poll_concurrency
from services.polling.recovery import recover_claims
from services.polling.schedule import POLL_QUEUE, claim_due_batch, poll_job_id, release
from services.queue import job

__all__ = ["poll_batch", "poll_due_monitors", "poll_job_id", "poll_monitor", "recover_polls"]

logger = logging.getLogger(__name__)

POLL_JOB_TIMEOUT = 600  # seconds; POLL_BUDGET_SECONDS (see settings.py) keeps polls well inside it
# A batch runs its polls in waves of POLL_CONCURRENCY; each poll ends within POLL_BUDGET_SECONDS
# (120 s by default), so eight waves of polls that all run out of time still end within this.
POLL_BATCH_TIMEOUT = 3600


@job("maintenance", timeout=120)
def poll_due_monitors() -> int:
    """Claim the due monitors the request budget can carry until the next tick and enqueue them
    in batches spread until the next tick; returns how many monitors were enqueued (recovered polls
    included). Safe to run concurrently: the claim is one conditional update. While an admin has
    paused polling nothing is claimed or enqueued."""
    if polling_paused():
        logger.info("polling is paused: no monitor claimed")
        return 0
    config = current_app.config
    now = datetime.now(UTC)
    lease = int(config["POLL_CLAIM_LEASE_SECONDS"])
    recovered = recover_claims(now, lease_seconds=lease, limit=int(config["POLL_BATCH_SIZE"]))
    note_pressure(now, config)
    claimed = claim_due_batch(now, lease_seconds=lease, limit=claim_limit(now, config))
    batches = plan_batches(claimed, int(config["POLL_JOB_SIZE"]))
    try:
        enqueued = enqueue_batches(batches, spread_seconds=0 if config["RQ_SYNC"] else int(config["POLL_SPREAD_SECONDS"]),
                                   lease_seconds=lease)
    except Exception:
        for monitor in claimed:  # due again at the next tick, not after the lease
            _release(monitor.monitor_id)
        raise
    if claimed:
        logger.info("claimed %d due monitors, enqueued %d polls in %d jobs", len(claimed), enqueued, len(batches))
    return enqueued + len(recovered)


@job(POLL_QUEUE, timeout=POLL_BATCH_TIMEOUT, retries=0)
def poll_batch(monitor_ids: list[int]) -> dict[str, object]:
    """Poll a batch of claimed monitors side by side (``services.polling.batch``); every poll
    releases its own claim. Returns the count of each outcome, and how many polls took the
    change-free fast path or shared their pages with another monitor."""
    results = batch.run_batch(monitor_ids, concurrency=poll_concurrency(current_app.config))
    outcomes = Counter(result.outcome for result in results)
    return {"polled": len(results), "outcomes": dict(outcomes),
            "fast_path": sum(result.fast_path for result in results),
            "shared": sum(result.shared for result in results)}


@job("maintenance", timeout=60)
def recover_polls() -> int:
    """Put the polls of dead workers (and those Redis lost) back on the queue; returns how many.

    ``poll_due_monitors`` does the same at the start of its tick; this runs more often
    (every 15 s by default) so a monitor whose worker died mid-poll is polled again within a
    minute of the death: its worker's heartbeat goes stale after ``WORKER_STALE_SECONDS`` (30 s),
    and the next of these ticks recovers it."""
    config = current_app.config
    recovered = recover_claims(datetime.now(UTC), lease_seconds=int(config["POLL_CLAIM_LEASE_SECONDS"]),
                               limit=int(config["POLL_BATCH_SIZE"]))
    return len(recovered)


@job(POLL_QUEUE, timeout=POLL_JOB_TIMEOUT, retries=0)
def poll_monitor(monitor_id: int) -> dict[str, object] | None:
    """Poll one monitor; the claim is released whatever happens (a finished poll releases it in
    its own transaction). A deleted monitor is skipped; anything unexpected is recorded on the
    poll run and then raised for RQ to record."""
    try:
        run = engine.poll_monitor(monitor_id)
    except engine.MonitorNotFound:
        logger.info("monitor %s no longer exists; poll skipped", monitor_id)
        return None
    except BaseException:
        _release(monitor_id)
        raise
    return {"monitor_id": monitor_id, "outcome": run.outcome, "seen": run.products_seen,
            "new": run.products_new, "changed": run.products_changed, "fast_path": engine.took_fast_path(run)}


def _release(monitor_id: int) -> None:
    """Release the claim; a failure here is logged, never allowed to hide the poll's own error
    (the lease runs out on its own anyway)."""
    try:
        release(monitor_id)
    except Exception:
        logger.exception("could not release the claim on monitor %s", monitor_id)
