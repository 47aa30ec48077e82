"""The model base class, and column types and defaults shared by every model (the declarative
base with its naming convention lives in extensions)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, DateTime, Integer, TypeDecorator
from sqlalchemy.engine import Dialect

from extensions import Base, db

if TYPE_CHECKING:
    # A type checker cannot take an attribute (``db.Model``) as a base class. Flask-SQLAlchemy
    # builds ``db.Model`` from ``Base``'s body (same metadata and registry) plus its query
    # property, so to the checker the model base is ``Base``.
    Model = Base
else:
    Model = db.Model


def utcnow() -> datetime:
    """The current time, timezone-aware UTC. Used as a *callable* column default."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones and hands back naive values, which
    we mark as UTC on the way out. Naive values going in are rejected: they are a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Tables that grow with time (history, metrics, clicks) get 64-bit keys on PostgreSQL; SQLite's
# INTEGER PRIMARY KEY is already 64-bit and must stay "INTEGER" to autoincrement.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
