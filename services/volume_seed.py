"""Thirty days of a busy platform, for measuring pages at real volume (``flask demo seed-volume``).

Writes, with bulk ``INSERT``s in batches (no ORM objects per row):

* minute-grain HTTP request metrics for ``endpoints`` URL rules over ``days`` days (one row per
  endpoint and minute; a deterministic few are 5xx), and the hourly ``traffic_hours`` rollup
  they add up to (computed with the rollup's own ``totals_by_hour``);
* a health-check run a minute over the same days (every check of ``services.health``, rarely
  failing) and the hourly ``health_hours`` rollup of them;
* one member owning ``monitors`` monitors with ``products`` products between them, their
  ``price_points`` price points, four polls a day per monitor (a few blocked or timing out)
  and ``notifications`` notifications.

Values come from a seeded random generator, so two runs with the same sizes write the same
data. Every step reports progress through a callback (the CLI draws a progress bar).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, insert, select

from extensions import db
from models import (
    HealthCheck,
    Monitor,
    MonitorProduct,
    Notification,
    PollRun,
    PricePoint,
    Product,
    RequestMetric,
    User,
)
from services import histograms
from services.accounts import create_user
from services.health import CHECKS
from services.health_rollup import rollup_health_range
from services.traffic_rollup import hour_of, store_hours, totals_by_hour

T = TypeVar("T")
BATCH = 5000
OWNER = "volume"
POLLS_PER_DAY = 4
Progress = Callable[[str, int, int], None]  # step, done, total


class VolumeAlreadySeeded(Exception):
    """The volume owner exists: seeding twice would double every figure."""


@dataclass(frozen=True)
class VolumeSizes:
    days: int = 30
    endpoints: int = 50
    monitors: int = 200
    products: int = 10_000
    price_points: int = 100_000
    notifications: int = 50_000


@dataclass
class VolumeReport:
    request_metrics: int = 0
    traffic_hours: int = 0
    monitors: int = 0
    products: int = 0
    price_points: int = 0
    poll_runs: int = 0
    notifications: int = 0
    health_checks: int = 0


def _insert(model: type[Any], rows: list[dict[str, Any]]) -> None:
    if rows:
        db.session.execute(insert(model), rows)


def _batches(rows: Iterator[T], size: int = BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_volume(sizes: VolumeSizes, password: str, progress: Progress, now: datetime | None = None) -> VolumeReport:
    """Write everything; ``VolumeAlreadySeeded`` when the owner already exists (nothing written)."""
    if db.session.scalar(select(func.count()).select_from(User).where(User.username == OWNER)):
        raise VolumeAlreadySeeded(OWNER)
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    rng = random.Random(20261126)
    report = VolumeReport()
    owner = create_user(f"{OWNER}@example.com", OWNER, password)  # first: a refused password writes nothing
    report.request_metrics, report.traffic_hours = _request_metrics(sizes, now, rng, progress)
    monitor_ids = _monitors(owner, sizes, now, progress)
    report.monitors = len(monitor_ids)
    product_ids = _products(monitor_ids, sizes, now, rng, progress)
    report.products = len(product_ids)
    report.price_points = _price_points(product_ids, sizes, now, rng, progress)
    report.poll_runs = _poll_runs(monitor_ids, sizes, now, rng, progress)
    report.notifications = _notifications(owner.id, sizes, now, progress)
    report.health_checks = _health_checks(sizes, now, rng, progress)
    return report


def _request_metrics(sizes: VolumeSizes, now: datetime, rng: random.Random, progress: Progress) -> tuple[int, int]:
    """One row per endpoint and minute from ``days`` days before this hour up to now, committed
    a day (24 whole hours) at a time together with those hours' rollup rows."""
    endpoints = [f"/volume/endpoint-{i:02d}/<int:item_id>" for i in range(sizes.endpoints)]
    start = hour_of(now) - timedelta(days=sizes.days)
    total_hours = sizes.days * 24 + 1  # the current hour too, up to now
    written = hours = 0
    for first_hour in range(0, total_hours, 24):
        rows: list[dict[str, Any]] = []
        for hour in range(first_hour, min(first_hour + 24, total_hours)):
            for minute in range(60):
                at = start + timedelta(hours=hour, minutes=minute)
                if at >= now:
                    break
                for index, endpoint in enumerate(endpoints):
                    rows.append(_metric_row(at, endpoint, index, hour * 60 + minute, rng))
        for batch in _batches(iter(rows)):
            _insert(RequestMetric, batch)
        hours += store_hours(totals_by_hour(
            (r["bucket_start"], r["status_class"], r["count"], r["min_ms"], r["max_ms"], r["histogram"]) for r in rows
        ))  # commits these hours
        written += len(rows)
        progress("request metrics", min(first_hour + 24, total_hours), total_hours)
    return written, hours


def _metric_row(at: datetime, endpoint: str, index: int, minute_number: int, rng: random.Random) -> dict[str, Any]:
    count = rng.randint(1, 12)
    failing = (minute_number + index) % 97 == 0
    fast = rng.choice((3.0, 8.0, 20.0, 40.0))
    samples = [fast * rng.uniform(0.5, 1.5) for _ in range(min(count, 3))]
    buckets = [0] * histograms.BUCKET_COUNT
    for n in range(count):
        buckets[histograms.bucket_index(samples[n % len(samples)])] += 1
    return {
        "grain": "minute", "bucket_start": at, "kind": "http", "endpoint": endpoint,
        "status_class": "5xx" if failing else "2xx", "count": count, "sum_ms": sum(samples) * count / len(samples),
        "min_ms": min(samples), "max_ms": max(samples), "p95_ms": max(samples), "histogram": histograms.to_json(buckets),
    }


def _monitors(owner: User, sizes: VolumeSizes, now: datetime, progress: Progress) -> list[int]:
    rows = [
        {"user_id": owner.id, "kind": "store", "dhgate_id": str(100000 + i), "url": f"/store/{100000 + i}",
         "name": f"Volume store {i:03d}", "poll_interval": 21600, "next_poll_at": now + timedelta(minutes=i % 360),
         "last_polled_at": now - timedelta(hours=1), "last_status": "ok", "active": True,
         "created_at": now - timedelta(days=sizes.days), "updated_at": now}
        for i in range(sizes.monitors)
    ]
    _insert(Monitor, rows)
    db.session.commit()
    progress("monitors", sizes.monitors, sizes.monitors)
    return list(db.session.scalars(select(Monitor.id).where(Monitor.user_id == owner.id).order_by(Monitor.id)))


def _products(monitor_ids: list[int], sizes: VolumeSizes, now: datetime, rng: random.Random, progress: Progress) -> list[int]:
    first = now - timedelta(days=sizes.days)
    done = 0
    for batch in _batches(iter(range(sizes.products))):
        products = []
        for i in batch:
            price = Decimal(rng.randint(199, 19999)) / 100
            products.append({
                "item_code": f"9{i:09d}", "title": f"Volume product {i}", "url": f"/product/volume/{9_000_000_000 + i}.html",
                "store_id": str(100000 + i % max(len(monitor_ids), 1)), "price_min": price, "price_max": price,
                "first_price_min": price, "currency": "USD", "status": "listed", "first_seen_at": first,
                "last_seen_at": now, "in_stock": True,
            })
        _insert(Product, products)
        db.session.flush()
        ids = list(db.session.scalars(select(Product.id).where(Product.item_code.in_([p["item_code"] for p in products]))))
        _insert(MonitorProduct, [
            {"monitor_id": monitor_ids[n % len(monitor_ids)], "product_id": product_id, "first_seen_at": first,
             "last_seen_at": now, "missing_polls": 0, "target_reached": False, "change_seq": 0}
            for n, product_id in enumerate(ids, start=done)
        ])
        db.session.commit()
        done += len(batch)
        progress("products", done, sizes.products)
    return list(db.session.scalars(select(Product.id).where(Product.item_code.like("9%")).order_by(Product.id)))


def _price_points(product_ids: list[int], sizes: VolumeSizes, now: datetime, rng: random.Random, progress: Progress) -> int:
    span = sizes.days * 86400

    def rows() -> Iterator[dict[str, Any]]:
        for n in range(sizes.price_points):
            price = Decimal(rng.randint(199, 19999)) / 100
            yield {"product_id": product_ids[n % len(product_ids)], "price_min": price, "price_max": price,
                   "currency": "USD", "in_stock": True, "recorded_at": now - timedelta(seconds=rng.randint(0, span))}

    done = 0
    for batch in _batches(rows()):
        _insert(PricePoint, batch)
        db.session.commit()
        done += len(batch)
        progress("price points", done, sizes.price_points)
    return done


def _poll_runs(monitor_ids: list[int], sizes: VolumeSizes, now: datetime, rng: random.Random, progress: Progress) -> int:
    step = timedelta(hours=24 / POLLS_PER_DAY)
    total = len(monitor_ids) * sizes.days * POLLS_PER_DAY

    def rows() -> Iterator[dict[str, Any]]:
        for slot in range(sizes.days * POLLS_PER_DAY):
            for monitor_id in monitor_ids:
                started = now - step * (slot + 1) + timedelta(seconds=monitor_id % 3600)
                outcome = rng.choices(("ok", "blocked", "timeout"), weights=(95, 3, 2))[0]
                yield {"monitor_id": monitor_id, "started_at": started, "finished_at": started + timedelta(seconds=2),
                       "outcome": outcome, "http_status": 200 if outcome == "ok" else (403 if outcome == "blocked" else None),
                       "pages": 1, "products_seen": 50, "products_new": 0, "products_changed": 0, "duration_ms": 2000}

    done = 0
    for batch in _batches(rows()):
        _insert(PollRun, batch)
        db.session.commit()
        done += len(batch)
        progress("polls", done, total)
    return done


def _notifications(owner_id: int, sizes: VolumeSizes, now: datetime, progress: Progress) -> int:
    span = sizes.days * 86400

    def rows() -> Iterator[dict[str, Any]]:
        for n in range(sizes.notifications):
            yield {"user_id": owner_id, "kind": "price_drop", "severity": "info", "title": f"Price drop {n}",
                   "body": "A watched product is cheaper.", "dedupe_key": f"volume:{n}",
                   "created_at": now - timedelta(seconds=span * n // max(sizes.notifications, 1))}

    done = 0
    for batch in _batches(rows()):
        _insert(Notification, batch)
        db.session.commit()
        done += len(batch)
        progress("notifications", done, sizes.notifications)
    return done


def _health_checks(sizes: VolumeSizes, now: datetime, rng: random.Random, progress: Progress) -> int:
    """A run a minute of every health check, committed a day at a time, then rolled up by hour."""
    start = now - timedelta(days=sizes.days)
    done = 0
    for day in range(sizes.days):
        rows = []
        for minute in range(1440):
            at = start + timedelta(days=day, minutes=minute)
            for check in CHECKS:
                failing = rng.random() < 0.002
                rows.append({"name": check.name, "status": "failing" if failing else "ok", "critical": check.critical,
                             "response_ms": round(rng.uniform(0.5, 5.0), 2), "checked_at": at,
                             "error": "volume: simulated failure" if failing else None})
        for batch in _batches(iter(rows)):
            _insert(HealthCheck, batch)
        db.session.commit()
        done += len(rows)
        progress("health checks", day + 1, sizes.days)
    rollup_health_range(start, now + timedelta(hours=1), now)
    return done
