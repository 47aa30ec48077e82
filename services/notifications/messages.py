"""The words and markup each channel sends for one notification, in the member's language.

E-mail gets an HTML part and a plain-text part built with the standard library's
``email.mime`` classes (no hand-written MIME), a subject that says what happened, a stable
``Message-ID`` per delivery (a re-sent copy after a crash carries the same id, so mail clients
can fold it), and the RFC 8058 one-click unsubscribe headers. DHgate titles are untrusted text:
the HTML template escapes them (Jinja autoescape) and the plain part is never interpreted.
Apprise gets the subject as its title and the plain text as its body.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from flask import current_app
from flask_babel import force_locale

from models import Delivery, Notification, NotificationChannel, User
from services.notifications.alerts import AlertRows, alert_items, locale_of
from services.notifications.channels import channel_name, unsubscribe_url

logger = logging.getLogger(__name__)

# Headers are folded only past SMTP's own limit: a folded List-Unsubscribe reads as " <url>".
MAIL_POLICY = compat32.clone(max_line_length=998)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    unsubscribe_url: str


def render(notification: Notification, channel: NotificationChannel, user: User,
           rows: AlertRows | None = None) -> RenderedMessage:
    """Subject, plain text and HTML of ``notification`` for ``channel``, in ``user``'s language
    (``rows``: its events, products and monitors when a batch loaded them already)."""
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    unsubscribe = unsubscribe_url(channel)
    with force_locale(locale_of(user)):
        context: dict[str, Any] = {
            "notification": notification, "items": alert_items(notification, link_source(channel), rows), "base_url": base,
            "link": base + notification.link if notification.link and notification.link.startswith("/") else None,
            "unsubscribe_url": unsubscribe, "channels_url": f"{base}/notifications/channels",
            "channel_name": channel_name(channel), "user": user,
        }
        env = current_app.jinja_env
        text = env.get_template("email/alert.txt").render(context)
        html = env.get_template("email/alert.html").render(context)
    return RenderedMessage(subject=notification.title, text=text, html=html, unsubscribe_url=unsubscribe)


def link_source(channel: NotificationChannel) -> str:
    """What a product link in this channel's messages counts as: ``email``, else ``chat``."""
    return "email" if channel.kind == "email" else "chat"


def build_email(delivery: Delivery, message: RenderedMessage, sender: str) -> Message:
    """The e-mail of one delivery: both parts, and headers a mail client can act on.

    Built with the standard library's ``email.mime`` classes: a tenth of the cost of
    ``EmailMessage``'s header objects, which matters when a digest run sends thousands."""
    email = MIMEMultipart("alternative", policy=MAIL_POLICY)
    email["Subject"] = Header(message.subject, "utf-8").encode()  # encoded words: titles are not ASCII
    email["From"] = formataddr(parseaddr(sender), charset="utf-8")
    email["To"] = delivery.target
    email["Date"] = formatdate(localtime=False)
    domain = sender.rsplit("@", 1)[-1].strip(" >") or "localhost"
    email["Message-ID"] = f"<delivery-{delivery.id}@{domain}>"  # the same for every try of this delivery
    email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email["Auto-Submitted"] = "auto-generated"
    email.attach(MIMEText(message.text, "plain", "utf-8", policy=MAIL_POLICY))
    email.attach(MIMEText(message.html, "html", "utf-8", policy=MAIL_POLICY))
    return email
