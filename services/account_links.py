"""Signed links mailed to people: reset a password, confirm a new account, confirm a new address.

Each purpose has its own salt, so a token made for one can never be used for another. Nothing is
stored: what makes a link single-use is a fingerprint of state the link changes.

- **password reset** (``PASSWORD_RESET_LINK_MINUTES``, one hour): bound to the password hash;
  setting the password changes the hash, so the link works once, and an older link dies too.
- **account confirmation** (``VERIFY_LINK_HOURS``): names the account and its address; once the
  account is confirmed the link has nothing left to do.
- **address change** (``VERIFY_LINK_HOURS``): names the account, the new address and a
  fingerprint of the current one; after the change the current address differs, so it is spent.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from extensions import db
from models import User

RESET_SALT = "dhm.password-reset"
VERIFY_SALT = "dhm.verify-account"
EMAIL_CHANGE_SALT = "dhm.change-email"


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


def _load(salt: str, token: str, max_age_seconds: int) -> dict[str, Any] | None:
    try:
        data = _serializer(salt).loads(token, max_age=max_age_seconds)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    return data


def _active_user(user_id: int) -> User | None:
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_active else None


def _reset_age() -> int:
    return int(current_app.config["PASSWORD_RESET_LINK_MINUTES"]) * 60


def _verify_age() -> int:
    return int(current_app.config["VERIFY_LINK_HOURS"]) * 3600


# --- password reset --------------------------------------------------------------------------------

def make_reset_token(user: User) -> str:
    return str(_serializer(RESET_SALT).dumps({"u": user.id, "h": _fingerprint(user.password_hash)}))


def user_for_reset_token(token: str) -> User | None:
    """The account a reset link was made for; None when forged, expired, used or deactivated."""
    data = _load(RESET_SALT, token, _reset_age())
    user = _active_user(data["u"]) if data else None
    if user is None or not isinstance(data, dict) or not isinstance(data.get("h"), str):
        return None
    return user if hmac.compare_digest(_fingerprint(user.password_hash), data["h"]) else None


# --- confirming a new account ---------------------------------------------------------------------

def make_verify_token(user: User) -> str:
    return str(_serializer(VERIFY_SALT).dumps({"u": user.id, "e": _fingerprint(user.email)}))


def user_for_verify_token(token: str) -> User | None:
    """The account a confirmation link names (confirmed already or not); None when the link is
    forged, expired, or its address is no longer the account's."""
    data = _load(VERIFY_SALT, token, _verify_age())
    user = _active_user(data["u"]) if data else None
    if user is None or not isinstance(data, dict) or not isinstance(data.get("e"), str):
        return None
    return user if hmac.compare_digest(_fingerprint(user.email), data["e"]) else None


# --- changing the address -------------------------------------------------------------------------

def make_email_change_token(user: User, new_email: str) -> str:
    return str(_serializer(EMAIL_CHANGE_SALT).dumps({"u": user.id, "n": new_email, "o": _fingerprint(user.email)}))


def email_change_for_token(token: str) -> tuple[User, str] | None:
    """(account, new address) of a change link; None when forged, expired or already used."""
    data = _load(EMAIL_CHANGE_SALT, token, _verify_age())
    user = _active_user(data["u"]) if data else None
    if user is None or not isinstance(data, dict):
        return None
    new_email, old = data.get("n"), data.get("o")
    if not isinstance(new_email, str) or not isinstance(old, str):
        return None
    return (user, new_email) if hmac.compare_digest(_fingerprint(user.email), old) else None
