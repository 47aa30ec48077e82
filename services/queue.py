"""Background jobs: how they are declared and how anything enqueues them.

A job is a plain function in the ``jobs`` package that takes ids and primitives. ``@job`` records
its queue, timeout and retry policy next to the code (redash's ``@job("emails")``); ``enqueue``
sends it to RQ *by dotted path*, so callers name a job without importing it. The path must name
a function that exists here: an unknown one is refused at enqueue time (``UnknownJobError``).
"""
from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from flask import current_app
from rq import Queue, Retry
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from extensions import get_redis

P = ParamSpec("P")
R = TypeVar("R")

QUEUES = ("high", "default", "polling", "maintenance")  # workers listen in this order
JOBS_PACKAGE = "jobs"  # where ``discover_jobs`` looks for ``@job`` functions


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


class UnknownJobError(ValueError):
    """A dotted path that names no job in this installation (a typo, or a job not built yet).

    Raised when such a job is enqueued, not later when a worker fails to import it, so the
    caller learns of the mistake while it can still say so.
    """


def resolve(dotted_path: str) -> Callable[..., Any]:
    """Import ``package.module.function``; ``UnknownJobError`` when there is no such function.

    Only a missing module *of the path itself* counts as unknown: an import error from inside
    an existing job module is a real bug and propagates as it is.
    """
    module_name, _, attr = dotted_path.rpartition(".")
    if not module_name or not attr:
        raise UnknownJobError(f"unknown job {dotted_path!r}: a job is named by its dotted path, e.g. "
                              "'jobs.maintenance.prune'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise
        raise UnknownJobError(f"unknown job {dotted_path!r}: there is no module {module_name}") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise UnknownJobError(f"unknown job {dotted_path!r}: module {module_name} has no function {attr!r}")
    return func


def spec_of(dotted_path: str) -> JobSpec:
    """The declared policy of a job (the defaults for a plain function without ``@job``).

    ``UnknownJobError`` when the path names no importable function: enqueueing a job RQ could
    never run would only move the error to a worker's failed-job registry.
    """
    return getattr(resolve(dotted_path), "job_spec", JobSpec())


def find_spec(dotted_path: str) -> JobSpec | None:
    """The declared policy, or ``None`` when the path names no job."""
    try:
        return spec_of(dotted_path)
    except UnknownJobError:
        return None


def job_exists(dotted_path: str) -> bool:
    """True when ``dotted_path`` names an importable function (a module that exists)."""
    return find_spec(dotted_path) is not None


def discover_jobs() -> dict[str, JobSpec]:
    """Every function declared with ``@job`` in the ``jobs`` package, by dotted path.

    Imports each module of the package (job modules have no import-time side effects). The
    package is found by name, the way RQ finds a job, so this module never depends on the
    layer above it.
    """
    package = importlib.import_module(JOBS_PACKAGE)
    found: dict[str, JobSpec] = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{JOBS_PACKAGE}.{module_info.name}")
        for name, value in sorted(vars(module).items()):
            spec = getattr(value, "job_spec", None)
            if isinstance(spec, JobSpec) and getattr(value, "__module__", None) == module.__name__:
                found[f"{module.__name__}.{name}"] = spec
    return found


def queue_counts(connection: Any | None = None) -> dict[str, dict[str, int]]:
    """Jobs per queue and state: waiting, running, scheduled (delayed/retry), failed, finished.

    Read-only and one round trip (RQ's own ``registry.count`` runs clean-ups as a side effect);
    expired failed/finished entries, whose score is their expiry time, are not counted. The
    registry key names are RQ's (``key_template``); a test compares these counts with RQ's own,
    so a change in how RQ names or scores them fails there rather than showing zeros here.
    """
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

    ``UnknownJobError`` (a ``ValueError``) when the path names no importable function.
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
        return q.enqueue_in(timedelta(seconds=delay_seconds), dotted_path, **options, **call)
    return q.enqueue(dotted_path, **options, **call)


def _is_pending(job_id: str, q: Queue) -> bool:
    existing = Job.fetch_many([job_id], connection=q.connection)[0]
    if existing is None:
        return False
    return existing.get_status(refresh=False) in ("queued", "started", "scheduled", "deferred")
