"""The platform's own periodic jobs: metrics, health, snapshots and retention.

Plain functions run by the worker inside its app context; each is safe to run twice at once
(flush and prune are exactly-once by construction, health transitions notify once per incident,
a second snapshot in the same slot is merely one more data point).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import current_app

from services.health import overall_ok, run_and_record
from services.health_rollup import rollup_recent_health
from services.metrics_flush import flush_metrics as flush
from services.notifications.admin_alerts import watch_platform
from services.platform import take_snapshot
from services.queue import job
from services.retention import prune as run_prune
from services.traffic_rollup import rollup_recent


@job("high", timeout=120)
def flush_metrics() -> dict[str, int]:
    """Move the per-minute request-metric buffers from Redis into ``request_metrics``."""
    return asdict(flush())


@job("high", timeout=60)
def run_health_checks() -> dict[str, Any]:
    """Run every health check, store the results and tell admins about transitions, the DHgate
    circuit opening or closing, and failed jobs piling up."""
    results = run_and_record()
    alerts = watch_platform()
    return {"ok": overall_ok(results), "checks": {r.name: r.status for r in results}, "admin_alerts": alerts}


@job("maintenance", timeout=120)
def snapshot_platform_metrics() -> int:
    """Write one ``platform_metrics`` row; returns its id."""
    return take_snapshot().id


@job("maintenance", timeout=1800, retries=2, retry_intervals=(60, 300))
def prune() -> dict[str, int]:
    """Roll minute metrics up into hours and delete history past its retention."""
    return asdict(run_prune())


@job("maintenance", timeout=300)
def rollup_hours() -> dict[str, int]:
    """Recompute the last hours of ``traffic_hours`` and ``health_hours`` (the admin charts and
    uptime figures); returns the rows written of each."""
    config = current_app.config
    return {
        "traffic_hours": rollup_recent(keep_days=int(config["METRICS_HOUR_RETENTION_DAYS"])),
        "health_hours": rollup_recent_health(keep_days=int(config["HEALTH_CHECK_RETENTION_DAYS"])),
    }
