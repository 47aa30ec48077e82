"""Retention: history tables keep what dashboards need and stop growing.

* ``request_metrics`` minute rows older than ``METRICS_MINUTE_RETENTION_HOURS`` are rolled up
  into hour rows (counts and histograms added exactly, min/max widened, p95 recomputed) and
  deleted, in the same transaction; hour rows older than ``METRICS_HOUR_RETENTION_DAYS`` go.
  Running totals (grain ``total``) are never pruned.
* ``health_checks``, ``platform_metrics`` and ``security_events`` past their retention go.

Idempotent and safe to run twice at once: minute rows are removed with ``DELETE … RETURNING``
and only what a transaction itself deleted is added to the hour rows, so no minute is counted
twice however runs interleave.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import ColumnElement, CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute

from extensions import db
from models import SecurityEvent
from models.base import Model
from models.metrics import HealthCheck, MetricFlush, PlatformMetric, RequestMetric
from services import histograms
from services.metrics_flush import BufferedSeries, SeriesId, merge_into

ROLLUP_BATCH = 2000


@dataclass
class PruneReport:
    minute_rows_rolled_up: int = 0
    hour_rows_deleted: int = 0
    health_checks_deleted: int = 0
    platform_metrics_deleted: int = 0
    security_events_deleted: int = 0
    metric_flushes_deleted: int = 0


def prune(now: datetime | None = None) -> PruneReport:
    config = current_app.config
    now = now or datetime.now(UTC)
    report = PruneReport()
    report.minute_rows_rolled_up = roll_up_minutes(now - timedelta(hours=int(config["METRICS_MINUTE_RETENTION_HOURS"])))
    report.hour_rows_deleted = _delete_older(
        RequestMetric, RequestMetric.bucket_start, now - timedelta(days=int(config["METRICS_HOUR_RETENTION_DAYS"])),
        RequestMetric.grain == "hour",
    )
    report.health_checks_deleted = _delete_older(
        HealthCheck, HealthCheck.checked_at, now - timedelta(days=int(config["HEALTH_CHECK_RETENTION_DAYS"]))
    )
    report.platform_metrics_deleted = _delete_older(
        PlatformMetric, PlatformMetric.timestamp, now - timedelta(days=int(config["PLATFORM_METRICS_RETENTION_DAYS"]))
    )
    report.security_events_deleted = _delete_older(
        SecurityEvent, SecurityEvent.created_at, now - timedelta(days=int(config["SECURITY_EVENT_RETENTION_DAYS"]))
    )
    # A flush marker must outlive any Redis buffer it could guard (buffers expire after their TTL).
    marker_days = max(7, int(config["METRICS_BUFFER_TTL_SECONDS"]) // 86400 + 2)
    report.metric_flushes_deleted = _delete_older(MetricFlush, MetricFlush.flushed_at, now - timedelta(days=marker_days))
    return report


def roll_up_minutes(cutoff: datetime) -> int:
    """Move minute rows that started before ``cutoff`` into hour rows; returns rows moved."""
    moved = 0
    conflicts = 0
    while True:
        try:
            count = _roll_up_batch(cutoff)
        except IntegrityError:  # a concurrent prune created the same hour row first: redo the batch
            db.session.rollback()
            conflicts += 1
            if conflicts > 5:
                raise
            continue
        moved += count
        if count < ROLLUP_BATCH:
            return moved


def _roll_up_batch(cutoff: datetime) -> int:
    """One transaction: delete up to ROLLUP_BATCH minute rows and add exactly those into hours."""
    victims = (
        select(RequestMetric.id)
        .where(RequestMetric.grain == "minute", RequestMetric.bucket_start < cutoff)
        .order_by(RequestMetric.id)
        .limit(ROLLUP_BATCH)
    )
    deleted = db.session.execute(
        delete(RequestMetric)
        .where(RequestMetric.id.in_(victims))
        .returning(
            RequestMetric.bucket_start, RequestMetric.kind, RequestMetric.endpoint, RequestMetric.status_class,
            RequestMetric.count, RequestMetric.sum_ms, RequestMetric.min_ms, RequestMetric.max_ms,
            RequestMetric.histogram,
        )
    ).all()
    if not deleted:
        db.session.rollback()
        return 0
    by_hour: dict[datetime, dict[SeriesId, BufferedSeries]] = {}
    for bucket_start, kind, endpoint, status_class, count, sum_ms, min_ms, max_ms, histogram in deleted:
        hour = bucket_start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        series = by_hour.setdefault(hour, {}).setdefault((kind, endpoint, status_class), BufferedSeries())
        series.count += int(count or 0)
        series.sum_ms += float(sum_ms or 0.0)
        series.min_ms = min_ms if series.min_ms is None else (series.min_ms if min_ms is None else min(series.min_ms, min_ms))
        series.max_ms = max_ms if series.max_ms is None else (series.max_ms if max_ms is None else max(series.max_ms, max_ms))
        series.buckets = histograms.merge(series.buckets, histograms.from_json(histogram))
    for hour in sorted(by_hour):
        merge_into(db.session, "hour", hour, by_hour[hour])
    db.session.commit()
    return len(deleted)


def _delete_older(
    model: type[Model], column: QueryableAttribute[datetime], cutoff: datetime, *extra: ColumnElement[bool]
) -> int:
    result = cast("CursorResult[Any]", db.session.execute(delete(model).where(column < cutoff, *extra)))
    db.session.commit()
    return int(result.rowcount or 0)
