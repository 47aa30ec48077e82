"""Failed background jobs for the admin's queue tools: list them with their error and traceback,
retry one or all, delete one.

Only RQ's public API is used (``FailedJobRegistry``, ``Job.fetch_many``, ``job.requeue()``,
``job.delete()``), so an RQ upgrade cannot silently break the page. A job's arguments are shown
*masked*: values under names that look like secrets, and credentials inside URLs, never reach
the page (jobs take ids, but a future job taking a webhook URL must not leak it).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from extensions import get_redis
from services.queue import QUEUES, get_queue

logger = logging.getLogger(__name__)

MAX_LISTED = 200  # per queue; the page says when there are more
MASK = "***"
_SECRET_NAME = re.compile(r"(?i)pass|secret|token|api[_-]?key|auth|credential|cookie|session|signature|private")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]*@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:[a-z0-9_\-]*(?:pass|secret|token|key|auth|signature|sig)[a-z0-9_\-]*)=)[^&#\s]*"
)


def mask_secrets(value: Any, name: str | None = None) -> Any:
    """``value`` with secrets replaced by ``***``: anything under a secret-looking name (a
    keyword argument or a dict key), user:password in URLs and secret-looking query parameters.
    Containers are walked; other values are returned unchanged."""
    if name is not None and _SECRET_NAME.search(name):
        return MASK
    if isinstance(value, str):
        return _SECRET_QUERY.sub(rf"\1{MASK}", _URL_CREDENTIALS.sub(rf"\1{MASK}@", value))
    if isinstance(value, dict):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_secrets(v) for v in value)
    return value


def describe_call(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> str:
    """A job's arguments as they would be written in Python, masked."""
    parts = [repr(mask_secrets(a)) for a in args]
    parts += [f"{key}={mask_secrets(value, key)!r}" for key, value in kwargs.items()]
    return ", ".join(parts)


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    function: str
    arguments: str  # masked
    error: str  # the exception's last line
    traceback: str  # masked like the arguments: exception texts can quote URLs
    enqueued_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True)
class FailedJobs:
    jobs: list[FailedJob]
    total: int  # across queues, including any not listed


def _registry(queue: str) -> FailedJobRegistry:
    return FailedJobRegistry(queue=get_queue(queue))


def _describe(job: Job, queue: str) -> FailedJob:
    result = job.latest_result()
    traceback = (result.exc_string if result is not None and result.exc_string else job.exc_info) or ""
    traceback = mask_secrets(traceback)
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    try:
        arguments = describe_call(job.args, job.kwargs)
    except Exception:  # noqa: BLE001 - arguments that cannot be unpickled here are still listed
        arguments = "?"
    ended = job.ended_at or (result.created_at if result is not None else None)
    return FailedJob(
        id=job.id, queue=queue, function=job.func_name or job.description or "?",
        arguments=arguments, error=lines[-1] if lines else "", traceback=traceback,
        enqueued_at=_aware(job.enqueued_at), failed_at=_aware(ended),
    )


def _aware(moment: datetime | None) -> datetime | None:
    """RQ writes naive UTC times; the templates expect aware ones."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def failed_jobs(limit: int = MAX_LISTED) -> FailedJobs:
    """Failed jobs of every queue, most recently failed first."""
    found: list[FailedJob] = []
    total = 0
    for queue in QUEUES:
        registry = _registry(queue)
        ids = registry.get_job_ids()
        total += len(ids)
        jobs = Job.fetch_many(ids[-limit:], connection=get_redis())
        found += [_describe(job, queue) for job in jobs if job is not None]
    oldest = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda j: j.failed_at or oldest, reverse=True)
    return FailedJobs(found[:limit], total)


def _failed(job_id: str) -> tuple[Job, FailedJobRegistry] | None:
    """The job and its registry when ``job_id`` is a failed job of one of our queues."""
    for queue in QUEUES:
        registry = _registry(queue)
        if job_id in registry:
            try:
                return Job.fetch(job_id, connection=get_redis()), registry
            except NoSuchJobError:
                registry.remove(job_id)  # its data expired; drop the dangling entry
                return None
    return None


def retry(job_id: str) -> bool:
    """Put a failed job back on its queue; ``False`` when no failed job has that id."""
    found = _failed(job_id)
    if found is None:
        return False
    job, _registry_of_job = found
    try:
        job.requeue()
    except InvalidJobOperation:  # retried meanwhile by someone else
        return False
    logger.info("failed job %s (%s) requeued", job.id, job.func_name)
    return True


def retry_all() -> int:
    """Requeue every failed job of every queue; returns how many went back."""
    count = 0
    for queue in QUEUES:
        for job_id in _registry(queue).get_job_ids():
            count += retry(job_id)
    return count


def delete(job_id: str) -> bool:
    """Remove a failed job and its data; ``False`` when no failed job has that id."""
    found = _failed(job_id)
    if found is None:
        return False
    job, registry = found
    registry.remove(job, delete_job=True)
    logger.info("failed job %s (%s) deleted", job_id, job.func_name)
    return True
