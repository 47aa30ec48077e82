"""The start page, the member overview and the admin platform dashboard (page and live JSON)."""
from __future__ import annotations

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.dashboard import bp
from blueprints.dashboard.charts_view import chart_views
from blueprints.dashboard.page_cache import cached_page, store_page
from extensions import login_manager
from services import overview
from services.health import process_warnings
from services.maintenance import pause_state_for_layout
from services.ops_charts import WINDOWS, window_of
from services.ops_dashboard import charts, live_figures
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
    """The admin platform dashboard: KPI cards, charts of a window (``?window=24h|7d|30d``, so
    the switch works without JavaScript), DHgate, health, queues, workers and the scheduler."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=here_as_next() or None))
    if not current_user.is_admin:
        abort(403)
    kept, generation = cached_page()
    if kept is not None:
        return kept
    window = window_of(request.args.get("window"))
    html = render_template(
        "dashboard/platform.html", m=dashboard_metrics(), live=live_figures(), window=window, windows=list(WINDOWS),
        charts=chart_views(charts(window)), ops_warnings=process_warnings(), polling_pause=pause_state_for_layout(),
        polling=current_pressure(current_app.config),
    )
    store_page(html, generation)
    return html


@bp.get("/dashboard/platform/live.json", endpoint="platform_live")
def platform_live() -> Response:
    """The cards' figures as JSON for the page's script, from the same 30-second cache entry as
    the page; ``If-None-Match`` with the current ETag gets ``304 Not Modified``."""
    if not current_user.is_authenticated:  # a JSON client gets 401, a browser the login page
        return login_manager.unauthorized()
    if not current_user.is_admin:
        return _json_error(403, "the platform figures are for admins only")
    figures = live_figures()
    unchanged = figures.etag in request.if_none_match
    response = Response(status=304) if unchanged else jsonify(figures.payload)
    response.set_etag(figures.etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _json_error(status: int, reason: str) -> Response:
    response = jsonify({"error": reason})
    response.status_code = status
    return response
