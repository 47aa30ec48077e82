"""The bulk statements a poll writes with, the same on SQLite and PostgreSQL.

Re-running a poll (after a crash, or two workers racing on one monitor) must not duplicate
products, links, events or notifications. Each of those has a unique key, and rows are written
with ``INSERT … ON CONFLICT DO NOTHING`` in the database's own dialect, so the second writer
simply finds the row already there instead of failing its whole transaction.

Updates go out as one ``executemany`` per set of columns (``update_rows``): a poll that changes
forty rows sends one statement per table, not forty. ``touch_last_seen`` remains for the full
diff, which the per-card path (``services.polling.cards``) is checked against.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, update
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


def insert_returning_rows(
    session: Session | scoped_session[Any],
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    returning: Sequence[str],
) -> list[dict[str, Any]]:
    """``insert_returning_ids`` returning the named columns of each row this call inserted.

    Every row must have the same columns (one ``executemany``)."""
    if not rows:
        return []
    table = model.__table__
    statement = (
        _dialect_insert(session)(table)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(*(table.c[name] for name in returning))
    )
    result = session.connection().execute(statement, [dict(row) for row in rows])
    return [dict(zip(returning, row, strict=True)) for row in result.all()]


def update_rows(session: Session | scoped_session[Any], table: Table, rows: dict[int, dict[str, Any]]) -> int:
    """``UPDATE table SET … WHERE id = …`` for many rows (id -> new values): one executemany per
    set of columns, rows in id order (two writers then lock shared rows in the same order).
    Returns the statements sent."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id in sorted(rows):
        values = rows[row_id]
        groups.setdefault(tuple(sorted(values)), []).append({"row_id": row_id, **values})
    for names, params in groups.items():
        statement = (update(table).where(table.c.id == bindparam("row_id"))
                     .values({name: bindparam(name) for name in names}))
        session.connection().execute(statement, params)
    return len(groups)


def write_links(session: Session | scoped_session[Any], rows: Sequence[dict[str, Any]], state: Sequence[str]) -> int:
    """Insert new ``monitor_products`` rows and update existing ones in ONE statement
    (``INSERT … ON CONFLICT (monitor_id, product_id) DO UPDATE``, one executemany): every row
    carries ``monitor_id``, ``product_id``, ``first_seen_at``, ``last_seen_at`` and the
    ``state`` columns. An existing row takes the ``state`` columns; it keeps its
    ``first_seen_at``, and takes the given ``last_seen_at`` only when this write stops it being
    ``present`` (the moment a poll no longer sees it). Rows go out in product id order (two
    writers then lock shared rows in the same order). Returns the statements sent."""
    if not rows:
        return 0
    session.connection().execute(_links_upsert(session, tuple(state)),
                                 sorted((dict(row) for row in rows), key=lambda row: row["product_id"]))
    return 1


def _links_upsert(session: Session | scoped_session[Any], state: tuple[str, ...]) -> Any:
    table = MonitorProduct.__table__
    statement = _dialect_insert(session)(table)
    excluded = statement.excluded
    unseen_now = and_(table.c.present.is_(True), excluded.present.is_(False))
    values: dict[str, Any] = {name: excluded[name] for name in state}
    values["last_seen_at"] = case((unseen_now, excluded.last_seen_at), else_=table.c.last_seen_at)
    return statement.on_conflict_do_update(index_elements=["monitor_id", "product_id"], set_=values)


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
