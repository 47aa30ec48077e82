"""Server-side login sessions: the ``admin_sessions`` rows behind every logged-in browser.

Flask-Login keeps ``User.get_id()`` in the signed session cookie. Our ``get_id`` is a random
session token whose SHA-256 lives in ``admin_sessions``; ``load_session_user`` checks the row on
every request (from the database, or from this process's memory of it while the auth epoch in
Redis says nothing changed: ``services.session_cache``), so a revoked, expired or deactivated
session stops working at the next request, and a stolen database does not contain usable tokens. The cookie side (logging a browser in and
out) is the request layer's: ``web.login``.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm.attributes import set_committed_value
from ua_parser import parse as parse_user_agent

from extensions import db
from models import AdminSession, User
from services import session_cache
from services.audit import Client


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Built once: composing the statement costs about as much as running it on a small table.
_LIVE_SESSION_WITH_USER = (
    select(AdminSession)
    .join(AdminSession.user)
    .options(contains_eager(AdminSession.user))
    .where(
        AdminSession.token == bindparam("token"),
        AdminSession.revoked_at.is_(None),
        AdminSession.expires_at > bindparam("now", type_=AdminSession.expires_at.type),
        User.is_active.is_(True),
    )
)


def load_user_from_token(token: str) -> User | None:
    """Flask-Login's loader: the user of a live session, or None (which logs the browser out)."""
    return load_session_user(token)[0]


def load_session_user(token: str, extra_keys: Sequence[str] = ()) -> tuple[User | None, list[Any]]:
    """The user of a live session (or None), and the Redis values of ``extra_keys`` read in the
    same round trip as the auth epoch (``services.session_cache``).

    Every logged-in request pays for this. While the epoch is unchanged this process answers
    from its memory of the session: one Redis round trip, no statement. Otherwise, or without
    Redis, it is one statement: the session row joined to its user, with "revoked, expired or
    deactivated" decided by the database. Either way a revocation, deactivation or expiry in any
    process is seen by the very next request."""
    now = datetime.now(UTC)
    token_hash = hash_token(token)
    epoch, extra = session_cache.read_epoch(extra_keys)
    remembered = session_cache.recall(token_hash, epoch)
    row = None
    if remembered is not None and remembered.session["expires_at"] > now:
        row = session_cache.restore(remembered)
    if row is None:
        row = db.session.scalar(_LIVE_SESSION_WITH_USER, {"token": token_hash, "now": now})
        if row is None:
            return None, extra
        session_cache.remember(token_hash, epoch, row)
        remembered = None
    if _touch(row, now) and remembered is not None:
        session_cache.note_seen(token_hash, remembered, now)
    user = row.user
    user.current_session = row
    user.current_token = token
    return user, extra


def _touch(row: AdminSession, now: datetime) -> bool:
    """Record activity, at most once per SESSION_TOUCH_SECONDS, without a write per request;
    True when it wrote.

    The write goes through a connection of its own: committing the request's session would
    expire the user just loaded and cost a second SELECT on its first use."""
    interval = timedelta(seconds=current_app.config["SESSION_TOUCH_SECONDS"])
    if now - row.last_seen_at < interval:
        return False
    with db.engine.begin() as connection:
        connection.execute(update(AdminSession).where(AdminSession.id == row.id).values(last_seen_at=now))
    set_committed_value(row, "last_seen_at", now)
    return True


def open_session(user: User, client: Client, *, remember: bool = False) -> tuple[AdminSession, str]:
    """Create a session row for ``user`` and record the login time; returns the row and the
    token (only its hash is stored) that the browser's cookie will carry."""
    now = datetime.now(UTC)
    lifetime = (
        timedelta(days=current_app.config["REMEMBER_DAYS"])
        if remember
        else timedelta(hours=current_app.config["SESSION_HOURS"])
    )
    token = secrets.token_urlsafe(32)
    row = AdminSession(
        token=hash_token(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        remember=remember,
        ip_address=client.ip,
        user_agent=client.user_agent,
    )
    db.session.add(row)
    user.last_login_at = now
    db.session.commit()
    user.current_session = row
    user.current_token = token
    return row, token


def revoke_session(row: AdminSession, reason: str) -> bool:
    """Revoke one session; True when it was still live (so callers log only real revocations)."""
    result = cast("CursorResult[Any]", db.session.execute(
        update(AdminSession)
        .where(AdminSession.id == row.id, AdminSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
    ))
    db.session.commit()
    return bool(result.rowcount)


def revoke_user_sessions(user_id: int, reason: str, *, except_session_id: int | None = None) -> int:
    """Revoke every live session of a user (optionally keeping one); returns how many ended."""
    query = update(AdminSession).where(AdminSession.user_id == user_id, AdminSession.revoked_at.is_(None))
    if except_session_id is not None:
        query = query.where(AdminSession.id != except_session_id)
    result = cast("CursorResult[Any]", db.session.execute(query.values(revoked_at=datetime.now(UTC), revoked_reason=reason)))
    db.session.commit()
    return int(result.rowcount or 0)


def live_sessions(user_id: int) -> list[AdminSession]:
    """A user's sessions that still work, newest activity first."""
    now = datetime.now(UTC)
    return list(
        db.session.scalars(
            select(AdminSession)
            .where(AdminSession.user_id == user_id, AdminSession.revoked_at.is_(None), AdminSession.expires_at > now)
            .order_by(AdminSession.last_seen_at.desc(), AdminSession.id.desc())
        )
    )


def find_live_session(session_id: int, *, user_id: int) -> AdminSession | None:
    """One live session *of this user*: the owner check is part of the query, so nobody can
    reach another person's session by guessing ids."""
    now = datetime.now(UTC)
    return db.session.scalar(
        select(AdminSession).where(
            AdminSession.id == session_id,
            AdminSession.user_id == user_id,
            AdminSession.revoked_at.is_(None),
            AdminSession.expires_at > now,
        )
    )


@dataclass(frozen=True)
class Device:
    """A browser and operating system read from a user agent, for people recognising a session."""

    browser: str | None
    os: str | None


@lru_cache(maxsize=256)
def describe_user_agent(user_agent: str | None) -> Device:
    """``Device('Firefox 121', 'Windows')``; unknown parts are None (the page says "unknown")."""
    if not user_agent:
        return Device(None, None)
    result = parse_user_agent(user_agent)
    browser = None
    if result.user_agent is not None and result.user_agent.family != "Other":
        browser = " ".join(p for p in (result.user_agent.family, result.user_agent.major) if p)
    os_name = None
    if result.os is not None and result.os.family != "Other":
        os_name = result.os.family
    return Device(browser, os_name)
