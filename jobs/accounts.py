"""Account e-mail jobs: thin wrappers over ``services.account_mail``.

They take an address or an id and decide themselves whether there is anything to send, so the
page that enqueued them never reveals whether an account exists. A mail server that refuses
raises ``SendError``; RQ retries twice and the failed-jobs page shows the last error.
"""
from __future__ import annotations

import logging

from extensions import db
from models import User
from services.account_flows import user_by_email
from services.account_mail import send_account_mail
from services.notifications.admin_alerts import alert_new_member
from services.queue import job

logger = logging.getLogger(__name__)


@job("high", timeout=120, retries=2, retry_intervals=(30, 300))
def mail_password_reset(address: str) -> bool:
    """A reset link to ``address`` when an active account has it; False (nothing sent) otherwise."""
    user = user_by_email(address) if address else None
    if user is None or not user.is_active:
        logger.info("password reset asked for an address without an active account")
        return False
    send_account_mail(user, user.email, "reset")
    return True


@job("high", timeout=120, retries=2, retry_intervals=(30, 300))
def mail_verification(address: str) -> bool:
    """The confirmation link, to an account that is still waiting for it."""
    user = user_by_email(address) if address else None
    if user is None or not user.is_active or not user.awaiting_verification:
        return False
    send_account_mail(user, user.email, "verify")
    return True


@job("high", timeout=120, retries=2, retry_intervals=(30, 300))
def mail_email_change(user_id: int, new_email: str) -> bool:
    """The link that confirms ``new_email``, sent to that address."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        return False
    send_account_mail(user, new_email, "email_change", new_email)
    return True


@job("high", timeout=120, retries=2, retry_intervals=(30, 300))
def mail_email_changed(user_id: int, old_email: str) -> bool:
    """The notice to the address an account used before."""
    user = db.session.get(User, user_id)
    if user is None:
        return False
    send_account_mail(user, old_email, "email_changed", user.email)
    return True


@job("default", timeout=120)
def alert_admins_of_signup(user_id: int) -> int:
    """Tell admins, through their channels, that someone joined; returns the alerts written."""
    user = db.session.get(User, user_id)
    return alert_new_member(user) if user is not None else 0
