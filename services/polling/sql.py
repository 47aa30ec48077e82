"""The bulk statements a poll writes with, the same on SQLite and PostgreSQL.

Re-running a poll (after a crash, or two workers racing on one monitor) must not duplicate
products, links, events or notifications. Each of those has a unique key, and rows are written
with ``INSERT … ON CONFLICT DO NOTHING`` in the database's own dialect, so the second writer
simply finds the row already there instead of failing its whole transaction.

``touch_last_seen`` is the one write an unchanged poll makes; both the full diff and the fast
path use it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

from extensions import db
from models import MonitorProduct, Product
from models.base import Model

CHUNK = 400  # ids per IN (...) list, well below every database's parameter limit


def insert_if_absent(
    session: Session | scoped_session[Any],
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
) -> int:
    """Insert ``rows`` skipping any that collide on ``conflict_columns``; returns rows inserted."""
    return len(insert_returning_ids(session, model, rows, conflict_columns))


def insert_returning_ids(
    session: Session | scoped_session[Any],
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
) -> list[int]:
    """``insert_if_absent`` that returns the ids of the rows *this* call inserted.

    A re-run or a racing writer gets only the rows it added, which is how a poll tells the
    events it is the first to record (and so has to announce) from those already announced.
    """
    if not rows:
        return []
    # One statement with the rows as parameter sets ("executemany"): its SQL is compiled once
    # and cached, unlike a multi-row VALUES whose SQL differs with every row count.
    # It runs on the session's connection (same transaction), at the Core level.
    table = model.__table__
    statement = (
        _dialect_insert(session)(table)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(*table.primary_key.columns)  # rows skipped by the conflict return nothing
    )
    session.flush()
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:  # an executemany needs the same columns in every row
        groups.setdefault(tuple(sorted(row)), []).append(dict(row))
    inserted: list[int] = []
    for group in groups.values():
        inserted += [row[0] for row in session.connection().execute(statement, group).all()]
    return inserted


def _dialect_insert(session: Session | scoped_session[Any]) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"insert-if-absent is not implemented for {name}")  # pragma: no cover


def touch_last_seen(model: type[MonitorProduct] | type[Product], ids: list[int], now: datetime) -> None:
    """``last_seen_at = now`` for many rows in one statement per chunk."""
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        db.session.execute(
            update(model).where(model.id.in_(chunk)).values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
