"""Many polls in flight in one worker process: batches of claimed monitors, polled side by side.

The scheduler's tick claims due monitors with one statement and hands them to the ``polling``
queue in batches (``enqueue_batches``): one RQ job per batch, not per monitor, so the job
system's own cost (a dequeue, a few state writes) is paid once for dozens of polls. A batch
job runs ``run_batch``, which polls its monitors with a thread pool.

**Threads, not asyncio.** Everything a poll does after its pages arrive is synchronous:
the fetcher's breaker and Redis rate limit, tenacity's retries, the parsers and the
SQLAlchemy session. Under asyncio all of that would either be rewritten or pushed back into
threads, and a poll spends its time waiting on the network (DHgate answers in 0.3–1.5 s)
where threads cost no CPU. Each thread polls inside an app context of its own, so each gets
its own database session; the fetcher's ``httpx.Client`` is thread-safe and shared, so
connections are pooled across threads. ``bench/bench_scale.py`` compares the result with a
bare ``httpx.AsyncClient`` loop at the same concurrency.

**Shared fetches.** Monitors that watch the same page (the same store, search or product)
are put in the same batch and their pages are fetched once: the snapshot is recorded for
each of them (``engine.record_poll``), each diffed against its own state.

**Crash safety.** Which batch job carries a claimed monitor is written to Redis before the
job is enqueued (``{prefix}poll:job:<monitor id>``, living as long as the claim's lease);
``services.polling.recovery`` reads it to judge whether a claim still has a live poll behind
it. A batch whose worker died is taken out of RQ's work-in-progress registry and its
monitors that are still claimed are polled again one by one.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import select

from extensions import db, get_redis
from models import Monitor
from services.native_memory import limit_arenas
from services.polling import engine
from services.polling.schedule import POLL_QUEUE, ClaimedMonitor, poll_job_id
from services.polling.snapshot import Snapshot
from services.queue import enqueue

logger = logging.getLogger(__name__)

POLL_BATCH_JOB = "jobs.monitoring.poll_batch"  # enqueued by dotted path: services never import jobs


@dataclass(frozen=True)
class PollResult:
    """How one monitor's poll in a batch ended (``outcome`` "skipped": deleted meanwhile,
    "error": an exception on our side, recorded on its run)."""

    monitor_id: int
    outcome: str
    fast_path: bool = False
    shared: bool = False  # its pages were fetched once for several monitors


def batch_job_id() -> str:
    """A fresh id per batch: two ticks never produce the same batch."""
    return f"poll_batch-{uuid.uuid4().hex}"


def job_key(monitor_id: int) -> str:
    """Where the id of the batch job carrying a claimed monitor is kept."""
    return f"{current_app.config['REDIS_KEY_PREFIX']}poll:job:{monitor_id}"


def plan_batches(claimed: Sequence[ClaimedMonitor], size: int) -> list[list[int]]:
    """Cut claimed monitors (in fair order) into batches of about ``size``, every monitor of a
    shared target in the same batch as the first one (so their pages are fetched once)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for monitor in claimed:
        groups.setdefault(monitor.target, []).append(monitor.monitor_id)
    batches: list[list[int]] = []
    current: list[int] = []
    for ids in groups.values():
        if current and len(current) + len(ids) > size:
            batches.append(current)
            current = []
        current.extend(ids)
    if current:
        batches.append(current)
    return batches


def enqueue_batches(batches: Sequence[Sequence[int]], *, spread_seconds: int, lease_seconds: int) -> int:
    """One RQ job per batch, their starts spread evenly over ``spread_seconds``; returns how
    many monitors were enqueued. Each monitor's batch job id is written first (one pipelined
    round trip per batch), so recovery can always find the job behind a claim."""
    connection = get_redis()
    enqueued = 0
    for index, monitor_ids in enumerate(batches):
        job_id = batch_job_id()
        with connection.pipeline(transaction=False) as pipe:
            for monitor_id in monitor_ids:
                pipe.set(job_key(monitor_id), job_id, ex=lease_seconds)
            pipe.execute()
        delay = index * spread_seconds // len(batches) if spread_seconds > 0 else 0
        enqueue(POLL_BATCH_JOB, job_id=job_id, queue=POLL_QUEUE, delay_seconds=delay or None,
                monitor_ids=list(monitor_ids))
        enqueued += len(monitor_ids)
    return enqueued


def job_ids_for(monitor_ids: Sequence[int]) -> list[str]:
    """The job carrying each claimed monitor's poll: its batch job, or (a "check now" or a
    recovered poll) its own ``poll_monitor`` job. One round trip."""
    if not monitor_ids:
        return []
    raw = get_redis().mget([job_key(monitor_id) for monitor_id in monitor_ids])
    return [_text(value) or poll_job_id(monitor_id) for monitor_id, value in zip(monitor_ids, raw, strict=True)]


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def forget_batches(monitor_ids: Iterable[int]) -> None:
    """Drop the batch link of monitors whose poll now runs in a job of their own."""
    keys = [job_key(monitor_id) for monitor_id in monitor_ids]
    if keys:
        get_redis().delete(*keys)


def run_batch(monitor_ids: Sequence[int], *, concurrency: int, app: Flask | None = None) -> list[PollResult]:
    """Poll every monitor of a batch, up to ``concurrency`` targets at a time; monitors sharing
    a target are polled from one snapshot. Every poll releases its own claim (``finish_poll``,
    or ``_record_crash`` when it fails on our side); an exception in one never stops the rest."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    targets = _targets(monitor_ids)
    groups: dict[tuple[str, str], list[int]] = {}
    for monitor_id in monitor_ids:
        if monitor_id in targets:
            groups.setdefault(targets[monitor_id], []).append(monitor_id)
    results = [PollResult(monitor_id, "skipped") for monitor_id in monitor_ids if monitor_id not in targets]
    if not groups:
        return results
    workers = max(1, min(concurrency, len(groups)))
    limit_arenas()  # before the batch's threads allocate: they share the arenas it allows
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dhm-poll") as pool:
        for group_results in pool.map(lambda item: _poll_group(app, *item), groups.items()):
            results.extend(group_results)
    return results  # the worker trims what the batch freed (services.worker_runtime)


def _targets(monitor_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Each existing monitor's target, in one query (then the read ends: no transaction stays
    open while the batch fetches)."""
    rows = db.session.execute(select(Monitor.id, Monitor.kind, Monitor.dhgate_id)
                              .where(Monitor.id.in_(list(monitor_ids)))).all()
    db.session.commit()
    return {monitor_id: (kind, dhgate_id) for monitor_id, kind, dhgate_id in rows}


def _poll_group(app: Flask, target: tuple[str, str], monitor_ids: list[int]) -> list[PollResult]:
    """Fetch one target's pages once, then record them for every monitor watching it."""
    with app.app_context():
        try:
            return _poll_target(target, monitor_ids)
        finally:
            db.session.remove()


def _poll_target(target: tuple[str, str], monitor_ids: list[int]) -> list[PollResult]:
    settings = engine.PollSettings.from_app()
    started = engine.PollStart.now()
    kind, dhgate_id = target
    try:
        snapshot = engine.take_monitor_snapshot(kind, dhgate_id, settings,
                                                deadline=started.clock + settings.budget_seconds)
    except Exception as exc:  # noqa: BLE001 - recorded on every run of the group, the batch goes on
        logger.exception("fetching %s %s failed on our side", kind, dhgate_id)
        return [_crashed(monitor_id, started, exc, settings) for monitor_id in monitor_ids]
    shared = len(monitor_ids) > 1
    results: list[PollResult] = []
    for monitor_id in monitor_ids:
        results.append(_record(monitor_id, snapshot, started, settings, shared))
    return results


def _record(monitor_id: int, snapshot: Snapshot, started: engine.PollStart, settings: engine.PollSettings,
            shared: bool) -> PollResult:
    try:
        run = engine.record_poll(monitor_id, snapshot, started, settings)
    except engine.MonitorNotFound:
        return PollResult(monitor_id, "skipped", shared=shared)
    except Exception:  # noqa: BLE001 - record_poll wrote the error on the run and released the claim
        logger.exception("poll of monitor %s failed", monitor_id)
        return PollResult(monitor_id, "error", shared=shared)
    return PollResult(monitor_id, run.outcome or "", engine.took_fast_path(run), shared)


def _crashed(monitor_id: int, started: engine.PollStart, exc: Exception,
             settings: engine.PollSettings) -> PollResult:
    engine.record_crash(monitor_id, started, exc, settings)
    return PollResult(monitor_id, "error")
