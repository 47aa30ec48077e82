"""The notification inbox, the member's channels and one-click unsubscribe.

Every query is scoped to the logged-in member, except unsubscribing: its signed token is the
authority (no login, and its POST is exempt from CSRF because mail providers send it without
cookies, RFC 8058).
"""
from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import inspect
from werkzeug.wrappers import Response

from blueprints.notifications import bp
from blueprints.notifications.forms import AppriseChannelForm, ChannelActionForm, MarkReadForm, PreferencesForm
from extensions import csrf, db
from models import NotificationChannel
from services import inbox
from services.labels import event_label
from services.notifications import center, live
from services.notifications import channels as channel_service
from services.notifications import preferences as preference_service
from services.notifications.delivery import create_test_alert, request_delivery
from web.params import int_arg, page_arg
from web.security import safe_next_url


@bp.get("/")
@login_required
def index() -> str:
    chosen = _center_filter()
    notifications = center.list_alerts(current_user.id, chosen, page=page_arg())
    return render_template(
        "notifications/index.html", page=notifications, unread_only=chosen.unread_only, form=MarkReadForm(),
        chosen=chosen, kinds=[(k, _kind_label(k)) for k in center.FILTER_KINDS],
        monitors=center.monitor_choices(current_user.id),
    )


def _center_filter() -> center.CenterFilter:
    """The filters from the query string; unknown values are ignored (the whole list shows)."""
    kind = request.args.get("kind") or None
    return center.CenterFilter(
        kind=kind if kind in center.FILTER_KINDS else None,
        monitor_id=int_arg("monitor", None, minimum=1),
        unread_only=request.args.get("show") == "unread",
    )


def _kind_label(kind: str) -> str:
    return _("Account and system") if kind == center.SYSTEM else event_label(kind)


@bp.app_context_processor
def live_badge_url() -> dict[str, Any]:
    """``live_poll_url()`` for the navigation badge: the poll URL with this session's token."""
    return {"live_poll_url": _live_poll_url}


def _live_poll_url() -> str | None:
    user_session = getattr(current_user, "current_session", None) if current_user.is_authenticated else None
    if user_session is None:
        return None
    # The id from the identity map: reading ``.id`` of a row expired by the login's last-seen
    # commit would reload it (a statement on every page).
    session_id = inspect(user_session).identity[0]
    return url_for("notifications.poll", t=live.poll_token(current_user.id, session_id))


@bp.get("/poll")
def poll() -> Response:
    """The live badge's JSON: unread count, items newer than ``since`` and the next cursor,
    with an ETag; 304 when the client's ETag is still current. Identity comes from the signed
    ``t`` token (the badge's script sends no cookies) or the login cookie; see
    ``services.notifications.live``."""
    since_arg = request.args.get("since", "")
    if since_arg and not since_arg.isdigit():
        return _json_error(_("since must be a notification id (a whole number)."), 400)
    token = request.args.get("t")
    if token:
        identity = live.read_token(token)
        if identity is None:
            return _json_error(_("This poll link is not valid; reload the page."), 401)
        user_id, session_id = identity
    elif current_user.is_authenticated:
        user_id, session_id = current_user.id, None
    else:
        return _json_error(_("Please log in"), 401)
    etag = live.version_etag(user_id)
    if etag is not None and _still_current(etag):
        return _poll_response(Response(status=304), etag)  # nothing changed: nothing read, nothing rendered
    if session_id is not None and not live.session_is_live(user_id, session_id):
        return _json_error(_("Your session has ended; log in again."), 401)
    state = live.live_state(user_id)
    etag = etag or state.etag
    if request.if_none_match.contains(etag):
        return _poll_response(Response(status=304), etag)
    since = int(since_arg) if since_arg else state.newest_id
    items = live.items_since(user_id, since) if since < state.newest_id else []
    return _poll_response(jsonify(unread=state.unread, cursor=state.newest_id, items=items), etag)


def _still_current(etag: str) -> bool:
    """Whether the client's ``If-None-Match`` names ``etag``; the badge's script sends back
    exactly the one it got, which is compared as it is before any parsing."""
    sent = request.headers.get("If-None-Match")
    return sent is not None and (sent == f'"{etag}"' or request.if_none_match.contains(etag))


def _poll_response(response: Response, etag: str) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _json_error(message: str, status: int) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


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


def _channels_page(form: AppriseChannelForm, status: int = 200,
                   prefs_form: PreferencesForm | None = None) -> tuple[str, int] | str:
    own = channel_service.list_channels(current_user.id)
    if prefs_form is None:
        prefs_form = PreferencesForm(formdata=None)
        prefs_form.fill_from(preference_service.current_preferences(current_user))
    page = render_template(
        "notifications/channels.html", channels=own, form=form, action_form=ChannelActionForm(),
        channel_name=channel_service.channel_name, has_email=any(c.kind == "email" for c in own),
        prefs_form=prefs_form,
    )
    return (page, status) if status != 200 else page


@bp.post("/preferences")
@login_required
def save_preferences() -> Response | tuple[str, int] | str:
    """Alert kinds, frequency, quiet hours and time zone (on the channels page)."""
    prefs_form = PreferencesForm()
    if not prefs_form.validate_on_submit():
        return _channels_page(AppriseChannelForm(formdata=None), 400, prefs_form)
    try:
        preference_service.save_preferences(current_user, prefs_form.chosen())
    except preference_service.PreferenceError as exc:
        db.session.rollback()
        getattr(prefs_form, exc.field).errors = [str(exc)]
        return _channels_page(AppriseChannelForm(formdata=None), 400, prefs_form)
    flash(_("Notification preferences saved."), "success")
    return redirect(url_for("notifications.channels"))


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
