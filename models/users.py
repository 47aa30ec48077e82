"""People, their server-side sessions and the security log."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import BigIntPK, Model, UTCDateTime, utcnow

ROLES = ("admin", "member")
TIERS = ("free", "pro", "business")
THEMES = ("system", "light", "dark")


class User(UserMixin, Model):
    """A member or admin. ``get_id`` is the *session token* of the current request, not the row id,
    so Flask-Login's cookie names a revocable server-side session (see services.sessions)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member")
    subscription_tier: Mapped[str] = mapped_column(String(32), default="free")
    api_quota: Mapped[int] = mapped_column(default=1000)
    is_active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    theme: Mapped[str] = mapped_column(String(8), default="system")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    failed_login_count: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set for temporary passwords an admin handed out: the first login asks for a new one.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Set for accounts made by public signup until the link mailed to the address is followed;
    # such an account cannot log in before that (services.account_flows).
    awaiting_verification: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    sessions: Mapped[list[AdminSession]] = relationship(back_populates="user", cascade="all, delete-orphan")

    # Set per request by the session loader; never persisted. Declared for the type checker
    # only: an annotation in the class body would ask the ORM to map them.
    if TYPE_CHECKING:
        current_session: AdminSession | None
        current_token: str | None
    current_session = None
    current_token = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str | None:  # Flask-Login stores this in the signed cookie
        return self.current_token

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username} {self.role}>"


class AdminSession(Model):
    """A server-side login session. Only a SHA-256 of the token is stored: a leaked database does
    not leak usable sessions. Every request checks its row, so revoking takes effect at once."""

    __tablename__ = "admin_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    remember: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="sessions")


class SecurityEvent(Model):
    """Append-only log of everything security-relevant (logins, lockouts, revocations, ...)."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_created_at_event", "created_at", "event"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship()

