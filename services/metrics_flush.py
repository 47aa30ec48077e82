"""Moving Redis metric buffers into ``request_metrics`` exactly once.

The protocol, each step safe to interrupt:

1. *Claim*: a Lua script RENAMEs ``metrics:buf:<minute>`` to ``metrics:proc:<flush id>`` and
   lists the flush id in ``metrics:processing``. RENAME is atomic: of two flushers only one gets
   a buffer, and samples pushed afterwards start a new buffer for the next flush.
2. *Commit*: in ONE database transaction, insert a ``metric_flushes`` row for the flush id (its
   primary key is the guard) and add the buffer into the minute row and the running-total row
   of every series (counts and histograms added, min/max widened, p95 recomputed).
3. *Release*: only after the commit, delete the processing key.

Every flush first finishes whatever is in ``metrics:processing``: a flush id already in
``metric_flushes`` committed before a crash and is only deleted; one that is not is committed
now. Two flushers finishing the same key race on the flush row: one commits, the other's insert
fails and it rolls back without having added anything.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from flask import current_app
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, scoped_session

from extensions import db, get_redis
from models.metrics import TOTALS_BUCKET, MetricFlush, RequestMetric
from services import histograms
from services.metrics import FIELD_SEPARATOR, buffer_key, buffers_index_key
from services.redis_buffers import FlushHooks, MinuteBuffers, claim_buffers, processing_ids

logger = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 6


def processing_key(prefix: str, flush_id: str) -> str:
    return f"{prefix}metrics:proc:{flush_id}"


def processing_index_key(prefix: str) -> str:
    return f"{prefix}metrics:processing"


SeriesId = tuple[str, str, str]  # kind, endpoint, status class


@dataclass
class BufferedSeries:
    """One series as read back from a Redis buffer."""

    count: int = 0
    sum_ms: float = 0.0
    min_ms: float | None = None
    max_ms: float | None = None
    buckets: list[int] = field(default_factory=lambda: [0] * histograms.BUCKET_COUNT)



@dataclass
class FlushReport:
    buffers: int = 0  # buffers committed by this flush
    samples: int = 0  # samples (requests and queries) they held
    already_committed: int = 0  # left over by a flush that crashed after its commit
    lost_race: int = 0  # committed by a concurrent flusher first


class _AlreadyFlushed(Exception):
    pass


def flush_metrics(*, hooks: FlushHooks | None = None) -> FlushReport:
    """Move every Redis metric buffer into ``request_metrics``; safe to run concurrently."""
    hooks = hooks or FlushHooks()
    connection = get_redis()
    prefix = current_app.config["REDIS_KEY_PREFIX"]
    _claim_buffers(connection, prefix)
    report = FlushReport()
    for flush_id in processing_ids(connection, processing_index_key(prefix)):
        _finish(connection, prefix, flush_id, hooks, report)
    return report


def _claim_buffers(connection: redis.Redis, prefix: str) -> int:
    return claim_buffers(connection, MinuteBuffers(
        buffer=lambda minute: buffer_key(prefix, minute),
        processing=lambda flush_id: processing_key(prefix, flush_id),
        index=buffers_index_key(prefix),
        processing_index=processing_index_key(prefix),
    ))

def _finish(connection: redis.Redis, prefix: str, flush_id: str, hooks: FlushHooks, report: FlushReport) -> None:
    """Commit one processing key (unless it already was), then delete it."""
    key = processing_key(prefix, flush_id)
    if db.session.get(MetricFlush, flush_id) is not None:
        db.session.rollback()
        report.already_committed += 1
        _release(connection, prefix, flush_id)
        return
    db.session.rollback()  # end the read transaction: the commit below starts a fresh one
    raw = connection.hgetall(key)
    if not raw:  # finished and deleted by another flusher meanwhile (or expired)
        connection.zrem(processing_index_key(prefix), flush_id)
        return
    series = parse_buffer(raw)
    minute = int(flush_id.split("-", 1)[0])
    samples = sum(s.count for s in series.values())
    try:
        _commit_with_retries(flush_id, minute, series, samples, hooks)
    except _AlreadyFlushed:
        report.lost_race += 1
        _release(connection, prefix, flush_id)
        return
    report.buffers += 1
    report.samples += samples
    if hooks.after_commit:
        hooks.after_commit(flush_id)
    _release(connection, prefix, flush_id)


def _release(connection: redis.Redis, prefix: str, flush_id: str) -> None:
    with connection.pipeline(transaction=True) as pipe:
        pipe.delete(processing_key(prefix, flush_id))
        pipe.zrem(processing_index_key(prefix), flush_id)
        pipe.execute()


def _commit_with_retries(
    flush_id: str, minute: int, series: Mapping[SeriesId, BufferedSeries], samples: int, hooks: FlushHooks
) -> None:
    """One transaction; retried when a concurrent flusher inserted the same new row first."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            _commit(flush_id, minute, series, samples, hooks)
            return
        except (IntegrityError, OperationalError):
            db.session.rollback()
            if attempt == COMMIT_ATTEMPTS:
                raise
            time.sleep(0.05 * attempt)
        except BaseException:
            db.session.rollback()
            raise


def _commit(
    flush_id: str, minute: int, series: Mapping[SeriesId, BufferedSeries], samples: int, hooks: FlushHooks
) -> None:
    session = db.session
    # The flush row goes first: it is the guard, and on SQLite it also takes the write lock, so
    # the reads below see every earlier commit and no one else commits until we do.
    session.add(MetricFlush(flush_id=flush_id, samples=samples, flushed_at=datetime.now(UTC)))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise _AlreadyFlushed(flush_id) from None
    bucket = datetime.fromtimestamp(minute, UTC)
    merge_into(session, "total", TOTALS_BUCKET, series)  # always first: one lock order for all
    merge_into(session, "minute", bucket, series)
    if hooks.before_commit:
        hooks.before_commit(flush_id)
    session.commit()


def merge_into(session: Session | scoped_session[Any], grain: str, bucket: datetime, series: Mapping[SeriesId, BufferedSeries]) -> None:
    """Add ``series`` into the rows of (grain, bucket), creating the missing ones.

    Existing rows are read ``FOR UPDATE`` in one fixed order (PostgreSQL locks them, SQLite's
    writer lock already serialises us); a concurrent insert of a new row surfaces as an
    ``IntegrityError`` at flush time, which the caller retries.
    """
    if not series:
        return
    ids = sorted(series)
    existing: dict[SeriesId, RequestMetric] = {}
    for chunk in _chunks(ids, 200):
        rows = session.scalars(
            select(RequestMetric)
            .where(
                RequestMetric.grain == grain,
                RequestMetric.bucket_start == bucket,
                tuple_(RequestMetric.kind, RequestMetric.endpoint, RequestMetric.status_class).in_(chunk),
            )
            .order_by(RequestMetric.kind, RequestMetric.endpoint, RequestMetric.status_class)
            .with_for_update()
        )
        existing.update({(r.kind, r.endpoint, r.status_class): r for r in rows})
    for series_id in ids:
        data = series[series_id]
        if data.count <= 0:
            continue
        row = existing.get(series_id)
        if row is None:
            row = RequestMetric(
                grain=grain, bucket_start=bucket, kind=series_id[0], endpoint=series_id[1],
                status_class=series_id[2], count=0, sum_ms=0.0, min_ms=None, max_ms=None, histogram={},
            )
            session.add(row)
        merged = histograms.merge(histograms.from_json(row.histogram), data.buckets)
        row.count = (row.count or 0) + data.count
        row.sum_ms = float(row.sum_ms or 0.0) + data.sum_ms
        row.min_ms = _min(row.min_ms, data.min_ms)
        row.max_ms = _max(row.max_ms, data.max_ms)
        row.histogram = histograms.to_json(merged)
        row.p95_ms = histograms.percentile(merged, 0.95, minimum=row.min_ms, maximum=row.max_ms)
    session.flush()


def parse_buffer(raw: Mapping[bytes | str, bytes | str]) -> dict[SeriesId, BufferedSeries]:
    """A Redis buffer hash back into series; a malformed field is logged and skipped, so one bad
    field can never block every later flush."""
    series: dict[SeriesId, BufferedSeries] = {}
    for raw_name, raw_value in raw.items():
        name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode() if isinstance(raw_value, bytes) else raw_value
        try:
            kind, rest = name.split(FIELD_SEPARATOR, 1)
            endpoint, status_class, stat = rest.rsplit(FIELD_SEPARATOR, 2)
            target = series.setdefault((kind, endpoint, status_class), BufferedSeries())
            _apply_stat(target, stat, value)
        except (ValueError, IndexError):
            logger.warning("skipping malformed metric buffer field %r", name[:200])
    return series


def _apply_stat(target: BufferedSeries, stat: str, value: str) -> None:
    if stat == "n":
        target.count += int(value)
    elif stat == "s":
        target.sum_ms += float(value)
    elif stat == "lo":
        target.min_ms = _min(target.min_ms, float(value))
    elif stat == "hi":
        target.max_ms = _max(target.max_ms, float(value))
    elif stat.startswith("b"):
        target.buckets[int(stat[1:])] += int(value)
    else:
        raise ValueError(stat)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _chunks(items: list[SeriesId], size: int) -> Iterable[list[SeriesId]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
