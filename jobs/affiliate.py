"""Affiliate jobs: clicks out of Redis into the database, and the daily rollup.

Both are safe to run twice at once: the flush is exactly-once by the unique click reference,
the rollup recomputes days from the raw tables (and takes a lock on PostgreSQL).
"""
from __future__ import annotations

from dataclasses import asdict

from services.affiliate_clicks import flush_clicks
from services.affiliate_rollup import rollup_recent
from services.queue import job


@job("high", timeout=120)
def flush_affiliate_clicks() -> dict[str, int]:
    """Move the clicks counted by ``/go/<token>`` from Redis into ``affiliate_clicks``."""
    return asdict(flush_clicks())


@job("maintenance", timeout=600, retries=2, retry_intervals=(60, 300))
def rollup_affiliate() -> dict[str, int]:
    """Recompute ``affiliate_performance`` for today, yesterday and days whose orders changed.

    Flushes buffered clicks first, so the figures include clicks up to this run.
    """
    flushed = flush_clicks()
    report = rollup_recent()
    return {"flushed_clicks": flushed.clicks, **asdict(report)}
