"""The notification inbox: every query is scoped to the logged-in user."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.notifications import bp
from blueprints.notifications.forms import MarkReadForm
from services import inbox
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
