"""E-mails about a person's account: reset a password, confirm a new account or address, and the
notice to an old address that it was replaced.

They are sent by a background job (``jobs.accounts``), never in the request: the page that asked
answers in the same time whether or not an account exists, and a slow mail server never holds a
form up. Each message has a plain-text and an HTML part in the person's language (standard
library ``EmailMessage``, no hand-written MIME) and carries no unsubscribe header: these are
answers to something the person did, not alerts.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from models import User
from services.account_links import make_email_change_token, make_reset_token, make_verify_token
from services.notifications.alerts import locale_of
from services.notifications.senders import MailSettings, send_email

logger = logging.getLogger(__name__)

# The pages the links open (blueprints/auth); a test follows each link from a received mail.
RESET_PATH = "/auth/reset/"
VERIFY_PATH = "/auth/verify/"
EMAIL_CHANGE_PATH = "/auth/email/confirm/"


@dataclass(frozen=True)
class AccountMail:
    """What one account e-mail says: subject, lines of text, and the one button it offers."""

    subject: str
    lines: tuple[str, ...]
    action_label: str | None = None
    action_url: str | None = None


def _base() -> str:
    return str(current_app.config["BASE_URL"]).rstrip("/")


def reset_mail(user: User) -> AccountMail:
    minutes = int(current_app.config["PASSWORD_RESET_LINK_MINUTES"])
    return AccountMail(
        subject=_("Reset your DHgate Monitor password"),
        lines=(_("Someone asked to reset the password of your account %(name)s.", name=user.username),
               _("The link works once, for %(n)s minutes. Using it logs out every session of the account.", n=minutes),
               _("If it was not you, ignore this message: your password stays as it is.")),
        action_label=_("Choose a new password"), action_url=_base() + RESET_PATH + make_reset_token(user))


def verify_mail(user: User) -> AccountMail:
    return AccountMail(
        subject=_("Confirm your DHgate Monitor account"),
        lines=(_("Welcome, %(name)s! Confirm that this address is yours to start using your account.", name=user.username),
               _("The link works for %(n)s hours.", n=int(current_app.config["VERIFY_LINK_HOURS"])),
               _("If you did not sign up, ignore this message.")),
        action_label=_("Confirm my address"), action_url=_base() + VERIFY_PATH + make_verify_token(user))


def email_change_mail(user: User, new_email: str) -> AccountMail:
    return AccountMail(
        subject=_("Confirm your new e-mail address"),
        lines=(_("The account %(name)s asked to use this address from now on.", name=user.username),
               _("The link works for %(n)s hours. Until you follow it, the old address stays in use.",
                 n=int(current_app.config["VERIFY_LINK_HOURS"])),
               _("If it was not you, ignore this message.")),
        action_label=_("Use this address"), action_url=_base() + EMAIL_CHANGE_PATH + make_email_change_token(user, new_email))


def email_changed_notice(user: User, new_email: str) -> AccountMail:
    return AccountMail(
        subject=_("Your DHgate Monitor e-mail address was changed"),
        lines=(_("The account %(name)s now uses the address %(email)s instead of this one.", name=user.username,
                 email=new_email),
               _("If you did not do this, reset your password and contact an administrator at once.")))


def build_message(mail: AccountMail, user: User, to: str, sender: str) -> EmailMessage:
    """Both parts and the headers of one account e-mail."""
    env = current_app.jinja_env
    context = {"mail": mail, "user": user, "base_url": _base()}
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip(" >") or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(env.get_template("email/account/message.txt").render(context))
    message.add_alternative(env.get_template("email/account/message.html").render(context), subtype="html")
    return message


def send_account_mail(user: User, to: str, make: str, *args: str) -> None:
    """Render mail ``make`` (``reset``, ``verify``, ``email_change``, ``email_changed``) in the
    person's language and hand it to the SMTP server (``SendError`` when it is not accepted)."""
    builders: dict[str, Callable[..., AccountMail]] = {"reset": reset_mail, "verify": verify_mail, "email_change": email_change_mail,
                "email_changed": email_changed_notice}
    settings = MailSettings.from_config(current_app.config)
    with force_locale(locale_of(user)):
        mail = builders[make](user, *args)
        message = build_message(mail, user, to, settings.sender)
    send_email(message, settings)
    logger.info("account mail %r sent for user %s", make, user.id)
