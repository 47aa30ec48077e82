"""One-time "set your password" links.

The token is signed with the app's secret (itsdangerous) and carries a fingerprint of the user's
password hash as it was when the link was made. Setting a password changes the hash, so the link
works exactly once without storing anything; it also stops working when the password is changed
some other way, and after ``SET_PASSWORD_LINK_HOURS`` (48 by default).
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from extensions import db
from models import User

_SALT = "dhm.set-password"


def link_lifetime() -> timedelta:
    return timedelta(hours=int(current_app.config["SET_PASSWORD_LINK_HOURS"]))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:24]


def make_set_password_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "h": _fingerprint(user)})


def user_for_set_password_token(token: str) -> User | None:
    """The user the token was made for, or None if it is forged, expired, used or the account is
    gone or deactivated."""
    try:
        data = _serializer().loads(token, max_age=int(link_lifetime().total_seconds()))
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("h"), str):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(_fingerprint(user), data["h"]):
        return None
    return user
