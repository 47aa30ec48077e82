"""Counting the SQL statements a piece of work sends: the exact counts tests pin down."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from extensions import db


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement sent on the app's engine inside the block, in order."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
