"""A member's channels: their account e-mail address and apprise URLs, and unsubscribing.

Apprise URLs are checked by apprise itself when saved, so a typo is refused on the form rather
than failing at the first alert. An e-mail channel always goes to the member's own account
address: letting a member type any address would let them mail strangers.

Unsubscribe links carry a signed token naming the member and the channel (its own salt, so no
other signed value of the app can stand in for it). They never expire: RFC 8058 asks that the
link in an old message still works, and the worst a leaked token can do is pause one channel.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from extensions import db
from models import NotificationChannel, User
from services.notifications.senders import SendError, apprise_host, internal_address, valid_apprise_url

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "notification-channel-unsubscribe"
TARGET_LIMIT = 500
LABEL_LIMIT = 100
PAUSED_FAILING = "failing"
PAUSED_UNSUBSCRIBED = "unsubscribed"


class ChannelError(ValueError):
    """A channel that cannot be saved; the message is for the member."""


class BadUnsubscribeToken(ValueError):
    """An unsubscribe token that was altered or names a channel that no longer exists."""


def list_channels(user_id: int) -> list[NotificationChannel]:
    return list(db.session.scalars(
        select(NotificationChannel).where(NotificationChannel.user_id == user_id).order_by(NotificationChannel.id)))


def active_channels(user_id: int) -> list[NotificationChannel]:
    return [channel for channel in list_channels(user_id) if channel.active]


def get_channel(user_id: int, channel_id: int) -> NotificationChannel | None:
    """The member's own channel (``None`` for anybody else's)."""
    return db.session.scalar(select(NotificationChannel).where(
        NotificationChannel.id == channel_id, NotificationChannel.user_id == user_id))


def add_email_channel(user: User) -> NotificationChannel:
    """Alerts by e-mail to the member's account address (committed)."""
    return _add(user.id, "email", user.email.strip().lower(), "")


def add_apprise_channel(user_id: int, url: str, label: str = "") -> NotificationChannel:
    """An apprise URL (``tgram://…``, ``discord://…``, ``json://host/path``…), checked by apprise."""
    url = (url or "").strip()
    if not url:
        raise ChannelError(_("Enter an apprise URL, for example ntfy://ntfy.sh/my-topic."))
    if len(url) > TARGET_LIMIT:
        raise ChannelError(_("That URL is too long (at most %(n)s characters).", n=TARGET_LIMIT))
    if not valid_apprise_url(url):
        raise ChannelError(_("Apprise does not understand that URL. Check the service's URL format, "
                             "for example ntfy://ntfy.sh/my-topic or json://example.com/hook."))
    if not current_app.config["NOTIFY_ALLOW_PRIVATE_HOSTS"]:
        _refuse_internal_host(url)
    return _add(user_id, "apprise", url, (label or "").strip()[:LABEL_LIMIT])


def _refuse_internal_host(url: str) -> None:
    """A member's URL must not make the server post to its own network (the admin panel of a
    router, a cloud metadata service): refused unless ``NOTIFY_ALLOW_PRIVATE_HOSTS`` is on."""
    host = apprise_host(url)
    if host is None:
        return
    try:
        internal = internal_address(host)
    except SendError:
        raise ChannelError(_("The host %(host)s of that URL cannot be found.", host=host)) from None
    if internal is not None:
        raise ChannelError(_("That URL points at an internal address (%(address)s), which this site does not send "
                             "to.", address=internal))


def _add(user_id: int, kind: str, target: str, label: str) -> NotificationChannel:
    exists = db.session.scalar(select(NotificationChannel.id).where(
        NotificationChannel.user_id == user_id, NotificationChannel.kind == kind,
        NotificationChannel.target == target))
    if exists is not None:
        raise ChannelError(_("You already have that channel."))
    channel = NotificationChannel(user_id=user_id, kind=kind, target=target, label=label)
    db.session.add(channel)
    db.session.commit()
    logger.info("user %s added a %s channel (#%s)", user_id, kind, channel.id)
    return channel


def remove_channel(channel: NotificationChannel) -> None:
    db.session.delete(channel)
    db.session.commit()


def resume_channel(channel: NotificationChannel) -> None:
    """Send to a paused channel again (after the member fixed it or re-subscribed)."""
    channel.paused_reason = None
    channel.consecutive_failures = 0
    db.session.commit()


def channel_name(channel: NotificationChannel) -> str:
    """What the member sees: the address, the label, or the service and host of an apprise URL
    (never its path or query, which often hold a token)."""
    if channel.kind == "email":
        return channel.target
    if channel.label:
        return channel.label
    parts = urlsplit(channel.target)
    return f"{parts.scheme}://{parts.hostname or ''}"


# --------------------------------------------------------------------------------- unsubscribe


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(str(current_app.secret_key), salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(channel: NotificationChannel) -> str:
    return str(_serializer().dumps([channel.user_id, channel.id]))


def unsubscribe_url(channel: NotificationChannel) -> str:
    """The absolute one-click link (``BASE_URL`` + the notifications area's route)."""
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    return f"{base}/notifications/unsubscribe/{unsubscribe_token(channel)}"


def channel_for_token(token: str) -> NotificationChannel:
    """The channel a token names; ``BadUnsubscribeToken`` when it was altered or is gone."""
    try:
        user_id, channel_id = _serializer().loads(token)
        channel = db.session.get(NotificationChannel, int(channel_id))
    except (BadSignature, TypeError, ValueError):
        raise BadUnsubscribeToken(token) from None
    if channel is None or channel.user_id != int(user_id):
        raise BadUnsubscribeToken(token)
    return channel


def unsubscribe(channel: NotificationChannel) -> bool:
    """Pause the channel for good (until the member resumes it); False when it already was."""
    if channel.paused_reason == PAUSED_UNSUBSCRIBED:
        return False
    channel.paused_reason = PAUSED_UNSUBSCRIBED
    db.session.commit()
    logger.info("channel #%s of user %s unsubscribed", channel.id, channel.user_id)
    return True
