"""The platform's own health: snapshots, request-metric rollups and health-check results."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import BigIntPK, Model, UTCDateTime, utcnow

GRAINS = ("minute", "hour", "total")
# Rows of grain "total" hold running totals since the start (bucket_start = TOTALS_BUCKET); they
# are never pruned, so /metrics can serve Prometheus counters that only ever go up.
TOTALS_BUCKET = datetime(1970, 1, 1, tzinfo=UTC)


class PlatformMetric(Model):
    """The seed's 5-minute snapshot of the platform, as shown on the admin dashboard."""

    __tablename__ = "platform_metrics"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    uptime_percent: Mapped[float | None]
    response_time_ms: Mapped[float | None]
    error_rate: Mapped[float | None]
    total_users: Mapped[int | None]
    cpu_usage: Mapped[float | None]
    memory_usage: Mapped[float | None]
    disk_usage: Mapped[float | None]


class RequestMetric(Model):
    """Aggregated timings per time bucket x metric kind x endpoint x status class.

    ``histogram`` holds counts per fixed latency bucket, so buckets from many processes (and
    minute rows rolled up into hours) merge exactly and p95 can be recomputed after a merge.
    """

    __tablename__ = "request_metrics"
    __table_args__ = (
        UniqueConstraint("grain", "bucket_start", "kind", "endpoint", "status_class"),
        Index("ix_request_metrics_grain_bucket_start", "grain", "bucket_start"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    grain: Mapped[str] = mapped_column(String(8))  # minute / hour / total
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(8), default="http")  # http / db
    endpoint: Mapped[str] = mapped_column(String(200))  # URL rule or DB operation
    status_class: Mapped[str] = mapped_column(String(8))  # 2xx..5xx, or "-" for db
    count: Mapped[int] = mapped_column(default=0)
    sum_ms: Mapped[float] = mapped_column(default=0.0)
    min_ms: Mapped[float | None]
    max_ms: Mapped[float | None]
    p95_ms: Mapped[float | None]
    histogram: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class HealthCheck(Model):
    """One run of one named health check."""

    __tablename__ = "health_checks"
    __table_args__ = (
        Index("ix_health_checks_name_checked_at", "name", "checked_at"),
        Index("ix_health_checks_checked_at", "checked_at"),  # uptime windows and retention
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # ok / failing
    critical: Mapped[bool] = mapped_column(default=False)
    response_ms: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MetricFlush(Model):
    """One committed move of a Redis metric buffer into ``request_metrics``.

    Written in the same transaction as the rows it adds, so a flush that crashed after its commit
    (before deleting its Redis buffer) is recognised on restart and never counted twice; the
    primary key also stops two flushers from committing the same buffer.
    """

    __tablename__ = "metric_flushes"

    flush_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    samples: Mapped[int] = mapped_column(default=0)
    flushed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class TrafficHour(Model):
    """HTTP traffic of one hour, every endpoint but static files together: what the admin charts
    read, so a 30-day chart is 720 rows instead of every minute row of every endpoint.

    Recomputed from ``request_metrics`` (that hour's minute rows plus its hour row, which
    retention fills as it rolls minutes up) by ``services.traffic_rollup``: a recomputation
    replaces the row, so running it twice never counts anything twice.
    """

    __tablename__ = "traffic_hours"

    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    requests: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)  # 5xx
    min_ms: Mapped[float | None]
    max_ms: Mapped[float | None]
    histogram: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HealthHour(Model):
    """One hour of one health check's runs (``runs``, ``passed``), so uptime over 30 days reads
    720 rows per check instead of 43,200. ``name`` ``@critical`` counts the platform's runs: the
    runs in which every critical check passed. Recomputed (replaced) by
    ``services.health_rollup``; the hours not rolled up yet are read from ``health_checks``."""

    __tablename__ = "health_hours"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    runs: Mapped[int] = mapped_column(default=0)
    passed: Mapped[int] = mapped_column(default=0)
    counted_until: Mapped[datetime] = mapped_column(UTCDateTime())  # the hour's end, or the rollup's time
