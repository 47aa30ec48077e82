"""Monitoring jobs: find due monitors every minute, and poll one monitor.

``poll_due_monitors`` only claims and enqueues; the fetching happens in ``poll_monitor`` jobs on
the ``polling`` queue, so a slow DHgate never delays the scheduler's other work. ``poll_monitor``
has no RQ retries: a failed poll is already rescheduled by the monitor's own backoff, and an RQ
retry on top would poll a blocked host twice as often. A poll lost to a dead worker or to a Redis
that lost its data is not retried by RQ either: each tick first recovers claims with no live poll
behind them (``services.polling.recovery``) and polls those monitors again at once.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import current_app

from services.maintenance import polling_paused
from services.polling import engine
from services.polling.recovery import recover_claims
from services.polling.schedule import POLL_JOB, POLL_QUEUE, claim_due_monitors, poll_job_id, release
from services.queue import enqueue, job

logger = logging.getLogger(__name__)

POLL_JOB_TIMEOUT = 600  # seconds; POLL_BUDGET_SECONDS (see settings.py) keeps polls well inside it


@job("maintenance", timeout=120)
def poll_due_monitors() -> int:
    """Claim every due monitor and enqueue its poll with a start delay spread over the minute;
    returns how many were enqueued (recovered polls included). Safe to run concurrently: claims
    are conditional updates. While an admin has paused polling nothing is claimed or enqueued."""
    if polling_paused():
        logger.info("polling is paused: no monitor claimed")
        return 0
    config = current_app.config
    now = datetime.now(UTC)
    recovered = recover_claims(now, lease_seconds=int(config["POLL_CLAIM_LEASE_SECONDS"]),
                               limit=int(config["POLL_BATCH_SIZE"]))
    claims = claim_due_monitors(
        now,
        lease_seconds=int(config["POLL_CLAIM_LEASE_SECONDS"]),
        spread_seconds=0 if config["RQ_SYNC"] else int(config["POLL_SPREAD_SECONDS"]),
        limit=int(config["POLL_BATCH_SIZE"]),
    )
    enqueued = len(recovered)
    for index, claim in enumerate(claims):
        try:
            queued = enqueue(POLL_JOB, job_id=poll_job_id(claim.monitor_id), queue=POLL_QUEUE,
                             delay_seconds=claim.delay_seconds or None, monitor_id=claim.monitor_id)
        except Exception:
            for unqueued in claims[index:]:  # due again at the next tick, not after the lease
                _release(unqueued.monitor_id)
            raise
        enqueued += queued is not None
    if claims:
        logger.info("claimed %d due monitors, enqueued %d polls", len(claims), enqueued)
    return enqueued


@job("maintenance", timeout=60)
def recover_polls() -> int:
    """Put the polls of dead workers (and those Redis lost) back on the queue; returns how many.

    ``poll_due_monitors`` does the same at the start of its minute tick; this runs more often
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
