"""The start page and the member overview."""
from __future__ import annotations

from flask import abort, current_app, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.dashboard import bp
from services import overview
from services.platform import dashboard_metrics
from services.polling.budget import current_pressure
from web.security import here_as_next


@bp.get("/")
def index() -> Response:
    """People who are logged in go to their dashboard; everyone else to the login page."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    return redirect(url_for("auth.login"))


@bp.get("/dashboard", endpoint="overview")
@login_required
def overview_page() -> str:
    """The member's home: their own monitors and changes (admins too: the platform has its own page)."""
    return render_template(
        "dashboard/overview.html", home=overview.member_home(current_user),
        affiliate_currency=current_app.config["AFFILIATE_CURRENCY"],
    )


@bp.get("/dashboard/platform", endpoint="platform")
def platform_page() -> Response | str:
    """The admin platform dashboard: uptime, latency, errors, queues, workers, scheduler, health."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=here_as_next() or None))
    if not current_user.is_admin:
        abort(403)
    return render_template("dashboard/platform.html", m=dashboard_metrics(),
                           polling=current_pressure(current_app.config))
