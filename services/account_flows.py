"""Accounts by e-mail: forgotten passwords, public signup with a confirmed address, and changing
one's address. The mails themselves are sent by ``jobs.accounts`` (``services.account_mail``).

A "forgot password" request only normalises the address and enqueues one job, whatever the
address: the job looks the account up. The page therefore answers the same, on the same code
path, for an address with an account and one without, and never says which it was.
"""
from __future__ import annotations

import logging

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from extensions import db
from models import NotificationChannel, User
from services import accounts
from services.accounts import AccountError
from services.audit import record_security_event
from services.queue import enqueue
from services.sessions import revoke_user_sessions

logger = logging.getLogger(__name__)

RESET_JOB = "jobs.accounts.mail_password_reset"
VERIFY_JOB = "jobs.accounts.mail_verification"
EMAIL_CHANGE_JOB = "jobs.accounts.mail_email_change"
EMAIL_CHANGED_JOB = "jobs.accounts.mail_email_changed"
SIGNUP_ALERT_JOB = "jobs.accounts.alert_admins_of_signup"


class WrongPassword(AccountError):
    """The password that should prove it is the account's owner is not right."""


def signup_enabled() -> bool:
    return bool(current_app.config["SIGNUP_ENABLED"])


def user_by_email(address: str) -> User | None:
    """The account with exactly this address (case-insensitive), active or not."""
    return db.session.scalar(select(User).where(func.lower(User.email) == address.strip().lower()))


def clean_address(address: str) -> str | None:
    """The normalised address, or None when it is not one (the caller still answers the same)."""
    try:
        return accounts.normalise_email(address)
    except AccountError:
        return None


# --- forgotten passwords --------------------------------------------------------------------------

def request_password_reset(address: str) -> None:
    """Queue a reset mail for ``address``; the job sends it only if an active account has it."""
    cleaned = clean_address(address)
    enqueue(RESET_JOB, cleaned or "")


def reset_password(user: User, new_password: str) -> int:
    """Set the new password and end every session of the account; returns how many ended.
    Following a mailed link also proves the address, so an unconfirmed account is confirmed."""
    accounts.set_password(user, new_password, commit=False)
    user.failed_login_count = 0
    user.locked_until = None
    user.awaiting_verification = False
    db.session.commit()
    ended = revoke_user_sessions(user.id, "password_reset")
    record_security_event("password_changed", user_id=user.id, details={"via": "reset_link", "sessions_ended": ended})
    return ended


# --- public signup --------------------------------------------------------------------------------

def sign_up(email: str, username: str, password: str) -> User:
    """A member account that cannot log in until its address is confirmed; the confirmation
    mail is queued. ``AccountError`` for a taken or invalid name, address or password."""
    user = accounts.create_user(email, username, password, commit=False)
    user.awaiting_verification = True
    db.session.commit()
    record_security_event("signup", user_id=user.id)
    enqueue(VERIFY_JOB, user.email)
    logger.info("user %s signed up; confirmation mail queued", user.id)
    return user


def resend_verification(address: str) -> None:
    """Queue the confirmation mail again; the job sends it only to an account still waiting."""
    cleaned = clean_address(address)
    enqueue(VERIFY_JOB, cleaned or "")


def confirm_account(user: User) -> bool:
    """Mark the address confirmed; False when it already was. Admins hear of the new member."""
    if not user.awaiting_verification:
        return False
    user.awaiting_verification = False
    db.session.commit()
    record_security_event("email_verified", user_id=user.id)
    enqueue(SIGNUP_ALERT_JOB, user.id)
    return True


# --- changing the address -------------------------------------------------------------------------

def request_email_change(user: User, new_email: str, password: str) -> str:
    """Check the password and the new address, then mail a confirmation link to that address.
    Nothing changes until the link is followed. Returns the normalised new address."""
    if not accounts.verify_password(user, password):
        raise WrongPassword(_("Your current password is not correct."))
    new_email = accounts.normalise_email(new_email)
    if new_email == user.email.lower():
        raise AccountError(_("That is already your address."))
    if user_by_email(new_email) is not None:
        raise AccountError(_("Another account uses that address."))
    enqueue(EMAIL_CHANGE_JOB, user.id, new_email)
    record_security_event("email_change_requested", user_id=user.id)
    return new_email


def apply_email_change(user: User, new_email: str) -> None:
    """Switch to the confirmed address (the account's e-mail channel follows it) and queue a
    notice to the old address, so a stolen session cannot move an account away unnoticed."""
    other = user_by_email(new_email)
    if other is not None and other.id != user.id:
        raise AccountError(_("Another account uses that address."))
    old_email = user.email
    user.email = new_email
    db.session.execute(update(NotificationChannel).where(
        NotificationChannel.user_id == user.id, NotificationChannel.kind == "email",
        func.lower(NotificationChannel.target) == old_email.lower()).values(target=new_email))
    db.session.commit()
    record_security_event("email_changed", user_id=user.id)
    enqueue(EMAIL_CHANGED_JOB, user.id, old_email)
