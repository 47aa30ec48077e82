"""Figures for a member's dashboard, each one counted from the database (scoped to the member)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from extensions import db
from models import Monitor, MonitorProduct, ProductEvent
from services.inbox import unread_count


@dataclass
class MemberStats:
    monitors: int
    active_monitors: int
    failing_monitors: int
    products: int
    events_7d: int
    unread: int
    recent_events: list[ProductEvent] = field(default_factory=list)


def member_stats(user_id: int) -> MemberStats:
    week_ago = datetime.now(UTC) - timedelta(days=7)
    mine = select(Monitor.id).where(Monitor.user_id == user_id)
    counts = db.session.execute(
        select(
            func.count(Monitor.id),
            func.count(Monitor.id).filter(Monitor.active.is_(True)),
            func.count(Monitor.id).filter(Monitor.consecutive_failures > 0),
        ).where(Monitor.user_id == user_id)
    ).one()
    products = db.session.scalar(
        select(func.count(func.distinct(MonitorProduct.product_id))).where(MonitorProduct.monitor_id.in_(mine))
    )
    events_7d = db.session.scalar(
        select(func.count(ProductEvent.id)).where(
            ProductEvent.monitor_id.in_(mine), ProductEvent.created_at >= week_ago
        )
    )
    recent = list(
        db.session.scalars(
            select(ProductEvent).where(ProductEvent.monitor_id.in_(mine)).order_by(ProductEvent.created_at.desc()).limit(10)
        )
    )
    return MemberStats(
        monitors=counts[0], active_monitors=counts[1], failing_monitors=counts[2],
        products=products or 0, events_7d=events_7d or 0, unread=unread_count(user_id), recent_events=recent,
    )
