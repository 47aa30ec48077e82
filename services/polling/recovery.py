"""Claims whose poll will never come: found every tick and polled again at once.

The database says what is due; Redis only carries the jobs. A monitor is claimed
(``claimed_until`` in the future) while the job polling it is on its way (a ``poll_batch`` job,
found through the link ``services.polling.batch`` writes, or its own ``poll_monitor-N``), and
that job can vanish behind the claim's back:

* its worker was killed mid-poll (``kill -9``, out of memory, a machine gone): the job stays
  ``started`` in RQ's work-in-progress registry, and, because ``enqueue`` skips an id that is
  still started, it would also block that monitor's next poll;
* Redis lost it (restarted without its data, flushed, failed over);
* it ended without the claim being released (a work horse killed under a live worker).

``recover_claims`` runs at the start of every ``poll_due_monitors`` tick. For each claim older than
``RECOVERY_GRACE_SECONDS`` it looks at the job behind it: queued, scheduled or running on a live
worker is fine; anything else is recovered — the claim's lease is renewed (a conditional update, so
a poll that just finished and released it is left alone) and the poll is put on the queue with no
start delay: the same job again when a ``poll_monitor`` job's worker died (removed from the
work-in-progress registry first), a ``poll_monitor`` job of its own otherwise (a dead batch is
taken out of the registry; its monitors already polled have released their claims and stay
alone). A worker counts as dead when its heartbeat is older than
``WORKER_STALE_SECONDS`` or, on the same machine, as soon as its pid is gone
(``services.worker_heartbeat``). Polls are idempotent (unique keys on products and events), so
even a wrong verdict costs one extra fetch, never a duplicate event.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select, update

from extensions import db, get_redis
from models import Monitor
from services.polling.batch import forget_batches, job_ids_for
from services.polling.schedule import POLL_JOB, POLL_QUEUE, poll_job_id
from services.queue import enqueue
from services.worker_heartbeat import list_workers

logger = logging.getLogger(__name__)

# A claim this young may still be between its commit and its enqueue (``poll_due_monitors`` and
# "check now" claim first, then enqueue): it is not judged yet.
RECOVERY_GRACE_SECONDS = 15

_WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


@dataclass(frozen=True)
class Recovered:
    """A claimed monitor whose poll was put on the queue again, and why."""

    monitor_id: int
    reason: str  # lost (no job in Redis) / abandoned (its worker died) / ended (job over, claim kept)


def recover_claims(now: datetime, *, lease_seconds: int, limit: int) -> list[Recovered]:
    """Find claims with no live poll behind them, renew them and enqueue their polls now."""
    rows = db.session.execute(
        select(Monitor.id, Monitor.claimed_until)
        .where(Monitor.claimed_until > now,
               Monitor.claimed_until <= now + timedelta(seconds=lease_seconds - RECOVERY_GRACE_SECONDS))
        .order_by(Monitor.claimed_until)
        .limit(limit)
    ).all()
    db.session.commit()  # end the read before talking to Redis
    if not rows:
        return []
    claimed = [monitor_id for monitor_id, _ in rows]
    connection = get_redis()
    job_ids = job_ids_for(claimed)  # a batch job, or the monitor's own poll job
    unique = list(dict.fromkeys(job_ids))
    jobs = dict(zip(unique, Job.fetch_many(unique, connection=connection), strict=True))
    live = {worker.name for worker in list_workers(connection) if worker.alive}
    recovered: list[Recovered] = []
    unregistered: set[str] = set()
    for (monitor_id, claimed_until), job_id in zip(rows, job_ids, strict=True):
        job = jobs[job_id]
        reason = _verdict(job, live)
        if reason is None or claimed_until is None or not _renew_claim(monitor_id, claimed_until, now, lease_seconds):
            continue
        if reason == "abandoned" and job is not None and job.id == poll_job_id(monitor_id):
            _requeue_abandoned(job)
        else:
            if reason == "abandoned" and job is not None and job.id not in unregistered:
                _unregister_abandoned(job)  # a batch: its unfinished monitors are polled one by one
                unregistered.add(job.id)
            forget_batches([monitor_id])
            enqueue(POLL_JOB, job_id=poll_job_id(monitor_id), queue=POLL_QUEUE, monitor_id=monitor_id)
        recovered.append(Recovered(monitor_id, reason))
    if recovered:
        logger.warning("polled again at once, their earlier poll being gone: %s",
                       ", ".join(f"monitor {r.monitor_id} ({r.reason})" for r in recovered))
    return recovered


def _verdict(job: Job | None, live_workers: set[str]) -> str | None:
    """Why the claim needs recovering, or ``None`` while its poll is still on its way."""
    if job is None:
        return "lost"
    status = job.get_status(refresh=False)
    if status in _WAITING:
        return None
    if status == JobStatus.STARTED:
        return None if job.worker_name in live_workers else "abandoned"
    return "ended"


def _renew_claim(monitor_id: int, seen: datetime, now: datetime, lease_seconds: int) -> bool:
    """Extend the claim we judged, unchanged since; False when its poll released it meanwhile or
    another tick recovered it first (so two ticks at once recover a claim once)."""
    result = db.session.execute(
        update(Monitor)
        .where(Monitor.id == monitor_id, Monitor.active.is_(True), Monitor.claimed_until == seen)
        .values(claimed_until=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


def _unregister_abandoned(job: Job) -> None:
    """Take a batch job whose worker died out of the work-in-progress registry and mark it
    failed, so nothing takes it for running any more."""
    queue = Queue(job.origin or POLL_QUEUE, connection=job.connection)
    StartedJobRegistry(queue.name, connection=job.connection).remove_executions(job)
    job.set_status(JobStatus.FAILED)
    logger.warning("batch %s was abandoned by dead worker %s", job.id, job.worker_name)


def _requeue_abandoned(job: Job) -> None:
    """Put a job whose worker died back on its queue: out of the work-in-progress registry
    first, so nothing takes it for running, then queued again under its own id."""
    queue = Queue(job.origin or POLL_QUEUE, connection=job.connection)
    StartedJobRegistry(queue.name, connection=job.connection).remove_executions(job)
    queue.enqueue_job(job)
    logger.warning("job %s was abandoned by dead worker %s; queued again", job.id, job.worker_name)
