"""The demo's mailbox: what the local SMTP sink of ``make demo`` received, kept as a Maildir.

``make demo`` runs an SMTP server on loopback (``scripts/demo.py mailsink``) and points the
``MAIL_*`` settings at it, so the demo's e-mails (alerts, password resets, confirmations) land in
a Maildir in the demo's instance folder (``DEMO_MAIL_DIR``) instead of the internet. The
``/demo/mail`` pages read them from here. The standard library's ``mailbox.Maildir`` does the
storing: each message is one file, written atomically, so the sink and the pages never need a
lock between them.
"""
from __future__ import annotations

import mailbox
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

LIST_LIMIT = 200


@dataclass(frozen=True)
class MailSummary:
    key: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    received_at: datetime | None


@dataclass(frozen=True)
class MailView:
    summary: MailSummary
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None


def _box(folder: str | Path) -> mailbox.Maildir:
    """The Maildir in ``folder``, its ``tmp``/``new``/``cur`` made when missing (an empty folder
    made by someone else is not a Maildir yet)."""
    for part in ("tmp", "new", "cur"):
        (Path(folder) / part).mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(str(folder), create=False)


def store(folder: str | Path, raw: bytes, envelope_recipients: list[str]) -> str:
    """Keep one received message (with its envelope recipients as ``X-Envelope-To``); its key."""
    message = message_from_bytes(raw, policy=policy.default)
    message["X-Envelope-To"] = ", ".join(envelope_recipients)
    return str(_box(folder).add(message))


def _recipients(message: EmailMessage) -> tuple[str, ...]:
    found = getaddresses([str(v) for v in message.get_all("X-Envelope-To", []) + message.get_all("To", [])])
    return tuple(dict.fromkeys(address.lower() for _name, address in found if address))


def _received_at(message: EmailMessage) -> datetime | None:
    try:
        moment = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _parse(key: str, raw: mailbox.MaildirMessage) -> tuple[MailSummary, EmailMessage]:
    message = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    summary = MailSummary(key=key, sender=str(message["From"] or ""), recipients=_recipients(message),
                          subject=str(message["Subject"] or ""), received_at=_received_at(message))
    return summary, message


def _visible(summary: MailSummary, recipient: str | None) -> bool:
    return recipient is None or recipient.lower() in summary.recipients


def list_mails(folder: str | Path, *, recipient: str | None = None) -> list[MailSummary]:
    """The newest messages first (at most ``LIST_LIMIT``); only those to ``recipient`` if given."""
    box = _box(folder)
    found = [summary for summary, _m in (_parse(key, raw) for key, raw in box.iteritems()) if _visible(summary, recipient)]
    oldest = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda s: (s.received_at or oldest, s.key), reverse=True)
    return found[:LIST_LIMIT]


def read_mail(folder: str | Path, key: str, *, recipient: str | None = None) -> MailView | None:
    """One message with its parts and headers; None if there is none with that key for them."""
    box = _box(folder)
    try:
        raw = box[key]
    except (KeyError, ValueError):
        return None
    summary, message = _parse(key, raw)
    if not _visible(summary, recipient):
        return None
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return MailView(
        summary=summary, headers=[(name, str(value)) for name, value in message.items()],
        text=str(text.get_content()) if text is not None else None,
        html=str(html.get_content()) if html is not None else None,
    )
