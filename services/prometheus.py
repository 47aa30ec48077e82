"""``/metrics`` in Prometheus' text format, read from the stores at scrape time.

A custom collector on its own registry (never the process-global one, which would mix in one
gunicorn worker's view): request and query counters/histograms from the running totals in
``request_metrics`` (grain ``total``: exact, flushed, monotonic), queue lengths and job outcomes
from RQ's registries, worker/scheduler liveness from heartbeats, and the latest health-check
results. Each source that is down is skipped, and ``dhm_scrape_source_up`` says which.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Flask
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select

from extensions import db
from models.metrics import RequestMetric
from services import histograms
from services.health import latest_results
from services.queue import queue_counts
from services.scheduler import scheduler_status
from services.worker_heartbeat import list_workers

logger = logging.getLogger(__name__)


class PlatformCollector(Collector):
    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        sources = GaugeMetricFamily("dhm_scrape_source_up", "Whether a data source could be read for this scrape.", labels=["source"])
        with self.app.app_context():
            for name, produce in (
                ("request_metrics", self._requests),
                ("queues", self._queues),
                ("heartbeats", self._liveness),
                ("health_checks", self._health),
            ):
                try:
                    yield from list(produce())
                    sources.add_metric([name], 1)
                except Exception:  # noqa: BLE001 - one source down must not blank the scrape
                    logger.warning("metrics source %s unavailable", name, exc_info=True)
                    db.session.rollback()
                    sources.add_metric([name], 0)
            db.session.remove()
        yield sources

    def _requests(self) -> Iterator[Metric]:
        rows = db.session.execute(
            select(RequestMetric.kind, RequestMetric.endpoint, RequestMetric.status_class, RequestMetric.count,
                   RequestMetric.sum_ms, RequestMetric.histogram)
            .where(RequestMetric.grain == "total")
            .order_by(RequestMetric.kind, RequestMetric.endpoint, RequestMetric.status_class)
        ).all()
        requests = CounterMetricFamily("dhm_http_requests", "HTTP requests by URL rule and status class.", labels=["endpoint", "status"])
        latency = HistogramMetricFamily("dhm_http_request_duration_seconds", "HTTP request duration.", labels=["endpoint", "status"])
        queries = CounterMetricFamily("dhm_db_queries", "Database queries by operation.", labels=["operation"])
        query_time = HistogramMetricFamily("dhm_db_query_duration_seconds", "Database query duration.", labels=["operation"])
        for kind, endpoint, status_class, count, sum_ms, histogram in rows:
            buckets = histograms.cumulative(histograms.from_json(histogram))
            if kind == "http":
                requests.add_metric([endpoint, status_class], count)
                latency.add_metric([endpoint, status_class], buckets=buckets, sum_value=(sum_ms or 0.0) / 1000.0)
            elif kind == "db":
                queries.add_metric([endpoint], count)
                query_time.add_metric([endpoint], buckets=buckets, sum_value=(sum_ms or 0.0) / 1000.0)
        yield from (requests, latency, queries, query_time)

    def _queues(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("dhm_queue_jobs", "RQ jobs per queue and state (failed/finished: still retained).", labels=["queue", "state"])
        for queue, states in queue_counts().items():
            for state, value in states.items():
                jobs.add_metric([queue, state], value)
        yield jobs

    def _liveness(self) -> Iterator[Metric]:
        workers = GaugeMetricFamily("dhm_workers_alive", "Workers with a fresh heartbeat.")
        workers.add_metric([], sum(1 for w in list_workers() if w.alive))
        status = scheduler_status()
        scheduler = GaugeMetricFamily("dhm_scheduler_active", "1 when a scheduler holds the lock and renews it.")
        scheduler.add_metric([], 1 if status.running else 0)
        standbys = GaugeMetricFamily("dhm_scheduler_standbys", "Scheduler copies waiting as standby.")
        standbys.add_metric([], len(status.standbys))
        yield from (workers, scheduler, standbys)

    def _health(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("dhm_health_check_up", "Latest result of each health check (1 ok, 0 failing).", labels=["check", "critical"])
        latency = GaugeMetricFamily("dhm_health_check_response_seconds", "Duration of each check's latest run.", labels=["check"])
        for check in latest_results():
            up.add_metric([check.name, "true" if check.critical else "false"], 1 if check.status == "ok" else 0)
            if check.response_ms is not None:
                latency.add_metric([check.name], check.response_ms / 1000.0)
        yield from (up, latency)


def render(app: Flask) -> bytes:
    """One scrape: a fresh registry with our collector, rendered to the exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(app))
    return generate_latest(registry)
