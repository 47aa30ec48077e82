"""The words and markup each channel sends for one notification, in the member's language.

E-mail gets an HTML part and a plain-text part built with the standard library's ``email``
package (``email.mime``, ``email.encoders``; no hand-written MIME), a subject that says what
happened, a stable ``Message-ID`` per delivery (a re-sent copy after a crash carries the same
id, so mail clients can fold it), and the RFC 8058 one-click unsubscribe headers. DHgate
titles are untrusted text: the HTML template escapes them (Jinja autoescape), the plain part is
never interpreted, and a subject that is not printable ASCII goes as encoded words.
Apprise gets the subject as its title and the plain text as its body.
"""
from __future__ import annotations

import logging
import random
import sys
from dataclasses import dataclass
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from types import SimpleNamespace
from typing import Any

from flask import current_app
from flask_babel import force_locale
from jinja2 import Template
from sqlalchemy import inspect as sa_inspect

from models import Delivery, Notification, NotificationChannel, User
from services.affiliate_links import path_maker
from services.notifications.alerts import AlertRows, alert_items, locale_of
from services.notifications.channels import channel_name, unsubscribe_url
from services.notifications.wording import Wording, wording_for

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
    return Renderer().render(notification, channel, user, rows)


class Renderer:
    """Renders the messages of one delivery run; what they share is worked out once.

    Once per run: the two templates and the signer of ``/go`` links; per language: its catalog
    and locale (``Wording``: no Flask-Babel lookup per string or price); per channel: its
    unsubscribe URL and name; per sender: the From header and the Message-ID domain. A message
    then costs only its own parts. The output is the same as rendering each message alone.

    ``draft`` reads what a message needs from its rows while they are loaded; ``Draft.render``
    renders it later (a delivery run renders the next message while the mail server takes the
    current one), from plain values: the rows' columns are copied, so the templates see the
    same ``notification`` and ``user`` fields as before and nothing reaches the database."""

    def __init__(self) -> None:
        env = current_app.jinja_env
        self.base = str(current_app.config["BASE_URL"]).rstrip("/")
        self._text = env.get_template("email/alert.txt")
        self._html = env.get_template("email/alert.html")
        self._text_globals, self._html_globals = dict(self._text.globals), dict(self._html.globals)
        self._link_path = path_maker()
        self._wordings: dict[str, Wording] = {}
        self._channels: dict[tuple[int, str, str], tuple[str, str]] = {}
        self._senders: dict[str, tuple[str, str]] = {}

    def render(self, notification: Notification, channel: NotificationChannel, user: User,
               rows: AlertRows | None = None) -> RenderedMessage:
        """``render`` with this run's shared parts."""
        return self.draft(notification, channel, user, rows).render()

    def draft(self, notification: Notification, channel: NotificationChannel, user: User,
              rows: AlertRows | None = None) -> Draft:
        """What the message of ``notification`` for ``channel`` needs, read from the rows now."""
        locale = locale_of(user)
        wording = self._wordings.get(locale) or self._wordings.setdefault(locale, wording_for(locale))
        unsubscribe, name = self._channel(channel)
        base = self.base
        context: dict[str, Any] = {
            "notification": _columns(notification), "base_url": base,
            "items": alert_items(notification, link_source(channel), rows, wording, self._link_path),
            "link": base + notification.link if notification.link and notification.link.startswith("/") else None,
            "unsubscribe_url": unsubscribe, "channels_url": f"{base}/notifications/channels",
            "channel_name": name, "user": _columns(user), **wording.jinja_callables(),
        }
        return Draft(self, locale, context, notification.title, unsubscribe)

    def render_draft(self, draft: Draft) -> RenderedMessage:
        """The message of ``draft`` (``Draft.render``)."""
        with force_locale(draft.locale):  # anything else a template may format follows the member too
            text = _render(self._text, self._text_globals, draft.context)
            html = _render(self._html, self._html_globals, draft.context)
        return RenderedMessage(subject=draft.subject, text=text, html=html, unsubscribe_url=draft.unsubscribe_url)

    def email(self, delivery_id: int, target: str, message: RenderedMessage, sender: str) -> Message:
        """``build_email`` with the From header and domain of ``sender`` worked out once."""
        if sender not in self._senders:
            self._senders[sender] = _sender_parts(sender)
        return _build(delivery_id, target, message, *self._senders[sender])

    def _channel(self, channel: NotificationChannel) -> tuple[str, str]:
        key = (channel.id, channel.kind, channel.target)
        if key not in self._channels:
            self._channels[key] = (unsubscribe_url(channel), channel_name(channel))
        return self._channels[key]


@dataclass(frozen=True)
class Draft:
    """A message read from its rows and not rendered yet (``Renderer.draft``)."""

    renderer: Renderer
    locale: str
    context: dict[str, Any]
    subject: str
    unsubscribe_url: str

    def render(self) -> RenderedMessage:
        return self.renderer.render_draft(self)


def _render(template: Template, globals_: dict[str, Any], context: dict[str, Any]) -> str:
    """``template.render(context)`` with the template's globals copied out once per run:
    ``render`` merges them from a ``ChainMap`` for every message, a third of the cost of an
    alert's template. The same context (globals, then the message's values) and output."""
    try:
        return "".join(template.root_render_func(template.new_context({**globals_, **context}, shared=True)))
    except Exception:  # noqa: BLE001 - re-raised by Jinja, with the template's lines in the traceback
        return template.environment.handle_exception()


def _columns(row: Any) -> SimpleNamespace:
    """A row's column values, readable after its session moved on (templates read columns)."""
    return SimpleNamespace(**{column.key: getattr(row, column.key) for column in sa_inspect(row).mapper.column_attrs})


def link_source(channel: NotificationChannel) -> str:
    """What a product link in this channel's messages counts as: ``email``, else ``chat``."""
    return "email" if channel.kind == "email" else "chat"


def build_email(delivery: Delivery, message: RenderedMessage, sender: str) -> Message:
    """The e-mail of one delivery: both parts, and headers a mail client can act on."""
    return _build(delivery.id, delivery.target, message, *_sender_parts(sender))


def _sender_parts(sender: str) -> tuple[str, str]:
    """The From header and the domain of the Message-ID."""
    return formataddr(parseaddr(sender), charset="utf-8"), sender.rsplit("@", 1)[-1].strip(" >") or "localhost"


def _build(delivery_id: int, target: str, message: RenderedMessage, from_header: str, domain: str) -> Message:
    """Built with the standard library's ``email.mime`` classes: a tenth of the cost of
    ``EmailMessage``'s header objects, which matters when a digest run sends thousands.

    A subject of printable ASCII goes as it is; any other (accents, a control character in a
    DHgate title) as RFC 2047 encoded words, so nothing in it can start a header of its own.
    The boundary is chosen here, as the serializer would (``=`` × 15, random digits, ``==``),
    without the search of the parts for it that the serializer compiles a pattern for: both
    parts are base64, whose lines cannot start with ``--``."""
    email = MIMEMultipart("alternative", boundary=f"{'=' * 15}{random.randrange(sys.maxsize):019d}==",
                          policy=MAIL_POLICY)
    subject = message.subject
    email["Subject"] = subject if subject.isascii() and subject.isprintable() else Header(subject, "utf-8").encode()
    email["From"] = from_header
    email["To"] = target
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = f"<delivery-{delivery_id}@{domain}>"  # the same for every try of this delivery
    email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email["Auto-Submitted"] = "auto-generated"
    email.attach(_utf8_part("plain", message.text))
    email.attach(_utf8_part("html", message.html))
    return email


def _utf8_part(subtype: str, text: str) -> Message:
    """What ``MIMEText(text, subtype, "utf-8")`` builds (the same bytes: its headers, base64
    body), put together with ``email.encoders`` for two thirds of the cost."""
    part = Message(policy=MAIL_POLICY)
    part.add_header("Content-Type", f"text/{subtype}", charset="utf-8")
    part["MIME-Version"] = "1.0"
    part.set_payload(text.encode("utf-8"))
    encode_base64(part)
    return part
