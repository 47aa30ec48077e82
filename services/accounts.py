"""Users and passwords: creating, finding, authenticating and changing them.

Routes, the CLI and tests all come through here, so the rules (unique names, password length,
hashing, who may be changed how) live in one place. Messages of ``AccountError`` are safe to show
to the person who caused them and are marked for translation.
"""
from __future__ import annotations

import re
import secrets
import string
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db
from models import User
from models.users import ROLES, THEMES, TIERS

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_PASSWORD_LENGTH = 1024
# Generated passwords: no look-alike characters, so a person can copy one from the screen.
_PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "Il1O0o")


class AccountError(ValueError):
    """A request about an account that cannot be done; the message is safe to show."""


# --- passwords -----------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    """A hash of a random secret, made with the configured method, computed once per method."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def burn_password_check(password: str) -> None:
    """Do the same hashing work as a real check, for logins that name nobody.

    Without it, "no such user" answers measurably faster than "wrong password", which tells an
    attacker which accounts exist.
    """
    check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)


def hash_is_current(user: User) -> bool:
    """False when the stored hash was made with other parameters than the configured ones (the
    next successful login then re-hashes it, so raising the cost reaches every active account)."""
    wanted = _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]).split("$", 1)[0]
    return user.password_hash.split("$", 1)[0] == wanted


def validate_password(password: str) -> None:
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise AccountError(_("Password must be at least %(n)s characters.", n=minimum))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(_("Password is too long (%(n)s characters at most).", n=MAX_PASSWORD_LENGTH))
    if not password.strip():
        raise AccountError(_("Password cannot be only spaces."))


def generate_password(length: int = 16) -> str:
    """A random password for first logins and bootstrap admins (about 93 bits at 16 characters)."""
    length = max(length, current_app.config["PASSWORD_MIN_LENGTH"])
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def set_password(user: User, password: str, *, must_change: bool = False, commit: bool = True) -> None:
    """Store a new password (checked against the rules). Ending sessions is the caller's choice."""
    validate_password(password)
    user.password_hash = hash_password(password)
    user.password_changed_at = datetime.now(UTC)
    user.must_change_password = must_change
    if commit:
        db.session.commit()


def change_password(user: User, current_password: str, new_password: str) -> None:
    """The person's own change: the current password proves it is them, not a borrowed session."""
    if not verify_password(user, current_password):
        raise AccountError(_("Your current password is not correct."))
    if current_password == new_password:
        raise AccountError(_("The new password must differ from the current one."))
    set_password(user, new_password)


# --- finding and creating ------------------------------------------------------------------------

def normalise_login(login: str) -> str:
    """The form logins are compared in: trimmed and lower-case (e-mail or username)."""
    return login.strip().lower()


def find_user(login: str) -> User | None:
    """By e-mail or username, case-insensitively."""
    login = normalise_login(login)
    if not login:
        return None
    return db.session.scalar(
        select(User).where(or_(func.lower(User.email) == login, func.lower(User.username) == login))
    )


def normalise_email(email: str) -> str:
    """A syntactically valid address, lower-cased; ``AccountError`` otherwise."""
    email = email.strip()
    if len(email) > 254:
        raise AccountError(_("That is not a valid e-mail address."))
    try:
        result = validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise AccountError(_("That is not a valid e-mail address.")) from None
    return result.normalized.lower()


def validate_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise AccountError(
            _("Username must be 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit.")
        )
    return username


def check_new_account(
    email: str, username: str, *, role: str = "member", subscription_tier: str = "free"
) -> tuple[str, str]:
    """Everything about a new account except its password, checked as ``create_user`` checks it:
    the normalised (e-mail, username), or ``AccountError``. The command line calls it before it
    asks for a password, so nobody types one twice only to learn the address was wrong."""
    email = normalise_email(email)
    username = validate_username(username)
    if role not in ROLES:
        raise AccountError(_("Role must be admin or member."))
    if subscription_tier not in TIERS:
        raise AccountError(_("Unknown subscription tier."))
    if find_user(email) or find_user(username):
        raise AccountError(_("A user with that e-mail or username already exists."))
    return email, username


def create_user(
    email: str,
    username: str,
    password: str,
    *,
    role: str = "member",
    subscription_tier: str = "free",
    must_change_password: bool = False,
    commit: bool = True,
) -> User:
    """Create an account after checking the rules; raises ``AccountError`` with a clear reason."""
    email, username = check_new_account(email, username, role=role, subscription_tier=subscription_tier)
    validate_password(password)
    user = User(
        email=email,
        username=username,
        password_hash=hash_password(password),
        role=role,
        subscription_tier=subscription_tier,
        must_change_password=must_change_password,
        password_changed_at=datetime.now(UTC),
    )
    db.session.add(user)
    if commit:
        db.session.commit()
    return user


# --- changing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccountChanges:
    """What an admin asked to change; ``None`` leaves a field as it is."""

    role: str | None = None
    subscription_tier: str | None = None
    api_quota: int | None = None
    is_active: bool | None = None


def _removes_an_active_admin(user: User, changes: AccountChanges) -> bool:
    """True when ``changes`` would take an active admin out of the running (demoted or
    deactivated)."""
    if user.role != "admin" or not user.is_active:
        return False
    return (changes.role is not None and changes.role != "admin") or changes.is_active is False


def _other_active_admins(user_id: int) -> int:
    """How many other active admins there are. Every active admin's row (the target's too) is
    locked on PostgreSQL until the change commits, so two admins demoting each other at once
    are serialised and the second one sees the first one's change."""
    ids = db.session.scalars(select(User.id).where(User.role == "admin", User.is_active.is_(True)).with_for_update())
    return sum(1 for admin_id in ids if admin_id != user_id)


def update_user(user: User, changes: AccountChanges, *, actor: User | None = None) -> dict[str, list[object]]:
    """Apply an admin's changes and return them as ``{field: [old, new]}`` for the audit log.

    An admin cannot demote or deactivate themselves, and nobody can demote or deactivate the
    last active admin: either is how a site loses its way back in.
    Ending a deactivated user's sessions is the caller's job (it knows the request).
    """
    if actor is not None and actor.id == user.id:
        if changes.role is not None and changes.role != "admin":
            raise AccountError(_("You cannot remove your own admin role."))
        if changes.is_active is False:
            raise AccountError(_("You cannot deactivate your own account."))
    if changes.role is not None and changes.role not in ROLES:
        raise AccountError(_("Role must be admin or member."))
    if _removes_an_active_admin(user, changes) and not _other_active_admins(user.id):
        raise AccountError(_("This is the last active admin: make someone else an admin first."))
    if changes.subscription_tier is not None and changes.subscription_tier not in TIERS:
        raise AccountError(_("Unknown subscription tier."))
    if changes.api_quota is not None and changes.api_quota < 0:
        raise AccountError(_("The API quota cannot be negative."))
    diff: dict[str, list[object]] = {}
    for name in ("role", "subscription_tier", "api_quota", "is_active"):
        new = getattr(changes, name)
        old = getattr(user, name)
        if new is not None and new != old:
            setattr(user, name, new)
            diff[name] = [old, new]
    if diff:
        db.session.commit()
    return diff


def update_preferences(
    user: User, *, locale: str | None = None, theme: str | None = None, timezone: str | None = None
) -> None:
    """The person's own look and language; values are checked by the caller's form."""
    if locale is not None:
        if locale not in current_app.config["LANGUAGES"]:
            raise AccountError(_("Unknown language."))
        user.locale = locale
    if theme is not None:
        if theme not in THEMES:
            raise AccountError(_("Unknown theme."))
        user.theme = theme
    if timezone is not None:
        if timezone not in available_timezones():
            raise AccountError(_("Unknown time zone."))
        user.timezone = timezone
    db.session.commit()


@lru_cache(maxsize=1)
def available_timezones() -> tuple[str, ...]:
    """IANA zone names people pick from, sorted, without the legacy aliases like ``Etc/GMT+3``."""
    names = zoneinfo.available_timezones()
    return (*sorted(n for n in names if "/" in n and not n.startswith(("Etc/", "SystemV/", "posix/", "right/"))), "UTC")


def has_active_admin() -> bool:
    admins = db.session.scalar(
        select(func.count()).select_from(User).where(User.role == "admin", User.is_active.is_(True))
    )
    return bool(admins)
