"""Views of the api area: small JSON endpoints the pages poll to stay fresh without a reload.

Same scoping as the HTML pages: a member gets a JSON 404 for another member's monitor (never a
403, which would confirm it exists); admins may read any. Not logged in is a JSON 401 (the login
manager answers JSON clients and every ``/api/`` path that way), not a redirect to the form.
"""
from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, jsonify
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.api import bp
from models import Monitor
from services.formatting import relative_time
from services.monitors import queries


@bp.get("/monitors/<int:monitor_id>/status")
@login_required
def monitor_status(monitor_id: int) -> Response:
    """Last status, last and next poll, product count; text fields are ready to display."""
    monitor = queries.get_monitor(current_user, monitor_id)
    if monitor is None:
        abort(404)
    data = queries.monitor_status(monitor)
    data["last_poll"] = relative_time(monitor.last_polled_at) if monitor.last_polled_at else _("Never")
    data["next_poll"] = _next_poll_text(monitor)
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    return response


def _next_poll_text(monitor: Monitor) -> str:
    if not monitor.active:
        return _("Paused")
    if monitor.next_poll_at is None or monitor.next_poll_at <= datetime.now(UTC):
        return _("Any moment now")
    return relative_time(monitor.next_poll_at)
