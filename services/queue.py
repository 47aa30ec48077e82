"""Background jobs: how they are declared and how anything enqueues them.

A job is a plain function in the ``jobs`` package that takes ids and primitives. ``@job`` records
its queue, timeout and retry policy next to the code (redash's ``@job("emails")``); ``enqueue``
sends it to RQ *by dotted path*, so the web process never imports worker-only code and a job can
be enqueued before its module is loaded.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from flask import current_app
from rq import Queue, Retry
from rq.job import Job

from extensions import get_redis

P = ParamSpec("P")
R = TypeVar("R")

QUEUES = ("high", "default", "polling", "maintenance")  # workers listen in this order


@dataclass(frozen=True)
class JobSpec:
    """Where and how a job runs. Retries back off by ``retry_intervals`` seconds."""

    queue: str = "default"
    timeout: int = 300
    retries: int = 0
    retry_intervals: tuple[int, ...] = (10, 60, 300)
    result_ttl: int = 3600
    failure_ttl: int = 7 * 86400


def job(
    queue: str = "default",
    *,
    timeout: int = 300,
    retries: int = 0,
    retry_intervals: tuple[int, ...] = (10, 60, 300),
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare a function as a job; the function itself is returned unchanged (still callable)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; use one of {', '.join(QUEUES)}")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        func.job_spec = JobSpec(queue, timeout, retries, retry_intervals)  # type: ignore[attr-defined]
        return func

    return decorate


def resolve(dotted_path: str) -> Callable[..., Any]:
    """Import ``package.module.function``."""
    module_name, _, attr = dotted_path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def spec_of(dotted_path: str) -> JobSpec:
    """The declared policy of a job; the defaults when its module cannot be imported here.

    Enqueueing is by path and RQ imports the function only when a worker runs it, so a job whose
    module is not installed in this process (or not written yet) can still be enqueued.
    """
    return find_spec(dotted_path) or JobSpec()


def find_spec(dotted_path: str) -> JobSpec | None:
    """The declared policy, or ``None`` when the function cannot be imported in this process."""
    try:
        func = resolve(dotted_path)
    except (ImportError, AttributeError, ValueError):
        return None
    return getattr(func, "job_spec", JobSpec())


def job_exists(dotted_path: str) -> bool:
    """True when ``dotted_path`` names an importable function (a module that exists)."""
    return find_spec(dotted_path) is not None


def discover_jobs() -> dict[str, JobSpec]:
    """Every function declared with ``@job`` in the ``jobs`` package, by dotted path.

    Imports each module of the package (job modules have no import-time side effects).
    """
    import pkgutil

    import jobs

    found: dict[str, JobSpec] = {}
    for module_info in sorted(pkgutil.iter_modules(jobs.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"jobs.{module_info.name}")
        for name, value in sorted(vars(module).items()):
            spec = getattr(value, "job_spec", None)
            if isinstance(spec, JobSpec) and getattr(value, "__module__", None) == module.__name__:
                found[f"{module.__name__}.{name}"] = spec
    return found


def queue_counts(connection: Any | None = None) -> dict[str, dict[str, int]]:
    """Jobs per queue and state: waiting, running, scheduled (delayed/retry), failed, finished.

    Read-only and one round trip (RQ's own ``registry.count`` runs clean-ups as a side effect);
    expired failed/finished entries, whose score is their expiry time, are not counted.
    """
    import time

    from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    connection = connection or get_redis()
    now = time.time()
    with connection.pipeline(transaction=False) as pipe:
        for name in QUEUES:
            pipe.llen(Queue(name, connection=connection).key)
            pipe.zcard(StartedJobRegistry.key_template.format(name))
            pipe.zcard(ScheduledJobRegistry.key_template.format(name))
            pipe.zcount(FailedJobRegistry.key_template.format(name), now, "+inf")
            pipe.zcount(FinishedJobRegistry.key_template.format(name), now, "+inf")
        values = pipe.execute()
    states = ("queued", "started", "scheduled", "failed", "finished")
    return {
        name: dict(zip(states, (int(v) for v in values[i * 5:(i + 1) * 5]), strict=True))
        for i, name in enumerate(QUEUES)
    }


def get_queue(name: str = "default") -> Queue:
    """An RQ queue on the app's Redis. Under TESTING with ``RQ_SYNC`` it runs jobs inline."""
    is_async = not current_app.config.get("RQ_SYNC", False)
    return Queue(name, connection=get_redis(), is_async=is_async)


def enqueue(
    dotted_path: str,
    *args: Any,
    job_id: str | None = None,
    queue: str | None = None,
    delay_seconds: float | None = None,
    **kwargs: Any,
) -> Job | None:
    """Enqueue a job by dotted path with its declared policy.

    With ``job_id`` the call is idempotent: if a job with that id is already queued, scheduled or
    running, nothing new is enqueued and ``None`` is returned. Deterministic ids (job name +
    scheduled slot) are how a duplicate scheduler tick is kept from running a job twice.
    """
    spec = spec_of(dotted_path)
    q = get_queue(queue or spec.queue)
    if job_id is not None and _is_pending(job_id, q):
        return None
    options: dict[str, Any] = {
        "job_id": job_id,
        "job_timeout": spec.timeout,
        "result_ttl": spec.result_ttl,
        "failure_ttl": spec.failure_ttl,
        "description": dotted_path,
    }
    if spec.retries:
        options["retry"] = Retry(max=spec.retries, interval=list(spec.retry_intervals))
    # Explicit args/kwargs: RQ refuses positional arguments next to an explicit ``kwargs=``, and
    # explicit ones keep job kwargs from colliding with RQ's own options.
    call = {"args": tuple(args), "kwargs": dict(kwargs)}
    if delay_seconds:
        from datetime import timedelta

        return q.enqueue_in(timedelta(seconds=delay_seconds), dotted_path, **options, **call)
    return q.enqueue(dotted_path, **options, **call)


def _is_pending(job_id: str, q: Queue) -> bool:
    existing = Job.fetch_many([job_id], connection=q.connection)[0]
    if existing is None:
        return False
    return existing.get_status(refresh=False) in ("queued", "started", "scheduled", "deferred")
