"""The notification inbox, the member's channels and one-click unsubscribe.

Every query is scoped to the logged-in member, except unsubscribing: its signed token is the
authority (no login, and its POST is exempt from CSRF because mail providers send it without
cookies, RFC 8058).
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.notifications import bp
from blueprints.notifications.forms import AppriseChannelForm, ChannelActionForm, MarkReadForm
from extensions import csrf
from models import NotificationChannel
from services import inbox
from services.notifications import channels as channel_service
from services.notifications.delivery import create_test_alert, request_delivery
from web.params import page_arg
from web.security import safe_next_url


@bp.get("/")
@login_required
def index() -> str:
    unread_only = request.args.get("show") == "unread"
    page = page_arg()
    notifications = inbox.list_notifications(current_user.id, unread_only=unread_only, page=page)
    return render_template(
        "notifications/index.html", page=notifications, unread_only=unread_only, form=MarkReadForm()
    )


@bp.post("/<bigint:notification_id>/read")
@login_required
def mark_read(notification_id: int) -> Response:
    if not MarkReadForm().validate_on_submit():
        abort(400)
    if inbox.get_notification(current_user.id, notification_id) is None:
        abort(404)
    inbox.mark_read(current_user.id, notification_id)
    return redirect(safe_next_url(request.form.get("next"), url_for("notifications.index")))


@bp.get("/<bigint:notification_id>")
@login_required
def open_notification(notification_id: int) -> Response:
    """Follow a notification's link and mark it read on the way (GET is safe: marking read is
    idempotent and only touches the user's own row)."""
    notification = inbox.get_notification(current_user.id, notification_id)
    if notification is None:
        abort(404)
    inbox.mark_read(current_user.id, notification_id)
    return redirect(safe_next_url(notification.link, url_for("notifications.index")))


@bp.post("/read-all")
@login_required
def mark_all_read() -> Response:
    if not MarkReadForm().validate_on_submit():
        abort(400)
    count = inbox.mark_read(current_user.id)
    flash(_("%(n)s notifications marked as read.", n=count), "success")
    return redirect(url_for("notifications.index"))


# ------------------------------------------------------------------------------------ channels


@bp.get("/channels")
@login_required
def channels() -> tuple[str, int] | str:
    return _channels_page(AppriseChannelForm())


def _channels_page(form: AppriseChannelForm, status: int = 200) -> tuple[str, int] | str:
    own = channel_service.list_channels(current_user.id)
    page = render_template(
        "notifications/channels.html", channels=own, form=form, action_form=ChannelActionForm(),
        channel_name=channel_service.channel_name, has_email=any(c.kind == "email" for c in own),
    )
    return (page, status) if status != 200 else page


@bp.post("/channels/email")
@login_required
def add_email_channel() -> Response:
    if not ChannelActionForm().validate_on_submit():
        abort(400)
    try:
        channel_service.add_email_channel(current_user)
    except channel_service.ChannelError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Alerts will also be e-mailed to %(email)s.", email=current_user.email), "success")
    return redirect(url_for("notifications.channels"))


@bp.post("/channels/apprise")
@login_required
def add_apprise_channel() -> Response | tuple[str, int] | str:
    form = AppriseChannelForm()
    if not form.validate_on_submit():
        return _channels_page(form, 400)
    try:
        channel_service.add_apprise_channel(current_user.id, form.url.data or "", form.label.data or "")
    except channel_service.ChannelError as exc:
        form.url.errors = [str(exc)]
        return _channels_page(form, 400)
    flash(_("Channel added. Send a test to check that it works."), "success")
    return redirect(url_for("notifications.channels"))


def _own_channel(channel_id: int) -> NotificationChannel:
    if not ChannelActionForm().validate_on_submit():
        abort(400)
    channel = channel_service.get_channel(current_user.id, channel_id)
    if channel is None:
        abort(404)
    return channel


@bp.post("/channels/<int:channel_id>/test")
@login_required
def test_channel(channel_id: int) -> Response:
    channel = _own_channel(channel_id)
    notification = create_test_alert(current_user, [channel])
    request_delivery([notification.id])
    flash(_("A test message is on its way to %(channel)s; its result shows below.",
            channel=channel_service.channel_name(channel)), "success")
    return redirect(url_for("notifications.channels"))


@bp.post("/channels/<int:channel_id>/resume")
@login_required
def resume_channel(channel_id: int) -> Response:
    channel_service.resume_channel(_own_channel(channel_id))
    flash(_("Alerts go to this channel again."), "success")
    return redirect(url_for("notifications.channels"))


@bp.post("/channels/<int:channel_id>/remove")
@login_required
def remove_channel(channel_id: int) -> Response:
    channel_service.remove_channel(_own_channel(channel_id))
    flash(_("Channel removed."), "success")
    return redirect(url_for("notifications.channels"))


# --------------------------------------------------------------------------------- unsubscribe


@bp.get("/unsubscribe/<token>")
def unsubscribe_confirm(token: str) -> tuple[str, int] | str:
    """The link in a message: shows what would stop and a button (a GET never changes anything,
    since link scanners of mail providers open every link)."""
    try:
        channel = channel_service.channel_for_token(token)
    except channel_service.BadUnsubscribeToken:
        return render_template("notifications/unsubscribe_invalid.html"), 400
    return render_template("notifications/unsubscribe.html", token=token, done=False,
                           channel_label=channel_service.channel_name(channel),
                           already=channel.paused_reason == channel_service.PAUSED_UNSUBSCRIBED)


@bp.post("/unsubscribe/<token>")
@csrf.exempt
def unsubscribe(token: str) -> tuple[str, int] | str:
    """RFC 8058 one-click (``List-Unsubscribe=One-Click``) and the confirm page's button."""
    try:
        channel = channel_service.channel_for_token(token)
    except channel_service.BadUnsubscribeToken:
        return render_template("notifications/unsubscribe_invalid.html"), 400
    channel_service.unsubscribe(channel)
    return render_template("notifications/unsubscribe.html", token=token, done=True, already=False,
                           channel_label=channel_service.channel_name(channel))
