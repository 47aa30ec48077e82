"""The daily rollup: ``affiliate_performance`` (per member and UTC day) from clicks and orders.

A day's rows are always *recomputed* from the raw tables, never incremented: deleting the range
and inserting the aggregates again in one transaction makes any rerun, overlap or late click
harmless (idempotent), and a range can be rebuilt after a correction (``flask affiliate
rollup``). Clicks count on the day they were made; an order counts on the day it was placed, for
the member whose click it came from, unless the network rejected it. Orders matched to no click
belong to no member and are left out.
"""
from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Select, cast, delete, func, insert, literal, select, text, union_all
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.elements import ColumnElement

from extensions import db
from models import AffiliateClick, AffiliateConversion, AffiliatePerformance

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
CHUNK_DAYS = 92  # one transaction per quarter: on PostgreSQL each chunk may scan the clicks once
WORK_MEM = "64MB"  # PostgreSQL, for the rollup's transaction only
RECENT_DAYS = 2  # the scheduled run rebuilds today and yesterday (clicks flushed after midnight)
_LOCK_KEY = zlib.crc32(b"affiliate_rollup")  # PostgreSQL advisory lock: one rollup at a time



@dataclass
class RollupReport:
    days: int = 0
    rows: int = 0  # affiliate_performance rows written


def utc_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_chunks(start: date, end: date, size: int = CHUNK_DAYS) -> Iterator[tuple[date, date]]:
    """``[start, end]`` (inclusive) cut into consecutive inclusive pieces of at most ``size`` days."""
    current = start
    while current <= end:
        last = min(end, current + timedelta(days=size - 1))
        yield current, last
        current = last + timedelta(days=1)


def rollup(start: date, end: date, *, progress: Callable[[int], None] | None = None) -> RollupReport:
    """Recompute ``affiliate_performance`` for every day from ``start`` to ``end`` (inclusive).

    ``progress`` is called with the number of days finished after each chunk.
    """
    if end < start:
        raise ValueError("the end of the range is before its start")
    report = RollupReport()
    for first, last in day_chunks(start, end):
        report.rows += _rollup_chunk(first, last)
        days = (last - first).days + 1
        report.days += days
        if progress is not None:
            progress(days)
    return report


def rollup_recent(now: datetime | None = None) -> RollupReport:
    """What the scheduled job does: today and yesterday, plus every day whose orders changed
    in the last day (an order placed last week and confirmed today moves last week's figures)."""
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    days = {today - timedelta(days=n) for n in range(RECENT_DAYS)}
    changed = db.session.scalars(
        select(AffiliateConversion.ordered_at)
        .where(AffiliateConversion.updated_at >= now - timedelta(days=1))
        .order_by(AffiliateConversion.ordered_at)
    )
    days.update(moment.astimezone(UTC).date() for moment in changed)
    db.session.rollback()
    report = RollupReport()
    for first, last in day_runs(sorted(days)):
        part = rollup(first, last)
        report.days += part.days
        report.rows += part.rows
    return report


def day_runs(days: list[date]) -> Iterator[tuple[date, date]]:
    """Sorted days grouped into ranges of consecutive days (one rollup call per range)."""
    if not days:
        return
    first = last = days[0]
    for day in days[1:]:
        if day == last + timedelta(days=1):
            last = day
            continue
        yield first, last
        first = last = day
    yield first, last


def _rollup_chunk(first: date, last: date) -> int:
    """Delete the chunk's rows and write them again with one INSERT ... SELECT: the figures
    never travel through Python, so the rollup costs about what the aggregate itself costs."""
    session = db.session
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            # One big aggregate per chunk: room to hash every (member, day) group in memory
            # instead of spilling to disk, and no JIT compile (it costs more than it saves here).
            session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
            session.execute(text("SET LOCAL jit = off"))
        session.execute(
            delete(AffiliatePerformance).where(AffiliatePerformance.date >= first, AffiliatePerformance.date <= last)
        )
        totals = aggregate_query(first, last)
        result = session.execute(insert(AffiliatePerformance.__table__).from_select(
            ["user_id", "date", "clicks", "conversions", "revenue", "commission"], totals,
        ))
        written = result.rowcount if isinstance(result, CursorResult) else -1
        if written < 0:  # the driver did not say (psycopg on INSERT ... SELECT): count the chunk's rows
            written = session.scalar(select(func.count()).select_from(AffiliatePerformance).where(
                AffiliatePerformance.date >= first, AffiliatePerformance.date <= last)) or 0
        session.commit()
    except BaseException:
        session.rollback()
        raise
    logger.info("affiliate rollup %s..%s: %d rows", first, last, written)
    return int(written or 0)


def aggregate_query(first: date, last: date) -> Select[Any]:
    """One SELECT of the per (member, day) figures for ``[first, last]``: the period's clicks
    grouped by member and day, UNION ALL its non-rejected orders joined to their click, grouped
    again. Money is summed by the database and rounded to cents there."""
    since, until = utc_day_start(first), utc_day_start(last + timedelta(days=1))
    click_day = _day_of(AffiliateClick.clicked_at)
    zero = literal(0)
    clicks = (
        select(AffiliateClick.user_id.label("user_id"), click_day.label("day"), func.count().label("clicks"),
               zero.label("conversions"), zero.label("revenue"), zero.label("commission"))
        .where(AffiliateClick.clicked_at >= since, AffiliateClick.clicked_at < until,
               AffiliateClick.user_id.is_not(None))
        .group_by(AffiliateClick.user_id, click_day)
    )
    order_day = _day_of(AffiliateConversion.ordered_at)
    orders = (
        select(AffiliateClick.user_id, order_day, zero, func.count(),
               func.sum(AffiliateConversion.order_value), func.sum(AffiliateConversion.commission))
        .join(AffiliateClick, AffiliateClick.id == AffiliateConversion.click_id)
        .where(AffiliateConversion.ordered_at >= since, AffiliateConversion.ordered_at < until,
               AffiliateConversion.status != "rejected", AffiliateClick.user_id.is_not(None))
        .group_by(AffiliateClick.user_id, order_day)
    )
    both = union_all(clicks, orders).subquery("figures")
    return (
        select(both.c.user_id, both.c.day, func.sum(both.c.clicks), func.sum(both.c.conversions),
               func.round(func.sum(both.c.revenue), 2), func.round(func.sum(both.c.commission), 2))
        .group_by(both.c.user_id, both.c.day)
    )


def _day_of(column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, computed by the database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite stores naive UTC text: its first ten characters
