"""The change-free fast path: an ordinary poll that saw exactly what the previous one saw.

Most polls of a store change nothing. The full diff (``services.polling.changes``) still loads
every product and link as ORM objects and walks them, to end up writing only ``last_seen_at``.
Like changedetection.io's checksums, each successful poll stores a fingerprint of what it saw
(``Monitor.content_hash``: every parsed field of every product, plus the monitor's alert
rules). When the next poll has the same fingerprint, the fast path:

1. reads the monitor's links, their products and each product's latest price point time as
   plain rows, in one statement (no ORM objects);
2. runs the very same planning functions as the full diff (``services.polling.plan``) on
   those rows;
3. if that plan has no event, no new link, no price point and no value that differs from the
   stored one, writes ``last_seen_at`` of the seen links and products in bulk and is done.

Anything else (a counter that would move, a product another monitor updated meanwhile, the
daily price point, a link deleted since) falls back to the full diff, so the fast path can only
ever skip work whose outcome is known to be "nothing changes": it is exactly as correct.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, fields
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, bindparam, func, select

from extensions import db
from models import Monitor, MonitorProduct, PricePoint, Product
from services.dhgate.types import ParsedProduct, PollOutcome
from services.polling.plan import Plan, as_utc, plan_missing, plan_price_points, plan_seen
from services.polling.snapshot import Snapshot
from services.polling.sql import touch_last_seen

FINGERPRINT_VERSION = "1"  # bump when the fingerprint's contents change: old hashes then never match
# Every field of a parsed product, so a field added later is covered without a change here.
_PARSED_FIELDS = tuple(item.name for item in fields(ParsedProduct))
# Columns no planning function reads or compares (``last_seen_at`` is what the fast path writes;
# a product's URL and first sighting are set once, when its row is created). Reading fewer
# columns matters here: converting dates and decimals is most of the cost of the read.
_UNPLANNED_LINK_COLUMNS = frozenset({"monitor_id", "first_seen_at", "last_seen_at"})
_UNPLANNED_PRODUCT_COLUMNS = frozenset({"url", "first_seen_at", "last_seen_at", "first_price_min"})


def content_fingerprint(monitor: Monitor, snapshot: Snapshot, missing_threshold: int) -> str:
    """sha256 over everything a poll's outcome depends on besides the stored state: every field
    of every parsed product (sorted by item code), the snapshot's coverage and the monitor's
    alert rules."""
    rules = (monitor.kind, monitor.dhgate_id, str(monitor.price_drop_pct), str(monitor.price_rise_pct),
             str(monitor.target_price), bool(monitor.stock_alerts), missing_threshold)
    digest = hashlib.sha256()
    digest.update(repr((FINGERPRINT_VERSION, snapshot.kind, snapshot.outcome.value, snapshot.complete,
                        snapshot.gone, rules)).encode())
    for product in sorted(snapshot.products, key=lambda item: item.item_code):
        digest.update(b"\n")
        digest.update(repr(tuple(getattr(product, name) for name in _PARSED_FIELDS)).encode())
    return digest.hexdigest()


def try_fast_path(
    monitor: Monitor, snapshot: Snapshot, fingerprint: str, *, now: datetime, missing_threshold: int,
) -> Plan | None:
    """Record an unchanged poll cheaply and return its (empty) plan; ``None`` when the full diff
    must run instead (nothing has been written then)."""
    if (monitor.content_hash != fingerprint or monitor.baseline_at is None or snapshot.gone
            or snapshot.outcome is not PollOutcome.OK or not snapshot.products):
        return None
    plan = _plan_from_rows(monitor, snapshot, now=now, missing_threshold=missing_threshold)
    if plan is None:
        return None
    touch_last_seen(Product, sorted(plan.product_updates), now)
    touch_last_seen(MonitorProduct, sorted(plan.link_updates), now)
    return plan


def _plan_from_rows(monitor: Monitor, snapshot: Snapshot, *, now: datetime, missing_threshold: int) -> Plan | None:
    """The full diff's plan computed on plain rows; ``None`` unless it changes nothing but
    ``last_seen_at``."""
    links, products, latest_points = _monitor_rows(monitor.id)
    if any(row.missing_polls and row.gone_at is None for row in links.values()):
        return None  # a product is on its way to "missing": the counters must move
    if any(item.item_code not in products for item in snapshot.products):
        return None  # a product new to the monitor (or a link removed since): full diff
    plan = Plan(monitor.id, baseline=False)
    seen_ids: set[int] = set()
    for parsed in snapshot.products:
        product = products[parsed.item_code]
        seen_ids.add(product.id)
        plan_seen(plan, monitor, product, parsed, links.get(product.id), [], now)  # type: ignore[arg-type]
    if plan.events or plan.new_links:
        return None
    plan_price_points(plan, snapshot.products, products, now, latest=latest_points)  # type: ignore[arg-type]
    if plan.price_points:
        return None  # a price point is due (the daily one, or a price another monitor changed)
    if snapshot.complete:
        plan_missing(plan, monitor, links, seen_ids, now, missing_threshold)  # type: ignore[arg-type]
        if plan.events or any("last_seen_at" not in values for values in plan.link_updates.values()):
            return None
    by_id = {row.id: row for row in products.values()}
    link_rows = {row.id: row for row in links.values()}
    if not (_all_unchanged(plan.link_updates, link_rows) and _all_unchanged(plan.product_updates, by_id)):
        return None
    return plan


@dataclass(frozen=True)
class _RowsQuery:
    statement: Select[Any]
    link_names: tuple[str, ...]
    product_names: tuple[str, ...]


@functools.cache
def _rows_query() -> _RowsQuery:
    """The fast path's one read, built once per process (every unchanged poll runs it)."""
    link_table, product_table, point_table = MonitorProduct.__table__, Product.__table__, PricePoint.__table__
    link_columns = [column for column in link_table.c if column.name not in _UNPLANNED_LINK_COLUMNS]
    product_columns = [column for column in product_table.c if column.name not in _UNPLANNED_PRODUCT_COLUMNS]
    latest_point = (select(func.max(point_table.c.recorded_at))
                    .where(point_table.c.product_id == product_table.c.id)
                    .scalar_subquery().label("latest_point"))
    statement = (
        select(*(column.label(f"l_{column.name}") for column in link_columns),
               *(column.label(f"p_{column.name}") for column in product_columns), latest_point)
        .join_from(link_table, product_table, link_table.c.product_id == product_table.c.id)
        .where(link_table.c.monitor_id == bindparam("monitor_id"))
    )
    return _RowsQuery(statement, tuple(c.name for c in link_columns), tuple(c.name for c in product_columns))


def _monitor_rows(monitor_id: int) -> tuple[dict[int, SimpleNamespace], dict[str, SimpleNamespace], dict[int, datetime]]:
    """The monitor's links (by product id), their products (by item code) and each product's
    latest price point time, read in ONE statement as plain rows (no ORM objects)."""
    query = _rows_query()
    links: dict[int, SimpleNamespace] = {}
    products: dict[str, SimpleNamespace] = {}
    latest: dict[int, datetime] = {}
    split = len(query.link_names)
    for row in db.session.execute(query.statement, {"monitor_id": monitor_id}):
        link = SimpleNamespace(**dict(zip(query.link_names, row[:split], strict=True)))
        product = SimpleNamespace(**dict(zip(query.product_names, row[split:-1], strict=True)))
        links[link.product_id] = link
        products[product.item_code] = product
        if row[-1] is not None:
            latest[product.id] = as_utc(row[-1])
    return links, products, latest


def _all_unchanged(updates: dict[int, dict[str, Any]], rows: dict[int, Any]) -> bool:
    """Whether every planned value besides ``last_seen_at`` equals the stored one (the full
    diff's ``_set_changed`` would then write nothing)."""
    for row_id, values in updates.items():
        row = rows.get(row_id)
        if row is None:
            return False
        for name, value in values.items():
            if name != "last_seen_at" and getattr(row, name) != value:
                return False
    return True

