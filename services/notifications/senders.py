"""The two ways a message leaves the app: SMTP (stdlib ``smtplib``) and apprise.

Each sender either returns (the server or service accepted the message) or raises
``SendError`` with a short reason the member can act on; the delivery bookkeeping around them
is ``services.notifications.sending``.
"""
from __future__ import annotations

import functools
import io
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32, Policy
from email.utils import getaddresses
from typing import Any

import apprise

logger = logging.getLogger(__name__)

ERROR_LIMIT = 500
_LEADING_PERIOD = re.compile(rb"(?m)^\.")  # doubled on the wire (RFC 5321 4.5.2), as smtplib does


class SendError(RuntimeError):
    """The message was not accepted; ``str(error)`` says why."""


@dataclass(frozen=True)
class MailSettings:
    """The ``MAIL_*`` settings, read from the app config once per batch."""

    server: str | None
    port: int
    use_tls: bool
    use_ssl: bool
    username: str | None
    password: str | None
    sender: str
    timeout: float

    @classmethod
    def from_config(cls, config: Any) -> MailSettings:
        return cls(
            server=config.get("MAIL_SERVER"), port=int(config["MAIL_PORT"]), use_tls=bool(config["MAIL_USE_TLS"]),
            use_ssl=bool(config["MAIL_USE_SSL"]), username=config.get("MAIL_USERNAME"),
            password=config.get("MAIL_PASSWORD"), sender=str(config["MAIL_DEFAULT_SENDER"]),
            timeout=float(config["MAIL_TIMEOUT_SECONDS"]),
        )


class _WirePolicy(Compat32):
    """``compat32``, writing a header of printable ASCII that fits on its line as it is.

    ``compat32`` passes every header through ``email.header.Header`` to fold it, a third of the
    cost of serializing an alert e-mail; for such a header that returns the value unchanged,
    so the bytes are the same (``tests/notifications/test_sending_fast.py`` compares them)."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if (isinstance(value, str) and value.isascii() and value.isprintable()
                and len(name) + len(value) + 2 < (self.max_line_length or 78)):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


@functools.lru_cache(maxsize=8)
def _wire_policy(policy: Policy) -> Policy:
    """The message's own policy, or for ``compat32`` (with the same settings) ``_WirePolicy``."""
    return _WirePolicy(**vars(policy)) if type(policy) is Compat32 else policy


@dataclass(frozen=True)
class Outgoing:
    """An e-mail serialized for the wire once (``outgoing``): its envelope, and its content as
    ``smtplib`` writes it (CRLF line ends, leading periods doubled, the closing dot)."""

    sender: str
    recipient: str
    content: bytes
    size: int  # of the serialized message, as announced with SIZE


def outgoing(message: Message) -> Outgoing | None:
    """``message`` the way ``smtplib.send_message`` would send it (envelope from its From and
    To/Cc headers); None for what only ``send_message`` handles (``SmtpSession.send`` then sends
    it): Bcc or Resent headers, several recipients (some could be refused and the rest not),
    addresses that need SMTPUTF8."""
    if message["Bcc"] is not None or message["Resent-Date"] is not None:
        return None
    sender = (_addresses(message["Sender"] or message["From"] or "") or ("",))[0]
    to, cc = message["To"], message["Cc"]
    recipients = _addresses(to) if to is not None and cc is None else ()
    if not sender or len(recipients) != 1 or not (sender + recipients[0]).isascii():
        return None
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=_wire_policy(message.policy)).flatten(message, linesep="\r\n")
        flat = buffer.getvalue()
    content = _LEADING_PERIOD.sub(b"..", flat)
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    return Outgoing(sender, recipients[0], content + b".\r\n", len(flat))


@functools.lru_cache(maxsize=1024)
def _addresses(header: str) -> tuple[str, ...]:
    """The addresses of a From or To header, as ``send_message`` reads them (the same few
    headers recur in a batch: the sender's, and a member's for each of their alerts)."""
    return tuple(address for _name, address in getaddresses([header]))


def send_email(message: Message, settings: MailSettings) -> None:
    """Hand ``message`` to the SMTP server on a connection of its own; returns once the server
    accepted it (a batch shares one connection through ``SmtpSession``)."""
    with SmtpSession(settings) as smtp:
        smtp.send(message)


class SmtpSession:
    """One SMTP connection for a batch of e-mails (``with SmtpSession(settings) as smtp``).

    Opening a connection (and TLS, and login) costs more than sending a message, so a batch
    reuses it. A connection idle for ``IDLE_CHECK_SECONDS`` is checked with ``NOOP`` before the
    next message and reopened if the server dropped it; nothing was sent on it yet, so that
    cannot duplicate a message. Any error while sending closes the connection and raises
    ``SendError``: the delivery's own retry decides what happens next.
    """

    IDLE_CHECK_SECONDS = 5.0

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._client: smtplib.SMTP | None = None
        self._used_at = 0.0

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: Message) -> None:
        """Hand ``message`` to the server; returns once the server accepted it."""
        try:
            client = self._ready_client()
            refused = client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise SendError(_clip(f"{type(exc).__name__}: {exc}")) from exc
        self._used_at = time.monotonic()
        if refused:
            raise SendError(f"the mail server refused {', '.join(refused)}")

    # The same transaction in four steps, so the caller can work while the server does: record
    # the previous message while the server reads MAIL FROM (``begin`` … ``address``), render the
    # next one while it reads RCPT TO (``address`` … ``transfer``), build it while it takes the
    # content (``transfer`` … ``accepted``). The same commands and answers as ``send``.

    def begin(self, mail: Outgoing) -> None:
        """Write MAIL FROM for ``mail`` and return without its answer (``address`` reads it);
        nothing can be accepted before ``transfer``."""
        try:
            client = self._ready_client()
            client.ehlo_or_helo_if_needed()
            size = f" size={mail.size}" if client.does_esmtp and client.has_extn("size") else ""
            client.putcmd("mail", f"FROM:{smtplib.quoteaddr(mail.sender)}{size}")
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failed(exc) from exc

    def address(self, mail: Outgoing) -> None:
        """After ``begin``: its answer, then RCPT TO, whose answer ``transfer`` reads."""
        try:
            client = self._open_client()
            code, reply = client.getreply()
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, mail.sender)
            client.putcmd("rcpt", f"TO:{smtplib.quoteaddr(mail.recipient)}")
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failed(exc) from exc

    def transfer(self, mail: Outgoing) -> None:
        """After ``address``: its answer, and the content up to the closing dot; the server's
        verdict on it is read by ``accepted``."""
        try:
            client = self._open_client()
            code, reply = client.getreply()
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({mail.recipient: (code, reply)})
            client.putcmd("data")
            code, reply = client.getreply()
            if code != 354:
                raise smtplib.SMTPDataError(code, reply)
            client.send(mail.content)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failed(exc) from exc

    def accepted(self) -> None:
        """After ``transfer``: returns once the server accepted the message."""
        try:
            code, reply = self._open_client().getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failed(exc) from exc
        self._used_at = time.monotonic()

    def _open_client(self) -> smtplib.SMTP:
        if self._client is None:
            raise smtplib.SMTPServerDisconnected("the connection was closed")
        return self._client

    def _failed(self, exc: BaseException) -> SendError:
        self.close()  # the transaction is in an unknown state: the next message starts afresh
        return SendError(_clip(f"{type(exc).__name__}: {exc}"))

    def _ready_client(self) -> smtplib.SMTP:
        if self._client is not None and time.monotonic() - self._used_at > self.IDLE_CHECK_SECONDS:
            try:
                self._client.noop()
            except (smtplib.SMTPException, OSError):
                self.close()
        if self._client is None:
            self._client = _connect(self.settings)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                self._client.close()
            self._client = None


def _connect(settings: MailSettings) -> smtplib.SMTP:
    """An open, logged-in SMTP connection (raises ``SendError`` without a server)."""
    if not settings.server:
        raise SendError("no mail server is configured (MAIL_SERVER)")
    if settings.use_ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.server, settings.port, timeout=settings.timeout,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(settings.server, settings.port, timeout=settings.timeout)
    try:
        if settings.use_tls and not settings.use_ssl:
            client.starttls(context=ssl.create_default_context())
        if settings.username:
            client.login(settings.username, settings.password or "")
    except BaseException:
        client.close()
        raise
    return client


def valid_apprise_url(url: str) -> bool:
    """Whether apprise knows how to send to ``url`` (checked when a member saves it)."""
    return bool(apprise.Apprise().add(url))


def apprise_host(url: str) -> str | None:
    """The host an apprise URL makes us connect to, when the member chooses it (``json://host``,
    ``ntfy://host``, ``gotify://host``…); None for services with a fixed public endpoint
    (Telegram, Discord, Slack…), whose URL holds tokens rather than a host, and for ntfy's
    cloud mode."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None or not any("{host}" in template for template in getattr(plugin, "templates", ())):
        return None
    if getattr(plugin, "mode", None) == "cloud":
        return None
    host = str(getattr(plugin, "host", None) or "").strip("[]")  # an IPv6 literal comes bracketed
    return host or None


def internal_address(host: str) -> str | None:
    """The first private, loopback, link-local or otherwise internal address ``host`` resolves
    to (every address counts: a name may resolve to a public and a private one), or None.
    ``SendError`` when the name does not resolve, since then nothing can be said about it."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise SendError(f"the host {host} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified):
            return str(address)
    return None


def send_apprise(url: str, title: str, body: str, *, body_format: str = "text") -> None:
    """Send through apprise; its own log lines become the error when it reports a failure."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise SendError("apprise does not understand this URL")
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = notifier.notify(title=title, body=body, body_format=body_format)
        log = captured.getvalue().strip() if hasattr(captured, "getvalue") else ""
    if not ok:
        raise SendError(_clip(log.splitlines()[-1] if log else "the service did not accept the message"))


def _clip(text: str) -> str:
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"
