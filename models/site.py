"""Site-wide switches an admin flips at run time (not configuration: they survive restarts and
change without a deploy), one row per key."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, UTCDateTime, utcnow


class SiteSetting(Model):
    """One switch, stored as text; ``services.site_settings`` knows each key's meaning."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None]  # the admin's user id; not a foreign key, so deleting them keeps the row
