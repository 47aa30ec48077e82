"""Checking a login attempt: password, lockout after repeated failures, and the audit trail.

The rules, in one place so the login form and any future login path share them:

- The answer never tells whether an account exists: unknown names and wrong passwords give the
  same result, cost the same hashing work, and are locked out the same way (unknown names are
  counted in Redis, real accounts in ``users.failed_login_count`` / ``locked_until``).
- After ``LOGIN_MAX_FAILURES`` consecutive failures the name is locked for ``LOCKOUT_MINUTES``.
  The count is only reset by a successful login, so after a lock expires each further failure
  locks again at once: guessing slows to one try per lock period.
- Every outcome is written to the security log with its reason.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from flask import current_app
from sqlalchemy import update

from extensions import db, get_redis
from models import User
from services.accounts import (
    burn_password_check,
    find_user,
    hash_is_current,
    hash_password,
    normalise_login,
    verify_password,
)
from services.audit import record_security_event

Reason = Literal["ok", "unknown_user", "wrong_password", "locked", "inactive", "empty"]


@dataclass(frozen=True)
class LoginResult:
    """What happened to one attempt. ``retry_after`` (seconds) is set when the name is locked."""

    reason: Reason
    user: User | None = None
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.reason == "ok"

    @property
    def locked(self) -> bool:
        return self.reason == "locked"


def attempt_login(login: str, password: str) -> LoginResult:
    """Check ``login``/``password``; on failure count it and maybe lock. Starting the session is
    the caller's job (it owns the request and the cookie)."""
    key = normalise_login(login)
    if not key or not password:
        burn_password_check(password or "")
        return LoginResult("empty")
    user = find_user(key)
    if user is None:
        return _attempt_unknown(key, password)
    return _attempt_known(user, password)


def _attempt_known(user: User, password: str) -> LoginResult:
    now = datetime.now(UTC)
    if user.locked_until is not None and user.locked_until > now:
        retry_after = _seconds_until(user.locked_until, now)
        record_security_event("failed_login", user_id=user.id, details={"reason": "locked"})
        return LoginResult("locked", user=None, retry_after=retry_after)
    if not verify_password(user, password):
        return _count_failure(user, now)
    if not user.is_active:
        record_security_event("failed_login", user_id=user.id, details={"reason": "inactive"})
        return LoginResult("inactive")
    _reset_failures(user)
    if not hash_is_current(user):
        user.password_hash = hash_password(password)
        db.session.commit()
    return LoginResult("ok", user=user)


def _count_failure(user: User, now: datetime) -> LoginResult:
    """Add one failure atomically (two parallel guesses both count) and lock at the threshold."""
    db.session.execute(
        update(User).where(User.id == user.id).values(failed_login_count=User.failed_login_count + 1)
    )
    db.session.commit()
    db.session.refresh(user)
    record_security_event(
        "failed_login", user_id=user.id, details={"reason": "wrong_password", "failures": user.failed_login_count}
    )
    if user.failed_login_count < current_app.config["LOGIN_MAX_FAILURES"]:
        return LoginResult("wrong_password")
    minutes = current_app.config["LOCKOUT_MINUTES"]
    user.locked_until = now + timedelta(minutes=minutes)
    db.session.commit()
    record_security_event(
        "lockout", user_id=user.id, details={"failures": user.failed_login_count, "minutes": minutes}
    )
    return LoginResult("locked", retry_after=minutes * 60)


def _reset_failures(user: User) -> None:
    if user.failed_login_count or user.locked_until is not None:
        user.failed_login_count = 0
        user.locked_until = None
        db.session.commit()


# --- names that belong to nobody -------------------------------------------------------------------

def _redis_keys(login: str) -> tuple[str, str]:
    prefix = current_app.config["REDIS_KEY_PREFIX"]
    digest = hashlib.sha256(login.encode()).hexdigest()[:32]
    return f"{prefix}login:fail:{digest}", f"{prefix}login:lock:{digest}"


def _attempt_unknown(login: str, password: str) -> LoginResult:
    """Same work, same answers and same lockout as for a real account, kept in Redis."""
    fail_key, lock_key = _redis_keys(login)
    redis = get_redis()
    details = {"reason": "unknown_user", "login": login[:254]}
    lock_ttl = redis.ttl(lock_key)
    if lock_ttl and lock_ttl > 0:
        record_security_event("failed_login", details={**details, "reason": "locked"})
        return LoginResult("locked", retry_after=int(lock_ttl))
    burn_password_check(password)
    failures = int(redis.incr(fail_key))
    redis.expire(fail_key, 86_400)  # a day without tries forgets the name
    record_security_event("failed_login", details={**details, "failures": failures})
    if failures < current_app.config["LOGIN_MAX_FAILURES"]:
        return LoginResult("unknown_user")
    minutes = current_app.config["LOCKOUT_MINUTES"]
    redis.set(lock_key, b"1", ex=minutes * 60)
    record_security_event("lockout", details={"login": login[:254], "failures": failures, "minutes": minutes})
    return LoginResult("locked", retry_after=minutes * 60)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def unlock(user: User) -> None:
    """Lift a lock early (admin action): the count starts again from zero."""
    user.failed_login_count = 0
    user.locked_until = None
    db.session.commit()
